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
from agent.names import (
    NUM_WORDS,
    NameIndex,
    contrasted,
    first_unnegated,
    gpu_class,
    gpu_count_near,
    normalise,
    word_number,
)

PHASES = ("serving", "offline-batch", "edge", "pre-training", "fine-tuning")
OBJECTIVES = ("ttft", "tpot", "latency", "throughput", "memory", "cost", "quality")
TRAINING_PHASES = ("pre-training", "fine-tuning")
FRAMEWORKS = {
    "vllm": "vllm", "sglang": "sglang", "tensorrtllm": "tensorrt-llm", "trtllm": "tensorrt-llm",
    "llamacpp": "llama.cpp", "deepspeed": "deepspeed", "megatron": "megatron", "megatronlm": "megatron",
    "pytorch": "pytorch", "torch": "pytorch", "transformers": "transformers", "huggingface": "transformers",
    "tgi": "tgi", "exllama": "exllama", "mlc": "mlc-llm", "ollama": "llama.cpp", "fsdp": "pytorch",
}
GPUS_PER_NODE = 8  # a typical server ("an H200 node", "a DGX H100") holds eight GPUs

# number with optional k/m suffix: "8k", "128K", "1.5k", "8,192", "1M"
_NUM = r"(\d+(?:[.,]\d+)*\s?[kKmM]?)\b"


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


def parse_count(text: str) -> int | None:
    """Parse "8k" -> 8192, "1.5k" -> 1536, "8,000" -> 8000, "1M" -> 1048576 (token counts are binary k)."""
    s = text.strip().replace(" ", "").lower()
    mult = 1
    if s.endswith("k"):
        mult, s = 1024, s[:-1]
    elif s.endswith("m"):
        mult, s = 1024 * 1024, s[:-1]
    s = s.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", s) else s.replace(",", ".")
    try:
        value = float(s)
    except ValueError:
        return None
    return int(round(value * mult)) if value > 0 else None


_PROMPT_PATTERNS = [
    re.compile(_NUM + r"[\s-]*(?:tokens?[\s-]*)?(?:long[\s-]*)?(?:prompts?|contexts?|inputs?|context windows?|sequences?)\b", re.I),
    re.compile(_NUM + r"[\s-]*tokens?[\s-]*(?:long[\s-]*)?(?:documents?|articles?|files?|transcripts?)\b", re.I),
    re.compile(r"\b(?:prompts?|contexts?|inputs?|sequence length|seq(?:uence)? len|context length)\s*(?:length\s*)?(?:of|=|:|is|are|around|about|~|up to|\s)*\s*" + _NUM, re.I),
]
_OUTPUT_PATTERNS = [
    re.compile(_NUM + r"[\s-]*(?:tokens?[\s-]*)?(?:of\s*)?(?:outputs?|generated|generation|completions?|responses?|new tokens|answers?|decode)\b", re.I),
    re.compile(r"\b(?:outputs?|generate|generating|generation|completions?|responses?|answers?)\s*(?:length\s*)?(?:of|=|:|is|are|around|about|~|up to|\s)*\s*" + _NUM + r"\s*(?:new\s*)?tokens?", re.I),
    re.compile(_NUM + r"\s*(?:new\s*)?(?:output\s*)?tokens?\s*(?:out|of output)\b", re.I),
]
_BARE_TOKENS = re.compile(_NUM + r"[\s-]*tokens?\b", re.I)
# a count in digits or words; "a"/"an" alone is not a count of users ("a user asked")
_COUNT = r"(\d+|" + "|".join(w for w in NUM_WORDS if w not in ("a", "an", "pair", "couple")) + r")"
_PER_TIME = r"(?:per|/|an?|each)\s*(?:second|sec|s|minute|min|hour|hr|h|day)\b"
_BATCH_PATTERNS = [
    re.compile(r"\b" + _COUNT + r"[\s-]*(?:concurrent|simultaneous|parallel|active)?[\s-]*(?:users?|requests?|sessions?|"
               r"streams?|clients?|conversations?|sequences?)\b(?!\s*" + _PER_TIME + ")", re.I),
    re.compile(r"\b(?:batch(?:[\s-]*size)?|bs)\s*(?:of|=|:|is)?\s*" + _COUNT + r"\b", re.I),
    re.compile(r"\bconcurrency\s*(?:of|=|:|is)?\s*" + _COUNT + r"\b", re.I),
    # no number at all, but the load is one request at a time
    re.compile(r"\b(?:no|without) batching\b|\bunbatched\b|\bone at a time\b|\bjust (?:me|myself)\b", re.I),
]
_QPS_PATTERNS = [  # (pattern, divisor to requests per second)
    (re.compile(r"(\d+(?:\.\d+)?)\s*(?:qps|rps|req(?:uest)?s?\s*(?:per|/|an?)\s*(?:second|sec|s)\b)", re.I), 1.0),
    (re.compile(r"\b(?:qps|rps|requests per second)\s*(?:of|=|:|is|at|around|about|~|>=|≥)?\s*(\d+(?:\.\d+)?)", re.I), 1.0),
    (re.compile(r"(\d+(?:\.\d+)?)\s*req(?:uest)?s?\s*(?:per|/|an?)\s*min(?:ute)?\b", re.I), 60.0),
]
_GPU_ADJ = r"(?:(?:consumer|gaming|older|old|identical|more|extra|spare|local|cloud|nvidia|amd|datacenter|data-center)[\s-]+)?"
_GPU_COUNT_GENERIC = re.compile(r"\b(\d+|" + "|".join(NUM_WORDS) + r")[\s-]*(?:x\s*)?" + _GPU_ADJ
                                + r"(?:gpus?|cards?|accelerators?|devices?)\b", re.I)
