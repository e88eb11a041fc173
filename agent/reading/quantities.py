"""Read workload numbers out of text: prompt and output lengths, concurrent requests, request rate.

Lengths come in many styles ("8k", "128K", "131072", "100k-token", "~6k", "1,500", "512 in / 256 out",
"ISL 2048 OSL 128"); a number counting something else ("2 million documents", "50k users") is not a length.
"""

from __future__ import annotations

import re

from agent.names import NUM_WORDS, word_number
from agent.reading.findings import Found

# number with optional k/m suffix: "8k", "128K", "1.5k", "8,192", "1M"
# "20 000 tokens": digits grouped by spaces, only right before a token unit
_NUM = r"~?\s?(\d{1,3}(?: \d{3})+(?=\s*(?:tokens?|toks?)\b)|\d+(?:[.,]\d+)*\s?[kKmM]?)\b"
# what a number counts when it is not tokens
_NOT_TOKENS = r"(?!\s*(?:million|billion|thousand|[kmb]?\s*(?:users|docs|documents|requests|records|rows|files|pages|"\
              r"samples|examples|params|parameters|gb|gib|mb|tb|ms|sec|seconds|s\b|%|x\b|times|gpus?|nodes?|images|"\
              r"queries|customers|people|employees|calls)))"


def parse_count(text: str) -> int | None:
    """Parse "8k" -> 8192, "1.5k" -> 1536, "8,000" -> 8000, "1M" -> 1048576 (token counts are binary k)."""
    s = text.strip().lstrip("~").replace(" ", "").lower()
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


_UNIT = r"(?:tokens?|toks?)"
# "512 in / 256 out", "ISL 2048 OSL 128", "ISL/OSL 1024/256", "in/out 2k/256", "input 2k, output 500"
_PAIRS = [
    re.compile(_NUM + r"\s*" + _UNIT + r"?\s*(?:in|input|prompt|isl)\s*(?:[/,;]|and|\+|->|→)?\s*" + _NUM + r"\s*" + _UNIT
               + r"?\s*(?:of\s+\w+\s+)?(?:out|output|generated|gen|generation|osl|completion)\b", re.I),
    # "in 400 / out 8", "in ~250 tok / out 3 tok", "input 2k, output 500"
    re.compile(r"\b(?:in|input|isl)\s*[:=]?\s*" + _NUM + r"\s*" + _UNIT + r"?\s*(?:[/,;]|and)\s*(?:out|output|osl)\s*[:=]?\s*"
               + _NUM, re.I),
    re.compile(r"\b(?:isl|input|in|prompt)\s*/\s*(?:osl|output|out|gen(?:eration)?)\s*(?:lengths?)?\s*(?:of|=|:|is)?\s*"
               + _NUM + r"\s*/\s*" + _NUM, re.I),
    re.compile(r"\b(?:isl|input(?: length)?|input seq(?:uence)? len(?:gth)?)\s*(?:of|=|:|is|~)?\s*" + _NUM + _NOT_TOKENS
               + r"\s*" + _UNIT + r"?[\s,;/and]*(?:osl|output(?: length)?|output seq(?:uence)? len(?:gth)?)\s*(?:of|=|:|is|~)?\s*"
               + _NUM + _NOT_TOKENS, re.I),
]
# a bare pair of lengths, "2k/512", "1k/1k", "2k-512": at least one side carries a k, or both are lengths-like
_BARE_PAIR = re.compile(r"(?<![\w.=/-])(\d+(?:[.,]\d+)?[kK]|\d{3,6})\s?[/-]\s?(\d+(?:[.,]\d+)?[kK]|\d{2,6})(?![\w/-]|\.\w)"
                        r"(?!\s*(?:gb|gib|ms|s\b|%|gpus?|nodes?|cards?|users|tok))", re.I)
