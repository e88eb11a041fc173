"""Per-layer structure of a model: parameter split, KV/state bytes per token, FLOPs per operation."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from agent.costmodel.specs import ModelShape


@dataclass(frozen=True)
class LayerCounts:
    """How many layers of each kind: token mixer (attention or SSM) and feed-forward (dense or MoE)."""

    attention: int
    ssm: int
    dense_ffn: int
    moe_ffn: int


def layer_counts(shape: ModelShape) -> LayerCounts:
    """Count attention/SSM and dense/MoE layers from the architecture and HF layer-period fields."""
    # memoised on the fields that decide it: the cost model asks ~1000 times per estimate (max_batch search)
    return _layer_counts(
        shape.num_hidden_layers, shape.architecture, shape.attention, shape.attn_layer_period,
        shape.attn_layer_offset, shape.n_experts, shape.first_k_dense_replace, shape.expert_layer_period,
        shape.expert_layer_offset,
    )


@functools.lru_cache(maxsize=512)
def _layer_counts(n: int, architecture: str, attention: str, attn_period: int, attn_offset: int, n_experts: int,
                  first_k_dense: int, expert_period: int, expert_offset: int) -> LayerCounts:
    attn = ssm = dense = moe = 0
    for i in range(n):
        if architecture == "ssm" or attention == "none":
            is_attn = False
        elif architecture == "hybrid":
            is_attn = i % attn_period == attn_offset
        else:
            is_attn = True
        attn += is_attn
        ssm += not is_attn
        if architecture == "ssm":
            continue  # Mamba blocks carry no separate MLP
        is_moe = bool(n_experts) and i >= first_k_dense and (i % expert_period == expert_offset % expert_period)
        moe += is_moe
        dense += not is_moe
    return LayerCounts(attention=attn, ssm=ssm, dense_ffn=dense, moe_ffn=moe)


def attention_params(shape: ModelShape) -> float:
    """Weights of one attention block (projections only, biases ignored)."""
    h, nh = shape.hidden_size, shape.num_attention_heads
    if shape.attention == "mla":
        qk_dim = shape.qk_nope_head_dim + shape.qk_rope_head_dim
        q = h * shape.q_lora_rank + shape.q_lora_rank * nh * qk_dim if shape.q_lora_rank else h * nh * qk_dim
        kv = h * (shape.kv_lora_rank + shape.qk_rope_head_dim)
        kv += shape.kv_lora_rank * nh * (shape.qk_nope_head_dim + shape.v_head_dim)
        return q + kv + nh * shape.v_head_dim * h
    hd, nkv = shape.head_dim, shape.num_key_value_heads
    return h * nh * hd * 2 + h * nkv * hd * 2


def ssm_params(shape: ModelShape) -> float:
    """Weights of one Mamba-1 block (in/out projections, conv, x/dt projections, A and D)."""
    h, d_in, n, r = shape.hidden_size, shape.expand * shape.hidden_size, shape.state_size, shape.time_step_rank
    return h * 2 * d_in + d_in * shape.conv_kernel + d_in * (r + 2 * n) + r * d_in + d_in * n + d_in + d_in * h


def expert_params(shape: ModelShape) -> float:
    """Weights of one routed expert (gated MLP)."""
    return 3 * shape.hidden_size * shape.moe_intermediate_size


def moe_active_width(shape: ModelShape) -> int:
    """MLP intermediate width one token runs through in a MoE layer: its routed experts plus the shared ones."""
    return (shape.experts_per_tok * shape.moe_intermediate_size
            + shape.n_shared_experts * shape.shared_expert_intermediate_size)


@dataclass(frozen=True)
class ParamSplit:
    """Where the parameters sit; totals are anchored to the model file, the split comes from the config."""

    total: float
    active: float
    routed_total: float      # all routed experts, every MoE layer
    routed_active: float     # experts_per_tok experts, every MoE layer
    expert_one: float        # one expert in one layer
    embedding: float         # input embedding table (a lookup, not a GEMM)
    lm_head: float
    mlp_active: float        # MLP weights a token uses (dense MLPs + shared + active experts)

    @property
    def dense(self) -> float:
        """Parameters every token reads: all but the routed experts."""
        return self.total - self.routed_total

    @property
    def gemm_active(self) -> float:
        """Parameters a token multiplies through: active minus the embedding lookup (a tied table counts as LM head)."""
        return max(self.active - self.embedding, 0.0)


def param_split(shape: ModelShape) -> ParamSplit:
    """Split the model's parameters into dense, routed-expert, embedding and MLP parts."""
    counts = layer_counts(shape)
    h = shape.hidden_size
    one = expert_params(shape) if shape.n_experts else 0.0
    routed_total = counts.moe_ffn * shape.n_experts * one
    routed_active = counts.moe_ffn * shape.experts_per_tok * one
    shared = counts.moe_ffn * shape.n_shared_experts * 3 * h * shape.shared_expert_intermediate_size
    dense_mlp = counts.dense_ffn * (3 if shape.gated_mlp else 2) * h * shape.intermediate_size
    vocab = shape.vocab_size * h
    # a tied table is stored once: count it as the LM head (a GEMM), not as a lookup
    embedding = 0.0 if shape.tie_word_embeddings else vocab
    return ParamSplit(
        total=shape.params_total,
        active=shape.params_active,
        routed_total=routed_total,
        routed_active=routed_active,
        expert_one=one,
        embedding=embedding,
        lm_head=vocab,
        mlp_active=dense_mlp + shared + routed_active,
    )


