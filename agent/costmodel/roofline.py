"""Roofline timing per operation class: max(FLOPs / achievable compute, bytes / achievable bandwidth) + overhead."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.costmodel.calibration import CalibrationEntry
from agent.costmodel.efficiency import Tiles
from agent.costmodel.efficiency_data import FamilyFile, family_for, kernel_boundary_us
from agent.costmodel.memo import remembered
from agent.costmodel.specs import Hardware

TERMS = ("compute", "memory", "communication", "overhead")
# The GPU file's efficiency.gemm is the bf16 (and fp16: same tensor-core rate) large-GEMM figure of that GPU;
# other dtypes take their family file's figure (data/efficiencies/), else the bf16 one.
GPU_FILE_DTYPES = ("bf16", "fp16")


def _family(hw: Hardware) -> FamilyFile | None:
    return family_for(hw.architecture) if hw.architecture else None


def gemm_efficiency_by_dtype(hw: Hardware) -> dict[str, float]:
    """Large-GEMM fraction of each dtype's dense peak: the GPU file for bf16/fp16, the family file for the rest."""
    base = hw.efficiency["gemm"]
    effs = {d: base for d in hw.dense_tflops}
    family = _family(hw)
    if family is not None:
        for dtype, figure in family.gemm.fraction_of_peak.items():
            if dtype not in GPU_FILE_DTYPES and dtype in effs:
                effs[dtype] = figure.value
    return effs


def attention_efficiency(hw: Hardware, dtype: str = "bf16") -> float:
    """Fused-attention fraction of peak: the GPU file's `efficiency.attention`, else the family file's figure
    for the dtype (FlashAttention-2 on Ampere, FlashAttention-3 on Hopper), capped at the GEMM efficiency of
    that dtype; with neither, the GEMM efficiency."""
    gemm = gemm_efficiency_by_dtype(hw).get(dtype, hw.efficiency["gemm"])
    if "attention" in hw.efficiency and dtype in GPU_FILE_DTYPES:
        return hw.efficiency["attention"]
    family = _family(hw)
    figure = family.attention.fraction_of_peak.get(dtype) if family is not None else None
    return min(gemm, figure.value) if figure is not None else gemm


def tiles_for(hw: Hardware) -> Tiles:
    """Tile geometry of the GPU's family (data/efficiencies/), or the default one."""
    family = _family(hw)
    if family is None:
        return Tiles()
    g = family.gemm
    return Tiles(g.tile_m, g.tile_n, g.min_tile_m, g.reference_m, g.reference_n)


@dataclass(frozen=True)
class Rates:
    """Achievable rates on one GPU: spec peak x efficiency (or calibrated efficiency)."""

    peak_tflops: dict[str, float]
    gemm_efficiency: float
    attention_efficiency: float
    memory_gb_s: float
    link_gb_s: float
    kernel_overhead_us: float
    notes: tuple[str, ...] = ()
    gemm_by_dtype: dict[str, float] = field(default_factory=dict)       # large-GEMM fraction per dtype
    attention_by_dtype: dict[str, float] = field(default_factory=dict)  # fused-attention fraction per dtype
    tiles: Tiles = Tiles()
    sm_count: int = 0                                                  # 0: no wave quantization
    peak_only: bool = False
    allreduce_calibrated: dict = field(default_factory=dict)  # measured all-reduce latency / bus bandwidth
    # GPU time each kernel boundary stalls the memory pipeline (drain of the last blocks, ramp of the next);
    # unlike kernel_overhead_us, CUDA graphs leave it: only fewer kernels (fusion) remove it
    kernel_boundary_us: float = 0.0

    def peak_for(self, dtype: str) -> float:
        """Dense peak TFLOP/s a dtype runs at: its own rate, else bf16, fp16, then fp32 (V100, T4, Apple: no bf16)."""
        peak = self.peak_tflops.get(dtype) or self.peak_tflops.get("bf16") or self.peak_tflops.get("fp16")
        return peak or self.peak_tflops.get("fp32", 1.0)

    def efficiency_for(self, dtype: str, kind: str = "gemm") -> float:
        """Fraction of peak a large GEMM (or fused attention) of a dtype reaches; bf16's figure when unknown."""
        if kind == "attention":
            return self.attention_by_dtype.get(dtype, self.attention_efficiency)
        return self.gemm_by_dtype.get(dtype, self.gemm_efficiency)

    def compute_tflops(self, dtype: str, kind: str = "gemm") -> float:
        """Achievable dense TFLOP/s for a dtype; falls back to bf16 when the GPU has no such rate."""
        return self.peak_for(dtype) * self.efficiency_for(dtype, kind)