_PROMPT_PATTERNS = [
    # "80k prompts of ~600 tokens", "prompts ~1k": the length said after the word (the number before it may count them)
    re.compile(r"\bprompts?\s+(?:of\s+|are\s+|is\s+|~|about\s+|around\s+|ca\.?\s+|averag\w*\s+)+" + _NUM
               + r"(?:\s*" + _UNIT + r")?(?!\s*(?:gb|ms|s\b|%|x\b|users|requests))", re.I),
    re.compile(_NUM + r"[\s-]*(?:" + _UNIT + r"[\s-]*)?(?:long[\s-]*)?(?:of\s+)?(?:prompts?|contexts?|inputs?|context windows?|"
               r"sequences?|ctx|system prompts?|input sequences?)\b", re.I),
    re.compile(_NUM + r"[\s-]*" + _UNIT + r"[\s-]*(?:long[\s-]*)?(?:documents?|articles?|files?|transcripts?|pdfs?|"
               r"reports?|chats?|conversations?|histor(?:y|ies)|codebases?|repos?)\b", re.I),
    re.compile(r"\b(?:prompts?|contexts?|inputs?|sequence length|seq(?:uence)?[\s_]len(?:gth)?|context length|ctx|"
               r"max_model_len|context window)\s*(?:length\s*)?(?:of|=|:|is|are|around|about|~|up to|roughly|averag\w*|"
               r"typically|usually|\s)*\s*" + _NUM + _NOT_TOKENS, re.I),
]
_OUTPUT_PATTERNS = [
    re.compile(_NUM + r"[\s-]*(?:" + _UNIT + r"[\s-]*)?(?:of\s*)?(?:outputs?|generated|generations?|completions?|responses?|"
               r"new tokens|answers?|decode|replies|summar(?:y|ies))\b", re.I),
    re.compile(r"\b(?:outputs?|generat\w*|completions?|responses?|answers?|replies|max_new_tokens|max_tokens|decode)\s*"
               r"(?:length\s*)?(?:of|=|:|is|are|around|about|~|up to|roughly|typically|usually|\s)*\s*" + _NUM
               + _NOT_TOKENS + r"(?:\s*(?:new\s*)?" + _UNIT + r")?", re.I),
    re.compile(_NUM + r"\s*(?:new\s*)?(?:output\s*)?" + _UNIT + r"?\s*(?:out\b(?! of)|of output)", re.I),
    # "outputs are long (~8k)", "each answer (~200 tokens)", "thinks for ~3000 tokens", "summary ~150"
    re.compile(r"\b(?:outputs?|generations?|completions?|responses?|answers?|replies|reasoning(?: traces?)?|thinks?(?: for)?|"
               r"thinking|summar(?:y|ies)|gen)\b[^.;?!\d]{0,28}?" + _NUM + _NOT_TOKENS, re.I),
    re.compile(_NUM + r"\s*" + _UNIT + r"\s*(?:per|each|an?|of)\s*(?:answer|response|output|completion|reply|generation)",
               re.I),
    # "about 20 seconds for 400 tokens": a time for that many generated tokens
    re.compile(r"\b(?:seconds?|secs?|s|ms|minutes?)\s+for\s+(?:about\s+|~)?" + _NUM + r"\s*" + _UNIT, re.I),
]
_BARE_TOKENS = re.compile(_NUM + r"[\s-]*" + _UNIT + r"\b", re.I)
# a count in digits or words; "a"/"an" alone is not a count of users ("a user asked")
_COUNT = r"(\d+|" + "|".join(w for w in NUM_WORDS if w not in ("a", "an", "pair", "couple")) + r")"
_PER_TIME = r"(?:per|/|an?|each|every)\s*(?:second|sec|s|minute|min|hour|hr|h|day|week|month)\b|daily|monthly|weekly"
_BATCH_PATTERNS = [
    re.compile(r"\b" + _COUNT + r"[\s-]*(?:concurrent|simultaneous|parallel|active|in[\s-]flight)?[\s-]*(?:users?|requests?|"
               r"sessions?|streams?|clients?|conversations?|sequences?|chats?|seqs|slots?|agents?|workers?)\b"
               r"(?!\s*(?:" + _PER_TIME + "))", re.I),
    re.compile(r"\b(?:batch(?:[\s-]*size)?|bs|max[_-]num[_-]seqs|max[\s_-]batch(?:[\s_-]size)?)\s*(?:of|=|:|is|at)?\s*" + _COUNT
               + r"\b", re.I),
    re.compile(r"\b(?:concurren(?:cy|t)|parallelism of|in[\s-]flight)\s*(?:of|=|:|is|at|level)?\s*" + _COUNT + r"\b", re.I),
    # "about 30 analysts using it concurrently", "when 5 people use it at the same time"
    re.compile(r"\b" + _COUNT + r"\s+(?:people|persons|analysts|engineers|developers|colleagues|students|agents|employees|"
               r"users|members)\b[^.;?!]{0,30}?\b(?:concurrently|simultaneously|at the same time|at once|in parallel)\b", re.I),
    re.compile(r"\b" + _COUNT + r"\s*(?:concur\w*|in[\s-]flight|at a time|at once|parallel)\b", re.I),
    re.compile(r"\bc\s*=\s*(\d+)\b", re.I),
    # no number at all, but the load is one request at a time
    re.compile(r"\b(?:no|without) batching\b|\bunbatched\b|\bone at a time\b|\bjust (?:for )?(?:me|myself)\b|"
               r"\bfor myself\b|\bsingle[\s-](?:user|stream)\b|\bonly me\b",
               re.I),
]
_RATE = r"(\d+(?:,\d{3})*(?:\.\d+)?\s?[kK]?)"
_QPS_PATTERNS = [  # (pattern, seconds per unit of time)
    (re.compile(_RATE + r"\s*(?:qps|rps|req(?:uest)?s?\s*(?:per|/|an?)\s*(?:second|sec|s)\b|queries per second)", re.I), 1.0),
    (re.compile(r"\b(?:qps|rps|requests per second|request rate)\s*(?:of|=|:|is|at|around|about|~|>=|≥|peaks? at)?\s*" + _RATE,
                re.I), 1.0),
    (re.compile(_RATE + r"\s*(?:req(?:uest)?s?|queries|calls)\s*(?:per|/|an?)\s*min(?:ute)?\b", re.I), 60.0),
    (re.compile(_RATE + r"\s*(?:req(?:uest)?s?|queries|calls)\s*(?:per|/|an?)\s*(?:hour|hr|h)\b", re.I), 3600.0),
]


