"""Which catalog techniques apply to a workload: phase, hardware, constraints, retrieval and named mentions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from agent.names import VENDOR_WORDS, normalise
from agent.object_memo import ObjectMemo
from agent.reading.stack import fp8_mentions
from agent.workload import TRAINING_PHASES, Workload

_INFERENCE_PHASES = {"prefill", "decode", "serving"}


@dataclass
class Candidate:
    """A technique that passed the hard filters, with why it is considered."""

    technique: Any
    phase_match: bool
    named: bool = False
    retrieved_rank: int | None = None  # best rank of a backing paper in the question's hits
    reasons: list[str] = field(default_factory=list)


@dataclass
class Selection:
    """Candidates plus the techniques left out by a hard requirement, with why."""

    candidates: list[Candidate]
    excluded: dict[str, str]


@lru_cache(maxsize=256)  # a few dozen spellings, asked for every technique of every answer
def _cc_tuple(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(p) for p in str(text).split("."))
    except ValueError:
        return None


_VENDOR_NAMES = {"nvidia": "NVIDIA (CUDA)", "amd": "AMD (ROCm)", "apple": "Apple (Metal)"}


def hardware_problem(technique: Any, gpu: Any, gpu_count: int) -> str | None:
    """Why this GPU setup cannot run the technique, or None when it can."""
    vendor = getattr(gpu, "vendor", None)
    runs_on = getattr(technique, "runs_on", None)
    if vendor and runs_on is not None and vendor not in runs_on:
        note = f" ({technique.vendor_notes.strip().rstrip('.')})" if getattr(technique, "vendor_notes", "") else ""
        return f"has no {_VENDOR_NAMES.get(vendor, vendor)} implementation{note}"
    req = technique.requires
    need = _cc_tuple(req.min_compute_capability)
    have = _cc_tuple(getattr(gpu, "compute_capability", None))
    if need and have and have < need:
        return f"needs compute capability >= {req.min_compute_capability}; {gpu.name} is {gpu.compute_capability}"
    missing = [f for f in req.gpu_features if f not in (getattr(gpu, "features", None) or [])]
    if missing:
        return f"needs {', '.join(missing)}, which {gpu.name} lacks"
    if req.multi_gpu and gpu_count < 2:
        return "needs more than one GPU"
    return None


def stated_vendor(text: str) -> str | None:
    """The one GPU vendor the text names by its name or software stack, or None (none, or several)."""
    named = [vendor for vendor, words in VENDOR_WORDS.items() if words.search(text)]
    return named[0] if len(named) == 1 else None


def vendor_problem(technique: Any, vendor: str | None) -> str | None:
    """Why a technique cannot run on the vendor the question names while the GPU itself was assumed."""
    runs_on = getattr(technique, "runs_on", None)
    if vendor is None or runs_on is None or vendor in runs_on:
        return None
    return f"has no {_VENDOR_NAMES.get(vendor, vendor)} implementation, and you run on {_VENDOR_NAMES.get(vendor, vendor)}"


# the question says the model has experts, whatever model was assumed for the numbers
_SAYS_MOE = re.compile(r"\bmoes?\b|mixture[\s-]of[\s-]experts|\bexperts?\b|\bep\s*=?\s*\d", re.I)


def model_problem(technique: Any, model: Any, question: str = "", model_assumed: bool = False) -> str | None:
    """Why the model's architecture rules the technique out (expert methods need a mixture-of-experts model); an
    assumed dense model does not rule them out when the question talks about experts."""
    moe_only = technique.family == "moe" or technique.cost_model.transform == "expert_parallel"
    if moe_only and model is not None and not getattr(model, "is_moe", False):
        if model_assumed and _SAYS_MOE.search(question):
            return None
        return f"needs a mixture-of-experts model; {model.name} is dense"
    return None


@dataclass(frozen=True)
class Refusals:
    """What the question says the user lacks ("no draft model") or will not use ("no quantization")."""

    lacked: tuple[str, ...] = ()
    families: dict[str, str] = field(default_factory=dict)  # family -> the words that refuse it
    full_model: str = ""  # the words that ask for every weight to be trained ("a FULL fine-tune (not LoRA)")


# "we have no draft model", "without calibration data", "we lack a spare GPU": the component follows these words
_LACK = re.compile(r"\b(?:no|without|lack(?:ing|s)?|(?:do ?n[o’']?t|never) have|there(?: is|'s) no)\s+"
                   r"(?:(?:an?|any|the|separate|extra|spare|existing|suitable|second)\s+)*"
                   r"((?:[a-z0-9][a-z0-9-]*\s+){0,2}[a-z0-9][a-z0-9-]*)", re.I)
_PHRASE_STOP = frozenset("and or to for so but we that which of in on at with nor".split())
# a technique needs a component when its requirements say so ("needs a draft model sharing the tokenizer")
_NEEDS = r"\b(?:needs?|requires?|uses?)\s+(?:an?\s+|the\s+|one or more\s+|several\s+)?(?:[\w'-]+\s+){0,2}"
# refusing a family outright: "no quantization", "we can't quantize", "quantization hurt our task"
_REFUSE_BEFORE = (r"\b(?:no|without|avoid(?:ing)?|rather not|prefer not to|not allowed to|rule out|ruled out|"
                  r"(?:can ?not|can[’']t|won[’']t|will not|must not|mustn[’']t)(?: want to)?|"
                  r"(?:don[’']t|do not) want to)\s+(?:any\s+|more\s+|further\s+)?")
# said after the name: "quantization hurt our task", "FP8 is not an option" (in a statement, not "does X hurt?")
_REFUSE_AFTER = (r"\s+(?:is|was|are|were)?\s*(?:not (?:allowed|an option|acceptable|possible)|off the table|ruled out|"
                 r"out of the question|hurts?|broke|breaks|degrad\w*)\b")


# every weight trained: adapter methods (LoRA, QLoRA) change the job rather than make it fit
_FULL_MODEL = re.compile(r"\bfull(?:[\s-]+(?:parameter|weight|model))?[\s-]+fine[\s-]?tun\w*|\bfull[\s-]?ft\b|"
                         r"\bfull[\s-]+(?:parameter|weight)s?\b[^.;?!]{0,20}\btrain\w*|\bnot (?:a |with |using )?(?:q?lora|adapters?)\b|"
                         r"\b(?:no|without) (?:q?lora|adapters?)\b", re.I)
_ADAPTERS = re.compile(r"\b(?:q?lora|adapters?)\b", re.I)
# words after "full fine-tune" that report it failing rather than ask for it
_FAILED_AFTER = re.compile(r"[\s,]*(?:\w+\s+){0,2}?(?:ooms?\b|oom'?s\b|oomed|fails?|failed|crash\w*|runs? out|ran out|"
                           r"(?:does|did|wo|would)n'?t fit|(?:does|did|will|would) not fit|is (?:way )?too (?:big|large)|"
                           r"blows? up)", re.I)


def _in_question(text: str, at: int) -> bool:
    """Whether the sentence holding position ``at`` ends with a question mark."""
    end = re.search(r"[.?!\n]", text[at:])
    return end is not None and end.group(0) == "?"


def _family_words(family: str) -> str:
    """A pattern for a family's name as people write it ("quantization", "quantize", "quantised")."""
    name = family.replace("-", " ")
    if name.endswith(("ization", "isation")):
        return re.escape(name[:-7]) + r"i[sz](?:e|ed|ing|ation)"
    return re.escape(name.rstrip("s")) + "s?"


