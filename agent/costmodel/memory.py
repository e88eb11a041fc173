"""Inference memory per GPU: weights, KV cache (or recurrent state), activations/workspace, runtime overhead."""

from __future__ import annotations

from dataclasses import dataclass

from agent.costmodel.knobs import Knobs
from agent.costmodel.shapes import (
    LayerCounts,
    ModelShape,
    ParamSplit,
    kv_bytes_per_token_layer,
    linear_attention_state_bytes_per_seq,
    moe_active_width,
    ssm_state_bytes_per_seq,
)
from agent.costmodel.workload import InferenceWorkload, ParallelConfig

# CUDA context, cuBLAS/attention workspaces, allocator slack and NCCL buffers. An assumed round figure
# (listed in every estimate's assumptions), not a measured one.
RUNTIME_OVERHEAD_GB = 1.5
NCCL_BUFFER_GB = 0.5


def linear_bytes_per_param(knobs: Knobs) -> float:
    """Stored bytes per linear-layer weight after quantisation and pruning (sparsity metadata counted)."""
    bpp = knobs.weight_bytes_per_param
    s = knobs.prune_sparsity
    if s <= 0:
        return bpp
    if knobs.prune_structured:
        return (1 - s) * (bpp + 0.25)  # 2:4 keeps a 2-bit index per kept value
    return (1 - s) * bpp + 1 / 8       # unstructured: values plus a 1-bit mask per weight


def vocab_bytes_per_param(knobs: Knobs) -> float:
    """Embedding and LM-head tables stay 16-bit under weight quantisation (common practice in AWQ/GPTQ/FP8)."""
    return max(knobs.weight_bytes_per_param, knobs.act_bytes)


def weight_bytes_model(split: ParamSplit, knobs: Knobs) -> float:
    """Bytes of all weights of the model (one copy)."""
    vocab = split.lm_head + split.embedding
    return (split.total - vocab) * linear_bytes_per_param(knobs) + vocab * vocab_bytes_per_param(knobs)


def weight_bytes_per_gpu(split: ParamSplit, knobs: Knobs, parallel: ParallelConfig) -> float:
    """Weights one GPU holds: dense parts split tp-ways, experts max(tp, ep)-ways, layers pp-ways."""
    vocab = split.lm_head + split.embedding
    lin = linear_bytes_per_param(knobs)
    dense = (split.dense - vocab) * lin + vocab * vocab_bytes_per_param(knobs)
    experts = split.routed_total * lin
    return (dense / parallel.tp + experts / parallel.expert_shards) / parallel.pp


def kv_bytes_per_token_gpu(shape: ModelShape, counts: LayerCounts, knobs: Knobs, parallel: ParallelConfig) -> float:
    """KV bytes one token adds on one GPU; KV heads fewer than tp (and MLA latents) are replicated."""
    if knobs.linear_attention:
        return 0.0
    per_layer = kv_bytes_per_token_layer(shape, knobs.kv_bytes)
    if shape.attention != "mla":
        per_layer /= min(parallel.tp, max(shape.num_key_value_heads, 1))
    return per_layer * counts.attention / parallel.pp


def state_bytes_per_seq_gpu(shape: ModelShape, knobs: Knobs, parallel: ParallelConfig) -> float:
    """Constant per-sequence recurrent state on one GPU (SSM layers, and attention under linear attention)."""
    state = ssm_state_bytes_per_seq(shape, knobs.act_bytes)
    if knobs.linear_attention:
        state += linear_attention_state_bytes_per_seq(shape, knobs.act_bytes)
    return state / parallel.tp / parallel.pp


def kv_tokens_per_seq(workload: InferenceWorkload, knobs: Knobs) -> float:
    """Tokens of KV memory one sequence holds at its peak (reservation, paging waste, budget cap)."""
    live = workload.prompt_len + workload.output_len
    if knobs.kv_budget_tokens:
        return min(live, knobs.kv_budget_tokens) + (knobs.paged_block_tokens or 0) / 2
    if knobs.paged_block_tokens:
        return live + knobs.paged_block_tokens / 2
    return max(workload.reserve_len, live)


def activation_bytes_gpu(shape: ModelShape, knobs: Knobs, workload: InferenceWorkload, parallel: ParallelConfig,
                         seqs_per_gpu: int) -> float:
    """Peak workspace of one forward: per-token hidden buffers, unfused S x S scores of one layer, logits."""
    h, tp = shape.hidden_size, parallel.tp
    prefill_tokens = knobs.chunk_tokens or workload.prompt_len
    if not knobs.continuous_batching:
        prefill_tokens *= seqs_per_gpu  # static batching prefills the whole batch in one forward
    inter = max(shape.intermediate_size, moe_active_width(shape))
    per_token = (4 * h + 3 * inter / tp + 3 * shape.num_attention_heads * shape.head_dim / tp) * knobs.act_bytes
    scores = 0.0
    if not knobs.attention_fused and not knobs.linear_attention and shape.num_attention_heads:
        q = min(prefill_tokens, workload.prompt_len)
        seqs = prefill_tokens / q
        # scores and probabilities of one layer, kept for the softmax
        scores = 2 * seqs * shape.num_attention_heads / tp * q * workload.prompt_len * knobs.act_bytes
    logits = seqs_per_gpu * shape.vocab_size / tp * 4  # fp32 logits of the last position
    return prefill_tokens * per_token + scores + logits


