"""Read the workload out of a question without an LLM: regexes plus catalog aliases.

Every field records whether it was given explicitly (flag / API field), understood from the text,
or assumed (with the default used). Explicit values win over extracted ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from agent.answer import FieldOrigin, WorkloadView
from agent.findings import Found
from agent.hardware_terms import (
    GPUS_PER_NODE,
    MULTI_GPU_HINT,
    SINGLE_GPU,
    find_hardware,
)
from agent.names import NameIndex, first_unnegated, normalise
from agent.quantities import find_quantities, parse_count

# names other modules and tests import from here
__all__ = ["FRAMEWORKS", "GPUS_PER_NODE", "OBJECTIVES", "PHASES", "TRAINING_PHASES", "Workload", "build_indexes",
           "clarify_questions", "extract", "normalise_overrides", "parse_count", "plan_workload",
           "representative_model"]
_Found = Found  # the former private name

PHASES = ("serving", "offline-batch", "edge", "pre-training", "fine-tuning")
OBJECTIVES = ("ttft", "tpot", "latency", "throughput", "memory", "cost", "quality")
TRAINING_PHASES = ("pre-training", "fine-tuning")
FRAMEWORKS = {
    "vllm": "vllm", "sglang": "sglang", "tensorrtllm": "tensorrt-llm", "trtllm": "tensorrt-llm",
    "llamacpp": "llama.cpp", "deepspeed": "deepspeed", "megatron": "megatron", "megatronlm": "megatron",
    "pytorch": "pytorch", "torch": "pytorch", "transformers": "transformers", "huggingface": "transformers",
    "tgi": "tgi", "exllama": "exllama", "mlc": "mlc-llm", "ollama": "llama.cpp", "fsdp": "pytorch",
}


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
    origins: dict[str, FieldOrigin] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unknown_gpu: str | None = None
    unknown_model: str | None = None
    model_size_b: float | None = None
    # fields assumed from a hint in the text ("a consumer GPU", "an H200 node"); a follow-up turn keeps them
    hinted: set[str] = field(default_factory=set)

    def origin(self, name: str) -> str:
        return self.origins.get(name, FieldOrigin(origin="assumed")).origin

    def assumed(self) -> list[str]:
        return [k for k, v in self.origins.items() if v.origin == "assumed"]

    def view(self, catalog: Any) -> WorkloadView:
        """The JSON view, with display names from the catalog."""
        gpu = catalog.gpus.get(self.gpu) if self.gpu else None
        model = catalog.models.get(self.model) if self.model else None
        return WorkloadView(
            gpu=self.gpu, gpu_name=getattr(gpu, "name", None), gpu_count=self.gpu_count, model=self.model,
            model_name=getattr(model, "name", None), phase=self.phase, prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens, batch=self.batch, qps=self.qps, objective=self.objective,
            lossless=self.lossless, no_retraining=self.no_retraining, single_gpu=self.single_gpu,
            framework=self.framework, fields=dict(self.origins), assumed=self.assumed(), notes=list(self.notes),
        )



_SIZE = re.compile(r"\b(\d+(?:\.\d+)?)\s?([bB])(?:illion)?\b(?:[\s-]*(?:param(?:eter)?s?|model|llm|dense))?")
# a named model with a size: a version digit in the name ("Qwen2.5 72B") or a hyphen ("Falcon-180B")
_MODEL_LIKE = re.compile(r"\b([A-Za-z]{2,}(?:[-\s]?\d+(?:\.\d+)?[-\s]|-)\d+(?:\.\d+)?[bB])\b")

_PHASE_RULES = [
    ("fine-tuning", re.compile(r"fine[\s-]?tun|\blora\b|\bqlora\b|\bsft\b|\brlhf\b|instruction[\s-]tun|\bpeft\b", re.I)),
    ("pre-training", re.compile(r"pre[\s-]?train|train(?:ing)? (?:from scratch|a \d|an? (?:\d|llm|model|moe))|\btraining (?:run|step|job|throughput|on|across|with|in|at|from|runs out)\b|\bwe (?:still )?train\b|\b(?:data|tensor|pipeline)[\s-]parallel\w* (?:pre-?)?training|\btraining an?\b", re.I)),
    ("edge", re.compile(r"\bedge\b|on[\s-]device|laptop|phone|mobile|jetson|macbook|raspberry|consumer (?:gpu|card)|\bdesktop\b", re.I)),
    ("offline-batch", re.compile(r"offline|batch inference|batch job|bulk|whole dataset|overnight|embarrassingly|evaluat\w* (?:on|over) a", re.I)),
    ("serving", re.compile(r"serv|deploy|users|chat|\bqps\b|requests?|production|endpoint|inference|decode|generat|latency|ttft|tpot|prompts?\b", re.I)),
    # a bare "train"/"training" counts only when nothing says serving
    ("pre-training", re.compile(r"\btrain\b|\btraining\b|\bgradients?\b|optimi[sz]er states?", re.I)),
]
_OBJECTIVE_RULES = [
    ("ttft", re.compile(r"\bttft\b|time[\s-]to[\s-]first[\s-]token|first[\s-]token|prefill (?:latency|time)|prompt processing", re.I)),
    ("tpot", re.compile(r"\btpot\b|\bitl\b|inter[\s-]token|per[\s-]token latency|time per (?:output )?token|decode (?:latency|speed)|tokens?/s per user|tokens per second per user|generation speed|streaming speed", re.I)),
    ("memory", re.compile(r"\bfit\b|\bfits\b|out of memory|\boom\b|memory|vram|\bkv[\s-]?cache (?:size|grows)|too big|doesn'?t fit|won'?t fit", re.I)),
    # cost stated per unit of work beats the word "tokens" in it ("maximise tokens per dollar")
    ("cost", re.compile(r"per (?:dollar|\$)|\$\s*(?:/|per)|cost per|cheap", re.I)),
    ("throughput", re.compile(r"throughput|tokens?/s\b|tokens per second|maximi[sz]e .*tokens|more requests|samples per second|\bmfu\b|step time|faster training|train faster|speed up training", re.I)),
    ("cost", re.compile(r"\bcost|cheap|\$|budget|dollar|fewer gpus", re.I)),
    ("quality", re.compile(r"accuracy|quality|perplexity|preserv\w* (?:quality|accuracy)", re.I)),
    ("latency", re.compile(r"latency|fast(?:er)? (?:responses?|answers?)|respon\w+ time|snappy|interactive|real[\s-]?time", re.I)),
]
_LOSSLESS = re.compile(r"without chang\w* (?:the )?outputs?|lossless|exact(?:ly the same)? outputs?|same outputs?|bit[\s-]exact|identical outputs?|no (?:quality|accuracy) (?:loss|drop)|without (?:any )?(?:quality|accuracy) (?:loss|drop)|must not change"
                       r"|without (?:hurting|harming|degrading|losing|sacrificing|reducing|compromising|affecting|impacting|"
                       r"touching|any loss (?:of|in)) (?:the |any |model |its |our )*(?:accuracy|quality|outputs?)"
                       r"|no (?:loss|drop|degradation) (?:in|of) (?:accuracy|quality)"
                       r"|(?:can(?:no|')t|cannot|must not|may not) (?:lose|hurt|drop|sacrifice|degrade) (?:any )?(?:accuracy|quality)", re.I)
_NO_RETRAIN = re.compile(r"no (?:re-?)?training|without (?:any )?(?:re-?)?training|without (?:any )?fine[\s-]?tun\w*|no fine[\s-]?tun\w*|(?:can(?:no|')t|cannot|won'?t|unable to|not allowed to) (?:re-?train|train|fine[\s-]?tune)|no (?:time|budget|compute) (?:for|to) (?:re-?)?train|off[\s-]the[\s-]shelf|post[\s-]training only", re.I)



def _first_rule(rules: list[tuple[str, re.Pattern[str]]], text: str) -> str | None:
    for name, pattern in rules:
        if pattern.search(text):
            return name
    return None



def representative_model(catalog: Any, size_b: float) -> str | None:
    """The dense catalog model whose parameter count is closest (log scale) to ``size_b`` billion."""
    best, best_gap = None, math.inf
    for model_id, model in catalog.models.items():
        params = getattr(model, "params_total", None)
        if not params or getattr(model, "architecture", "dense") != "dense":
            continue
        gap = abs(math.log(params / (size_b * 1e9)))
        if gap < best_gap - 1e-9 or (abs(gap - best_gap) < 1e-9 and "llama" in model_id and "llama" not in (best or "")):
            best, best_gap = model_id, gap
    return best



def _find_model(text: str, catalog: Any, model_index: NameIndex, found: Found) -> None:
    mentions = model_index.find(text)
    if mentions:
        found.put("model", mentions[0].item_id, mentions[0].text)
        return
    size = _SIZE.search(text)
    if size:
        size_b = float(size.group(1))
        found.model_size_b = size_b
        named = _MODEL_LIKE.search(text)
        if named and not model_index.lookup(named.group(1)):
            found.unknown_model = named.group(1)
        rep = representative_model(catalog, size_b)
        if rep:
            found.put("model", rep, size.group(0))
            rep_name = getattr(catalog.models[rep], "name", rep)
            found.notes.append(f"'{size.group(0).strip()}' taken as the shape of {rep_name} (closest dense model in the catalog)")
    else:
        named = _MODEL_LIKE.search(text)
        if named:
            found.unknown_model = named.group(1)


def extract(text: str, catalog: Any, indexes: tuple[NameIndex, NameIndex] | None = None) -> Found:
    """Find every workload fact stated in ``text``."""
    gpu_index, model_index = indexes or build_indexes(catalog)
    found = Found()
    find_hardware(text, catalog, gpu_index, found)
    _find_model(text, catalog, model_index, found)
    # "we cannot fine-tune" is a constraint, not the phase
    phase = _first_rule(_PHASE_RULES, _NO_RETRAIN.sub(" ", text))
    if phase:
        found.put("phase", phase, phase)
    find_quantities(text, found)
    # "without hurting accuracy" is a constraint, not a wish for more accuracy
    objective = _first_rule(_OBJECTIVE_RULES, _NO_RETRAIN.sub(" ", _LOSSLESS.sub(" ", text)))
    if objective:
        found.put("objective", objective, objective)
    for name, pattern in (("lossless", _LOSSLESS), ("no_retraining", _NO_RETRAIN), ("single_gpu", SINGLE_GPU)):
        m = first_unnegated(pattern, text) if name == "single_gpu" else pattern.search(text)
        if m:
            found.put(name, True, m.group(0))
    for token in re.findall(r"[A-Za-z][A-Za-z.+-]*(?:-LLM|\.cpp)?", text):
        fw = FRAMEWORKS.get(normalise(token))
        if fw:
            found.put("framework", fw, token)
            break
    if found.values.get("single_gpu"):
        found.put("gpu_count", 1, "single GPU")
    found.multi_gpu_hint = bool(MULTI_GPU_HINT.search(text))
    return found


def build_indexes(catalog: Any) -> tuple[NameIndex, NameIndex]:
    """Alias indexes for GPUs and models (cache them: building walks the whole catalog)."""
    return NameIndex(catalog.gpus, strip_gpu_words=True), NameIndex(catalog.models)


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


def normalise_overrides(overrides: dict[str, Any] | None, catalog: Any) -> dict[str, Any]:
    """Explicit fields with CLI/API names mapped to workload names; GPU and model names resolved (NotFound if unknown)."""
    out: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is None or value == "":
            continue
        key = _OVERRIDE_ALIASES.get(key, key)
        if key == "gpu":
            value = catalog.resolve_gpu(str(value)).id
        elif key == "model":
            value = catalog.resolve_model(str(value)).id
        elif key in ("gpu_count", "prompt_tokens", "output_tokens", "batch"):
            value = parse_count(str(value)) if not isinstance(value, int) else value
        if key in ("phase", "objective"):
            allowed = PHASES if key == "phase" else OBJECTIVES
            if value not in allowed:
                from index.errors import AccelsageError

                raise AccelsageError(f"unknown {key} '{value}'; use one of: {', '.join(allowed)}")
        out[key] = value
    return out


def plan_workload(text: str, catalog: Any, overrides: dict[str, Any] | None = None,
                  previous: Workload | None = None,
                  indexes: tuple[NameIndex, NameIndex] | None = None) -> Workload:
    """Build the workload: explicit overrides, then facts read from ``text``, then a previous turn's facts, then defaults."""
    indexes = indexes or build_indexes(catalog)
    found = extract(text, catalog, indexes)
    explicit = normalise_overrides(overrides, catalog)
    w = Workload(notes=list(found.notes), unknown_gpu=found.unknown_gpu, unknown_model=found.unknown_model,
                 model_size_b=found.model_size_b)
    origins: dict[str, FieldOrigin] = {}
    for name in ("gpu", "gpu_count", "model", "phase", "prompt_tokens", "output_tokens", "batch", "qps",
                 "objective", "lossless", "no_retraining", "single_gpu", "framework"):
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
    _fill_defaults(w, origins, catalog, indexes[0], found.multi_gpu_hint)
    w.origins = {k: origins[k] for k in sorted(origins, key=list(Workload.__dataclass_fields__).index)}
    if w.single_gpu and w.gpu_count > 1 and origins["gpu_count"].origin != "explicit":
        w.gpu_count = 1
    return w


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


def clarify_questions(w: Workload, catalog: Any) -> list[str]:
    """Questions worth asking: only facts the recommendation depends on and that were assumed."""
    out: list[str] = []
    gpu_name = getattr(catalog.gpus.get(w.gpu), "name", w.gpu)
    if w.origin("gpu") == "assumed":
        out.append(f"Which GPU, and how many? (assumed {w.gpu_count}× {gpu_name}; FP8, memory fit and parallelism depend on it)")
    if w.origin("model") == "assumed" and (w.objective in ("memory", "cost") or w.phase in TRAINING_PHASES):
        out.append("Which model (or its parameter count)? Memory fit depends on it.")
    if w.origin("prompt_tokens") == "assumed" and w.objective in ("ttft", "latency", "memory") and w.phase not in TRAINING_PHASES:
        out.append(f"How long are the prompts? (assumed {w.prompt_tokens} tokens; prefill and KV-cache size scale with it)")
    if w.origin("batch") == "assumed" and w.objective in ("throughput", "memory", "cost") and w.phase not in TRAINING_PHASES:
        out.append(f"How many requests run at once? (assumed {w.batch}; batching changes which techniques pay off)")
    return out