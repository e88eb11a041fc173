"""GPU specification schema (data/gpus/<id>.yaml): dense and sparse peaks, efficiencies, sources."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from agent.knowledge.fields import Strict, as_str, as_str_list, normalize_dtype
from index.errors import AccelsageError


class DtypeTflops(Strict):
    """Peak tensor/vector throughput per dtype in TFLOP/s (int8 in TOPS); None where the GPU lacks it."""

    fp32: float | None = None
    tf32: float | None = None
    bf16: float | None = None
    fp16: float | None = None
    fp8: float | None = None
    int8: float | None = None
    fp4: float | None = None


class Interconnect(Strict):
    """GPU-to-GPU link: kind (nvlink, infinity-fabric, pcie), per-direction bandwidth and link count."""

    kind: str
    bandwidth_gb_s_per_direction: float | None = None
    links: int | None = None
    domain_gpus: int | None = Field(None, ge=1, description="GPUs one NVLink or fabric domain joins at this bandwidth; "
                                                          "unset: a node of 8 (a GB200 NVL72 rack joins 72).")


class Efficiency(Strict):
    """Achievable fractions of peak used by the cost model, and where they come from."""

    gemm: float = Field(gt=0, le=1, description="Fraction of dense tensor peak a large GEMM reaches.")
    memory: float = Field(gt=0, le=1, description="Fraction of memory bandwidth a large copy reaches.")
    comm: float | None = Field(None, gt=0, le=1, description="Fraction of link bandwidth a large all-reduce reaches.")
    kernel_overhead_us: float = Field(ge=0, description="Per-kernel launch/tail cost in microseconds.")
    source: str
    assumed: bool = Field(False, description="True when the fractions are carried over, not measured on this GPU.")
    fitted_from: str | list[str] | None = Field(
        None, description="Id(s) of the published measurement(s) a fraction was set from; those validation cases are "
                          "reported apart as fitted.")


class GpuSpec(Strict):
    """One GPU's datasheet numbers (dense and 2:4-sparse), efficiencies and sources."""

    id: str
    name: str
    aliases: list[str] = []
    vendor: Literal["nvidia", "amd", "apple"]
    architecture: str
    compute_capability: str | None = None
    gfx: str | None = None
    sm_count: int | None = None
    memory_gib: float
    unified_memory: bool = Field(
        False, description="GPU shares system memory with the CPU; capacity is the whole system memory, of which "
                          "the OS keeps some.")
    memory_type: str
    memory_bandwidth_gb_s: float
    l2_cache_mb: float | None = None
    dense_tflops: DtypeTflops
    sparse_tflops: DtypeTflops = DtypeTflops()
    interconnect: Interconnect
    pcie_gen: int | None = None
    pcie_bandwidth_gb_s_per_direction: float | None = None
    tdp_w: float | None = None
    features: list[str] = []
    efficiency: Efficiency
    measured: dict[str, float] = {}
    sources: dict[str, str]
    notes: str = ""

    _cc = field_validator("compute_capability", mode="before")(as_str)
    _aliases = field_validator("aliases", mode="before")(as_str_list)

    @property
    def memory_bytes(self) -> int:
        """Memory capacity in bytes (capacity is binary: GiB)."""
        return int(self.memory_gib * 2**30)

    @property
    def bandwidth_bytes_s(self) -> float:
        """Peak memory bandwidth in bytes/s (decimal giga)."""
        return self.memory_bandwidth_gb_s * 1e9

    def supports(self, dtype: str) -> bool:
        """Whether the GPU has a dense throughput figure for this dtype."""
        return getattr(self.dense_tflops, normalize_dtype(dtype)) is not None

    def peak_flops(self, dtype: str = "bf16") -> float:
        """Dense peak in FLOP/s (ops/s for int8); AccelsageError when the GPU lacks the dtype."""
        key = normalize_dtype(dtype)
        tflops = getattr(self.dense_tflops, key)
        if tflops is None:
            raise AccelsageError(f"{self.name} has no {key} throughput")
        return tflops * 1e12
