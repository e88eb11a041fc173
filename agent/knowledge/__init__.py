"""Bundled knowledge: schemas and the lazy catalog over data/ (GPUs, models, techniques, papers, cards)."""

from agent.knowledge.catalog import Catalog, normalize_name
from agent.knowledge.schemas import (
    CardMeta,
    CostModelSpec,
    GpuSpec,
    ModelSpec,
    PaperEntry,
    Quality,
    Relations,
    Requirements,
    Technique,
)

__all__ = [
    "Catalog", "CardMeta", "CostModelSpec", "GpuSpec", "ModelSpec", "PaperEntry", "Quality",
    "Relations", "Requirements", "Technique", "normalize_name",
]
