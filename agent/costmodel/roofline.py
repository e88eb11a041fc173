"""Roofline timing per operation class: max(FLOPs / achievable compute, bytes / achievable bandwidth) + overhead."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.costmodel.calibration import CalibrationEntry
from agent.costmodel.specs import Hardware

TERMS = ("compute", "memory", "communication", "overhead")

# Fused attention reaches a lower fraction of tensor peak than a large GEMM: the softmax, its exp and
# rescaling run on the slower non-tensor units between the two matmuls, and causal tiles are partly empty.
# Used when the GPU file has no `efficiency.attention`; capped at the GEMM efficiency. Ampere: the middle of
# "50-73% of the theoretical maximum FLOPs/s on A100" (FlashAttention-2, arXiv:2307.08691, abstract).
# Hopper: "up to 740 TFLOPs/s (75% utilization)" in FP16 (FlashAttention-3, arXiv:2407.08608, abstract).
# Other architectures: no published figure we rely on, the GEMM efficiency is used.
ATTENTION_EFFICIENCY_BY_ARCH = {"ampere": (0.50 + 0.73) / 2, "hopper": 0.75}


def attention_efficiency(hw: Hardware) -> float:
    """Fused-attention fraction of peak: the GPU file's `efficiency.attention`, else the architecture default."""
    if "attention" in hw.efficiency:
        return hw.efficiency["attention"]
    arch = ATTENTION_EFFICIENCY_BY_ARCH.get(hw.architecture)
    return min(hw.efficiency["gemm"], arch) if arch else hw.efficiency["gemm"]


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

    def peak_for(self, dtype: str) -> float:
        """Dense peak TFLOP/s a dtype runs at: its own rate, else bf16, fp16, then fp32 (V100, T4, Apple: no bf16)."""
        peak = self.peak_tflops.get(dtype) or self.peak_tflops.get("bf16") or self.peak_tflops.get("fp16")
        return peak or self.peak_tflops.get("fp32", 1.0)

    def compute_tflops(self, dtype: str, kind: str = "gemm") -> float:
        """Achievable dense TFLOP/s for a dtype; falls back to bf16 when the GPU has no such rate."""
        eff = self.attention_efficiency if kind == "attention" else self.gemm_efficiency
        return self.peak_for(dtype) * eff


def rates_for(hw: Hardware, calibration: CalibrationEntry | None = None, peak_only: bool = False) -> Rates:
    """Achievable rates for a GPU; `peak_only` gives the plain roofline (efficiency 1, no overheads)."""
    eff = hw.efficiency
    if peak_only:
        return Rates(dict(hw.dense_tflops), 1.0, 1.0, hw.memory_bandwidth_gb_s, hw.link_gb_s, 0.0,
                     ("plain peak roofline: no efficiencies, no kernel overhead",))
    gemm, memory, attn = eff["gemm"], eff["memory"], attention_efficiency(hw)
    notes = []
    if hw.efficiency_defaulted:
        notes.append(f"GPU file has no efficiency for {', '.join(hw.efficiency_defaulted)}: defaults used")
    if calibration is not None:
        gemm = calibration.gemm_efficiency or gemm
        memory = calibration.memory_efficiency or memory
        attn = calibration.attention_efficiency or attn
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
    compute_s = op.flops / (rates.compute_tflops(op.dtype, kind) * 1e12) if op.flops else 0.0
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
        overhead_factor: fraction of per-kernel overhead left (CUDA graphs lower it).
        comm_hidden_fraction: fraction of communication overlapped with other work.
    """
    phase = PhaseTime()
    for op in ops:
        busy_s, term, overhead_s = op_time(op, rates)
        overhead_s *= overhead_factor
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
