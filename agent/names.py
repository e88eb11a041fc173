"""Find catalog GPU and model names inside free text (n-gram lookup over normalised aliases), the counts written
next to them, and kinds of GPU named without a model number ("a consumer GPU")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

# Prefixes people often drop when naming a GPU ("a 4090" for "GeForce RTX 4090").
_GPU_PREFIXES = ("nvidia", "geforce", "rtx", "amd", "instinct", "radeon", "tesla")
# Suffixes of a form factor; "H100" should still reach the default H100 entry.
_GPU_SUFFIXES = ("sxm5", "sxm4", "sxm", "pcie", "nvl", "80gb", "40gb", "24gb", "141gb", "192gb")

_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+]*")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
# a count glued to a name: "8xH100" -> "8x" + "H100", "H100x8" -> "H100" + "x8" (not "8x7B": a digit follows the x)
_GLUED_COUNT = re.compile(r"^(\d+[x×])(?=[A-Za-z])|(?<=\d)([x×]\d+)$")

# Counts people write as words ("two A100s", "a pair of H100s", "batch size of one").
NUM_WORDS = {"a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "pair": 2, "couple": 2, "three": 3, "four": 4,
             "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "sixteen": 16,
             "thirty-two": 32, "sixty-four": 64,
             # board and server words that count devices ("a dual-GPU box", "quad GH200 board")
             "dual": 2, "twin": 2, "quad": 4}


def word_number(word: str) -> int | None:
    """``"8"`` -> 8, ``"eight"`` -> 8, anything else -> None."""
    word = word.strip().lower()
    return int(word) if word.isdigit() else NUM_WORDS.get(word)


@dataclass(frozen=True)
class GpuClass:
    """A kind of GPU named without a model number ("a consumer GPU"), with the catalog names that stand for it."""

    label: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    caveat: str


# Checked in order: "a laptop with a consumer GPU" is a laptop part first.
# A GPU vendor named by its name or software stack ("our ROCm cluster", "a MacBook with MLX", "CUDA 12")
VENDOR_WORDS = {"amd": re.compile(r"\b(?:amd|rocm|instinct|radeon|hipblaslt)\b", re.I),
                "apple": re.compile(r"\b(?:apple (?:silicon|m\d)|mlx|macbook|mac studio|mac mini|mac pro)\b", re.I),
                "nvidia": re.compile(r"\b(?:nvidia|cuda)\b", re.I)}

GPU_CLASSES = (
    GpuClass("an AMD GPU", VENDOR_WORDS["amd"], ("MI300X", "MI325X"),
             "name the exact Instinct or Radeon part for exact numbers"),
    GpuClass("an Apple Mac", VENDOR_WORDS["apple"], ("M3 Max", "M2 Ultra", "M4 Max"),
             "name the chip (M2 Ultra, M3 Max, ...) for exact numbers"),
    GpuClass("a laptop GPU", re.compile(r"\blaptops?\b|\bnotebook (?:gpus?|pcs?|computers?)\b", re.I),
             ("RTX 3090", "RTX 4090"),
             "laptop parts usually have less memory and power than this, so treat the numbers as optimistic"),
    GpuClass("a consumer GPU", re.compile(r"\b(?:consumer|gaming|geforce|desktop|home)[\s-]*(?:grade[\s-]*)?"
                                        r"(?:gpus?|cards?|graphics cards?|rigs?|pcs?)\b", re.I),
             ("RTX 4090", "RTX 3090"), "name the exact card for exact numbers"),
    GpuClass("an older GPU", re.compile(r"\b(?:older|old|previous[\s-]gen(?:eration)?|last[\s-]gen(?:eration)?|legacy|"
                                     r"aging|ageing|pre[\s-]ampere)\s+(?:\w+\s+)?(?:gpus?|cards?|accelerators?|hardware)\b"
                                     r"|\bvolta\b", re.I),
             ("V100", "A100 40GB"), "older parts lack FP8 (and V100 lacks BF16); name the exact GPU for exact numbers"),
)


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

    def __init__(self, items: dict[str, Any], strip_gpu_words: bool = False, max_words: int = 6) -> None:
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
        # normalised key -> id or None, for the keys free text asks about again and again (bounded)
        self._seen: dict[str, str | None] = {}
        # every beginning of a key: a run of words that is no such beginning cannot grow into a name
        self.prefixes = {key[:j] for key in self.exact for j in range(1, len(key) + 1)}
        # text -> its mentions, for the last few texts (the reading and the answer look through one question often)
        self._found: dict[str, tuple[Mention, ...]] = {}

    def lookup(self, words: str) -> str | None:
        """The id whose alias equals these words (normalised)."""
        return self.lookup_key(normalise(words))

    def lookup_key(self, key: str) -> str | None:
        """The id for an already normalised key, remembered."""
        if key not in self._seen:
            if len(self._seen) > 50_000:
                self._seen.clear()
            self._seen[key] = self._match(key)
        return self._seen[key]

    def _match(self, key: str) -> str | None:
        """The id whose alias equals ``key``, trying a plural 's' off as well."""
        if key in self.exact:
            return self.exact[key]
        if key.endswith("s") and key[:-1] in self.exact:
            return self.exact[key[:-1]]
        return None

    def find(self, text: str) -> list[Mention]:
        """All non-overlapping mentions, longest match first, in text order; a match that a longer one starting
        inside it would overrun gives way ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B" is the distill, not R1)."""
        found = self._found.get(text)
        if found is None:
            if len(self._found) >= _TEXTS_KEPT:
                self._found.clear()
            found = self._found[text] = tuple(self._find(text))
        return list(found)

    def _find(self, text: str) -> list[Mention]:
        tokens, keys = _tokens(text)
        longest: dict[int, int] = {}

        def at(i: int) -> int:
            if i not in longest:
                # most words neither are a name nor begin one: no need to look further
                starts = self.could_grow(keys[i]) or self.lookup_key(keys[i])
                longest[i] = self._longest_at(text, tokens, keys, i) if starts else 0
            return longest[i]

        found: list[Mention] = []
        i = 0
        while i < len(tokens):
            n = at(i)
            if n and any(j + at(j) > i + n for j in range(i + 1, i + n)):
                n = 0
            if n:
                start, end = tokens[i][1], tokens[i + n - 1][2]
                found.append(Mention(self.lookup_key("".join(keys[i:i + n])), text[start:end], start, end))
                i += n
            else:
                i += 1
        return found

    def _longest_at(self, text: str, tokens: list[tuple[str, int, int]], keys: list[str], i: int) -> int:
        """How many tokens from ``i`` form the longest name (0: none)."""
        best, key = 0, ""
        for n in range(1, min(self.max_words, len(tokens) - i) + 1):
            key += keys[i + n - 1]
            # one bare digit or letter is never a name on its own, nor is "a 10" (an article and a number)
            if len(key) >= 2 and self.lookup_key(key) and not (
                    n > 1 and len(keys[i]) == 1 and keys[i].isalpha() and keys[i + 1][:1].isdigit()
                    and re.match(r"[A-Za-z]\s", text[tokens[i][1]:tokens[i + 1][1]])):
                best = n
            if not self.could_grow(key):
                break
        return best

    def could_grow(self, key: str) -> bool:
        """Whether more words after ``key`` could still make a name."""
        return key in self.prefixes