def _rate(text: str) -> float:
    text = text.strip().lower().replace(",", "")
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)


def _search_int(patterns: list[re.Pattern[str]], text: str) -> tuple[int | None, str]:
    for pattern in patterns:
        for m in pattern.finditer(text):
            # a pattern without a number group means exactly one ("no batching")
            value = (parse_count(m.group(1)) or word_number(m.group(1))) if pattern.groups else 1
            if value:
                return value, m.group(0)
    return None, ""


def find_quantities(text: str, found: Found) -> None:
    """Put prompt_tokens, output_tokens, batch and qps stated in ``text`` into ``found``."""
    for pattern in _PAIRS:
        m = pattern.search(text)
        if m and parse_count(m.group(1)) and parse_count(m.group(2)):
            found.put("prompt_tokens", parse_count(m.group(1)), m.group(0))
            found.put("output_tokens", parse_count(m.group(2)), m.group(0))
            break
    if "prompt_tokens" not in found.values:
        pair = _BARE_PAIR.search(text)
        if pair and parse_count(pair.group(1)) and parse_count(pair.group(2)) and (
                "k" in pair.group(0).lower() or min(parse_count(pair.group(1)), parse_count(pair.group(2))) >= 64):
            found.put("prompt_tokens", parse_count(pair.group(1)), pair.group(0))
            found.put("output_tokens", parse_count(pair.group(2)), pair.group(0))
    for name, patterns in (("output_tokens", _OUTPUT_PATTERNS), ("prompt_tokens", _PROMPT_PATTERNS),
                           ("batch", _BATCH_PATTERNS)):
        if name not in found.values:
            value, ev = _search_int(patterns, text)
            if name == "prompt_tokens" and value is not None and value == found.values.get("output_tokens") \
                    and ev.strip() in found.evidence.get("output_tokens", ""):
                continue
            found.put(name, value, ev)
    if "prompt_tokens" not in found.values:
        bare = [m for m in _BARE_TOKENS.finditer(text) if parse_count(m.group(1)) != found.values.get("output_tokens")]
        if bare:
            found.put("prompt_tokens", parse_count(bare[0].group(1)), bare[0].group(0))
    for pattern, per_s in _QPS_PATTERNS:
        qps = pattern.search(text)
        if qps:
            found.put("qps", round(_rate(qps.group(1)) / per_s, 3), qps.group(0))
            break