_NODE_AFTER = re.compile(r"s?\s*(?:nodes?|servers?|boxe?s?|machines?)\b", re.I)
_NODES = re.compile(r"\b(\d+)\s*nodes?\b", re.I)
_SIZE = re.compile(r"\b(\d+(?:\.\d+)?)\s?([bB])(?:illion)?\b(?:[\s-]*(?:param(?:eter)?s?|model|llm|dense))?")
_GPU_LIKE = re.compile(r"\b((?:[A-Z]{1,3}|MI|RTX\s?|GTX\s?)\d{2,4}[A-Za-z]{0,3})\b")
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
# words that only make sense with several GPUs; an unstated count then defaults to one 8-GPU node
_MULTI_GPU_HINT = re.compile(r"pipeline[\s-]parallel|tensor[\s-]parallel|data[\s-]parallel|expert[\s-]parallel|sequence[\s-]parallel|across (?:\w+ )?(?:gpus|nodes)|all[\s-]?reduce|all[\s-]to[\s-]all|\bnodes?\b|cluster|distributed|multi[\s-]gpu|pipeline (?:bubbles?|stages?|schedule)|different number of gpus|reshard|shard", re.I)
_SINGLE_GPU = re.compile(r"single[\s-]gpu|one gpu|\b1 gpu\b|only one (?:gpu|card)|a single (?:\w+ )?(?:gpu|card)", re.I)


def _search_int(patterns: list[re.Pattern[str]], text: str) -> tuple[int | None, str]:
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            # a pattern without a number group means exactly one ("no batching")
            value = (parse_count(m.group(1)) or word_number(m.group(1))) if pattern.groups else 1
            if value:
                return value, m.group(0)
    return None, ""


def _first_rule(rules: list[tuple[str, re.Pattern[str]]], text: str) -> str | None:
    for name, pattern in rules:
        if pattern.search(text):
            return name
    return None


@dataclass
class _Found:
    values: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unknown_gpu: str | None = None
    unknown_model: str | None = None
    model_size_b: float | None = None
    multi_gpu_hint: bool = False
    # values the text hints at without stating them: name -> (value, note)
    hinted: dict[str, tuple[Any, str]] = field(default_factory=dict)

    def put(self, name: str, value: Any, evidence: str) -> None:
        if value is not None and name not in self.values:
            self.values[name] = value
            self.evidence[name] = evidence.strip()

    def hint(self, name: str, value: Any, note: str) -> None:
        if name not in self.hinted:
            self.hinted[name] = (value, note)
            self.notes.append(note)


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