def _calibrated_gemm(hw: Hardware, effs: dict[str, float], calibration: CalibrationEntry) -> dict[str, float]:
    """Per-dtype GEMM efficiencies with a calibration's figures put in: its per-dtype table, else measured TFLOP/s."""
    out = dict(effs)
    if calibration.gemm_efficiency:
        for dtype in GPU_FILE_DTYPES:
            if dtype in out:
                out[dtype] = calibration.gemm_efficiency
    for dtype in out:
        tflops = calibration.measured.get(f"gemm_{dtype}_tflops")
        peak = hw.dense_tflops.get(dtype)
        if dtype not in GPU_FILE_DTYPES and tflops and peak and not calibration.measured.get("quick"):
            out[dtype] = min(float(tflops) / peak, 1.0)
    out.update({d: v for d, v in calibration.gemm_efficiency_by_dtype.items() if d in out})
    return out


def rates_for(hw: Hardware, calibration: CalibrationEntry | None = None, peak_only: bool = False) -> Rates:
    """Achievable rates for a GPU; `peak_only` gives the plain roofline (efficiency 1, no overheads).

    Within a :func:`agent.costmodel.memo.shared_evaluations` scope one Hardware and calibration entry give one
    Rates (every training estimate of an answer asks again); outside one it is built afresh.
    """
    return remembered(("rates", id(hw), id(calibration), peak_only), lambda: _rates(hw, calibration, peak_only),
                      (hw, calibration))


def _rates(hw: Hardware, calibration: CalibrationEntry | None, peak_only: bool) -> Rates:
    eff = hw.efficiency
    if peak_only:
        return Rates(dict(hw.dense_tflops), 1.0, 1.0, hw.memory_bandwidth_gb_s, hw.link_gb_s, 0.0,
                     ("plain peak roofline: no efficiencies, no kernel overhead",), peak_only=True)
    gemm, memory, attn = eff["gemm"], eff["memory"], attention_efficiency(hw)
    gemm_by_dtype = gemm_efficiency_by_dtype(hw)
    attn_by_dtype = {d: attention_efficiency(hw, d) for d in gemm_by_dtype}
    notes = []
    family = _family(hw)
    if family is not None:
        shown = ", ".join(f"{d} {gemm_by_dtype[d]:.2f}" for d in ("bf16", "fp8") if d in gemm_by_dtype)
        notes.append(f"GEMM fraction of peak by dtype ({shown}) and tile shape (padding, waves over "
                     f"{hw.sm_count} SMs) from data/efficiencies/{family.family}.yaml")
    boundary_us, boundary_source = kernel_boundary_us(hw.architecture)
    if boundary_us:
        notes.append(f"{boundary_us:g} us per kernel boundary that CUDA graphs do not remove ({boundary_source})")
    if hw.efficiency_defaulted:
        notes.append(f"GPU file has no efficiency for {', '.join(hw.efficiency_defaulted)}: defaults used")
    if calibration is not None:
        gemm = calibration.gemm_efficiency or gemm
        memory = calibration.memory_efficiency or memory
        attn = calibration.attention_efficiency or attn
        gemm_by_dtype = _calibrated_gemm(hw, gemm_by_dtype, calibration)
        attn_by_dtype.update({d: v for d, v in calibration.attention_efficiency_by_dtype.items()})
        if calibration.attention_efficiency:
            attn_by_dtype.update({d: calibration.attention_efficiency for d in GPU_FILE_DTYPES})
        notes.append(f"efficiencies calibrated on '{calibration.device_name}'"
                     + (f" ({calibration.measured_at})" if calibration.measured_at else ""))
    return Rates(
        peak_tflops=dict(hw.dense_tflops),
        gemm_efficiency=gemm,
        attention_efficiency=attn,
        memory_gb_s=hw.memory_bandwidth_gb_s * memory,
        link_gb_s=hw.link_gb_s * eff["comm"],
        kernel_overhead_us=eff["kernel_overhead_us"],
        notes=tuple(notes),
        gemm_by_dtype=gemm_by_dtype,
        attention_by_dtype=attn_by_dtype,
        tiles=tiles_for(hw),
        sm_count=hw.sm_count,
        allreduce_calibrated=dict(calibration.allreduce) if calibration is not None else {},
        kernel_boundary_us=boundary_us,
    )


