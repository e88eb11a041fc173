"""Techniques switched on by the flags, environment variables and config keys a user pastes.

Each technique's ``frameworks`` entry in data/techniques/ says how to turn it on in each framework
("--kv-cache-dtype fp8", "OLLAMA_FLASH_ATTENTION=1", '"zero_optimization": {"stage": 2}'). Those switch strings are
read once into patterns, so a launch line, a ds_config.json or a values.yaml in the question names the techniques
that run. A switch shared by several techniques (``--quantization awq`` / ``gptq`` / ``fp8``) counts only with the
value that picks one of them; a switch set to an off value ("--kv-cache-dtype auto") names nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from agent.names import Mention

_FLAG = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?:[ =]+['\"]?([A-Za-z0-9][\w.]*))?")
_ENV = re.compile(r"\b([A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Z][A-Z0-9]{3,})=([\w.]+)")  # "OLLAMA_KV_CACHE_TYPE=q8_0", "QUANTIZE=awq"
_KEY = re.compile(r"\"?\b([a-z][a-z0-9]*_[a-z0-9_]+|stage|device)\"?\s*:\s*\"?([\w.-]+)\"?")
_CALL = re.compile(r"\b((?:torch|model|deepspeed)\.[a-z_][\w.]*[a-z])\(")
# a switch the catalog names as the way to turn something OFF ("--enforce-eager turns it off")
_TURNS_OFF = re.compile(r"^\s*turns (?:it )?off", re.I)
# side remarks in parentheses name prerequisites ("(with --tensor-model-parallel-size > 1)"), not the switch
_ASIDE = re.compile(r"\s\([^()]*\)")
# values that turn a switch off or leave it at the framework default
_OFF = {"auto", "none", "false", "0", "off", "no", "f16", "fp16", "bf16", "disable", "disabled"}
# a number picks the technique only for these keys ("stage": 2 is ZeRO-2); elsewhere it is a tuning parameter
_NUMBERED_KEYS = {"stage"}
_WORD = re.compile(r"[a-z][a-z0-9_]{2,}")


@dataclass(frozen=True)
class Switch:
    """One way to turn a technique on: a literal key, the value that picks it (None: any value but off), where it
    sits in the catalog's switch string, and the words of that string."""

    technique: str
    key: str
    value: str | None
    offset: int
    words: frozenset[str]


def _value(key: str, value: str | None) -> str | None:
    if value is None or (value.isdigit() and key not in _NUMBERED_KEYS):
        return None
    return value.lower()


def _switches_of(technique_id: str, text: str) -> list[Switch]:
    text = _ASIDE.sub("", text)
    words = frozenset(_WORD.findall(text.lower()))
    found = [(m.group(1), m.group(2), m.start(), m.end()) for m in _FLAG.finditer(text) if len(m.group(1).lstrip("-")) >= 2]
    found += [(m.group(1), m.group(2), m.start(), m.end()) for p in (_ENV, _KEY) for m in p.finditer(text)]
    found += [(m.group(1), None, m.start(), m.end()) for m in _CALL.finditer(text)]
    return [Switch(technique_id, key, _value(key, value), start, words) for key, value, start, end in found
            if not _TURNS_OFF.match(text[end:end + 20])]


def _pick(switches: list[Switch], value: str | None, following: str) -> str | None:
    """The technique one use of a switch names, or None when it stays ambiguous."""
    techniques = {s.technique for s in switches}
    by_value = {s.technique for s in switches if s.value and s.value == value}
    if len(by_value) == 1:
        return by_value.pop()
    if by_value:  # one value shared ("stage": 2 is ZeRO-2, and ZeRO-Offload with more keys): break the tie below
        switches = [s for s in switches if s.technique in by_value]
    elif len(techniques) == 1:
        return next(iter(techniques)) if any(s.value is None for s in switches) or value else None
    elif any(s.value for s in switches):
        return None  # a shared switch whose value picks nothing we know
    # several techniques share a bare switch: the one whose switch string's own words follow it, else the one whose
    # string says least beyond the switch (the generic technique), when that is unique
    own = {s.technique: s.words - frozenset().union(*(o.words for o in switches if o.technique != s.technique))
           for s in switches}
    shown = [t for t, w in own.items() if any(word in following for word in w)]
    if len(shown) == 1:
        return shown[0]
    first = min(s.offset for s in switches)
    primary = {s.technique for s in switches if s.offset == first}
    if len(primary) == 1:
        return primary.pop()
    fewest = min(len(own[t]) for t in primary)
    generic = [t for t in primary if len(own[t]) == fewest]
    return generic[0] if len(generic) == 1 else None


@dataclass
class SwitchIndex:
    """Switch key -> the switches that use it, over every technique's framework entries."""

    by_key: dict[str, list[Switch]]

    def __post_init__(self) -> None:
        # one pass over the text for every key (longest first, so "--tp" never cuts "--tp-size" short)
        keys = sorted(self.by_key, key=len, reverse=True)
        self._lower = {key.lower(): key for key in keys}
        self._pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, keys)) + r")(?![\w-])", re.I) if keys else None

    def find(self, text: str) -> list[Mention]:
        """Techniques whose switch appears in ``text``, each as a Mention over the switch's words."""
        out: list[Mention] = []
        if self._pattern is None:
            return out
        lowered = text.lower()
        for m in self._pattern.finditer(text):
            switches = self.by_key[self._lower[m.group(1).lower()]]
            after = re.match(r"[\"']?\s*[ =:]+\s*[\"']?([\w.-]+)", text[m.end():m.end() + 40])
            value = after.group(1).lower() if after else None
            if value in _OFF:
                continue
            technique = _pick(switches, value, lowered[m.end():m.end() + 80])
            if technique:
                out.append(Mention(technique, text[m.start():m.end() + (after.end() if after else 0)], m.start(), m.end()))
        return out


def build_switch_index(catalog: Any) -> SwitchIndex:
    """Read every technique's framework switch strings into one index."""
    by_key: dict[str, list[Switch]] = defaultdict(list)
    for technique_id, technique in catalog.techniques.items():
        for text in (getattr(technique, "frameworks", None) or {}).values():
            for switch in _switches_of(technique_id, str(text)):
                if switch not in by_key[switch.key]:
                    by_key[switch.key].append(switch)
    return SwitchIndex(dict(by_key))
