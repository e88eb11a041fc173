"""Read workload numbers out of text: prompt and output lengths, concurrent requests, request rate."""

from __future__ import annotations

import re

from agent.findings import Found
from agent.names import NUM_WORDS, word_number

# number with optional k/m suffix: "8k", "128K", "1.5k", "8,192", "1M"
_NUM = r"(\d+(?:[.,]\d+)*\s?[kKmM]?)\b"


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


def _search_int(patterns: list[re.Pattern[str]], text: str) -> tuple[int | None, str]:
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            # a pattern without a number group means exactly one ("no batching")
            value = (parse_count(m.group(1)) or word_number(m.group(1))) if pattern.groups else 1
            if value:
                return value, m.group(0)
    return None, ""


def find_quantities(text: str, found: Found) -> None:
    """Put prompt_tokens, output_tokens, batch and qps stated in ``text`` into ``found``."""
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