def _count_at_mention(text: str, m: Any, found: _Found) -> None:
    """The GPU count written at one GPU name; "an H200 node" / "a DGX H100" hint at eight GPUs a node."""
    near = gpu_count_near(text, m.start, m.end)
    lo = max(0, m.start - 6)
    after, before = _NODE_AFTER.match(text, m.end), re.search(r"\b[dh]gx\s*$", text[lo:m.start], re.I)
    if (after or before) and not (near and near[2]):
        nodes = near[0] if near else 1
        words = text[near[1] if near else (lo + before.start() if before else m.start):after.end() if after else m.end]
        found.hint("gpu_count", nodes * GPUS_PER_NODE,
                   f"'{words.strip()}' taken as {nodes} node{'s' if nodes > 1 else ''} of {GPUS_PER_NODE} GPUs"
                   f" ({nodes * GPUS_PER_NODE} in all); say how many GPUs if not")
    elif near and not contrasted(text, near[1]):
        found.put("gpu_count", near[0], text[near[1]:m.end])


def _find_hardware(text: str, catalog: Any, gpu_index: NameIndex, found: _Found) -> None:
    mentions = gpu_index.find(text)
    if mentions:
        m = mentions[-1] if len({x.item_id for x in mentions}) > 1 and re.search(r"\b(?:on|to|instead|switch)\b", text[mentions[-1].start - 12:mentions[-1].start]) else mentions[0]
        found.put("gpu", m.item_id, m.text)
        for other in [m, *(x for x in mentions if x.item_id == m.item_id and x is not m)]:
            _count_at_mention(text, other, found)
    else:
        kind = gpu_class(text, gpu_index.lookup)
        if kind:
            gpu_id, words, cls = kind
            name = getattr(catalog.gpus.get(gpu_id), "name", gpu_id)
            found.hint("gpu", gpu_id, f"'{words}' read as {cls.label}: {name} assumed as a representative; {cls.caveat}")
        for cand in _GPU_LIKE.findall(text):
            if not re.fullmatch(r"\d+|[A-Z]\d{1,2}|[Kk]\d+", cand.strip()) and not re.search(r"\d[bB]$", cand):
                found.unknown_gpu = cand.strip()
                break
    m = first_unnegated(_GPU_COUNT_GENERIC, text)
    if m:
        found.put("gpu_count", word_number(m.group(1)) or 1, m.group(0))
    nodes = _NODES.search(text)
    if nodes and "gpu_count" in found.values and re.search(r"per node|each|nodes? of", text, re.I):
        found.values["gpu_count"] *= int(nodes.group(1))


def _find_model(text: str, catalog: Any, model_index: NameIndex, found: _Found) -> None:
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


def extract(text: str, catalog: Any, indexes: tuple[NameIndex, NameIndex] | None = None) -> _Found:
    """Find every workload fact stated in ``text``."""
    gpu_index, model_index = indexes or build_indexes(catalog)
    found = _Found()
    _find_hardware(text, catalog, gpu_index, found)
    _find_model(text, catalog, model_index, found)
    # "we cannot fine-tune" is a constraint, not the phase
    phase = _first_rule(_PHASE_RULES, _NO_RETRAIN.sub(" ", text))
    if phase:
        found.put("phase", phase, phase)
    for name, patterns in (("prompt_tokens", _PROMPT_PATTERNS), ("output_tokens", _OUTPUT_PATTERNS), ("batch", _BATCH_PATTERNS)):
        value, ev = _search_int(patterns, text)
        found.put(name, value, ev)
    if "prompt_tokens" not in found.values:
        bare = [m for m in _BARE_TOKENS.finditer(text) if parse_count(m.group(1)) != found.values.get("output_tokens")]
        if bare:
            found.put("prompt_tokens", parse_count(bare[0].group(1)), bare[0].group(0))
    for pattern, per_s in _QPS_PATTERNS:
        qps = pattern.search(text)
        if qps:
            found.put("qps", round(float(qps.group(1)) / per_s, 3), qps.group(0))
    # "without hurting accuracy" is a constraint, not a wish for more accuracy
    objective = _first_rule(_OBJECTIVE_RULES, _NO_RETRAIN.sub(" ", _LOSSLESS.sub(" ", text)))
    if objective:
        found.put("objective", objective, objective)
    for name, pattern in (("lossless", _LOSSLESS), ("no_retraining", _NO_RETRAIN), ("single_gpu", _SINGLE_GPU)):
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
    found.multi_gpu_hint = bool(_MULTI_GPU_HINT.search(text))
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
