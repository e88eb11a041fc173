"""Read the user's stack: the framework they run now and the techniques they say are on (or off).

"Moving our chatbot from TGI to vLLM" runs TGI today; "should we try SGLang?" runs neither; "we already use paged
attention and FA2" puts both in the stack; "we don't use continuous batching" takes it out.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from agent.names import Mention, NameIndex, normalise
from agent.reading.degrees import parallel_degrees
from agent.reading.findings import Found
from agent.reading.scope import Scope
from agent.reading.switches import SwitchIndex

# "from X to Y", "X -> Y", "replace X with Y": X is what runs now, Y what is proposed
_FROM = re.compile(r"\b(?:from|off|away from|replac\w*|migrat\w* (?:off|from)|leav\w*)\s+(?:our |the |plain |stock )?$", re.I)
_TO = re.compile(r"\b(?:to|into|onto|towards?)\s+(?:a |the )?$|->\s*$|→\s*$|\bvs\.?\s+$|\bor\s+$", re.I)
# a move already made: "we moved from vLLM to SGLang last week" runs SGLang now, not vLLM
_MOVED = re.compile(r"\b(?:moved|switched|migrated|ported|went|changed|swapped|transitioned|upgraded|quantized|quantised|converted|"
                    r"(?:after|since) (?:switching|moving|migrating|changing|converting|going|upgrading|updating|bumping))\b(?:[^.;?!\n]|(?<=\d)\.(?=\d)){0,60}$",
                    re.I)
# an imperative or a goal: "Serve it on an H100 with FP8 for more throughput" asks for FP8
_REQUEST = re.compile(r"^\s*(?:please\s+)?(?:serve|run|use|deploy|enable|add|apply|try|make|get|speed|quantize|switch)\b(?![=_])|"
                      r"\bfor (?:more|better|higher|lower|faster|less|max\w*)\b", re.I)
_NOW = re.compile(r"\b(?:already|currently|today|right now|at the moment|in production)\b", re.I)
# a clause this short around a mention labels what follows rather than describing the setup
_LABEL_WORDS = 3
# a mention followed by "or Y?" / "vs Y": an option under comparison
_OPTION_AFTER = re.compile(r"^\s*(?:or|vs\.?|versus)\s", re.I)


def moved_to(text: str, at: int) -> bool:
    """Whether the name at ``at`` is where a move already made ended: "we switched from TGI to vLLM last month"."""
    return bool(_MOVED.search(text[max(0, at - 80):at]) and _TO.search(text[max(0, at - 30):at]))


class FrameworkIndex(NameIndex):
    """Framework names and signatures; ``signature_keys`` tells a signature match from a name match."""

    signature_keys: frozenset[str] = frozenset()


def build_framework_index(catalog: Any) -> FrameworkIndex:
    """Alias index over the catalog's frameworks, by their names and by their signatures (commands, flags, config
    keys and log names that only that framework's users write: "sglang.launch_server", "zero_optimization")."""
    index = FrameworkIndex({key: SimpleNamespace(name=fw.name, aliases=[*fw.aliases, *fw.signatures])
                            for key, fw in catalog.frameworks.items()})
    names = {normalise(n) for key, fw in catalog.frameworks.items() for n in (key, fw.name, *fw.aliases)}
    index.signature_keys = frozenset(normalise(s) for fw in catalog.frameworks.values() for s in fw.signatures) - names
    return index


# HF transformers hands sharding to DeepSpeed or FSDP when a config names one: that engine is what runs the step
_ENGINE_UNDER = {"transformers": ("deepspeed", "fsdp")}


def _by_name_first(index: NameIndex, mentions: list[Mention]) -> list[Mention]:
    """Mentions by name before mentions by signature: "NeMo ... tensor_model_parallel_size" runs NeMo; then an engine
    before the wrapper that calls it ("HF Trainer with a DeepSpeed config" runs DeepSpeed)."""
    keys = getattr(index, "signature_keys", frozenset())
    ids = {m.item_id for m in mentions}
    wrapped = {w for w, engines in _ENGINE_UNDER.items() if w in ids and ids & set(engines)}
    return sorted(mentions, key=lambda m: (m.item_id in wrapped, normalise(m.text) in keys))


def build_technique_index(catalog: Any) -> NameIndex:
    """Alias index over the catalog's techniques (ids, names, aliases)."""
    return NameIndex(catalog.techniques)


# a technique that does not run for the user: "pip install flash-attn fails", "FA2 errors out on the T4"
_FAILS_AFTER = re.compile(r"[\s\w.-]{0,12}?\b(?:fails?|failed|errors?(?: out)?|crash\w*|won'?t (?:install|build|run|work)|"
                          r"(?:does|did)n'?t (?:install|build|run|work)|(?:is|are) not supported|isn'?t supported|only supports)\b", re.I)