@lru_cache(maxsize=256)
def _refusal_patterns(family: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The patterns that refuse a family said before its name ("no quantization") and after it ("... hurts")."""
    fam = _family_words(family)
    return re.compile(_REFUSE_BEFORE + fam + r"\b", re.I), re.compile(r"\b" + fam + _REFUSE_AFTER, re.I)


def read_refusals(text: str, families: Iterable[str]) -> Refusals:
    """The components the question says the user lacks and the families it refuses, in its own words."""
    lacked = []
    for m in _LACK.finditer(text):
        words = []
        for word in m.group(1).lower().split():
            if word in _PHRASE_STOP:
                break
            words.append(word)
        # one word ("no budget", "no training") is too vague to name a component
        if len(words) >= 2:
            lacked.append(" ".join(words))
    refused = {}
    for family in families:
        before, after_name = _refusal_patterns(family)
        after = (a for a in after_name.finditer(text) if not _in_question(text, a.start()))
        m = before.search(text) or next(after, None)
        if m:
            refused[family] = m.group(0).strip()
    # "full finetune OOMs" reports what failed; only a full fine-tune wanted rules adapters out
    full = next((m for m in _FULL_MODEL.finditer(text) if not _FAILED_AFTER.match(text, m.end())), None)
    return Refusals(tuple(dict.fromkeys(lacked)), refused, full.group(0) if full else "")


def lacked_problem(technique: Any, refusals: Refusals) -> str | None:
    """Why what the user lacks or refuses rules the technique out ("needs a draft model; you said you have none")."""
    for family, words in refusals.families.items():
        # the family itself, or a technique of another family named for it ("KV-cache quantization")
        if technique.family == family or re.search(r"\b" + _family_words(family) + r"\b", technique.name, re.I):
            return f"is {family.replace('-', ' ')}, which you ruled out (\"{words}\")"
    if refusals.full_model and _ADAPTERS.search(technique.name):
        return f"trains adapters, not every weight; you asked for a full fine-tune (\"{refusals.full_model}\")"
    needs = f"{technique.requires.notes} ({technique.name})"
    for component in refusals.lacked:
        stem = re.escape(component.rstrip("s"))
        if "calibration" in component and technique.requires.calibration_data:
            return f"needs {component}; you said you have none"
        if re.search(_NEEDS + stem + r"s?\b", needs, re.I) or re.search(r"\(" + stem + r"s?\)", needs, re.I):
            return (f"needs {component}, which you said you do not have (it runs once you have one that fits "
                    "this model)")
    return None


def constraint_problem(technique: Any, workload: Workload) -> str | None:
    """Why the user's constraints rule the technique out, or None."""
    if workload.lossless and not technique.quality.lossless:
        return f"changes outputs ({technique.quality.impact}); you asked for lossless"
    if workload.lossless and low_bit_format(technique):
        return "runs a model whose weights or KV cache are stored below 16 bits; you asked for lossless"
    if workload.no_retraining and technique.requires.retraining:
        return "needs (re)training or fine-tuning; you ruled that out"
    if workload.single_gpu and technique.requires.multi_gpu:
        return "needs several GPUs; you asked for a single GPU"
    if technique.cost_model.transform == "adapter" and workload.phase == "pre-training":
        return "trains adapters on a frozen pre-trained model, so it cannot pre-train one"
    return None


def low_bit_format(technique: Any) -> bool:
    """Whether the technique stores weights or KV below 16 bits (a kernel for 4-bit weights needs a 4-bit model)."""
    params = technique.cost_model.params
    bits = params.get("weight_bits") if technique.cost_model.transform == "weight_quant" else (
        params.get("kv_bits") if technique.cost_model.transform == "kv_quant" else None)
    return isinstance(bits, (int, float)) and bits < 16


def phase_matches(technique: Any, workload: Workload) -> bool:
    """Whether the technique acts in the workload's phase (training vs the inference phases)."""
    phases = set(technique.phases)
    if workload.phase in TRAINING_PHASES:
        return "training" in phases
    return bool(phases & _INFERENCE_PHASES)


@dataclass(frozen=True)
class _Labels:
    """A catalog's technique labels (id, name, aliases), normalised: which techniques each label names."""

    owners: dict[str, tuple[str, ...]]  # label -> technique ids
    long: tuple[str, ...]  # labels long enough to be found across words ("flash attention 2")


# a label this long may span words; a shorter one must stand alone as a word ("gqa")
_SPANNING = 10


def _catalog_labels(catalog: Any) -> _Labels:
    owners: dict[str, list[str]] = {}
    for tech_id, tech in catalog.techniques.items():
        # a label with a non-ASCII letter loses it when normalised ("μGraphs" would read as "graphs"): skipped
        labels = {normalise(str(label)) for label in (tech_id, tech.name, *tech.aliases) if str(label).isascii()}
        for key in labels:
            if len(key) >= 3:
                owners.setdefault(key, []).append(tech_id)
    return _Labels({k: tuple(v) for k, v in owners.items()}, tuple(k for k in owners if len(k) >= _SPANNING))


# the catalog's :class:`_Labels`, worked out once per catalog object
_labels: ObjectMemo[_Labels] = ObjectMemo(_catalog_labels, limit=64)


def named_techniques(text: str, catalog: Any) -> set[str]:
    """Technique ids whose id, name or an alias appears as words in the text."""
    labels = _labels(catalog)
    words = {normalise(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9.+-]*", text)}
    joined = " " + normalise(text) + " "
    # short labels must stand alone as a word ("gqa"), long ones may span words ("flash attention 2")
    found = {key for key in words if key in labels.owners} | {key for key in labels.long if key in joined}
    hits: dict[str, list[str]] = {}
    for key in found:
        for tech_id in labels.owners[key]:
            hits.setdefault(tech_id, []).append(key)
    # a name inside a longer name found in the text is that longer name ("FlashAttention-3" names FA3, not FA1)
    longer = [key for keys in hits.values() for key in keys]
    return {tech_id for tech_id, keys in hits.items()
            if any(_stands_alone(key, joined, [k for k in longer if len(k) > len(key) and key in k]) for key in keys)}


def _stands_alone(key: str, joined: str, longer: list[str]) -> bool:
    """Whether ``key`` occurs in ``joined`` somewhere outside every occurrence of the longer keys that hold it."""
    covered = [(m.start(), m.start() + len(k)) for k in longer for m in re.finditer(re.escape(k), joined)]
    return any(not any(a <= m.start() and m.start() + len(key) <= b for a, b in covered)
               for m in re.finditer(re.escape(key), joined))


def paper_ranks(hits: Iterable[Any]) -> dict[str, int]:
    """Best (lowest) rank at which each paper id appears in a hit list."""
    ranks: dict[str, int] = {}
    for rank, hit in enumerate(hits):
        ranks.setdefault(hit.paper_id, rank)
    return ranks


# the share of the GPU's memory below which the setup fits with room to spare
ROOMY = 0.8


def without_needless_offload(selection: Selection, workload: Workload, baseline: dict[str, Any]) -> None:
    """Leave out offloading to host memory when the setup already fits with room (and memory is not the goal): it
    only moves weights off the GPU to be read back over PCIe. A technique the question names stays."""
    memory = baseline.get("memory") or {}
    total, cap = memory.get("total_gb"), memory.get("capacity_gb")
    if (workload.objective == "memory" or workload.origin("gpu") == "assumed" or not memory.get("fits") or not total
            or not cap or total > ROOMY * cap):
        return  # an assumed GPU says nothing about what fits on the user's own hardware
    keep = []
    for cand in selection.candidates:
        if cand.technique.cost_model.transform == "offload" and not cand.named:
            selection.excluded[cand.technique.id] = (f"the setup already fits in GPU memory ({total:.0f} of {cap:.0f} GB);"
                                                     " offloading to host memory would only slow it")
        else:
            keep.append(cand)
    selection.candidates[:] = keep


def _single_device(gpu: Any) -> bool:
    """Whether the GPU is an integrated part that comes one to a machine (Apple silicon, NVIDIA Jetson)."""
    return getattr(gpu, "vendor", "") == "apple" or str(getattr(gpu, "id", "")).startswith("jetson")


def select_candidates(workload: Workload, catalog: Any, question: str, hits: list[Any],
                      asked: frozenset[str] | set[str] = frozenset()) -> Selection:
    """Techniques that apply: phase match, or named in the question, or asked about (its profile matches the
    question clearly), or backed by a retrieved paper.

    Hardware and the user's constraints are hard filters; everything they remove is listed in
    ``excluded`` with the reason, so the answer can say why a famous technique is missing.
    """
    gpu = catalog.gpus.get(workload.gpu)
    model = workload.model_shape(catalog)
    # a model the question did not name, or named only by its size: its architecture is a guess
    model_assumed = workload.origin("model") == "assumed" or str(workload.model or "").startswith("assumed-")
    ranks = paper_ranks(hits)
    # a bare "fp8" names the FP8 technique of the phase ("is fp8 supported on the L40?")
    named = named_techniques(question, catalog) | {
        m.item_id for m in fp8_mentions(question, workload.phase in TRAINING_PHASES) if m.item_id in catalog.techniques}
    refusals = read_refusals(question, {t.family for t in catalog.techniques.values()})
    # a GPU the reader had to assume must still be of the vendor the question names
    vendor = stated_vendor(question) if workload.origin("gpu") == "assumed" else None
    gpu_count = workload.gpus_at_hand()  # an assumed count does not rule out a multi-GPU technique; a stated one does
    if gpu is not None and _single_device(gpu) and workload.origin("gpu_count") == "assumed":
        gpu_count = 1  # a Jetson module or an Apple laptop is one device however the count was guessed
    out: list[Candidate] = []
    excluded: dict[str, str] = {}
    for tech_id, tech in sorted(catalog.techniques.items()):
        retrieved = min((ranks[p] for p in tech.papers if p in ranks), default=None)
        match = phase_matches(tech, workload)
        if not (match or tech_id in named or tech_id in asked or retrieved is not None):
            continue
        problem = ((hardware_problem(tech, gpu, gpu_count) if gpu else None) or constraint_problem(tech, workload)
                   or vendor_problem(tech, vendor) or lacked_problem(tech, refusals)
                   or model_problem(tech, model, question, model_assumed))
        if problem:
            excluded[tech_id] = problem
            continue
        reasons = []
        if tech_id in named:
            reasons.append("named in the question")
        if retrieved is not None:
            reasons.append(f"a backing paper ranks #{retrieved + 1} for the question")
        out.append(Candidate(tech, match, tech_id in named, retrieved, reasons))
    return Selection(out, excluded)