def kv_bytes_per_token_layer(shape: ModelShape, kv_bytes: float) -> float:
    """KV-cache bytes one token adds in one attention layer (MLA stores the latent plus the RoPE key)."""
    if shape.attention == "mla":
        return (shape.kv_lora_rank + shape.qk_rope_head_dim) * kv_bytes
    return 2 * shape.num_key_value_heads * shape.head_dim * kv_bytes


def kv_bytes_per_token(shape: ModelShape, kv_bytes: float) -> float:
    """KV-cache bytes one token adds across all attention layers."""
    return kv_bytes_per_token_layer(shape, kv_bytes) * layer_counts(shape).attention


def ssm_state_bytes_per_seq(shape: ModelShape, state_bytes: float) -> float:
    """Recurrent state of one sequence across the SSM layers (SSM state plus the conv window)."""
    d_in = shape.expand * shape.hidden_size
    per_layer = d_in * (shape.state_size + shape.conv_kernel) * state_bytes
    return per_layer * layer_counts(shape).ssm


def linear_attention_state_bytes_per_seq(shape: ModelShape, state_bytes: float) -> float:
    """Constant per-sequence state when attention layers become linear attention (one d x d matrix per KV head)."""
    per_layer = shape.num_key_value_heads * shape.head_dim * shape.head_dim * state_bytes
    return per_layer * layer_counts(shape).attention


def attention_dims(shape: ModelShape, decode: bool) -> tuple[int, int]:
    """(query-key dim, value dim) per head; MLA decode runs over the absorbed latent."""
    if shape.attention == "mla":
        if decode:
            return shape.kv_lora_rank + shape.qk_rope_head_dim, shape.kv_lora_rank
        return shape.qk_nope_head_dim + shape.qk_rope_head_dim, shape.v_head_dim
    return shape.head_dim, shape.head_dim


def causal_pairs(q_len: float, kv_len: float) -> float:
    """(query, key) pairs a causal mask keeps when q_len new tokens follow kv_len - q_len cached ones."""
    q_len = min(q_len, kv_len)
    return q_len * kv_len - q_len * (q_len - 1) / 2


def attention_flops(shape: ModelShape, q_len: float, kv_len: float, decode: bool, causal: bool = True) -> float:
    """FLOPs of scores and weighted sum for one sequence in one attention layer (all heads)."""
    d_qk, d_v = attention_dims(shape, decode)
    pairs = causal_pairs(q_len, kv_len) if causal else q_len * kv_len
    return 2 * shape.num_attention_heads * (d_qk + d_v) * pairs


def ssm_scan_flops_per_token(shape: ModelShape) -> float:
    """Selective-scan FLOPs per token per SSM layer (discretise, update state, read out)."""
    return 9 * shape.expand * shape.hidden_size * shape.state_size


def student_shape(shape: ModelShape, fraction: float) -> ModelShape:
    """A distilled student of about ``fraction`` of the model's parameters: the same width with fewer layers.

    Embedding and LM head are kept; the body (and its FLOPs, KV cache and weight reads) scales with the layers.
    """
    if fraction >= 1:
        return shape
    from dataclasses import replace  # noqa: PLC0415

    layers = max(1, round(shape.num_hidden_layers * fraction))
    split = param_split(shape)
    vocab = split.embedding + split.lm_head
    ratio = layers / shape.num_hidden_layers
    total = vocab + (shape.params_total - vocab) * ratio
    active = vocab + (shape.params_active - vocab) * ratio
    return replace(shape, id=f"{shape.id}-student", name=f"{shape.name} student ({layers} layers)",
                   num_hidden_layers=layers, params_total=total, params_active=active,
                   first_k_dense_replace=min(shape.first_k_dense_replace, layers))
