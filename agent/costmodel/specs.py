"""Read GPU and model specs (catalog pydantic objects or plain dicts) into the numbers the cost model uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from index.errors import AccelsageError

GIB = 2**30

# used only when a GPU file has no `efficiency` block; every use is listed in the estimate's assumptions
DEFAULT_EFFICIENCY = {"gemm": 0.7, "memory": 0.8, "comm": 0.75, "kernel_overhead_us": 4.0}


def field_of(obj: Any, key: str, default: Any = None) -> Any:
    """Read `key` from a dict or an object attribute; None and missing both give `default`."""
    if obj is None:
        return default
    value = obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)
    return default if value is None else value


def _as_dict(obj: Any) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return dict(vars(obj))


@dataclass(frozen=True)
class Hardware:
    """One GPU: peaks, capacity, links and efficiencies, all in the units their names say."""

    id: str
    name: str
    aliases: tuple[str, ...]
    compute_capability: float | None
    sm_count: int
    memory_gib: float
    memory_bandwidth_gb_s: float
    dense_tflops: dict[str, float]
    sparse_tflops: dict[str, float]
    link_kind: str
    link_gb_s: float
    pcie_gb_s: float
    features: tuple[str, ...]
    efficiency: dict[str, float]
    efficiency_defaulted: tuple[str, ...] = ()
    calibrated_from: str | None = None
    architecture: str = ""
    link_count: int = 0   # GPU-to-GPU links (a full mesh gives each peer one of them); 0 when not stated
    domain_gpus: int = 8  # GPUs joined at link_gb_s: a node, or a whole NVL72 rack

    @property
    def capacity_gb(self) -> float:
        """Memory capacity in decimal GB (files give GiB)."""
        return self.memory_gib * GIB / 1e9

    def peak_tflops(self, dtype: str) -> float | None:
        """Dense tensor peak for a dtype, or None when the GPU has no such path."""
        return self.dense_tflops.get(dtype)

    @property
    def has_gpu_link(self) -> bool:
        """False for single-chip parts with no GPU-to-GPU link (Apple silicon, Jetson): no collectives possible."""
        return self.link_gb_s > 0

    def require_gpu_link(self, consequence: str) -> None:
        """AccelsageError ('<name> has no GPU-to-GPU link: <consequence>') when the device has no such link."""
        if not self.has_gpu_link:
            raise AccelsageError(f"{self.name} has no GPU-to-GPU link: {consequence}")

    def has_fp8(self) -> bool:
        """True when the GPU runs FP8 GEMMs on tensor cores."""
        return bool(self.dense_tflops.get("fp8")) and (
            "fp8-tensor-cores" in self.features or not self.features
        )

    def has_fp4(self) -> bool:
        """True when the GPU runs FP4 GEMMs on tensor cores (Blackwell, SM100 and later)."""
        return bool(self.dense_tflops.get("fp4")) and (
            "fp4-tensor-cores" in self.features or not self.features
        )


def hardware_from_spec(gpu: Any) -> Hardware:
    """Build a Hardware from a GpuSpec (or an equivalent dict)."""
    link = _as_dict(field_of(gpu, "interconnect"))
    pcie = float(field_of(gpu, "pcie_bandwidth_gb_s_per_direction", 0.0) or 0.0)
    link_gb_s = float(link.get("bandwidth_gb_s_per_direction") or 0.0) or pcie
    eff_raw = _as_dict(field_of(gpu, "efficiency"))
    eff, defaulted = {}, []
    for key, fallback in DEFAULT_EFFICIENCY.items():
        value = eff_raw.get(key)
        if value is None:
            # a device with no GPU-to-GPU link (Apple silicon, Jetson) never uses a comm fraction
            if not (key == "comm" and not link_gb_s):
                defaulted.append(key)
            value = fallback
        eff[key] = float(value)
    if eff_raw.get("attention") is not None:  # optional: fused-attention fraction of peak, when a file has one
        eff["attention"] = float(eff_raw["attention"])
    cc = field_of(gpu, "compute_capability")
    return Hardware(
        id=str(field_of(gpu, "id", "gpu")),
        name=str(field_of(gpu, "name", field_of(gpu, "id", "gpu"))),
        aliases=tuple(field_of(gpu, "aliases", ()) or ()),
        compute_capability=float(cc) if cc not in (None, "") else None,
        sm_count=int(field_of(gpu, "sm_count", 0) or 0),
        memory_gib=float(field_of(gpu, "memory_gib")),
        memory_bandwidth_gb_s=float(field_of(gpu, "memory_bandwidth_gb_s")),
        dense_tflops={k: float(v) for k, v in _as_dict(field_of(gpu, "dense_tflops")).items() if v},
        sparse_tflops={k: float(v) for k, v in _as_dict(field_of(gpu, "sparse_tflops")).items() if v},
        link_kind=str(link.get("kind") or ("pcie" if pcie else "none")),
        link_gb_s=link_gb_s,
        pcie_gb_s=pcie,
        features=tuple(field_of(gpu, "features", ()) or ()),
        efficiency=eff,
        efficiency_defaulted=tuple(defaulted),
        architecture=str(field_of(gpu, "architecture", "") or "").lower(),
        link_count=int(link.get("links") or 0),
        domain_gpus=int(link.get("domain_gpus") or 8),
    )


@dataclass(frozen=True)
class ModelShape:
    """A model's shape as the cost model needs it (HuggingFace config names where they exist)."""

    id: str
    name: str
    architecture: str
    attention: str
    params_total: float
    params_active: float
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    gated_mlp: bool = True
    n_experts: int = 0
    experts_per_tok: int = 0
    n_shared_experts: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0  # width of one shared expert (defaults to a routed expert's)
    first_k_dense_replace: int = 0
    expert_layer_period: int = 1
    expert_layer_offset: int = 0
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    state_size: int = 0
    expand: int = 2
    conv_kernel: int = 4
    time_step_rank: int = 0
    attn_layer_period: int = 1
    attn_layer_offset: int = 0
    extra: dict = field(default_factory=dict)


