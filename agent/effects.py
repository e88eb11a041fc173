"""Cost-model effect of techniques on the user's objective: estimate before vs after, and memory fit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent.answer import Estimate, change_text, memory_text
from agent.workload import TRAINING_PHASES, Workload
from index.errors import AccelsageError

# objective -> (metric key in the estimate's dict, unit, higher is better)
INFERENCE_METRICS = {
    "ttft": ("ttft_ms", "ms", False),
    "tpot": ("tpot_ms", "ms", False),
    "latency": ("latency_ms", "ms", False),
    "throughput": ("throughput_tokens_per_s", "tokens/s", True),
    "cost": ("throughput_tokens_per_s", "tokens/s", True),
    "quality": ("latency_ms", "ms", False),
    "memory": ("memory.total_gb", "GB per GPU", False),
}
TRAINING_METRICS = {
    "memory": ("memory.total_gb", "GB per GPU", False),
}
TRAINING_DEFAULT = ("step_time_s", "s", False)
# what the before/after dicts show besides the objective's metric
_SHOWN_INFERENCE = ("ttft_ms", "tpot_ms", "latency_ms", "throughput_tokens_per_s", "memory.total_gb", "memory.fits", "max_batch")
_SHOWN_TRAINING = ("step_time_s", "tokens_per_s", "mfu", "memory.total_gb", "memory.fits")


def lookup(data: dict, dotted: str) -> Any:
    """``data["a"]["b"]`` for "a.b"; None when any part is missing."""
    if "." not in dotted:  # most keys of an estimate's summary are top-level
        return data.get(dotted) if isinstance(data, dict) else None
    cur: Any = data
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


@dataclass
class Effect:
    """Before/after numbers of one objective metric for a set of techniques."""

    metric: str
    unit: str
    before: dict[str, Any]
    after: dict[str, Any]
    speedup: float | None
    fits_before: bool | None
    fits_after: bool | None
    caveat: str = ""
    # whether the workload is usable at all (a prompt beyond the model's trained context is not); a technique that
    # turns False into True (context extension) has an effect even with no speed-up
    feasible_before: bool | None = None
    feasible_after: bool | None = None

    def to_estimate(self) -> Estimate:
        return Estimate(metric=self.metric, unit=self.unit, before=self.before, after=self.after,
                        speedup=None if self.speedup is None else round(self.speedup, 3),
                        fits_before=self.fits_before, fits_after=self.fits_after)


def _pick(data: dict, keys: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, Any]:
    """The keys' values found in ``data`` (``keys``: each dotted key with its parts, see :func:`_parts`)."""
    out: dict[str, Any] = {}
    for key, parts in keys:  # two effects per technique, per answer, seven keys each
        cur: Any = data
        for part in parts:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is not None:
            out[key] = cur
    return out


