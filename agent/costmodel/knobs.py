"""The serving configuration techniques change; the baseline is a plain, unoptimised stack."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Knobs:
    """Everything a technique transform may change. Defaults describe the naive baseline.

    Baseline: unfused attention that materialises S x S scores, contiguous KV reserved at the max length,
    static batching, one kernel launch per op, no speculation, all layers and weights used per token.
    """

    weight_bytes_per_param: float = 2.0
    gemm_dtype: str = "bf16"
    kv_bytes: float = 2.0
    act_bytes: float = 2.0
    attention_fused: bool = False
    split_kv: bool = False
    # decode attention reads each KV head once for its whole query group (GQA/MQA); False when the kernel
    # gives every query head its own thread block that streams K/V again (pre-XQA TensorRT-LLM masked MHA)
    kv_group_shared: bool = True
    paged_block_tokens: int | None = None
    prefix_hit_rate: float = 0.0
    chunk_tokens: int | None = None
    prefill_fraction: float | None = None       # disaggregation: share of GPUs doing prefill
    continuous_batching: bool = False
    # (acceptance a, draft depth k, draft cost ratio, tokens verified per step: k + 1 for a chain, more for a tree)
    speculative: tuple[float, int, float, int] | None = None
    kv_budget_tokens: int | None = None
    active_fraction: float = 1.0                # contextual sparsity (MLP and heads read per token)
    layer_fraction: float = 1.0                 # early exit
    prune_sparsity: float = 0.0
    prune_structured: bool = False
    comm_hidden_fraction: float = 0.0
    overhead_factor: float = 1.0                # per-kernel launch overhead left
    elementwise_traffic_factor: float = 1.0
    linear_attention: bool = False
    # context extension (YaRN, LongRoPE, Self-Extend...): tokens the model handles; None = its trained context
    context_limit: int | None = None
    context_needs_training: bool = False
    offload_target: str | None = None           # inference offload: weights beyond GPU memory in cpu or nvme
    student_fraction: float = 1.0               # distillation: student params / teacher params
    notes: list[str] = field(default_factory=list)

    def copy(self) -> "Knobs":
        """An independent copy (notes list included)."""
        clone = Knobs(**{k: v for k, v in self.__dict__.items() if k != "notes"})
        clone.notes = list(self.notes)
        return clone