def shape_from_spec(model: Any) -> ModelShape:
    """Build a ModelShape from a ModelSpec (or an equivalent dict), filling HF defaults."""
    get = lambda key, default=0: field_of(model, key, default)  # noqa: E731
    hidden = int(get("hidden_size"))
    heads = int(get("num_attention_heads", 0) or 0)
    kv_heads = int(get("num_key_value_heads", heads) or heads)
    head_dim = int(get("head_dim", 0) or (hidden // heads if heads else 0))
    n_experts = int(get("num_local_experts", 0) or get("n_routed_experts", 0) or 0)
    arch = str(get("architecture", "moe" if n_experts else "dense"))
    total = float(get("params_total"))
    moe_inter = int(get("moe_intermediate_size", 0) or get("intermediate_size", 0))
    shared_inter = int(get("shared_expert_intermediate_size", 0) or 0)
    return ModelShape(
        id=str(get("id", "model")),
        name=str(get("name", get("id", "model"))),
        architecture=arch,
        attention=str(get("attention", "gqa" if kv_heads < heads else "mha")),
        params_total=total,
        params_active=float(get("params_active", total) or total),
        hidden_size=hidden,
        intermediate_size=int(get("intermediate_size", 4 * hidden) or 4 * hidden),
        num_hidden_layers=int(get("num_hidden_layers")),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=int(get("vocab_size", 32000)),
        max_position_embeddings=int(get("max_position_embeddings", 4096)),
        tie_word_embeddings=bool(get("tie_word_embeddings", False)),
        gated_mlp=bool(field_of(model, "gated_mlp", True)),
        n_experts=n_experts,
        experts_per_tok=int(get("num_experts_per_tok", 0) or 0),
        # Qwen2-MoE configs give only shared_expert_intermediate_size: one shared expert of that width
        n_shared_experts=int(get("n_shared_experts", 0) or (1 if shared_inter else 0)),
        moe_intermediate_size=moe_inter,
        shared_expert_intermediate_size=shared_inter or moe_inter,
        first_k_dense_replace=int(get("first_k_dense_replace", 0) or 0),
        expert_layer_period=int(get("expert_layer_period", 1) or 1),
        expert_layer_offset=int(get("expert_layer_offset", 0) or 0),
        kv_lora_rank=int(get("kv_lora_rank", 0) or 0),
        q_lora_rank=int(get("q_lora_rank", 0) or 0),
        qk_rope_head_dim=int(get("qk_rope_head_dim", 0) or 0),
        qk_nope_head_dim=int(get("qk_nope_head_dim", 0) or 0),
        v_head_dim=int(get("v_head_dim", 0) or head_dim),
        state_size=int(get("state_size", 0) or 0),
        expand=int(get("expand", 2) or 2),
        conv_kernel=int(get("conv_kernel", 4) or 4),
        time_step_rank=int(get("time_step_rank", 0) or -(-hidden // 16)),
        attn_layer_period=int(get("attn_layer_period", 1) or 1),
        attn_layer_offset=int(get("attn_layer_offset", 0) or 0),
    )
