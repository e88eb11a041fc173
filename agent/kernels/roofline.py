"""Analytical roofline of single kernels: GEMM, attention, all-reduce on a given GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from agent.costmodel import comm
from agent.costmodel.calibration import CalibrationEntry
from agent.costmodel.dtypes import dtype_bytes, normalize_dtype
from agent.costmodel.efficiency import shape_factor
from agent.costmodel.roofline import rates_for, tiles_for
from agent.costmodel.shapes import causal_pairs
from agent.costmodel.specs import Hardware, hardware_from_spec
from index.errors import AccelsageError


@dataclass(frozen=True)
class KernelRoofline:
    """One kernel on one GPU: time and the roofline quantities that explain it."""

    kernel: str
    gpu: str
    dtype: str
    flops: float
    bytes: float
    time_us: float
    achieved_tflops: float
    achieved_gb_s: float
    arithmetic_intensity: float   # FLOP per byte of HBM traffic
    ridge_point: float            # FLOP per byte where compute and memory time are equal
    bound: str                    # compute, memory, communication or overhead
    compute_tflops: float         # achievable rates used
    memory_gb_s: float
    peak_only: bool = False
    shape_factor: float = 1.0     # GEMM: efficiency of this shape relative to the reference one (padding, waves)

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _hw(gpu: Any) -> Hardware:
    return gpu if isinstance(gpu, Hardware) else hardware_from_spec(gpu)


def _finish(kernel: str, hw: Hardware, dtype: str, flops: float, nbytes: float, peak_only: bool,
            calibration: CalibrationEntry | None, kind: str = "gemm", compute_scale: float = 1.0) -> KernelRoofline:
    rates = rates_for(hw, calibration, peak_only=peak_only)
    peak = hw.peak_tflops(dtype)
    if peak is None:
        raise AccelsageError(f"{hw.name} has no {dtype} throughput")
    factor = 1.0 if peak_only else compute_scale  # the plain roofline knows no shape effects
    compute = rates.compute_tflops(dtype, kind) * factor
    compute_s = flops / (compute * 1e12)
    memory_s = nbytes / (rates.memory_gb_s * 1e9)
    overhead_s = rates.kernel_overhead_us * 1e-6
    busy = max(compute_s, memory_s)
    bound = "overhead" if overhead_s > busy else ("compute" if compute_s >= memory_s else "memory")
    total = busy + overhead_s
    return KernelRoofline(
        kernel=kernel, gpu=hw.id, dtype=dtype, flops=flops, bytes=nbytes, time_us=total * 1e6,
        achieved_tflops=flops / total / 1e12, achieved_gb_s=nbytes / total / 1e9,
        arithmetic_intensity=flops / nbytes if nbytes else float("inf"),
        ridge_point=compute * 1e12 / (rates.memory_gb_s * 1e9), bound=bound,
        compute_tflops=compute, memory_gb_s=rates.memory_gb_s, peak_only=peak_only, shape_factor=factor,
    )


def gemm_shape_factor(hw: Hardware, m: int, n: int, k: int) -> float:
    """Fraction of the reference shape's efficiency an (m, n, k) GEMM keeps after tile padding and waves.

    Capped at 1: the family files' efficiencies are best-shape figures (MAMF sweeps), which no shape beats.
    A GPU without an SM count (Apple) keeps 1.
    """
    if hw.sm_count <= 0:
        return 1.0
    return min(shape_factor(m, n, tiles_for(hw), hw.sm_count, k=k), 1.0)


def roofline_gemm(gpu: Any, m: int, n: int, k: int, dtype: str = "bf16", *, peak_only: bool = False,
                  calibration: CalibrationEntry | None = None) -> KernelRoofline:
    """C[m,n] = A[m,k] @ B[k,n]: 2mnk FLOPs over reading A and B and writing C once.

    The compute rate is peak x the dtype's large-GEMM efficiency x the shape factor (tile padding of M and
    wave quantization over the SMs, relative to the family's reference shape; see agent.costmodel.efficiency).

    Args:
        gpu: GpuSpec or Hardware.
        m, n, k: GEMM dimensions (m = tokens for a linear layer).
        dtype: input dtype (fp8/int8 write 16-bit outputs).
        peak_only: spec peaks without efficiencies, shape effects or launch overhead.
    Example: roofline_gemm(h100, 1, 4096, 4096) is memory-bound (intensity ~1 FLOP/byte).
    """
    dtype = normalize_dtype(dtype)
    b = dtype_bytes(dtype)
    out_b = 2.0 if b < 2 else b
    flops = 2.0 * m * n * k
    nbytes = (m * k + k * n) * b + m * n * out_b
    hw = _hw(gpu)
    return _finish("gemm", hw, dtype, flops, nbytes, peak_only, calibration,
                   compute_scale=gemm_shape_factor(hw, m, n, k))


def roofline_attention(gpu: Any, batch: int, heads: int, kv_heads: int, q_len: int, kv_len: int,
                       head_dim: int = 128, causal: bool = True, fused: bool = True, dtype: str = "bf16", *,
                       peak_only: bool = False, calibration: CalibrationEntry | None = None) -> KernelRoofline:
    """Attention forward: 4 x heads x head_dim FLOPs per kept (query, key) pair; unfused adds S x S traffic.

    Args:
        batch, heads, kv_heads: sequences, query heads, key/value heads (GQA when fewer).
        q_len, kv_len: new queries and keys attended (decode: q_len=1).
        causal: mask the future (keeps q*kv - q(q-1)/2 pairs).
        fused: FlashAttention-style kernel; False writes and re-reads scores and probabilities.
    """
    dtype = normalize_dtype(dtype)
    b = dtype_bytes(dtype)
    pairs = causal_pairs(q_len, kv_len) if causal else float(q_len * kv_len)
    flops = 4.0 * batch * heads * head_dim * pairs
    nbytes = batch * (2 * heads * q_len + 2 * kv_heads * kv_len) * head_dim * b
    if not fused:
        nbytes += 4 * batch * heads * pairs * b
    return _finish("attention" + ("" if fused else "-unfused"), _hw(gpu), dtype, flops, nbytes, peak_only,
                   calibration, kind="attention")


LINKS = ("nvlink", "pcie")
# Message used to read off the all-reduce model's large-message bus bandwidth: big enough that the fixed cost
# (tens of microseconds) is under a millionth of the time.
LARGE_MESSAGE_BYTES = 1e13


def _link_hardware(hw: Hardware, link: str | float) -> Hardware:
    """The GPU as the all-reduce sees it over `link`: its own interconnect, PCIe, or its interconnect kind at a
    given per-direction bandwidth (GB/s)."""
    if isinstance(link, (int, float)) or str(link).replace(".", "", 1).isdigit():
        bw, kind = float(link), hw.link_kind
    elif str(link).lower() == "pcie":
        bw, kind = hw.pcie_gb_s, "pcie"
    elif str(link).lower() == "nvlink":
        bw, kind = hw.link_gb_s, hw.link_kind
    else:
        raise AccelsageError(f"unknown link {link!r}; use nvlink, pcie or a GB/s number")
    if not bw:
        raise AccelsageError(f"{hw.name} lists no bandwidth for link {link!r}")
    return replace(hw, link_kind=kind, link_gb_s=bw)


def roofline_allreduce(gpu: Any, nbytes: float, ranks: int, link: str | float = "nvlink", *,
                       peak_only: bool = False, calibration: CalibrationEntry | None = None) -> KernelRoofline:
    """All-reduce of `nbytes` per rank: a fixed cost plus 2(p-1)/p x bytes over the achieved bus bandwidth.

    The fixed cost and bus bandwidth come per algorithm (ring, tree, NVLS) from data/efficiencies/links.yaml for
    the link's kind, the group's share of the links from its topology, and the fastest algorithm at this
    message size is taken (agent.costmodel.comm.allreduce_s). A calibration's measured all-reduce replaces the
    table on the GPU's own link. `peak_only` is a ring at the datasheet bandwidth with no fixed cost.

    Args:
        link: 'nvlink' (the GPU's fast interconnect), 'pcie', or a per-direction bandwidth in GB/s (timed with
            the GPU's interconnect kind).
    Returns: achieved_gb_s is the bus bandwidth (wire bytes / time), as nccl-tests reports it; memory_gb_s the
        bus bandwidth the model reaches on very large messages; bound 'overhead' when the fixed cost is most
        of the time.
    """
    hw = _hw(gpu)
    if ranks < 2:
        raise AccelsageError("an all-reduce needs at least 2 ranks")
    link_hw = _link_hardware(hw, link)
    wire = comm.ring_allreduce_bytes_on_wire(nbytes, ranks)
    if peak_only:
        bus_gb_s = comm.group_link_gb_s(link_hw, ranks, link_hw.link_gb_s)
        total = comm.ring_allreduce_s(nbytes, ranks, bus_gb_s, step_latency_us=0.0)
        fixed = 0.0
    else:
        own_link = str(link).lower() == "nvlink"  # a measured all-reduce describes the GPU's own interconnect
        measured = calibration.allreduce if calibration is not None and own_link else None
        link_gb_s = link_hw.link_gb_s * hw.efficiency["comm"]

        def time_s(size: float) -> float:
            return comm.allreduce_s(size, ranks, link_hw, link_gb_s, calibrated=measured)

        total = time_s(nbytes)
        fixed = time_s(1.0)  # the smallest fixed cost any algorithm pays (one byte moves in no time)
        bus_gb_s = comm.ring_allreduce_bytes_on_wire(LARGE_MESSAGE_BYTES, ranks) / time_s(LARGE_MESSAGE_BYTES) / 1e9
    return KernelRoofline(
        kernel="allreduce", gpu=hw.id, dtype="bytes", flops=0.0, bytes=wire, time_us=total * 1e6,
        achieved_tflops=0.0, achieved_gb_s=wire / total / 1e9 if total else 0.0, arithmetic_intensity=0.0,
        ridge_point=0.0, bound="communication" if total - fixed >= fixed else "overhead",
        compute_tflops=0.0, memory_gb_s=bus_gb_s, peak_only=peak_only,
    )