@dataclass(frozen=True)
class Op:
    """One operation class within a phase, summed over layers and the batch (per GPU)."""

    name: str                 # gemm, attention, elementwise, communication
    flops: float = 0.0
    bytes: float = 0.0
    kernels: float = 0.0      # kernel launches (each pays the per-kernel overhead)
    dtype: str = "bf16"
    comm_s: float = 0.0       # communication time, already computed from link models
    bandwidth_scale: float = 1.0  # <1 when the kernel cannot fill every SM (decode attention at small batch)
    compute_scale: float = 1.0    # <1 for GEMM shapes below the reference one (tile padding, partial last wave)


@dataclass
class PhaseTime:
    """Time of one phase broken down by which roofline term each part is bounded by."""

    total_s: float = 0.0
    by_term: dict[str, float] = field(default_factory=lambda: {t: 0.0 for t in TERMS})
    by_op: dict[str, float] = field(default_factory=dict)
    flops: float = 0.0
    bytes: float = 0.0

    @property
    def bound(self) -> str:
        """The roofline term that accounts for the most time."""
        return max(self.by_term, key=lambda t: self.by_term[t]) if self.total_s > 0 else "overhead"

    def scaled(self, factor: float) -> "PhaseTime":
        """The same breakdown multiplied by a factor (repeated steps, pipeline rounds)."""
        return PhaseTime(self.total_s * factor, {k: v * factor for k, v in self.by_term.items()},
                         {k: v * factor for k, v in self.by_op.items()}, self.flops * factor, self.bytes * factor)

    def plus(self, other: "PhaseTime") -> "PhaseTime":
        """Sum of two breakdowns (work done one after the other)."""
        terms = {k: self.by_term[k] + other.by_term[k] for k in TERMS}
        ops = dict(self.by_op)
        for k, v in other.by_op.items():
            ops[k] = ops.get(k, 0.0) + v
        return PhaseTime(self.total_s + other.total_s, terms, ops, self.flops + other.flops, self.bytes + other.bytes)


def op_time(op: Op, rates: Rates) -> tuple[float, str, float]:
    """(roofline seconds, bounding term, overhead seconds) of one operation class."""
    if op.name == "communication":
        return op.comm_s, "communication", op.kernels * rates.kernel_overhead_us * 1e-6
    kind = "attention" if op.name == "attention" else "gemm"
    eff = min(rates.efficiency_for(op.dtype, kind) * max(op.compute_scale, 1e-3), 1.0)
    compute_tflops = rates.peak_for(op.dtype) * eff
    compute_s = op.flops / (compute_tflops * 1e12) if op.flops else 0.0
    memory_s = op.bytes / (rates.memory_gb_s * max(op.bandwidth_scale, 1e-3) * 1e9) if op.bytes else 0.0
    overhead_s = op.kernels * rates.kernel_overhead_us * 1e-6
    if compute_s >= memory_s:
        return compute_s, "compute", overhead_s
    return memory_s, "memory", overhead_s


def time_ops(ops: list[Op], rates: Rates, overhead_factor: float = 1.0, comm_hidden_fraction: float = 0.0) -> PhaseTime:
    """Sum the roofline time of each op class; comm may be partly hidden under compute.

    Args:
        ops: operation classes of one forward step on one GPU.
        rates: achievable rates.
        overhead_factor: fraction of per-kernel launch overhead left (CUDA graphs lower it); the kernel
            boundary cost (`rates.kernel_boundary_us`) stays whatever it is.
        comm_hidden_fraction: fraction of communication overlapped with other work.
    """
    phase = PhaseTime()
    for op in ops:
        busy_s, term, overhead_s = op_time(op, rates)
        overhead_s = overhead_s * overhead_factor + op.kernels * rates.kernel_boundary_us * 1e-6
        phase.by_term[term] += busy_s
        phase.by_term["overhead"] += overhead_s
        phase.by_op[op.name] = phase.by_op.get(op.name, 0.0) + busy_s + overhead_s
        phase.flops += op.flops
        phase.bytes += op.bytes
    comm = phase.by_term["communication"]
    if comm and comm_hidden_fraction:
        other = phase.by_term["compute"] + phase.by_term["memory"]
        hidden = min(comm * comm_hidden_fraction, other)
        phase.by_term["communication"] -= hidden
        phase.by_op["communication"] -= hidden
    phase.total_s = sum(phase.by_term.values())
    return phase
