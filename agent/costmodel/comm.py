"""Collective communication times: ring all-reduce, all-gather/reduce-scatter, all-to-all, point-to-point."""

from __future__ import annotations

# Per-hop latency of one ring step. Not taken from a datasheet: an assumed order of magnitude for NCCL
# over NVLink/PCIe; the estimate lists it in its assumptions and a calibration can replace it.
STEP_LATENCY_US = 2.0


def ring_allreduce_bytes_on_wire(nbytes: float, ranks: int) -> float:
    """Bytes each rank sends in a ring all-reduce: 2(p-1)/p of the buffer."""
    if ranks <= 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * nbytes


def ring_allreduce_s(nbytes: float, ranks: int, link_gb_s: float, step_latency_us: float = STEP_LATENCY_US) -> float:
    """Ring all-reduce time: 2(p-1)/p * bytes / per-direction bandwidth + 2(p-1) step latencies.

    Args:
        nbytes: buffer size on each rank.
        ranks: participants p.
        link_gb_s: per-direction bandwidth one rank can drive, decimal GB/s.
        step_latency_us: fixed cost of one ring step.
    """
    if ranks <= 1 or nbytes <= 0:
        return 0.0
    return ring_allreduce_bytes_on_wire(nbytes, ranks) / (link_gb_s * 1e9) + 2 * (ranks - 1) * step_latency_us * 1e-6


def ring_allgather_s(nbytes: float, ranks: int, link_gb_s: float, step_latency_us: float = STEP_LATENCY_US) -> float:
    """All-gather (or reduce-scatter) of a `nbytes` full buffer: (p-1)/p * bytes / bandwidth + (p-1) latencies."""
    if ranks <= 1 or nbytes <= 0:
        return 0.0
    return (ranks - 1) / ranks * nbytes / (link_gb_s * 1e9) + (ranks - 1) * step_latency_us * 1e-6


def all_to_all_s(nbytes_per_rank: float, ranks: int, link_gb_s: float,
                 step_latency_us: float = STEP_LATENCY_US) -> float:
    """All-to-all where each rank holds `nbytes_per_rank` and keeps 1/p of it locally."""
    if ranks <= 1 or nbytes_per_rank <= 0:
        return 0.0
    return (ranks - 1) / ranks * nbytes_per_rank / (link_gb_s * 1e9) + step_latency_us * 1e-6


def p2p_s(nbytes: float, link_gb_s: float, step_latency_us: float = STEP_LATENCY_US) -> float:
    """One point-to-point send (pipeline stage boundary, KV transfer)."""
    if nbytes <= 0:
        return 0.0
    return nbytes / (link_gb_s * 1e9) + step_latency_us * 1e-6
