"""Model shapes the catalog does not hold: one built from a parameter count, or one read from a HF config.json.

A shape built from a count alone is an assumption and says so: a Llama-style dense decoder (gated MLP at 8/3 of the
hidden size, 128-wide heads with four query heads per KV head, one layer per 128 of hidden width, a 32k vocabulary).
"""

from __future__ import annotations

from typing import Any

from agent.knowledge.model_shape import ModelSpec
from index.errors import AccelsageError

ASSUMED_VOCAB = 32000
ASSUMED_SOURCE = ("assumed shape, not a real model: a Llama-style dense decoder sized to the stated parameter count "
                  "(gated MLP 8/3 of hidden, head_dim 128 (64 below 2048 wide), 4 query heads per KV head, "
                  "one layer per 128 of hidden width, 32k vocabulary)")


def _dense_params(hidden: int, layers: int, heads: int, kv_heads: int, head_dim: int, inter: int, vocab: int,
                  tied: bool = False, gated: bool = True) -> float:
    attention = hidden * heads * head_dim * 2 + 2 * hidden * kv_heads * head_dim
    mlp = (3 if gated else 2) * hidden * inter
    return layers * (attention + mlp) + vocab * hidden * (1 if tied else 2)


def _round(value: float, step: int) -> int:
    return max(step, int(round(value / step)) * step)


def shape_from_size(size_b: float) -> ModelSpec:
    """A dense shape whose parameter count is closest to ``size_b`` billion (marked assumed in its source)."""
    if not 0.01 <= size_b <= 5000:
        raise AccelsageError(f"a {size_b}B-parameter model is outside what the cost model can shape (0.01B to 5000B)")
    best: tuple[float, dict[str, Any]] | None = None
    for hidden in range(256, 32768 + 1, 128):
        head_dim = 128 if hidden >= 2048 else 64
        heads = hidden // head_dim
        kv_heads = max(1, heads // 4)
        layers = max(4, min(160, round(hidden / 128)))
        inter = _round(hidden * 8 / 3, 256)
        params = _dense_params(hidden, layers, heads, kv_heads, head_dim, inter, ASSUMED_VOCAB)
        gap = abs(params - size_b * 1e9)
        if best is None or gap < best[0]:
            best = (gap, dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                              num_key_value_heads=kv_heads, head_dim=head_dim, intermediate_size=inter,
                              params=params))
    shape = best[1]
    params = shape.pop("params")
    label = f"{size_b:g}B"
    return ModelSpec(id=f"assumed-dense-{label.lower()}", name=f"{label} dense model (assumed shape)", family="assumed",
                     architecture="dense", attention="gqa", params_total=params, params_active=params,
                     vocab_size=ASSUMED_VOCAB, max_position_embeddings=131072, hidden_act="silu", gated_mlp=True,
                     source=ASSUMED_SOURCE, **shape)


def shape_from_hf_config(config: dict[str, Any], name: str) -> ModelSpec:
    """A shape from a HuggingFace ``config.json`` (dense or MoE decoders in Llama/Mistral/Qwen naming)."""
    def need(key: str) -> int:
        value = config.get(key)
        if not isinstance(value, int) or value <= 0:
            raise AccelsageError(f"config.json needs a positive integer '{key}'")
        return value

    hidden, layers, heads, vocab = (need(k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                     "vocab_size"))
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    inter = int(config.get("intermediate_size") or 4 * hidden)
    experts = int(config.get("num_local_experts") or config.get("num_experts") or config.get("n_routed_experts") or 0)
    per_tok = int(config.get("num_experts_per_tok") or 0)
    expert_inter = int(config.get("moe_intermediate_size") or inter)
    tied = bool(config.get("tie_word_embeddings", False))
    gated = str(config.get("hidden_act", "silu")) in ("silu", "swiglu", "gelu_pytorch_tanh") or "gate" in str(config)
    base = _dense_params(hidden, layers, heads, kv_heads, head_dim, 0, vocab, tied, gated)
    mlp = (3 if gated else 2) * hidden
    if experts > 1:
        total = base + layers * experts * mlp * expert_inter
        active = base + layers * max(1, per_tok) * mlp * expert_inter
    else:
        total = active = base + layers * mlp * inter
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "model"
    return ModelSpec(
        id=f"custom-{slug}", name=f"{name} (from config.json)", family=str(config.get("model_type", "custom")),
        architecture="moe" if experts > 1 else "dense", attention="gqa" if kv_heads < heads else "mha",
        params_total=total, params_active=active, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim, vocab_size=vocab,
        max_position_embeddings=config.get("max_position_embeddings"), tie_word_embeddings=tied,
        hidden_act=config.get("hidden_act"), gated_mlp=gated, sliding_window=config.get("sliding_window") or None,
        num_local_experts=experts or None, num_experts_per_tok=per_tok or None,
        moe_intermediate_size=config.get("moe_intermediate_size"),
        source=f"user's config.json for {name}; parameter counts computed from its shapes")
