"""Measured efficiency tables (data/efficiencies/*.yaml): per GPU family and dtype, and link topology per kind.

Read lazily on first use and cached; each file is validated against the schemas below, so a wrong key or a
figure without a source is an error naming the file.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from index.errors import AccelsageError

EFFICIENCIES_DIR = Path(__file__).resolve().parents[2] / "data" / "efficiencies"
LINKS_FILE = "links.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figure(_Strict):
    """One achieved fraction of peak with where it comes from."""

    value: float = Field(gt=0, le=1.2, description="Fraction of the dense peak (or link bandwidth) reached.")
    source: str = Field(min_length=10, description="Publication, measurement or the reason it is assumed.")
    assumed: bool = False
    fitted_from: str | None = Field(None, description="Id of the published figure this value is set from.")
    shape_mnk: tuple[int, int, int] | None = Field(
        None, description="GEMM shape the figure was measured at, when not the family's reference shape "
                          "(recorded for the reader; the figure is used as the large-GEMM fraction as it is).")

    @model_validator(mode="after")
    def _sourced(self) -> "Figure":
        if not self.assumed and not self.fitted_from:
            raise ValueError("a figure that is not assumed needs fitted_from (the id of what it is set from)")
        return self


class GemmTable(_Strict):
    """GEMM fractions of peak at a reference shape, and the tile geometry used to scale them to other shapes."""

    tile_m: int = Field(gt=0)
    tile_n: int = Field(gt=0)
    min_tile_m: int = Field(gt=0, description="Smallest M tile a skinny (decode) GEMM is padded to.")
    reference_m: int = Field(gt=0, description="M of the GEMM the fractions were measured at.")
    reference_n: int = Field(gt=0, description="N of the GEMM the fractions were measured at.")
    tiles_source: str
    fraction_of_peak: dict[str, Figure] = {}
    fraction_of_peak_source: str | None = None


class ShapePoint(_Strict):
    """Achieved forward rate of a fused attention kernel at one head dimension, with or without a causal mask."""

    head_dim: int = Field(gt=0)
    causal: bool
    tflops: float = Field(gt=0)


class AttentionShapes(_Strict):
    """How a fused attention kernel's rate moves with head dimension and causal masking, relative to the shape
    its `fraction_of_peak` figure was measured at (one benchmark, one sequence length)."""

    reference: ShapePoint = Field(description="The shape the family's fraction_of_peak figure stands for.")
    points: list[ShapePoint] = Field(min_length=1)
    source: str = Field(min_length=10)

    def factor(self, head_dim: float, causal: bool) -> float:
        """Rate at (head_dim, causal) over the reference's: linear in log2(head_dim) between measured head
        dims, the nearest one outside them; a mask kind without points borrows the other kind's curve."""
        same = sorted((p.head_dim, p.tflops) for p in self.points if p.causal == causal)
        curve = same or sorted((p.head_dim, p.tflops) for p in self.points)
        x = math.log2(max(head_dim, 1.0))
        xs = [math.log2(d) for d, _ in curve]
        if x <= xs[0]:
            value = curve[0][1]
        elif x >= xs[-1]:
            value = curve[-1][1]
        else:
            i = next(i for i in range(1, len(xs)) if x <= xs[i])
            t = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
            value = curve[i - 1][1] + t * (curve[i][1] - curve[i - 1][1])
        return value / self.reference.tflops


class OpTable(_Strict):
    """Fractions of peak of one operation class per dtype."""

    fraction_of_peak: dict[str, Figure] = {}
    fraction_of_peak_source: str | None = None
    forward_by_shape: AttentionShapes | None = Field(
        None, description="Fused attention only: rate by head dimension and causal mask, relative to the figure.")


class KernelBoundary(_Strict):
    """GPU time lost at each kernel boundary, which CUDA graphs do not remove (only fusion does)."""

    value_us: float = Field(gt=0, le=100, description="Microseconds per kernel the memory pipeline sits idle.")
    source: str = Field(min_length=10)
    assumed: bool = False
    derived_from: str | None = Field(None, description="The published figure the value is derived from.")

    @model_validator(mode="after")
    def _sourced(self) -> "KernelBoundary":
        if not self.assumed and not self.derived_from:
            raise ValueError("a kernel boundary cost that is not assumed needs derived_from")
        return self


class FamilyFile(_Strict):
    """One GPU family's achieved efficiencies (data/efficiencies/<vendor>-<arch>.yaml)."""

    family: str
    architectures: list[str] = Field(min_length=1)
    gemm: GemmTable
    attention: OpTable = OpTable()
    memory: Figure | None = None
    kernel_boundary: KernelBoundary | None = None


