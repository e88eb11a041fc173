"""Model shape schema (data/models/<id>.yaml) in HuggingFace config.json names, with derived counts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from agent.knowledge.fields import Strict, as_str_list


class ModelSpec(Strict):
    """A model's shape in HuggingFace config.json names, with parameter counts and sources."""

    id: str
    name: str
    aliases: list[str] = []
    family: str
    architecture: Literal["dense", "moe", "ssm", "hybrid"]
    attention: Literal["mha", "gqa", "mqa", "mla", "none"]
    params_total: float
    params_active: float
    hidden_size: int
    intermediate_size: int | None = None
    num_hidden_layers: int
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    vocab_size: int
    max_position_embeddings: int | None = None
    tie_word_embeddings: bool = False
    hidden_act: str | None = None
    gated_mlp: bool = Field(True, description="MLP has gate+up+down matrices (SwiGLU); False for 2-matrix MLPs (OPT, GPT-J).")
    sliding_window: int | None = None
    # MoE
    num_local_experts: int | None = None
    n_routed_experts: int | None = None
    num_experts_per_tok: int | None = None
    n_shared_experts: int | None = None
    moe_intermediate_size: int | None = None
    # Qwen2-MoE name: width of the shared expert when it differs from a routed one (one shared expert unless
    # n_shared_experts says otherwise)
    shared_expert_intermediate_size: int | None = None
    first_k_dense_replace: int | None = None
    # MLA
    kv_lora_rank: int | None = None
    q_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    # SSM
    state_size: int | None = None
    expand: int | None = None
    conv_kernel: int | None = None
    time_step_rank: int | None = None
    # hybrid layer layout
    attn_layer_period: int | None = None
    attn_layer_offset: int | None = None
    expert_layer_period: int | None = None
    expert_layer_offset: int | None = None
    source: str
    notes: str = ""

    _aliases = field_validator("aliases", mode="before")(as_str_list)

    @model_validator(mode="after")
    def _derive(self) -> "ModelSpec":
        if self.params_active > self.params_total:
            raise ValueError("params_active exceeds params_total")
        if self.head_dim is None and self.num_attention_heads:
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        if self.architecture == "moe" and self.num_experts is None:
            raise ValueError("moe model needs num_local_experts or n_routed_experts")
        return self

    @property
    def kv_heads(self) -> int:
        """Key/value heads per attention layer (MHA: all heads; SSM: 0)."""
        if self.attention == "none":
            return 0
        return self.num_key_value_heads or self.num_attention_heads or 0

    @property
    def num_experts(self) -> int | None:
        """Routed experts per MoE layer, whichever config name the model uses."""
        return self.num_local_experts or self.n_routed_experts

    @property
    def is_moe(self) -> bool:
        """True when the MLP is a mixture of more than one routed expert."""
        return (self.num_experts or 0) > 1

    @property
    def attention_layer_count(self) -> int:
        """Layers with attention (hybrids: one every attn_layer_period; SSM: none)."""
        if self.architecture == "ssm":
            return 0
        if self.attn_layer_period:
            return _count_periodic(self.num_hidden_layers, self.attn_layer_period, self.attn_layer_offset or 0)
        return self.num_hidden_layers

    @property
    def ssm_layer_count(self) -> int:
        """Layers with a state-space mixer instead of attention."""
        if self.architecture in ("ssm", "hybrid"):
            return self.num_hidden_layers - self.attention_layer_count
        return 0

    @property
    def moe_layer_count(self) -> int:
        """Layers whose MLP is a mixture of experts."""
        if not self.is_moe:
            return 0
        if self.expert_layer_period:
            return _count_periodic(self.num_hidden_layers, self.expert_layer_period, self.expert_layer_offset or 0)
        return self.num_hidden_layers - (self.first_k_dense_replace or 0)

    @property
    def kv_cache_elements_per_token(self) -> int:
        """KV-cache elements stored per token over all layers (MLA: compressed latent + rope key)."""
        if self.attention == "mla":
            return self.attention_layer_count * ((self.kv_lora_rank or 0) + (self.qk_rope_head_dim or 0))
        return self.attention_layer_count * 2 * self.kv_heads * (self.head_dim or 0)


def _count_periodic(layers: int, period: int, offset: int) -> int:
    return sum(1 for i in range(layers) if i % period == offset)
