"""Read the workload out of a question without an LLM, then fill what it does not say.

``extract`` runs the readers of ``agent/reading/`` (hardware, model, phase, lengths and load, targets, objective,
constraints, stack), each of which reads a mention within the scope of its clause. ``plan_workload`` merges explicit
fields (flags, API fields), what was read, a previous turn's facts and defaults; every field records whether it was
explicit, understood from the text, or assumed (with the default used). Explicit values win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agent.answer import FieldOrigin, StackEntry, WorkloadView
from agent.names import NameIndex
from agent.reading.findings import Found
from agent.reading.hardware import GPUS_PER_NODE, build_instance_index, count_from_parallel_degrees, find_hardware
from agent.reading.layout import rewrite_layout
from agent.reading.models import ModelIndex, find_model
from agent.reading.quantities import find_quantities, parse_count, prompts_beyond_context
from agent.reading.scope import Scope
from agent.reading.situation import phase_from_framework, read_constraints, read_objective, read_phase
from agent.reading.switches import SwitchIndex, build_switch_index
from agent.reading.stack import build_framework_index, build_technique_index, read_framework, read_techniques
from agent.reading.budgets import read_memory, settle_memory_budget
from agent.reading.targets import find_targets

# names other modules and tests import from here
__all__ = ["GPUS_PER_NODE", "OBJECTIVES", "PHASES", "TRAINING_PHASES", "Indexes", "Workload", "build_indexes",
           "clarify_questions", "extract", "normalise_overrides", "parse_count", "plan_workload",
           "representative_model"]

PHASES = ("serving", "offline-batch", "edge", "pre-training", "fine-tuning")
OBJECTIVES = ("ttft", "tpot", "latency", "throughput", "memory", "cost", "quality")
TRAINING_PHASES = ("pre-training", "fine-tuning")
# scalar fields in the order they are planned and shown
FIELDS = ("gpu", "gpu_count", "model", "phase", "prompt_tokens", "output_tokens", "batch", "qps", "objective",
          "lossless", "no_retraining", "single_gpu", "framework", "slo_ttft_ms", "slo_tpot_ms", "slo_latency_ms",
          "memory_budget_gb")
# fields that stay unset (not assumed) when nobody states them
OPTIONAL_FIELDS = ("slo_ttft_ms", "slo_tpot_ms", "slo_latency_ms", "memory_budget_gb")


class Indexes(NamedTuple):
    """Alias indexes the reader looks names up in (build once per catalog: building walks it)."""

    gpus: NameIndex
    models: NameIndex
    frameworks: NameIndex
    techniques: NameIndex
    instances: NameIndex
    switches: SwitchIndex


@dataclass
class Workload:
    """The workload the agent plans for; ``origins`` says where each field came from."""

    gpu: str | None = None
    gpu_count: int = 1
    model: str | None = None
    phase: str = "serving"
    prompt_tokens: int = 2048
    output_tokens: int = 256
    batch: int = 1
    qps: float | None = None
    objective: str = "latency"
    lossless: bool = False
    no_retraining: bool = False
    single_gpu: bool = False
    framework: str | None = None
    slo_ttft_ms: float | None = None
    slo_tpot_ms: float | None = None
    slo_latency_ms: float | None = None
    memory_budget_gb: float | None = None
    origins: dict[str, FieldOrigin] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unknown_gpu: str | None = None
    unknown_model: str | None = None
    model_size_b: float | None = None
    # a shape the catalog does not hold (built from a size, or read from a config.json)
    model_spec: Any = None
    # techniques running today: id -> where that is known from ("framework default", "stated", "assumed baseline")
    stack: dict[str, str] = field(default_factory=dict)
    # figures the user measured: ttft_ms, tpot_ms, latency_ms, throughput_tok_s, mfu, memory_gb
    measured: dict[str, float] = field(default_factory=dict)
    # fields assumed from a hint in the text ("a consumer GPU", "an H200 node"); a follow-up turn keeps them
    hinted: set[str] = field(default_factory=set)

    def origin(self, name: str) -> str:
        return self.origins.get(name, FieldOrigin(origin="assumed")).origin

    def assumed(self) -> list[str]:
        return [k for k, v in self.origins.items() if v.origin == "assumed"]

    def gpus_at_hand(self) -> int:
        """The GPU count that limits what can run: the stated one, or at least two when the count was only assumed
        (the fewest GPUs that hold the model is no limit: the user may well have more)."""
        return self.gpu_count if self.origin("gpu_count") != "assumed" else max(2, self.gpu_count)

    def reports_problem(self) -> bool:
        """Whether the question gives a figure it measured or a target it sets."""
        return bool(self.measured or self.slo_ttft_ms or self.slo_tpot_ms or self.slo_latency_ms)

    def model_shape(self, catalog: Any) -> Any:
        """The model's shape: the catalog entry, or the derived one."""
        if self.model_spec is not None and self.model_spec.id == self.model:
            return self.model_spec
        return catalog.models.get(self.model) if self.model else None

    def view(self, catalog: Any) -> WorkloadView:
        """The JSON view, with display names from the catalog."""
        gpu = catalog.gpus.get(self.gpu) if self.gpu else None
        model = self.model_shape(catalog)
        slo = {"ttft_ms": self.slo_ttft_ms, "tpot_ms": self.slo_tpot_ms, "latency_ms": self.slo_latency_ms}
        return WorkloadView(
            gpu=self.gpu, gpu_name=getattr(gpu, "name", None), gpu_count=self.gpu_count, model=self.model,
            model_name=getattr(model, "name", None), phase=self.phase, prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens, batch=self.batch, qps=self.qps, objective=self.objective,
            lossless=self.lossless, no_retraining=self.no_retraining, single_gpu=self.single_gpu,
            framework=self.framework, fields=dict(self.origins), assumed=self.assumed(), notes=list(self.notes),
            stack=[StackEntry(technique=t, name=getattr(catalog.techniques.get(t), "name", t), origin=o)
                   for t, o in self.stack.items()],
            measured=dict(self.measured), slo={k: v for k, v in slo.items() if v is not None},
            memory_budget_gb=self.memory_budget_gb,
        )