def _parts(keys: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((k, tuple(k.split("."))) for k in keys)


_SHOWN_INFERENCE_PARTS = _parts(_SHOWN_INFERENCE)
_SHOWN_TRAINING_PARTS = _parts(_SHOWN_TRAINING)


# The reference stack every serving framework runs by default; effects are measured on top of it.
REFERENCE_TRANSFORMS = ("attention_io", "paged_kv", "continuous_batching")
REFERENCE_PREFERRED = ("flash-attention-2", "paged-attention", "continuous-batching", "zero-1", "selective-recomputation")
# training: Megatron/DeepSpeed defaults (distributed optimizer = ZeRO-1, selective recomputation)
TRAINING_REFERENCE = ("zero", "recompute")
# transforms the other kind of estimate ignores (running them would only cost time), and "none"
# offload is costed for inference too (estimate-inference), but the answer leaves it out there: it makes anything
# fit at PCIe speed, so the fit search (agent/stacking.py) would pick it before quantisation or a smaller batch
TRAINING_ONLY_TRANSFORMS = frozenset({"none", "zero", "recompute", "pipeline_schedule", "mixed_precision", "offload", "adapter",
                                      "tensor_parallel", "pipeline_parallel", "expert_parallel", "sequence_parallel",
                                      "context_parallel", "grad_compression"})
INFERENCE_ONLY_TRANSFORMS = frozenset({"none", "pipeline_schedule", "tensor_parallel", "pipeline_parallel",
                                       "expert_parallel", "paged_kv", "prefix_cache", "chunked_prefill",
                                       "disaggregation", "continuous_batching", "speculative", "kv_eviction", "kv_quant",
                                       "context_extension"})


class EffectModel:
    """Runs the cost model for one workload: a cached reference estimate and the effect of any technique set.

    "Before" is the reference stack (fused attention, paged KV cache, continuous batching, where the GPU
    supports them) without the techniques under test; "after" is the reference plus them. The estimate
    functions are imported lazily so screening and refusals stay cheap.
    """

    def __init__(self, catalog: Any, workload: Workload, calibration: Any = None) -> None:
        self.catalog = catalog
        self.workload = workload
        self.calibration = calibration
        self.training = workload.phase in TRAINING_PHASES
        self.warnings: list[str] = []
        self._runs: dict[tuple[str, ...], dict | None] = {}
        # technique lists by object identity -> their _runs key (the list held, so no id is reused while kept)
        self._keys: dict[tuple[int, ...], tuple[tuple[Any, ...], tuple[str, ...]]] = {}
        self._layouts: dict[tuple[int, int, int, int], tuple[Any, Any]] = {}
        # baseline() and metric(), asked for by every effect: fixed once run (runs are kept), so kept too
        self._baseline: tuple[dict | None] | None = None
        self._metric: tuple[str, tuple[str, str, bool]] | None = None
        self.reference = reference_stack(catalog, workload, TRAINING_REFERENCE if self.training else REFERENCE_TRANSFORMS)

    def fitted(self, extra: list[Any]) -> "EffectModel":
        """The same workload with ``extra`` added to the reference (e.g. the stack that makes it fit);
        estimates already run are shared."""
        from copy import copy  # noqa: PLC0415

        other = copy(self)
        present = {t.id for t in self.reference}
        other.reference = list(self.reference) + [t for t in extra if t.id not in present]
        other._baseline = other._metric = None  # another reference: another baseline
        return other

    # ------------------------------------------------------------ running the cost model
    def _estimate(self, techniques: list[Any]) -> dict:
        from agent.costmodel import estimate_inference, estimate_training  # noqa: PLC0415
        from agent.costmodel.workload import InferenceWorkload, ParallelConfig, TrainingWorkload  # noqa: PLC0415

        w = self.workload
        gpu = self.catalog.gpus[w.gpu]
        model = w.model_shape(self.catalog)
        if self.training:
            tw = training_layout(w, model, TrainingWorkload, techniques)
            hw, shape = _training_specs(gpu, model)
            if tw.teacher_params:  # distillation trains the student; the user's model is its teacher
                from agent.costmodel.shapes import student_shape  # noqa: PLC0415

                shape = student_shape(shape, _student_fraction(techniques))
            return estimate_training(hw, shape, tw, calibration=self.calibration).to_dict()
        # the request mix and layout, made once per workload figures (every estimate of this model asks for them)
        figures = (w.batch, w.prompt_tokens, w.output_tokens, w.gpu_count)
        if figures not in self._layouts:
            self._layouts[figures] = (
                InferenceWorkload(batch=max(1, w.batch), prompt_len=max(1, w.prompt_tokens),
                                  output_len=max(1, w.output_tokens)),
                ParallelConfig(gpus=w.gpu_count, tp=_serving_tp(w, gpu, model)))
        iw, parallel = self._layouts[figures]
        return estimate_inference(gpu, model, iw, parallel, techniques=tuple(techniques), calibration=self.calibration).summary_dict()

    def _run(self, techniques: list[Any]) -> dict | None:
        # techniques with the same transform and params give the same estimate: run it once
        ids = tuple(map(id, techniques))
        entry = self._keys.get(ids)
        if entry is None:  # the same list of objects (the reference, above all) is asked for thousands of times
            entry = self._keys[ids] = (tuple(techniques), tuple(sorted(_signature(t) for t in techniques)))
        key = entry[1]
        if key not in self._runs:
            try:
                self._runs[key] = self._estimate(techniques)
            except (AccelsageError, KeyError, ValueError, ZeroDivisionError, TypeError) as exc:
                self._runs[key] = None
                if not key:
                    self.warnings.append(f"no cost-model numbers for this workload: {exc}")
        return self._runs[key]

    def baseline(self) -> dict | None:
        """The reference estimate (None when the cost model cannot run this workload)."""
        if self._baseline is None:
            reference = self._run(self.reference)
            if reference is None and self.reference:
                self._run([])  # the bare workload, run only now: when it fails too, its error is the warning shown
            self._baseline = (reference,)
        return self._baseline[0]

    def bottlenecks(self) -> set[str]:
        """The technique bottleneck names that limit this workload on its objective (from the reference estimate)."""
        base = self.baseline() or {}
        if lookup(base, "memory.fits") is False or self.workload.objective == "memory":
            return {"memory-capacity"}
        bound = base.get("bound")
        if isinstance(bound, str):
            bounds = {bound}
        elif isinstance(bound, dict):
            phase = "prefill" if self.workload.objective == "ttft" else "decode"
            bounds = {bound.get(phase, "")} | ({bound.get("prefill", "")} if self.workload.objective == "latency" else set())
        else:
            bounds = set()
        names = {"memory": "memory-bandwidth", "compute": "compute", "communication": "communication",
                 "comm": "communication", "overhead": "launch-overhead"}
        return {names[b] for b in bounds if b in names}

    def metric(self) -> tuple[str, str, bool]:
        """The metric the objective is judged on; memory when the reference does not fit."""
        objective = self.workload.objective
        if self._metric is None or self._metric[0] != objective:
            self._metric = (objective, self._judged_on(objective))
        return self._metric[1]

    def _judged_on(self, objective: str) -> tuple[str, str, bool]:
        base = self.baseline() or {}
        if lookup(base, "memory.fits") is False:
            return "memory.total_gb", "GB per GPU", False
        table = TRAINING_METRICS if self.training else INFERENCE_METRICS
        default = TRAINING_DEFAULT if self.training else INFERENCE_METRICS["latency"]
        return table.get(objective, default)

    def effect(self, techniques: list[Any]) -> Effect | None:
        """Effect of applying ``techniques`` together on top of the reference; None when nothing is modelled."""
        if self.baseline() is None:
            return None
        skip = TRAINING_ONLY_TRANSFORMS if not self.training else INFERENCE_ONLY_TRANSFORMS
        techniques = [t for t in techniques if t.cost_model.transform not in skip]
        if not techniques:
            return None
        ids = {t.id for t in techniques}
        base = [t for t in self.reference if t.id not in ids]
        before = self._run(base)
        after = self._run([t for t in base if not any(clash(t, x) for x in techniques)] + list(techniques))
        if before is None or after is None:
            return None
        key, unit, higher = self.metric()
        b, a = lookup(before, key), lookup(after, key)
        speedup = None
        if isinstance(b, (int, float)) and isinstance(a, (int, float)) and a > 0 and b > 0:
            speedup = a / b if higher else b / a
        shown = _SHOWN_TRAINING_PARTS if self.training else _SHOWN_INFERENCE_PARTS
        notes = after.get("warnings") if isinstance(after.get("warnings"), list) else []
        return Effect(key, unit, _pick(before, shown), _pick(after, shown), speedup,
                      lookup(before, "memory.fits"), lookup(after, "memory.fits"), "; ".join(map(str, notes[:2])),
                      lookup(before, "context.usable"), lookup(after, "context.usable"))


# transforms that set the same knob: two of them cannot both apply (two weight formats, two schedules)
EXCLUSIVE_TRANSFORMS = frozenset({"weight_quant", "fp8_compute", "int8_compute", "speculative", "kv_quant", "kv_eviction",
                                  "pipeline_schedule", "zero", "mixed_precision", "offload", "recompute", "early_exit",
                                  "contextual_sparsity", "pruning", "linear_attention", "disaggregation", "launch_overhead",
                                  "context_extension", "grad_compression", "distillation"})
WEIGHT_FORMAT = frozenset({"weight_quant", "fp8_compute", "int8_compute"})


def clash(a: Any, b: Any) -> str | None:
    """Why techniques ``a`` and ``b`` should not be stacked, or None when they compose."""
    if a.id == b.id:
        return None
    if b.id in a.relations.conflicts_with or a.id in b.relations.conflicts_with:
        return f"conflicts with {b.name}"
    if b.id in a.relations.supersedes or a.id in b.relations.supersedes:
        return f"one supersedes the other ({a.name} / {b.name})"
    ta, tb = a.cost_model.transform, b.cost_model.transform
    if ta == tb and ta in EXCLUSIVE_TRANSFORMS:
        return f"both set the same thing as {b.name} ({ta})"
    if ta in WEIGHT_FORMAT and tb in WEIGHT_FORMAT:
        return f"both choose the weight format ({b.name})"
    return None


def _signature(technique: Any) -> str:
    # asked for every technique of every run (~170 times an answer): worked out once per technique object
    entry = _SIGNATURES.get(id(technique))
    if entry is None or entry[0] is not technique:  # holding the object keeps its id from being reused
        if len(_SIGNATURES) >= _SIGNATURES_KEPT:
            _SIGNATURES.clear()
        entry = _SIGNATURES[id(technique)] = (technique, _signature_text(technique))
    return entry[1]


# catalog techniques are read-only: their signatures are kept for the process (bounded for test runs that
# load many catalogs)
_SIGNATURES: dict[int, tuple[Any, str]] = {}
_SIGNATURES_KEPT = 4096


def _signature_text(technique: Any) -> str:
    cm = technique.cost_model
    return cm.transform + json.dumps(cm.params, sort_keys=True, default=str)


def reference_stack(catalog: Any, workload: Workload, transforms: tuple[str, ...] = REFERENCE_TRANSFORMS) -> list[Any]:
    """The "before" of every effect: the user's stack (framework defaults plus what they say runs) when known,
    else the default stack's techniques (one per transform) that this setup can run."""
    from agent.candidates import hardware_problem  # noqa: PLC0415

    gpu = catalog.gpus.get(workload.gpu)
    if workload.stack:
        skip = INFERENCE_ONLY_TRANSFORMS if workload.phase in TRAINING_PHASES else TRAINING_ONLY_TRANSFORMS
        # a prefix cache only pays when requests share a prefix: a framework default alone does not say they do
        stack = [catalog.techniques[t] for t, origin in workload.stack.items() if t in catalog.techniques
                 and (catalog.techniques[t].cost_model.transform != "prefix_cache" or origin == "stated")]
        return [t for t in stack if t.cost_model.transform not in skip
                and (gpu is None or hardware_problem(t, gpu, workload.gpu_count) is None)]
    out = []
    for transform in transforms:
        options = sorted((t for t in catalog.techniques.values() if t.cost_model.transform == transform),
                         key=lambda t: (t.id not in REFERENCE_PREFERRED, t.id))
        usable = [t for t in options if gpu is None or hardware_problem(t, gpu, workload.gpu_count) is None]
        if usable:
            out.append(usable[0])
    return out


def _training_specs(gpu: Any, model: Any) -> tuple[Any, Any]:
    """The Hardware and ModelShape of a training estimate, built once per answer (a dozen training estimates of one
    workload would otherwise each rebuild them, and the rates behind them, from the spec files)."""
    from agent.costmodel.memo import remembered  # noqa: PLC0415
    from agent.costmodel.specs import hardware_from_spec, shape_from_spec  # noqa: PLC0415

    hw = remembered(("hw", id(gpu)), lambda: hardware_from_spec(gpu), (gpu,))
    shape = remembered(("shape", id(model)), lambda: shape_from_spec(model), (model,))
    # estimate_training reads the architecture from the spec when the Hardware has none: leave it the spec then
    return (hw if hw.architecture else gpu), shape


# for throughput, tensor parallelism is only as wide as it must be for the weights to leave this share of each GPU free
KV_SHARE_FOR_THROUGHPUT = 0.5


def _serving_tp(w: Workload, gpu: Any, model: Any) -> int:
    """The tensor-parallel degree a serving layout uses: across the node (up to 8) when latency is the goal; for
    throughput or cost the smallest degree whose bf16 weight share leaves KV_SHARE_FOR_THROUGHPUT of each GPU free, the
    other GPUs serving as replicas (no per-layer all-reduce, more requests in flight per GPU)."""
    widest = _largest_divisor_at_most(w.gpu_count, 8)
    if w.objective not in ("throughput", "cost"):
        return widest
    weights_bytes = 2.0 * getattr(model, "params_total", 0.0)
    fits = [tp for tp in range(1, widest + 1) if w.gpu_count % tp == 0
            and weights_bytes / tp <= (1 - KV_SHARE_FOR_THROUGHPUT) * gpu.memory_bytes]
    return min(fits, default=widest)


def _largest_divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def training_layout(w: Workload, model: Any, training_cls: Any, techniques: list[Any] = ()) -> Any:
    """A plain training layout (tensor parallel inside a node for large models, data parallel across),
    with the training techniques' transforms applied to it."""
    tp = _largest_divisor_at_most(w.gpu_count, 8) if model.params_total > 15e9 else 1
    dp = w.gpu_count // tp
    kwargs: dict[str, Any] = {"seq_len": max(1, w.prompt_tokens), "global_batch": dp * max(1, w.batch),
                              "micro_batch": 1, "gpus": w.gpu_count, "tp": tp}
    for tech in techniques:
        params = tech.cost_model.params
        transform = tech.cost_model.transform
        if transform == "zero":
            kwargs["zero_stage"] = max(kwargs.get("zero_stage", 0), int(params.get("stage", 1)))
        elif transform == "offload":
            kwargs["offload"] = True
        elif transform == "recompute":
            kwargs["recompute"] = "selective" if params.get("selective") else "full"
        elif transform == "sequence_parallel" and tp > 1:
            kwargs["sequence_parallel"] = True
        elif transform == "mixed_precision" and params.get("dtype"):
            kwargs["dtype"] = params["dtype"]
        elif transform == "fp8_compute":
            kwargs["dtype"] = "fp8"
        elif transform == "grad_compression":
            kwargs["grad_compression"] = max(kwargs.get("grad_compression", 1.0), float(params.get("compression_ratio", 10)))
        elif transform == "context_parallel":
            # context-parallel ranks come out of the data-parallel ones (same GPU count)
            want = int(params.get("cp", 2))
            kwargs["cp"] = max(d for d in range(1, min(dp, want) + 1) if dp % d == 0)
        elif transform == "distillation":
            kwargs["teacher_params"] = model.params_total
        elif transform == "adapter":
            kwargs["trainable_fraction"] = adapter_fraction(model, int(params.get("rank", 16)))
            kwargs["frozen_weight_bits"] = float(params.get("frozen_weight_bits", 16))
    return training_cls(**kwargs)


def adapter_fraction(model: Any, rank: int) -> float:
    """The share of the parameters that rank-``rank`` adapters on every linear layer of the blocks add (LoRA: an
    r x in and an out x r matrix beside each weight), capped at 1."""
    h = model.hidden_size
    heads, kv_heads = model.num_attention_heads or 1, model.num_key_value_heads or model.num_attention_heads or 1
    head_dim = model.head_dim or h // heads
    q, kv = heads * head_dim, kv_heads * head_dim
    mlp = (3 if model.gated_mlp else 2) * (h + model.intermediate_size)
    per_layer = (h + q) + 2 * (h + kv) + (q + h) + mlp
    return min(1.0, rank * per_layer * model.num_hidden_layers / model.params_total)


def _student_fraction(techniques: list[Any]) -> float:
    """The smallest student (student params / teacher params) among the distillation techniques applied."""
    return min([float(t.cost_model.params.get("student_fraction", 0.5)) for t in techniques
                if t.cost_model.transform == "distillation"] or [1.0])


def describe_fit(effects_model: EffectModel, fit: list[Any], fit_effect: Effect | None,
                 on_more_gpus: bool = False) -> str | None:
    """When the baseline does not fit in GPU memory: say so, then the smallest stack that makes it fit
    (said first in the answer), then how many GPUs would hold it with the baseline alone."""
    base = effects_model.baseline()
    if not base or lookup(base, "memory.fits") is not False:
        return None
    w = effects_model.workload
    total, cap = lookup(base, "memory.total_gb"), lookup(base, "memory.capacity_gb")
    ref = " + ".join(t.name for t in effects_model.reference)
    text = (f"As stated this does not fit: about {memory_text(total, per_gpu=True)} is needed"
            if isinstance(total, (int, float)) else "As stated this does not fit in GPU memory")
    if ref:
        text = text.replace("needed", f"needed even with {ref}", 1)
    if isinstance(cap, (int, float)):
        text += f" against {memory_text(cap)} available"
    if fit and fit_effect is not None:
        after = fit_effect.after.get("memory.total_gb")
        names = " + ".join(t.name for t in fit)
        text += f". Smallest stack that fits: {names}"
        if isinstance(after, (int, float)):
            text += f" ({memory_text(after, per_gpu=True)}"
            if isinstance(cap, (int, float)) and after > 0.95 * cap:
                text += ", a tight fit: little room to grow the batch"
            text += ")"
        gains = _objective_note(effects_model, fit_effect)
        text += f", which also {gains}" if gains else ""
        text += "; the other recommendations are measured on top of it"
    else:
        text += ". No stack of catalog techniques within your constraints makes it fit"
    # training state shards across many nodes: look that far before saying no GPU count holds it
    more = gpus_that_fit(effects_model, limit=TRAINING_GPU_LIMIT if effects_model.training else 64)
    if more:
        gpu_name = getattr(effects_model.catalog.gpus.get(w.gpu), "name", w.gpu)
        sharding = " + ".join(t.name for t in effects_model.reference if t.cost_model.transform == "zero")
        layout = f"sharded as {sharding}" if effects_model.training and sharding else f"tensor parallel {min(more, 8)}"
        text += (f". {'Use' if on_more_gpus else 'Alternatively use'} {more}× {gpu_name} ({layout}), "
                 "which fits with the baseline alone")
        text += "; the recommendations below are measured on that setup." if on_more_gpus else "."
    else:
        text += ". More GPUs would also split the weights."
    return text


def _objective_note(effects_model: EffectModel, fit_effect: Effect) -> str:
    """'improves end-to-end latency: 87,098 → 50,949 ms' for the objective's metric when the fit changes it (else '')."""
    w = effects_model.workload
    table = TRAINING_METRICS if effects_model.training else INFERENCE_METRICS
    key, unit, higher = table.get(w.objective, TRAINING_DEFAULT if effects_model.training else INFERENCE_METRICS["latency"])
    b, a = fit_effect.before.get(key), fit_effect.after.get(key)
    if key.startswith("memory") or not isinstance(b, (int, float)) or not isinstance(a, (int, float)) or b <= 0 or a <= 0:
        return ""
    better = a > b if higher else a < b
    if abs(a / b - 1) < 0.02:
        return ""
    return f"{'improves' if better else 'worsens'} {change_text(key, float(b), float(a), unit)}"


# the most GPUs the "how many would hold it" search tries for training (power-of-two multiples of the stated count)
TRAINING_GPU_LIMIT = 1024


def gpus_that_fit(effects_model: EffectModel, limit: int = 64, start: int | None = None) -> int | None:
    """The smallest power-of-two multiple of the GPU count at which the reference stack fits (None if none up to limit)."""
    found = more_gpus_model(effects_model, limit, start)
    return None if found is None else found.workload.gpu_count


def more_gpus_model(effects_model: EffectModel, limit: int = 64, start: int | None = None) -> EffectModel | None:
    """The effect model of the same workload on the fewest GPUs (power-of-two multiples) that hold it; memoised."""
    from dataclasses import replace  # noqa: PLC0415

    memo = effects_model.__dict__.setdefault("_more_gpus", {})
    if (limit, start) not in memo:
        memo[(limit, start)] = None
        count = start or effects_model.workload.gpu_count * 2
        while count <= limit:
            trial = EffectModel(effects_model.catalog, replace(effects_model.workload, gpu_count=count),
                                effects_model.calibration)
            if lookup(trial.baseline() or {}, "memory.fits"):
                memo[(limit, start)] = trial
                break
            count *= 2
    return memo[(limit, start)]