def _role(text: str, scope: Scope, m: Mention, hedges_before_only: bool = False) -> str:
    """'current', 'past', 'proposed', 'negated', 'asked' or 'neutral' (described without a verb) for one mention.

    ``hedges_before_only``: only a proposal word before the mention makes it proposed.
    'asked' is a mention whose only sign of a proposal is that its clause is a question ("how many users can it
    serve in vLLM?"): a framework named that way is still the one the question is about.
    """
    before = text[max(0, m.start - 30):m.start]
    if _FROM.search(before):
        return "past" if _MOVED.search(text[max(0, m.start - 80):m.start]) else "current"
    if moved_to(text, m.start):
        return "current"
    if scope.negated(m.start, m.end) or _FAILS_AFTER.match(text, m.end):
        return "negated"
    if _TO.search(before) or _OPTION_AFTER.match(text[m.end:m.end + 8]):
        return "proposed"
    clause = scope.clause_at(m.start)
    if scope.stated(m.start) and (not scope.proposed(m.start, hedges_before_only) or _NOW.search(text[clause.start:clause.end])):
        return "current"
    words = text[clause.start:clause.end]
    # the clause is a question, or it is only a label for the question that follows ("self-drafting: can the model
    # draft for itself?", "are fused kernels (DeepSpeed-Inference style) worth it?")
    sentence_end = re.search(r"[.?!\n]", text[m.end:])
    label = len(re.findall(r"\w+", text[clause.start:m.start] + " " + text[m.end:clause.end])) <= _LABEL_WORDS
    asked = (text[clause.end:clause.end + 1] == "?" or words.rstrip().endswith("?")
             or (label and sentence_end is not None and sentence_end.group(0) == "?"))
    if scope.proposed(m.start, hedges_before_only) or _REQUEST.search(words):
        return "proposed"
    return "asked" if asked else "neutral"


def read_framework(text: str, scope: Scope, index: NameIndex, found: Found) -> None:
    """The framework running today: a stated or migrated-from mention, else the only neutral one."""
    mentions = [m for m in index.find(text) if not found.inside_name(m.start, m.end)]
    # a hedge after a framework is about something else ("we serve it with vLLM at maybe 3 req/s"); after a
    # technique it is about the technique ("FP8 might help here")
    roles = [(_role(text, scope, m, hedges_before_only=True), m) for m in _by_name_first(index, mentions)]
    current = next((m for role, m in roles if role == "current"), None)
    if current is None:
        neutral = [m for role, m in roles if role == "neutral"]
        # a framework named only inside a question counts when it is the only framework named
        asked = [m for role, m in roles if role == "asked"]
        current = neutral[0] if neutral else (asked[0] if len({m.item_id for _, m in roles}) == 1 and asked else None)
    if current is not None:
        found.put("framework", current.item_id, current.text)
        version = _VERSION.match(text, current.end)
        if version:
            found.framework_version = version.group(1)


# a version written right after a framework's name: "vLLM 0.4.2", "vllm==0.5.4", "TGI v2.0", "sglang version 0.3"
_VERSION = re.compile(r"\s*(?:==|@|\bv(?:ersion)?\s*|\bversion\s+)?\s*v?(\d+\.\d+(?:\.\d+)?)\b", re.I)


# switching a technique on: what is proposed that way does not run today
_ENABLE = re.compile(r"\b(?:turn(?:ing)? on|switch(?:ing)? on|enabl\w*|activat\w*|add(?:ing)?|introduc\w*)\b|"
                     r"\s*(?:\w+\s+){0,3}?(?:turn(?:ing)?|switch(?:ing)?) (?:it )?on\b", re.I)


_DEGREE_TECHNIQUE = {"tp": "tensor-parallel", "ep": "expert-parallel", "pp": "pipeline-1f1b", "sp": "sequence-parallel"}
# a precision named as what runs ("fp8 on", "in fp8", "Llama-3.1-405B-Instruct-FP8"): the phase decides which technique
_FP8 = re.compile(r"\bfp8\b(?![\s-]*(?:kv|attention))|-fp8\b", re.I)


def technique_mentions(text: str, index: NameIndex, found: Found, switches: SwitchIndex | None = None) -> list[Mention]:
    """Techniques named in the text, in order: catalog names, framework switches ("--kv-cache-dtype fp8"), parallel
    degrees ("TP8") and precisions ("fp8")."""
    out = list(index.find(text))  # a quantisation suffix in a model name ("-AWQ", "-FP8") does say what runs
    if switches is not None:
        out += [m for m in switches.find(text) if not any(x.start <= m.start < x.end for x in out)]
    for d in parallel_degrees(text):
        tech = _DEGREE_TECHNIQUE[d.kind]
        if tech in index.exact.values():
            out.append(Mention(tech, d.words, d.start, d.end))
    training = found.values.get("phase") in ("pre-training", "fine-tuning")
    out += [m for m in fp8_mentions(text, training) if not any(x.start <= m.start < x.end for x in out)]
    return sorted(out, key=lambda x: x.start)


def fp8_mentions(text: str, training: bool) -> list[Mention]:
    """A bare "fp8" names the FP8 technique of the phase: FP8 training when training, FP8 inference otherwise."""
    tech = "fp8-training" if training else "fp8-inference"
    return [Mention(tech, m.group(0), m.start(), m.end()) for m in _FP8.finditer(text)]


def read_techniques(text: str, scope: Scope, index: NameIndex, found: Found, switches: SwitchIndex | None = None) -> None:
    """Techniques the user says run today (``found.stack``) or do not run (``found.absent``)."""
    failing: set[str] = set()
    for m in technique_mentions(text, index, found, switches):
        role = _role(text, scope, m)
        if _FAILS_AFTER.match(text, m.end):
            failing.add(m.item_id)
        if role in ("current", "neutral"):
            found.stack.setdefault(m.item_id, m.text)
        elif role == "negated" and not scope.proposed(m.start):
            found.absent.add(m.item_id)
        elif role in ("proposed", "asked") and (_ENABLE.search(text, max(0, m.start - 40), m.end)
                                                or _ENABLE.match(text, m.end)):
            found.proposed.add(m.item_id)  # "is prefix caching worth turning on?": the user runs without it
    for item in failing & set(found.stack):
        del found.stack[item]  # "we tried to enable CUDA graphs but CUDA graphs fail": not running