@dataclass(frozen=True)
class MemoryBreakdown:
    """Per-GPU memory in decimal GB and whether it fits."""

    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    overhead_gb: float
    capacity_gb: float
    offloaded_gb: float = 0.0  # weights kept in host RAM / NVMe (inference offload), not counted in total_gb

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.kv_cache_gb + self.activations_gb + self.overhead_gb

    @property
    def fits(self) -> bool:
        return self.total_gb <= self.capacity_gb

    def to_dict(self) -> dict:
        out = {
            "weights_gb": round(self.weights_gb, 3), "kv_cache_gb": round(self.kv_cache_gb, 3),
            "activations_gb": round(self.activations_gb, 3), "overhead_gb": round(self.overhead_gb, 3),
            "total_gb": round(self.total_gb, 3), "capacity_gb": round(self.capacity_gb, 3), "fits": self.fits,
        }
        if self.offloaded_gb > 0:
            out["offloaded_gb"] = round(self.offloaded_gb, 3)
        return out


@dataclass(frozen=True)
class _FixedParts:
    """The batch-independent terms of a memory breakdown (computed once per max_batch search)."""

    kv_tokens: float
    kv_bytes_per_token: float
    state_bytes_per_seq: float
    speculative_factor: float | None
    weights_gb: float
    overhead_gb: float


def _fixed_parts(shape: ModelShape, split: ParamSplit, counts: LayerCounts, knobs: Knobs,
                 workload: InferenceWorkload, parallel: ParallelConfig) -> _FixedParts:
    spec = 1 + knobs.speculative[1] / max(workload.prompt_len + workload.output_len, 1) if knobs.speculative else None
    return _FixedParts(
        kv_tokens=kv_tokens_per_seq(workload, knobs),
        kv_bytes_per_token=kv_bytes_per_token_gpu(shape, counts, knobs, parallel),
        state_bytes_per_seq=state_bytes_per_seq_gpu(shape, knobs, parallel),
        speculative_factor=spec,
        weights_gb=weight_bytes_per_gpu(split, knobs, parallel) / 1e9,
        overhead_gb=RUNTIME_OVERHEAD_GB + (NCCL_BUFFER_GB if parallel.gpus > 1 else 0.0),
    )


def _breakdown(parts: _FixedParts, shape: ModelShape, knobs: Knobs, workload: InferenceWorkload,
               parallel: ParallelConfig, capacity_gb: float, batch: int) -> MemoryBreakdown:
    weights_gb, kv_gb, acts_gb, offloaded_gb = _terms_gb(parts, shape, knobs, workload, parallel, capacity_gb, batch)
    return MemoryBreakdown(
        weights_gb=weights_gb,
        kv_cache_gb=kv_gb,
        activations_gb=acts_gb,
        overhead_gb=parts.overhead_gb,
        capacity_gb=capacity_gb,
        offloaded_gb=offloaded_gb,
    )


def _terms_gb(parts: _FixedParts, shape: ModelShape, knobs: Knobs, workload: InferenceWorkload,
              parallel: ParallelConfig, capacity_gb: float, batch: int) -> tuple[float, float, float, float]:
    """(weights, KV cache, activations, offloaded) GB per GPU for ``batch`` concurrent requests."""
    seqs = -(-batch // parallel.dp)  # sequences one replica holds
    kv = seqs * parts.kv_tokens * parts.kv_bytes_per_token
    kv += seqs * parts.state_bytes_per_seq
    if parts.speculative_factor is not None:
        kv *= parts.speculative_factor
    acts_gb = activation_bytes_gpu(shape, knobs, workload, parallel, seqs) / 1e9
    weights_gb, offloaded_gb = parts.weights_gb, 0.0
    if knobs.offload_target:
        # offload: the weights that do not fit beside KV cache, workspace and runtime stay in host RAM / NVMe
        room = max(capacity_gb - kv / 1e9 - acts_gb - parts.overhead_gb - 1e-9, 0.0)  # 1e-9: float slack
        weights_gb = min(parts.weights_gb, room)
        offloaded_gb = parts.weights_gb - weights_gb
    return weights_gb, kv / 1e9, acts_gb, offloaded_gb


def memory_breakdown(shape: ModelShape, split: ParamSplit, counts: LayerCounts, knobs: Knobs,
                     workload: InferenceWorkload, parallel: ParallelConfig, capacity_gb: float,
                     batch: int | None = None) -> MemoryBreakdown:
    """Per-GPU memory for `batch` concurrent requests (default: the workload's)."""
    parts = _fixed_parts(shape, split, counts, knobs, workload, parallel)
    return _breakdown(parts, shape, knobs, workload, parallel, capacity_gb, batch or workload.batch)


def max_batch(shape: ModelShape, split: ParamSplit, counts: LayerCounts, knobs: Knobs, workload: InferenceWorkload,
              parallel: ParallelConfig, capacity_gb: float, limit: int = 1 << 20) -> int:
    """Largest total concurrency whose per-GPU memory fits (0 when even one request does not)."""
    # the batch-independent terms once, not once per probe of the search (same arithmetic, same result)
    parts = _fixed_parts(shape, split, counts, knobs, workload, parallel)

    def fits(b: int) -> bool:
        # MemoryBreakdown.fits without building one per probe: the same sum in the same order as total_gb
        weights_gb, kv_gb, acts_gb, _ = _terms_gb(parts, shape, knobs, workload, parallel, capacity_gb, b)
        return weights_gb + kv_gb + acts_gb + parts.overhead_gb <= capacity_gb

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    if hi > limit:
        return limit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo
