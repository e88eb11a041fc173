"""A hardware paper backs a recommendation only on the hardware it describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.hardware_papers import paper_covers_gpu
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(DATA)


@pytest.mark.parametrize(("paper", "gpu", "covered"), [
    ("h100-tensor-core-gpu-architecture", "h100-sxm", True),
    ("h100-tensor-core-gpu-architecture", "h200", True),  # same architecture (Hopper)
    ("h100-tensor-core-gpu-architecture", "l4", False),  # Ada: the Hopper whitepaper does not speak for it
    ("h100-tensor-core-gpu-architecture", "mi300x", False),
    ("blackwell-architecture-technical-brief", "b200", True),
    ("blackwell-architecture-technical-brief", "h100-sxm", False),
    ("mi300x-accelerator-architecture", "mi300x", True),
    ("mi300x-accelerator-architecture", "a100-80gb", False),
    ("gaudi-3-ai-accelerator", "h100-sxm", False),  # another vendor's accelerator
    ("nvlink-4-0-and-nvswitch-technical-overview", "a100-80gb", True),  # names no GPU: its vendor's GPUs
    ("nvlink-4-0-and-nvswitch-technical-overview", "mi300x", False),
    ("2205.14135", "mi300x", True),  # not a hardware paper
])
def test_hardware_papers_cover_their_own_hardware(catalog, paper, gpu, covered):
    assert paper_covers_gpu(catalog.papers[paper], catalog.gpus[gpu], catalog) is covered


def test_fp8_on_an_l4_is_not_backed_by_the_hopper_whitepaper(catalog):
    from agent.compose import recommend
    from agent.ranking import Scored
    from agent.candidates import Candidate
    from agent.workload import plan_workload

    w = plan_workload("Llama-3.1-8B on one L4 with vLLM, 16 users", catalog)
    tech = catalog.techniques["fp8-inference"]
    scored = Scored(Candidate(tech, True, False, None, []), 1.0, {}, None)
    rec = recommend(1, scored, w, [], _NoFit(), catalog, None, None)
    assert "h100-tensor-core-gpu-architecture" not in {p.paper_id for p in rec.papers}
    assert rec.papers  # the technique's own papers stay


class _NoFit:
    techniques: list = []
    effect = None
