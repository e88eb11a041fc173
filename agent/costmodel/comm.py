"""Collective communication times: ring all-reduce, all-gather/reduce-scatter, all-to-all, point-to-point."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from agent.costmodel.efficiency_data import link_kind

if TYPE_CHECKING:
    from agent.costmodel.specs import Hardware

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


# --- link topology and the latency-bandwidth all-reduce (data/efficiencies/links.yaml) ---------------------


def group_link_gb_s(hw: "Hardware", ranks: int, link_gb_s: float) -> float:
    """Per-direction bandwidth one rank drives inside a group of `ranks` GPUs.

    Args:
        hw: the GPU (its interconnect kind, link count and PCIe rate).
        ranks: GPUs in the group (the TP or EP size).
        link_gb_s: the device's link bandwidth as the estimate uses it (datasheet x efficiency, or plain peak).
    Returns:
        link_gb_s on a switch; on an NVLink bridge (pairs only) the PCIe rate, at the same efficiency, once the
        group passes two GPUs; on a full mesh (MI300X) the share of the links the group's peers use: a pair
        gets one of the seven links, eight GPUs all seven.
    """
    kind = link_kind(hw.link_kind)
    if kind is None or ranks <= 1 or hw.link_gb_s <= 0:
        return link_gb_s
    scale = link_gb_s / hw.link_gb_s
    if kind.topology == "pair" and ranks > 2:
        return (hw.pcie_gb_s or hw.link_gb_s) * scale
    if kind.topology == "full-mesh" and hw.link_count:
        return link_gb_s * min(ranks - 1, hw.link_count) / hw.link_count
    return link_gb_s


def algorithm_steps(algorithm: str, ranks: int) -> int:
    """Latency-bound steps of one all-reduce: ring 2(p-1), tree 2 log2(p) (up and down), NVLS 2 (switch reduce)."""
    if algorithm == "ring":
        return 2 * (ranks - 1)
    if algorithm == "tree":
        return 2 * max(math.ceil(math.log2(ranks)), 1)
    return 2


def allreduce_s(nbytes: float, ranks: int, hw: "Hardware", link_gb_s: float, peak_only: bool = False,
                calibrated: dict | None = None) -> float:
    """All-reduce time, t = alpha(algorithm, p) + bytes x 2(p-1)/p / bus bandwidth, fastest algorithm taken.

    Args:
        nbytes: buffer on each rank.
        ranks: participants p.
        hw: the GPU (interconnect kind picks the algorithms, latency and achieved bus bandwidth).
        link_gb_s: the device link bandwidth the estimate uses (datasheet x efficiency, or plain peak).
        peak_only: plain roofline: the ring over the group's datasheet bandwidth.
        calibrated: a measured {'latency_us', 'busbw_gb_s', 'ranks'} (calibration file) that replaces the table.
    """
    if ranks <= 1 or nbytes <= 0:
        return 0.0
    wire = ring_allreduce_bytes_on_wire(nbytes, ranks)
    group_gb_s = group_link_gb_s(hw, ranks, link_gb_s)
    kind = link_kind(hw.link_kind)
    if calibrated and calibrated.get("busbw_gb_s"):
        ref = int(calibrated.get("ranks") or ranks)
        alpha_us = calibrated.get("latency_us", 0.0) * algorithm_steps("ring", ranks) / algorithm_steps("ring", ref)
        return alpha_us * 1e-6 + wire / (calibrated["busbw_gb_s"] * 1e9)
    if peak_only or kind is None:
        return ring_allreduce_s(nbytes, ranks, group_gb_s)
    raw_gb_s = group_link_gb_s(hw, ranks, hw.link_gb_s)
    times = []
    for name, algo in kind.allreduce.items():
        alpha_us = algo.latency_us * algorithm_steps(name, ranks) / algorithm_steps(name, algo.latency_ranks)
        times.append(alpha_us * 1e-6 + wire / (algo.busbw_fraction * raw_gb_s * 1e9))
    return min(times)