def representative_model(catalog: Any, size_b: float) -> str | None:
    """The dense catalog model whose parameter count is closest (log scale) to ``size_b`` billion."""
    best, best_gap = None, math.inf
    for model_id, model in catalog.models.items():
        params = getattr(model, "params_total", None)
        if not params or getattr(model, "architecture", "dense") != "dense":
            continue
        gap = abs(math.log(params / (size_b * 1e9)))
        if gap < best_gap - 1e-9 or (abs(gap - best_gap) < 1e-9 and model_id.startswith("llama")
                                     and not (best or "").startswith("llama")):
            best, best_gap = model_id, gap
    return best


def extract(text: str, catalog: Any, indexes: Indexes | None = None) -> Found:
    """Find every workload fact stated in ``text``, each read within its clause's scope."""
    text = rewrite_layout(text)  # tables, tickets, pasted configs and odd unicode as plain clauses
    ix = indexes or build_indexes(catalog)
    found = Found()
    scope = Scope(text)
    find_hardware(text, catalog, ix.gpus, found, scope, ix.instances)
    find_model(text, catalog, ix.models, found, scope)
    read_phase(text, scope, found)
    find_quantities(text, found)
    prompts_beyond_context(catalog, found)  # needs the model read above
    find_targets(text, found)
    read_memory(text, found)
    read_constraints(text, scope, found)
    read_framework(text, scope, ix.frameworks, found)
    read_techniques(text, scope, ix.techniques, found, ix.switches)
    _phase_from_hardware(catalog, found)
    phase_from_framework(catalog, found)
    count_from_parallel_degrees(text, found)
    settle_memory_budget(text, found, catalog)  # a share or remainder of the card needs the GPU read above
    read_objective(text, scope, found)  # last: a missed target or a memory budget read above can decide it
    return found


def _phase_from_hardware(catalog: Any, found: Found) -> None:
    """A device whose GPU shares the system memory (Apple silicon, Jetson) is an edge device: serving on it is edge
    inference."""
    gpu = catalog.gpus.get(found.values.get("gpu") or "")
    if gpu is not None and found.values.get("phase") in (None, "serving") and getattr(gpu, "unified_memory", False):
        found.values["phase"] = "edge"
        found.evidence["phase"] = gpu.name


def build_indexes(catalog: Any) -> Indexes:
    """Alias indexes for GPUs, models, frameworks and techniques (cache them: building walks the whole catalog)."""
    return Indexes(NameIndex(catalog.gpus, strip_gpu_words=True), ModelIndex(catalog.models),
                   build_framework_index(catalog), build_technique_index(catalog), build_instance_index(catalog),
                   build_switch_index(catalog))


_OVERRIDE_ALIASES = {"gpus": "gpu_count", "prompt": "prompt_tokens", "output": "output_tokens",
                     "concurrency": "batch", "context": "prompt_tokens"}
