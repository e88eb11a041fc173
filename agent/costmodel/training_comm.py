"""Communication of one training step: tensor, pipeline, context and data parallel, and what hides behind compute.

What is overlapped (as Megatron-LM does by default):
- data parallel: the gradient reduce-scatter / all-reduce runs bucket by bucket during the backward pass of
  the last micro-batch; everything but the last bucket can hide there (``overlap_grad_reduce``). ZeRO-3's
  parameter all-gathers are counted in full.
- tensor parallel: not overlapped. Without sequence parallelism each layer all-reduces twice forward and
  twice backward; with it each all-reduce becomes a reduce-scatter plus an all-gather (same bytes). The
  extra all-gather sequence parallelism needs for weight gradients runs under the data-gradient GEMM and
  is not counted.
- pipeline and context parallel point-to-point traffic: not overlapped.

How collectives are timed: a group inside one node all-reduces by the latency + bandwidth model of
:func:`agent.costmodel.comm.allreduce_s` (per-algorithm fixed cost and bus bandwidth from
data/efficiencies/links.yaml, the fastest algorithm at the message size, the group's share of the links from
the topology); a reduce-scatter or an all-gather is half a ring all-reduce (half its bytes on the wire and half
its steps; in-switch reduction helps only the all-reduce). A group that crosses nodes, or runs over a link the
workload names, is a plain ring at that bandwidth: the tables describe GPU-to-GPU links inside a node only.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.costmodel import comm
from agent.costmodel.efficiency_data import link_kind
from agent.costmodel.roofline import Rates
from agent.costmodel.specs import Hardware, ModelShape
from agent.costmodel.training_memory import GRAD_BYTES
from agent.costmodel.workload import TrainingWorkload

# Megatron-Core's default gradient bucket: max(40,000,000, 1,000,000 x data-parallel size) parameters
# (megatron/core/distributed/distributed_data_parallel_config.py, `bucket_size`).
BUCKET_MIN_PARAMS = 40_000_000
BUCKET_PARAMS_PER_DP_RANK = 1_000_000


@dataclass(frozen=True)
class GroupLink:
    """How one parallel group's collectives are timed: the in-node all-reduce model, or a ring at a fixed rate.

    Attributes:
        link_gb_s: per-direction bandwidth one rank drives (achievable, or datasheet under peak_only).
        hw: the GPU, when the group stays inside a node on the GPU's own link (the links.yaml model applies).
        peak_only: plain roofline: the ring over the datasheet bandwidth.
        calibrated: a measured all-reduce (calibration file) that replaces the table.
    """

    link_gb_s: float
    hw: Hardware | None = None
    peak_only: bool = False
    calibrated: dict | None = None

    def allreduce_s(self, nbytes: float, ranks: int) -> float:
        """All-reduce of `nbytes` per rank over `ranks` GPUs of this group."""
        if self.hw is None:
            return comm.ring_allreduce_s(nbytes, ranks, self.link_gb_s)
        return comm.allreduce_s(nbytes, ranks, self.hw, self.link_gb_s, self.peak_only, self.calibrated)

    def allgather_s(self, nbytes: float, ranks: int) -> float:
        """All-gather (or reduce-scatter) of a full `nbytes` buffer: half a ring all-reduce's bytes and steps.

        Always the ring's figures: a switch that reduces in-network (NVLS) speeds up an all-reduce because
        each GPU then sends its buffer once instead of twice, while a reduce-scatter or all-gather already
        sends each byte once, so its bus bandwidth stays at the ring's fraction of the link.
        """
        if self.hw is None:
            return comm.ring_allgather_s(nbytes, ranks, self.link_gb_s)
        kind = link_kind(self.hw.link_kind)
        ring = kind.allreduce.get("ring") if kind is not None else None
        if ring is None or self.peak_only or self.calibrated:
            return self.allreduce_s(nbytes, ranks) / 2
        steps = comm.algorithm_steps("ring", ranks) / comm.algorithm_steps("ring", ring.latency_ranks)
        bus_gb_s = ring.busbw_fraction * comm.group_link_gb_s(self.hw, ranks, self.hw.link_gb_s)
        wire = comm.ring_allreduce_bytes_on_wire(nbytes, ranks)
        return (ring.latency_us * steps * 1e-6 + wire / (bus_gb_s * 1e9)) / 2


def tp_comm_s(shape: ModelShape, w: TrainingWorkload, link: float | GroupLink) -> float:
    """Tensor-parallel collectives per step: 2 per layer per pass (AR, or RS + AG under sequence parallel)."""
    if w.tp <= 1:
        return 0.0
    group = link if isinstance(link, GroupLink) else GroupLink(link)
    act_msg = w.seq_len / w.cp * w.micro_batch * shape.hidden_size * 2
    layers = shape.num_hidden_layers / w.pp
    passes = 2 + (1 if w.recompute == "full" else 0)  # forward, backward, and the recomputed forward
    if w.sequence_parallel:
        one = group.allgather_s(act_msg, w.tp) * 2  # reduce-scatter + all-gather
    else:
        one = group.allreduce_s(act_msg, w.tp)
    return w.micro_batches * layers * passes * 2 * one


def pp_comm_s(shape: ModelShape, w: TrainingWorkload, link_gb_s: float) -> float:
    """Pipeline sends on the critical path: forward activations and backward gradients per micro-batch,
    V times as many with V model chunks per stage (interleaved), plus the p - 1 fill hops."""
    if w.pp <= 1:
        return 0.0
    act_msg = w.seq_len / w.cp * w.micro_batch * shape.hidden_size * 2 / w.tp
    chunks = w.interleave if w.schedule == "interleaved" else 1
    return 2 * (chunks * w.micro_batches + w.pp - 1) * comm.p2p_s(act_msg, link_gb_s)


def cp_comm_s(shape: ModelShape, w: TrainingWorkload, link_gb_s: float) -> float:
    """Context parallel K/V exchange: each layer passes the local K and V blocks cp - 1 times forward, and
    K, V and their gradients backward (3x the forward bytes); the same volume as an all-gather of K and V."""
    if w.cp <= 1:
        return 0.0
    layers = shape.num_hidden_layers / w.pp
    kv_heads = max(shape.num_key_value_heads / w.tp, 1)  # GQA heads fewer than tp are replicated
    kv_chunk = 2 * w.seq_len / w.cp * w.micro_batch * kv_heads * shape.head_dim * 2
    passes = 3 + (1 if w.recompute == "full" else 0)
    return w.micro_batches * layers * passes * (w.cp - 1) * comm.p2p_s(kv_chunk, link_gb_s)


def dp_comm_s(shape: ModelShape, w: TrainingWorkload, link: float | GroupLink) -> tuple[float, float]:
    """(gradient reduction seconds, ZeRO-3 parameter all-gather seconds) per step over dp x cp ranks."""
    group = link if isinstance(link, GroupLink) else GroupLink(link)
    grad_bytes = GRAD_BYTES * shape.params_total / (w.tp * w.pp) * w.trainable_fraction  # adapters: theirs only
    gathered = shape.params_total / (w.tp * w.pp) * (GRAD_BYTES * w.trainable_fraction
                                                     + w.frozen_weight_bits / 8 * (1 - w.trainable_fraction))
    sent = grad_bytes / w.grad_compression  # compressed / sparsified gradients (QSGD, DGC, PowerSGD)
    ranks = w.dp * w.cp  # gradients are reduced over the data- and context-parallel ranks
    if w.zero_stage >= 3:
        # parameters gathered for forward and backward (uncompressed), gradients reduce-scattered
        return group.allgather_s(sent, ranks), 2 * group.allgather_s(gathered, ranks)
    return group.allreduce_s(sent, ranks), 0.0


def hidden_grad_reduce_s(shape: ModelShape, w: TrainingWorkload, grad_s: float, backward_window_s: float) -> float:
    """Seconds of the gradient reduction hidden behind the last micro-batch's backward pass.

    All buckets but the last can run while backward continues; the last starts only when backward ends.
    """
    if not w.overlap_grad_reduce or grad_s <= 0:
        return 0.0
    params_gpu = shape.params_total / (w.tp * w.pp)
    bucket = max(BUCKET_MIN_PARAMS, BUCKET_PARAMS_PER_DP_RANK * w.dp * w.cp)
    last_bucket_s = grad_s * min(1.0, bucket / params_gpu)
    return min(grad_s - last_bucket_s, max(backward_window_s, 0.0))


def neighbour_link_gb_s(hw: Hardware, group_span: int, link_gb_s: float, internode_gb_s: float) -> float:
    """Bandwidth of one point-to-point hop inside a group spanning `group_span` consecutive ranks.

    Across nodes: the inter-node rate. Inside a node: the group's link rule (an NVLink bridge joins pairs only,
    so a wider group crosses PCIe) and at most one peer link (a full mesh gives each peer one of its links).
    """
    if group_span > hw.domain_gpus:
        return internode_gb_s
    return min(comm.group_link_gb_s(hw, group_span, link_gb_s), comm.group_link_gb_s(hw, 2, link_gb_s))


def comm_times_s(shape: ModelShape, w: TrainingWorkload, hw: Hardware, rates: Rates,
                 internode_gb_s: float) -> tuple[dict[str, float], float]:
    """Collective and point-to-point seconds per step before any overlap (rank order tp, cp, dp, pp), and the
    gradient-reduction part of ``dp_comm_s`` (what can overlap with backward)."""
    link_gb_s = rates.link_gb_s
    in_node = GroupLink(link_gb_s, hw, rates.peak_only, rates.allreduce_calibrated or None)
    tp = tp_comm_s(shape, w, in_node)  # tensor parallelism is laid out inside a node
    pp = pp_comm_s(shape, w, neighbour_link_gb_s(hw, w.tp * w.pp, link_gb_s, internode_gb_s))
    if w.dp_link_gb_s:
        dp_link = GroupLink(w.dp_link_gb_s)
    else:
        dp_link = in_node if w.gpus <= hw.domain_gpus else GroupLink(internode_gb_s)
    grad_s, gather_s = dp_comm_s(shape, w, dp_link)
    offload_s = 0.0
    if w.offload:
        shard = shape.params_total / (w.tp * w.pp) / (w.dp * w.cp if w.zero_stage else 1) * w.trainable_fraction
        offload_s = 2 * 2 * shard / (max(hw.pcie_gb_s, 1.0) * 1e9)  # grads down, bf16 params up
    out = {"tp_comm_s": tp, "pp_comm_s": pp, "dp_comm_s": grad_s + gather_s, "offload_s": offload_s}
    if w.cp > 1:
        out["cp_comm_s"] = cp_comm_s(shape, w, neighbour_link_gb_s(hw, w.tp * w.cp, link_gb_s, internode_gb_s))
    return out, grad_s