class Algorithm(_Strict):
    """One all-reduce algorithm: fixed cost (alpha) and achieved bus bandwidth (beta) over a link kind."""

    busbw_fraction: float = Field(gt=0, le=1.2, description="Large-message bus bandwidth / group link bandwidth.")
    latency_us: float = Field(gt=0, description="Small-message all-reduce time at latency_ranks ranks.")
    latency_ranks: int = Field(ge=2)
    source: str = Field(min_length=10)
    assumed: bool = False
    fitted_from: list[str] = []

    @model_validator(mode="after")
    def _sourced(self) -> "Algorithm":
        if not self.assumed and not self.fitted_from:
            raise ValueError("an algorithm's figures that are not assumed need fitted_from")
        return self


class LinkKind(_Strict):
    """Topology and collective parameters of one interconnect kind."""

    topology: Literal["switch", "pair", "full-mesh"]
    allreduce: dict[Literal["ring", "tree", "nvls"], Algorithm] = Field(min_length=1)
    topology_source: str


class LinksFile(_Strict):
    """data/efficiencies/links.yaml."""

    family: Literal["links"]
    kinds: dict[str, LinkKind]


def _read(path: Path) -> dict:
    import yaml  # noqa: PLC0415  (kept off the import path of the CLI's fast commands)

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AccelsageError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise AccelsageError(f"{path} must hold a mapping")
    return data


@functools.lru_cache(maxsize=8)
def load_families(folder: Path = EFFICIENCIES_DIR) -> tuple[FamilyFile, ...]:
    """Every family file in `folder` (links.yaml excepted), validated; AccelsageError names a bad file."""
    families = []
    for path in sorted(Path(folder).glob("*.yaml")):
        if path.name == LINKS_FILE:
            continue
        try:
            families.append(FamilyFile.model_validate(_read(path)))
        except ValidationError as exc:
            raise AccelsageError(f"{path}: {exc}") from exc
    return tuple(families)


@functools.lru_cache(maxsize=8)
def load_links(folder: Path = EFFICIENCIES_DIR) -> LinksFile:
    """The link topology file, validated; an empty table when the folder has none."""
    path = Path(folder) / LINKS_FILE
    if not path.exists():
        return LinksFile(family="links", kinds={})
    try:
        return LinksFile.model_validate(_read(path))
    except ValidationError as exc:
        raise AccelsageError(f"{path}: {exc}") from exc


def family_for(architecture: str, folder: Path = EFFICIENCIES_DIR) -> FamilyFile | None:
    """The family file that covers a GPU architecture ('hopper', 'cdna3'), or None."""
    arch = architecture.lower()
    for family in load_families(folder):
        if arch in (a.lower() for a in family.architectures):
            return family
    return None


def link_kind(kind: str, folder: Path = EFFICIENCIES_DIR) -> LinkKind | None:
    """Topology and collective parameters of an interconnect kind ('nvlink-4', 'pcie'), or None."""
    return load_links(folder).kinds.get(kind)


def attention_shape_factor(architecture: str, head_dim: float, causal: bool,
                           folder: Path = EFFICIENCIES_DIR) -> float:
    """Fused-attention rate at this head dimension and mask over the rate the family's figure was measured at;
    1.0 for a family without a by-shape table (its figure is used as it is)."""
    family = family_for(architecture, folder)
    shapes = family.attention.forward_by_shape if family is not None else None
    return shapes.factor(head_dim, causal) if shapes is not None else 1.0


def kernel_boundary_us(architecture: str, folder: Path = EFFICIENCIES_DIR) -> tuple[float, str]:
    """(microseconds lost per kernel boundary, where the figure comes from) for a GPU architecture.

    A family file without its own figure (or a GPU without a family file) borrows the Hopper one: the drain
    and ramp of a kernel's thread blocks are a property of how CUDA-like runtimes order kernels, measured on
    H100 only (assumed elsewhere).
    """
    family = family_for(architecture, folder)
    if family is not None and family.kernel_boundary is not None:
        return family.kernel_boundary.value_us, f"data/efficiencies/{family.family}.yaml"
    hopper = family_for("hopper", folder)
    if hopper is not None and hopper.kernel_boundary is not None:
        return hopper.kernel_boundary.value_us, "assumed: the Hopper figure (data/efficiencies/nvidia-hopper.yaml)"
    return 0.0, "none known"