# how many texts an index remembers the mentions of
_TEXTS_KEPT = 16


@lru_cache(maxsize=32)
def _tokens(text: str) -> tuple[tuple[tuple[str, int, int], ...], tuple[str, ...]]:
    """The text's words (count glued to a name split off) with their spans, and each normalised; remembered for the
    last few texts, as every index (GPUs, models, frameworks, instances) and every reader looks through the same
    question."""
    tokens = tuple(piece for m in _TOKEN_RE.finditer(text) for piece in _split_glued(m.group(0).rstrip(".-"), m.start()))
    return tokens, tuple(normalise(t[0]) for t in tokens)


def _split_glued(token: str, start: int) -> list[tuple[str, int, int]]:
    """One token, or two when a count is glued to a name ("8xH100")."""
    m = _GLUED_COUNT.search(token)
    cut = (m.end() if m.group(1) else m.start()) if m else 0
    if not m or not re.search(r"[A-Za-z]", token[:cut] if m.group(2) else token[cut:]):
        return [(token, start, start + len(token))]
    return [(token[:cut], start, start + cut), (token[cut:], start + cut, start + len(token))]


def gpu_class(text: str, lookup: Any) -> tuple[str, str, GpuClass] | None:
    """The catalog GPU standing for a kind of GPU named in ``text``: (gpu id, words matched, class), or None.

    Args:
        lookup: maps a GPU name to its catalog id or None (``NameIndex.lookup``).
    """
    for cls in GPU_CLASSES:
        m = cls.pattern.search(text)
        if not m:
            continue
        for name in cls.names:
            gpu_id = lookup(name)
            if gpu_id:
                return gpu_id, m.group(0), cls
    return None


def closest(name: str, candidates: Iterable[str], limit: int = 5) -> list[str]:
    """Closest candidate names to an unknown one (difflib ratio on normalised strings)."""
    import difflib

    pool = {normalise(c): c for c in candidates}
    keys = difflib.get_close_matches(normalise(name), list(pool), n=limit, cutoff=0.5)
    return [pool[k] for k in keys]
