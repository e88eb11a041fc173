"""Technique transforms: each turns the catalog's cost_model params into changes of the serving knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from agent.costmodel.dtypes import quantized_bytes_per_param
from agent.costmodel.knobs import Knobs
from agent.costmodel.specs import Hardware, ModelShape, field_of
from agent.costmodel.workload import ParallelConfig

LAYOUT_TRANSFORMS = ("tensor_parallel", "pipeline_parallel", "expert_parallel", "sequence_parallel",
                     "context_parallel")
TRAINING_TRANSFORMS = ("zero", "recompute", "pipeline_schedule", "mixed_precision", "grad_compression", "adapter")
OFFLOAD_TARGETS = ("cpu", "nvme")


@dataclass(frozen=True)
class TechniqueChoice:
    """A technique as the cost model sees it: id, transform, params (catalog values with caller overrides)."""

    id: str
    transform: str
    params: dict = field(default_factory=dict)
    min_compute_capability: float | None = None
    gpu_features: tuple[str, ...] = ()
    multi_gpu: bool = False


def choice_from(technique: Any, overrides: dict | None = None) -> TechniqueChoice:
    """Read a catalog Technique (or dict, or an existing choice) and merge caller param overrides."""
    if isinstance(technique, tuple):
        technique, overrides = technique
    if isinstance(technique, TechniqueChoice):
        return TechniqueChoice(**{**technique.__dict__, "params": {**technique.params, **(overrides or {})}})
    cost = field_of(technique, "cost_model", {})
    req = field_of(technique, "requires", {})
    params = dict(field_of(cost, "params", {}) or {})
    params.update(overrides or {})
    cc = field_of(req, "min_compute_capability")
    return TechniqueChoice(
        id=str(field_of(technique, "id")),
        transform=str(field_of(cost, "transform", "none")),
        params=params,
        min_compute_capability=float(cc) if cc not in (None, "") else None,
        gpu_features=tuple(field_of(req, "gpu_features", ()) or ()),
        multi_gpu=bool(field_of(req, "multi_gpu", False)),
    )


Context = tuple[Hardware, ModelShape, ParallelConfig]
TransformFn = Callable[[Knobs, dict, Context], list[str]]


def _num(params: dict, key: str, default: float) -> float:
    value = params.get(key, default)
    return float(default if value is None else value)


def _weight_quant(k: Knobs, p: dict, ctx: Context) -> list[str]:
    bits, group = _num(p, "weight_bits", 4), p.get("group_size", 128)
    k.weight_bytes_per_param = min(k.weight_bytes_per_param, quantized_bytes_per_param(bits, group))
    return []


def _kv_quant(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.kv_bytes = min(k.kv_bytes, _num(p, "kv_bits", 8) / 8)
    return []


def _fp8_compute(k: Knobs, p: dict, ctx: Context) -> list[str]:
    hw = ctx[0]
    if not hw.has_fp8():
        return [f"{hw.name} has no FP8 tensor cores: no gain modelled"]
    k.gemm_dtype, k.weight_bytes_per_param = "fp8", min(k.weight_bytes_per_param, 1.0)
    return []


def _int8_compute(k: Knobs, p: dict, ctx: Context) -> list[str]:
    hw = ctx[0]
    if not hw.dense_tflops.get("int8"):
        return [f"{hw.name} lists no INT8 tensor throughput: no gain modelled"]
    k.gemm_dtype, k.weight_bytes_per_param = "int8", min(k.weight_bytes_per_param, 1.0)
    return []


def _set(attr: str, value: Any) -> TransformFn:
    def apply(k: Knobs, p: dict, ctx: Context) -> list[str]:
        setattr(k, attr, value)
        return []
    return apply


def _split_kv(k: Knobs, p: dict, ctx: Context) -> list[str]:
    # optional `kv_group_shared` (default true): whether the decode kernel serves a GQA group from one K/V read
    k.split_kv = True
    k.kv_group_shared = bool(p.get("kv_group_shared", True))
    return []


def _paged(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.paged_block_tokens = int(_num(p, "block_tokens", 16))
    return []


def _prefix(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.prefix_hit_rate = min(max(_num(p, "hit_rate", 0.5), 0.0), 0.99)
    return []


def _chunked(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.chunk_tokens, k.continuous_batching = int(_num(p, "chunk_tokens", 512)), True
    return []


def _disagg(k: Knobs, p: dict, ctx: Context) -> list[str]:
    if ctx[2].gpus < 2:
        return ["disaggregation needs at least two GPUs (one prefill, one decode pool): no gain modelled"]
    k.prefill_fraction, k.continuous_batching = min(max(_num(p, "prefill_fraction", 0.5), 0.05), 0.95), True
    return []


def _speculative(k: Knobs, p: dict, ctx: Context) -> list[str]:
    a = min(max(_num(p, "acceptance_rate", 0.7), 0.0), 0.99)
    depth = int(_num(p, "draft_tokens", 4))
    # a tree draft verifies many candidate tokens per step (EAGLE-2: 60) to reach its acceptance; a chain verifies
    # its depth plus one
    verified = max(int(_num(p, "verify_tokens", depth + 1)), depth + 1)
    k.speculative = (a, depth, _num(p, "draft_cost_ratio", 0.05), verified)
    return []


def _eviction(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.kv_budget_tokens = int(_num(p, "kv_budget_tokens", 2048))
    return []


def _sparsity(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.active_fraction = min(k.active_fraction, _num(p, "active_fraction", 0.5))
    return []


def _early_exit(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.layer_fraction = min(k.layer_fraction, _num(p, "layer_fraction", 0.75))
    return []


def _pruning(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.prune_sparsity = min(max(_num(p, "sparsity", 0.5), 0.0), 0.95)
    k.prune_structured = bool(p.get("structured", False))
    warn = []
    if k.prune_structured and not ctx[0].sparse_tflops:
        warn.append(f"{ctx[0].name} lists no 2:4 sparse tensor throughput: compute gain not modelled")
        k.prune_structured = False
    return warn


def _overlap(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.comm_hidden_fraction = min(max(_num(p, "hidden_fraction", 0.5), 0.0), 1.0)
    return [] if ctx[2].gpus > 1 else ["single GPU: no communication to overlap"]


def _launch(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.overhead_factor *= 1 - min(max(_num(p, "overhead_reduction", 0.8), 0.0), 1.0)
    return []


def _fusion(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.elementwise_traffic_factor *= 1 - min(max(_num(p, "memory_traffic_reduction", 0.5), 0.0), 1.0)
    return []


def _context_extension(k: Knobs, p: dict, ctx: Context) -> list[str]:
    # the extended window is trained_context x extension_factor; feasibility is judged in the estimate
    trained = int(_num(p, "trained_context", ctx[1].max_position_embeddings))
    k.context_limit = max(k.context_limit or 0, int(trained * max(_num(p, "extension_factor", 4), 1.0)))
    k.context_needs_training = k.context_needs_training or bool(p.get("needs_training", False))
    return []


def _offload(k: Knobs, p: dict, ctx: Context) -> list[str]:
    hw = ctx[0]
    if hw.pcie_gb_s <= 0:
        return [f"{hw.name} lists no PCIe bandwidth: no gain modelled"]
    target = str(p.get("target") or "cpu")
    k.offload_target = target if target in OFFLOAD_TARGETS else "cpu"
    return []


def _distillation(k: Knobs, p: dict, ctx: Context) -> list[str]:
    k.student_fraction = min(k.student_fraction, min(max(_num(p, "student_fraction", 0.5), 0.01), 1.0))
    return ["the student model must be trained (distilled) first"]


def _layout(k: Knobs, p: dict, ctx: Context) -> list[str]:
    return ["a parallel layout: set it with --gpus/--tp/--pp/--ep; no separate effect modelled"]


def _training_only(k: Knobs, p: dict, ctx: Context) -> list[str]:
    return ["a training technique: see estimate-training; no inference effect modelled"]


def _none(k: Knobs, p: dict, ctx: Context) -> list[str]:
    return ["no modelled cost effect (evidence and guidance only)"]


TRANSFORMS: dict[str, TransformFn] = {
    "weight_quant": _weight_quant, "kv_quant": _kv_quant, "fp8_compute": _fp8_compute,
    "int8_compute": _int8_compute, "attention_io": _set("attention_fused", True),
    "split_kv_decode": _split_kv, "paged_kv": _paged, "prefix_cache": _prefix,
    "chunked_prefill": _chunked, "disaggregation": _disagg, "continuous_batching": _set("continuous_batching", True),
    "speculative": _speculative, "kv_eviction": _eviction, "contextual_sparsity": _sparsity,
    "early_exit": _early_exit, "pruning": _pruning, "comm_overlap": _overlap, "launch_overhead": _launch,
    "kernel_fusion": _fusion, "linear_attention": _set("linear_attention", True), "none": _none,
    "context_extension": _context_extension, "offload": _offload, "distillation": _distillation,
    **{name: _layout for name in LAYOUT_TRANSFORMS}, **{name: _training_only for name in TRAINING_TRANSFORMS},
}


def unmet_requirements(choice: TechniqueChoice, hw: Hardware, parallel: ParallelConfig) -> list[str]:
    """Why a technique cannot run on this GPU/layout (empty when it can)."""
    out = []
    if choice.min_compute_capability and hw.compute_capability is not None \
            and hw.compute_capability + 1e-9 < choice.min_compute_capability:
        out.append(f"needs compute capability {choice.min_compute_capability}, {hw.name} has {hw.compute_capability}")
    has_nvlink = hw.link_kind.lower().startswith("nvlink")
    missing = [f for f in choice.gpu_features if f not in hw.features and not (f == "nvlink" and has_nvlink)]
    if missing:
        out.append(f"{hw.name} lacks {', '.join(missing)}")
    if choice.multi_gpu and parallel.gpus < 2:
        out.append("needs more than one GPU")
    elif choice.multi_gpu and not hw.has_gpu_link:
        out.append(f"needs a GPU-to-GPU link, {hw.name} has none")
    return out


def apply_transform(knobs: Knobs, choice: TechniqueChoice, hw: Hardware, shape: ModelShape,
                    parallel: ParallelConfig) -> tuple[Knobs, list[str]]:
    """New knobs with one technique applied, plus warnings; an unsupported combination changes nothing."""
    blocked = unmet_requirements(choice, hw, parallel)
    if blocked:
        return knobs, [f"{choice.id}: {b}: no gain modelled" for b in blocked]
    fn = TRANSFORMS.get(choice.transform)
    if fn is None:
        return knobs, [f"{choice.id}: unknown transform {choice.transform!r}: no effect modelled"]
    new = knobs.copy()
    warnings = fn(new, choice.params, (hw, shape, parallel))
    if warnings and any("no gain" in w for w in warnings):
        return knobs, [f"{choice.id}: {w}" for w in warnings]
    return new, [f"{choice.id}: {w}" for w in warnings]