_DEFAULT_PROMPT = {"serving": 2048, "offline-batch": 1024, "edge": 1024, "pre-training": 4096, "fine-tuning": 4096}
_DEFAULT_OUTPUT = {"serving": 256, "offline-batch": 512, "edge": 256, "pre-training": 0, "fine-tuning": 0}
_DEFAULT_OBJECTIVE = {"serving": "latency", "offline-batch": "throughput", "edge": "tpot",
                      "pre-training": "throughput", "fine-tuning": "memory"}
_LATENCY_OBJECTIVES = ("ttft", "tpot", "latency")


def _default_batch(phase: str, objective: str) -> int:
    if phase in TRAINING_PHASES:
        return 8
    if phase == "edge" or objective in ("ttft", "tpot"):
        return 1
    return 64 if phase == "offline-batch" or objective == "throughput" else 16


def _default_gpu(catalog: Any, gpu_index: NameIndex) -> str | None:
    for name in ("H100", "H100 SXM", "A100"):
        hit = gpu_index.lookup(name)
        if hit:
            return hit
    return next(iter(catalog.gpus), None)


# explicit fields checked against agent.costmodel.workload.WORKLOAD_RANGES (named as the CLI/API name them)
_RANGED = {"gpu_count": "gpus", "prompt_tokens": "prompt", "output_tokens": "output", "batch": "batch"}


def normalise_overrides(overrides: dict[str, Any] | None, catalog: Any) -> dict[str, Any]:
    """Explicit fields with CLI/API names mapped to workload names; GPU and model names resolved (NotFound if unknown)."""
    out: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is None or value == "":
            continue
        key = _OVERRIDE_ALIASES.get(key, key)
        if key == "model_spec":  # a shape from the user's config.json: it names the model too
            out["model"] = value.id
        elif key == "gpu":
            value = catalog.resolve_gpu(str(value)).id
        elif key == "model":
            value = catalog.resolve_model(str(value)).id
        elif key in _RANGED:
            from agent.costmodel.workload import check_workload_value

            value = check_workload_value(_RANGED[key], value)  # InvalidWorkload (one line) when out of range
        if key in ("phase", "objective"):
            allowed = PHASES if key == "phase" else OBJECTIVES
            if value not in allowed:
                from index.errors import AccelsageError

                raise AccelsageError(f"unknown {key} '{value}'; use one of: {', '.join(allowed)}")
        out[key] = value
    return out


def plan_workload(text: str, catalog: Any, overrides: dict[str, Any] | None = None,
                  previous: Workload | None = None, indexes: Indexes | None = None,
                  llm_fields: dict[str, Any] | None = None) -> Workload:
    """Build the workload: explicit overrides, then facts read from ``text`` (the rules, then an LLM reader's
    ``llm_fields`` for what the rules left open), then a previous turn's facts, then defaults."""
    indexes = indexes or build_indexes(catalog)
    found = extract(text, catalog, indexes)
    _merge_llm_reading(found, llm_fields or {})
    explicit = normalise_overrides(overrides, catalog)
    w = Workload(notes=list(found.notes), unknown_gpu=found.unknown_gpu, unknown_model=found.unknown_model,
                 model_size_b=found.model_size_b, model_spec=explicit.pop("model_spec", None) or found.model_spec)
    if previous is not None and w.model_spec is None and "model" not in found.values:
        w.model_spec = previous.model_spec
    origins: dict[str, FieldOrigin] = {}
    for name in FIELDS:
        if name in explicit:
            setattr(w, name, explicit[name])
            origins[name] = FieldOrigin(origin="explicit", value=explicit[name])
        elif name in found.values:
            setattr(w, name, found.values[name])
            origins[name] = FieldOrigin(origin="understood", value=found.values[name], note=found.evidence.get(name, ""))
        elif name in found.hinted:
            value, note = found.hinted[name]
            setattr(w, name, value)
            origins[name] = FieldOrigin(origin="assumed", value=value, note=note)
            w.hinted.add(name)
        elif previous is not None and name in previous.origins and (
                previous.origin(name) != "assumed" or name in previous.hinted):
            setattr(w, name, getattr(previous, name))
            origins[name] = previous.origins[name]
            if name in previous.hinted:
                w.hinted.add(name)
    _fill_defaults(w, origins, catalog, indexes.gpus, found.multi_gpu_hint)
    w.origins = {k: origins[k] for k in sorted(origins, key=list(Workload.__dataclass_fields__).index)}
    if w.single_gpu and w.gpu_count > 1 and origins["gpu_count"].origin != "explicit":
        w.gpu_count = 1
    w.measured = dict(found.measured) or (dict(previous.measured) if previous is not None else {})
    w.stack = _stack(w, found, catalog, previous)
    return w


