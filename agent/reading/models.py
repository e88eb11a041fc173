"""Read the model out of text: a catalog name in any spelling, a family with a size, or a size alone.

"meta-llama/Llama-3.1-8B-Instruct", "qwen2.5:14b" and "Llama 3 8B" name catalog entries; "llama 13b" is the
Llama-family entry of that size; "our 13B llama-style model" is a size, for which an assumed shape is built.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from agent.knowledge.derived_shape import shape_from_size
from agent.names import NameIndex, normalise
from agent.reading.findings import Found
from agent.reading.scope import Scope

# what people append to a model name that does not change its shape
MODEL_SUFFIXES = ("instruct", "chat", "base", "hf", "it", "awq", "gptq", "gguf", "fp8", "fp16", "bf16", "int4", "int8",
                  "bnb", "4bit", "8bit", "exl2", "mlx", "preview", "latest", "v01", "v02", "v03", "2407", "2409",
                  "2501", "2503", "turbo", "dynamic")
MODEL_PREFIXES = ("meta", "metallama", "mistralai", "qwen", "google", "microsoft", "deepseekai", "openai", "unsloth",
                  "thebloke", "nousresearch", "tiiuae")
_SIZE = re.compile(r"\b(\d+(?:\.\d+)?)\s?([bBmM])(?:illion)?\b(?![\s-]*(?:tokens?|docs?|documents?|rows|samples|examples|"
                   r"users|requests|words|images|records|params? of data|base[\s-]?pairs?|bp\b|pairs|context|ctx|"
                   r"sequences?|steps|iterations|queries|pages|lines|chars|characters|bytes))(?:[\s-]*(?:param(?:eter)?s?|model|llm|dense|"
                   r"network|net|transformer|class))?")
# a size is a model size when a model word stands near it, or it carries a B suffix ("a 70B")
_MODEL_WORD = re.compile(r"param|model|llm|\bnet|transformer|checkpoint|llama|qwen|mistral|gemma|phi|gpt|dense|moe", re.I)
# the model sizes a shape can be built for (derived_shape refuses the rest)
MIN_SIZE_B, MAX_SIZE_B = 0.01, 5000.0
# a size in millions names a model only beside a model word ("a 350M GPT", "125M toy LM"): "50M rows" does not
_SMALL_MODEL_WORD = re.compile(r"param|model|llm|\bnet|\blm\b|\bgpt|transformer|llama|decoder|\bbert", re.I)
# a named model with a size: a version digit in the name ("Qwen2.5 72B") or a hyphen ("Falcon-180B")
_MODEL_LIKE = re.compile(r"\b([A-Za-z]{2,}(?:[-\s]?\d+(?:\.\d+)?[-\s]|-)\d+(?:\.\d+)?[bB])\b")


class ModelIndex(NameIndex):
    """Model aliases, looked up with the org prefixes and variant suffixes people add trimmed off."""

    def could_grow(self, key: str) -> bool:
        return key in self.prefixes or any(key.startswith(p) and key[len(p):] in self.prefixes for p in MODEL_PREFIXES
                                           if len(key) > len(p)) or any(p.startswith(key) for p in MODEL_PREFIXES)

    def _match(self, key: str) -> str | None:
        hit = super()._match(key)
        if hit:
            return hit
        for _ in range(3):
            trimmed = next((key[len(p):] for p in MODEL_PREFIXES if key.startswith(p) and len(key) > len(p) + 2), None) \
                or next((key[:-len(s)] for s in MODEL_SUFFIXES if key.endswith(s) and len(key) > len(s) + 2), None)
            if not trimmed:
                return None
            key = trimmed
            if key in self.exact:
                return self.exact[key]
        return None


def _family_and_size(text: str, catalog: Any) -> tuple[str, str] | None:
    """A catalog model named by family and size ("llama 13b", "Qwen 14B"): (id, words)."""
    families = {m.family.lower() for m in catalog.models.values() if m.family}
    for m in _SIZE.finditer(text):
        if m.group(2).lower() != "b":
            continue
        before = text[max(0, m.start() - 24):m.start()].lower()
        family = next((f for f in families if re.search(r"\b" + re.escape(f) + r"[\s\d.-]*$", before)), None)
        if not family:
            continue
        size = float(m.group(1)) * 1e9
        near = [(abs(x.params_total - size) / size, -_version(x.id), x.id) for x in catalog.models.values()
                if x.family.lower() == family and abs(x.params_total - size) / size <= 0.3]
        if near:
            return min(near)[2], text[m.start() - len(before) + before.rfind(family):m.end()]
    return None


# Llama written short, as people do in chat and file names: "L3.1-8B", "L3-70B", "l3.2 3b"
_SHORT_LLAMA = re.compile(r"\b[lL](\d(?:\.\d)?)[\s_-]?(\d+(?:\.\d+)?)[bB]\b")


def _short_llama(text: str, model_index: NameIndex) -> tuple[str, str] | None:
    """The Llama model a short name stands for ("L3.1-8B" is Llama 3.1 8B): (id, words)."""
    for m in _SHORT_LLAMA.finditer(text):
        hits = model_index.find(f"Llama-{m.group(1)}-{m.group(2)}B")
        if hits:
            return hits[0].item_id, m.group(0)
    return None


def _only_of_family(text: str, catalog: Any) -> tuple[str, str] | None:
    """A family named without a size that has one catalog model ("Jamba on one H200")."""
    members: dict[str, list[str]] = {}
    for model in catalog.models.values():
        members.setdefault(model.family.lower(), []).append(model.id)
    for word in re.finditer(r"[A-Za-z][A-Za-z0-9]+", text):
        ids = members.get(word.group(0).lower())
        if ids and len(ids) == 1:
            return ids[0], word.group(0)
    return None


# a misspelt name with a size: "mixtrla 8x7b", "qwen2.5 32b-instrcut"
_SIZED_WORDS = re.compile(r"\b([A-Za-z][A-Za-z.]{3,}[\s-]?\d*(?:\.\d+)?[\s:-]?(?:\d+x)?\d+(?:\.\d+)?[bB])\b")


def _misspelt(text: str, model_index: NameIndex) -> tuple[str, str] | None:
    """A model name with a typo, when it sits beside a size: the alias closest in spelling (difflib ratio >= 0.88,
    among aliases of about the same length and first letter, with the same digits): (id, words)."""
    for m in _SIZED_WORDS.finditer(text):
        key = normalise(m.group(1))
        pool = [k for k in model_index.exact if k[:1] == key[:1] and abs(len(k) - len(key)) <= 2]
        hit = difflib.get_close_matches(key, pool, n=1, cutoff=0.88)
        # the numbers must agree: a typo is in the letters, "gemma-3 27b" is not "gemma-2 27b"
        if hit and re.sub(r"\D", "", hit[0]) == re.sub(r"\D", "", key):
            return model_index.exact[hit[0]], m.group(1)
    return None


def _version(model_id: str) -> float:
    """The first version number in an id ("qwen3-8b" -> 3, "llama-3.1-8b" -> 3.1), so newer families win ties."""
    m = re.search(r"(\d+(?:\.\d+)?)(?!\d*b)", model_id)
    return float(m.group(1)) if m else 0.0


def _size_b(m: re.Match[str]) -> float:
    value = float(m.group(1))
    return value / 1000 if m.group(2).lower() == "m" else value


_WISHED_MODEL = re.compile(r"(?:(?<!compared )(?<!similar )(?<!relative )(?<!close )(?<!next )\bto|\bwould like|'d like|"
                           r"\bwant(?:s|ed)?|\bprefer|\bupgrad\w+ to)\s+(?:(?:run|use|serve|try|deploy|have|get)\s+)?"
                           r"(?:the\s+)?$", re.I)
# a size written right after a name: "deepseek-r1:8b", "Qwen3 4B"
_SIZE_AFTER = re.compile(r"[\s:_-]*(\d+(?:\.\d+)?)\s?[bB]\b")


# an expert layout written after a name: "mixtral 8x22", "Mixtral 8x22B"
_EXPERTS_AFTER = re.compile(r"[\s:_-]*(\d+x\d+)(?:\s?[bB])?\b", re.I)


def _sized_sibling(text: str, mention: Any, catalog: Any) -> str | None:
    """The catalog model a name plus a size means when the name alone is another size: "deepseek-r1:8b" is the 8B
    distill whose id starts with the name, not the 671B model called DeepSeek-R1; "mixtral 8x22" is the 8x22B model.
    None when the size agrees."""
    named = catalog.models.get(mention.item_id)
    experts = _EXPERTS_AFTER.match(text, mention.end)
    if experts and named is not None and experts.group(1).lower() not in named.id:
        layout = experts.group(1).lower()
        stem = normalise(mention.text)
        same = [x.id for x in catalog.models.values() if layout in x.id and normalise(x.id).startswith(stem)]
        if same:
            return min(same)
    m = _SIZE_AFTER.match(text, mention.end)
    if not m or named is None or not getattr(named, "params_total", None):
        return None
    size = float(m.group(1)) * 1e9
    if abs(named.params_total - size) / size <= 0.3:
        return None
    stem = normalise(mention.text)
    near = [(abs(x.params_total - size) / size, x.id) for x in catalog.models.values()
            if x.params_total and normalise(x.id).startswith(stem) and abs(x.params_total - size) / size <= 0.3]
    return min(near)[1] if near else None


def find_model(text: str, catalog: Any, model_index: NameIndex, found: Found, scope: Scope | None = None) -> None:
    """Put the model (catalog id, or an assumed shape for a bare size) into ``found``."""
    scope = scope or Scope(text)
    mentions = [m for m in model_index.find(text) if not scope.negated(m.start, m.end)] or model_index.find(text)
    # a draft or student named next to the model being served is not the model
    main = next((m for m in mentions if not re.search(r"\b(?:draft|drafter|student|small)\b",
                                                       text[max(0, m.start - 24):m.start], re.I)), None)
    # the model they move to is the one to plan for: "upgrade from Qwen2.5-32B to Qwen2.5-72B", "3B for now, would
    # like Llama 3.1 8B"
    main = next((m for m in mentions if m.item_id != getattr(main, "item_id", None)
                 and _WISHED_MODEL.search(text, max(0, m.start - 30), m.start)), main)
    if main or mentions:
        main = main or mentions[0]
        found.put("model", _sized_sibling(text, main, catalog) or main.item_id, main.text)
        found.name_spans.extend((m.start, m.end) for m in mentions)
        return
    family = _family_and_size(text, catalog) or _short_llama(text, model_index) or _only_of_family(text, catalog) \
        or _misspelt(text, model_index)
    if family:
        found.put("model", family[0], family[1])
        return
    named = _MODEL_LIKE.search(text)
    for size in _SIZE.finditer(text):
        words = text[max(0, size.start() - 20):size.end() + 24]
        if size.group(2).lower() == "m" and not _SMALL_MODEL_WORD.search(words):
            continue
        if size.group(2).lower() == "b" and re.search(r"[$€£]\s*$", text[:size.start()]):
            continue  # "$70B" is money; any other "70B" not followed by tokens, users or rows is a model size...
        if named and named.start() <= size.start() < named.end() and not _MODEL_WORD.search(words):
            continue  # ...unless it belongs to a name we do not know ("Zorblax-900B"): that is said, not guessed
        size_b = _size_b(size)
        if not MIN_SIZE_B <= size_b <= MAX_SIZE_B:
            continue  # "1M base pairs" or "5000B tokens" slipped past the words above: no model is that size
        found.model_size_b = size_b
        if named and not model_index.lookup(named.group(1)):
            found.unknown_model = named.group(1)
        shape = shape_from_size(size_b)
        found.model_spec = shape
        found.put("model", shape.id, size.group(0))
        found.notes.append(f"'{size.group(0).strip()}' read as a {size_b:g}B-parameter model: an assumed Llama-style dense "
                           f"shape is used ({shape.num_hidden_layers} layers, hidden size {shape.hidden_size}); "
                           "name the model or pass --model-config for its real shape")
        return
    if named:
        found.unknown_model = named.group(1)
