"""Find catalog GPU and model names inside free text (n-gram lookup over normalised aliases)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

# Prefixes people often drop when naming a GPU ("a 4090" for "GeForce RTX 4090").
_GPU_PREFIXES = ("nvidia", "geforce", "rtx", "amd", "instinct", "radeon", "tesla")
# Suffixes of a form factor; "H100" should still reach the default H100 entry.
_GPU_SUFFIXES = ("sxm5", "sxm4", "sxm", "pcie", "nvl", "80gb", "40gb", "24gb", "141gb", "192gb")

_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def normalise(name: str) -> str:
    """Lower-case and drop everything but letters and digits ("Llama-3 70B" -> "llama370b")."""
    return _NOT_ALNUM.sub("", name.lower())


@dataclass(frozen=True)
class Mention:
    """One catalog name found in a text: the id, the words that matched, and where."""

    item_id: str
    text: str
    start: int
    end: int


def _variants(name: str, strip_gpu_words: bool) -> list[str]:
    key = normalise(name)
    out = [key]
    if strip_gpu_words:
        for prefix in _GPU_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix) + 1:
                out.append(key[len(prefix):])
        for item in list(out):
            for suffix in _GPU_SUFFIXES:
                if item.endswith(suffix) and len(item) > len(suffix) + 1:
                    out.append(item[: -len(suffix)])
    return out


class NameIndex:
    """Aliases of one kind of catalog item (GPUs or models), normalised, for lookup in free text."""

    def __init__(self, items: dict[str, Any], strip_gpu_words: bool = False, max_words: int = 5) -> None:
        self.max_words = max_words
        self.exact: dict[str, str] = {}
        derived: dict[str, str] = {}
        for item_id, item in items.items():
            names = [item_id, getattr(item, "name", "") or "", *(getattr(item, "aliases", None) or [])]
            for name in names:
                variants = _variants(str(name), strip_gpu_words)
                self.exact.setdefault(variants[0], item_id)
                for v in variants[1:]:
                    derived.setdefault(v, item_id)
        for key, item_id in derived.items():
            self.exact.setdefault(key, item_id)
        self.exact.pop("", None)

    def lookup(self, words: str) -> str | None:
        """The id whose alias equals these words (normalised), trying a plural 's' off as well."""
        key = normalise(words)
        if key in self.exact:
            return self.exact[key]
        if key.endswith("s") and key[:-1] in self.exact:
            return self.exact[key[:-1]]
        return None

    def find(self, text: str) -> list[Mention]:
        """All non-overlapping mentions, longest match first, in text order."""
        tokens = [(m.group(0).rstrip(".-"), m.start(), m.start() + len(m.group(0).rstrip(".-"))) for m in _TOKEN_RE.finditer(text)]
        found: list[Mention] = []
        i = 0
        while i < len(tokens):
            hit = None
            for n in range(min(self.max_words, len(tokens) - i), 0, -1):
                start, end = tokens[i][1], tokens[i + n - 1][2]
                words = text[start:end]
                item_id = self.lookup(words)
                # one bare digit or letter is never a name on its own
                if item_id and len(normalise(words)) >= 2:
                    hit = Mention(item_id, words, start, end)
                    i += n
                    break
            if hit:
                found.append(hit)
            else:
                i += 1
        return found


def closest(name: str, candidates: Iterable[str], limit: int = 5) -> list[str]:
    """Closest candidate names to an unknown one (difflib ratio on normalised strings)."""
    import difflib

    pool = {normalise(c): c for c in candidates}
    keys = difflib.get_close_matches(normalise(name), list(pool), n=limit, cutoff=0.5)
    return [pool[k] for k in keys]