def _merge_llm_reading(found: Found, fields: dict[str, Any]) -> None:
    """Fill what the rules left open with an LLM reader's fields (catalog ids already resolved)."""
    for name, value in fields.items():
        if name == "stack":
            for tech in value:
                found.stack.setdefault(tech, "read by the LLM")
        elif name == "model_params_b":
            if "model" not in found.values:
                from agent.knowledge.derived_shape import shape_from_size  # noqa: PLC0415

                shape = shape_from_size(float(value))
                found.model_spec, found.model_size_b = shape, float(value)
                found.put("model", shape.id, "read by the LLM")
        elif name in FIELDS and name not in found.values:
            found.put(name, value, "read by the LLM")


def _stack(w: Workload, found: Found, catalog: Any, previous: Workload | None) -> dict[str, str]:
    """What runs today: the framework's defaults plus techniques stated, less those said to be off."""
    if not found.stack and not found.absent and w.origin("framework") == "assumed" and previous is not None:
        return dict(previous.stack)
    out: dict[str, str] = {}
    framework = catalog.frameworks.get(w.framework or "")
    if framework is not None:
        version, defaults = framework.release(found.framework_version)
        for tech in defaults:
            # a default the question proposes or asks about ("is prefix caching worth turning on?") is not known to run
            if tech not in found.proposed:
                out[tech] = f"{framework.name} {version} default"
    for tech in found.stack:
        out[tech] = "stated"
    for tech in found.absent:
        out.pop(tech, None)
    return out


def _fill_defaults(w: Workload, origins: dict[str, FieldOrigin], catalog: Any, gpu_index: NameIndex,
                   multi_gpu_hint: bool = False) -> None:
    def assume(name: str, value: Any, note: str = "") -> None:
        if name not in origins:
            setattr(w, name, value)
            origins[name] = FieldOrigin(origin="assumed", value=value, note=note)

    assume("phase", "serving", "no phase named; serving assumed")
    assume("objective", _DEFAULT_OBJECTIVE[w.phase], f"default objective for {w.phase}")
    assume("gpu", _default_gpu(catalog, gpu_index), "no GPU named")
    if multi_gpu_hint:
        assume("gpu_count", 8, "the question implies several GPUs; one 8-GPU node assumed")
    else:
        assume("gpu_count", 1)
    if "model" not in origins:
        rep = representative_model(catalog, 8.0)
        assume("model", rep, "no model named; an 8B dense shape assumed")
    assume("prompt_tokens", _DEFAULT_PROMPT[w.phase], f"typical for {w.phase}")
    assume("output_tokens", _DEFAULT_OUTPUT[w.phase], f"typical for {w.phase}")
    assume("batch", _default_batch(w.phase, w.objective), f"typical for {w.phase}, objective {w.objective}")
    for flag in ("lossless", "no_retraining", "single_gpu"):
        assume(flag, False)
    assume("framework", None)
    assume("qps", None)
    for name in OPTIONAL_FIELDS:
        origins.pop(name, None) if getattr(w, name) is None else None


def clarify_questions(w: Workload, catalog: Any) -> list[str]:
    """Questions worth asking, most decisive first: only facts the recommendation depends on that were assumed."""
    out: list[str] = []
    gpu_name = getattr(catalog.gpus.get(w.gpu), "name", w.gpu)
    if w.origin("gpu") == "assumed":
        out.append(f"Which GPU, and how many? (assumed {w.gpu_count}× {gpu_name}; FP8, memory fit and parallelism depend on it)")
    if w.origin("model") == "assumed":
        out.append("Which model (or its parameter count)? (assumed an 8B dense model; memory fit and every figure "
                   "depend on it)")
    if w.origin("phase") == "assumed":
        out.append("Is this online serving, an offline batch job, on-device use, or training? (assumed serving)")
    if w.origin("prompt_tokens") == "assumed" and w.phase not in TRAINING_PHASES and (
            w.objective in ("ttft", "latency", "memory") or w.output_tokens >= 4096):
        out.append(f"How long are the prompts? (assumed {w.prompt_tokens} tokens; prefill and KV-cache size scale with it)")
    if w.origin("batch") == "assumed" and w.objective in ("throughput", "memory", "cost") and w.phase not in TRAINING_PHASES:
        out.append(f"How many requests run at once? (assumed {w.batch}; batching changes which techniques pay off)")
    return out
