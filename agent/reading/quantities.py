"""Read workload numbers out of text: prompt and output lengths, concurrent requests, request rate.

Lengths come in many styles ("8k", "128K", "131072", "100k-token", "~6k", "1,500", "512 in / 256 out",
"ISL 2048 OSL 128", "ca. 500", "~40 tokens each in and out", "4k in"); a number counting something else ("2 million
documents", "50k users") is not a length. Settings pasted from configs, launch flags, env vars and tool output
("--output-tokens-mean 300", "OLLAMA_NUM_PARALLEL=6", "eval count: 412 token(s)") are read by their key.
"""

from __future__ import annotations

import re
from typing import Any

from agent.names import NUM_WORDS, word_number
from agent.reading.findings import Found
from agent.reading.scope import sentence_start

# number with optional k/m suffix: "8k", "128K", "1.5k", "8,192", "1M"
# "20 000 tokens": digits grouped by spaces, only right before a token unit; never a part of a longer number
_NUM = r"~?\s?(\d{1,3}(?: \d{3})+(?=\s*(?:tokens?|toks?)\b)|\d+(?:[.,]\d+)*\s?[kKmM]?)\b(?![.,]\d)"
# what a number counts when it is not tokens (or a rate of them: "1820 tok/s")
_NOT_TOKENS = r"(?!\s*(?:tok(?:en)?s?\s*/\s*s|t/s\b|tps\b|tokens? per sec|million|billion|thousand|"\
              r"[kmb]?\s*(?:users|docs|documents|requests|records|rows|files|pages|"\
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
# after a count's noun: "output tokens/s" makes it a rate
_NOT_RATE = r"(?!\s*(?:tokens?|toks?)?\s*(?:/\s*s(?:ec)?\b|per\s+sec))"
# "1 prompt at a time", "4 prompts in parallel": the figure counts prompts, it is no length
_NOT_AT_ONCE = r"(?!\s+(?:at a time|at once|in parallel|concurrently|in flight)\b)"
# words that say a length after them is rounded: "output ca. 500", "input is approx. 6k"
_ABOUT = r"around|about|~|roughly|ca\.|circa|approx\.?|approximately"
# "512 in / 256 out", "ISL 2048 OSL 128", "ISL/OSL 1024/256", "in/out 2k/256", "input 2k, output 500"
_PAIRS = [
    re.compile(_NUM + r"\s*" + _UNIT + r"?\s*(?:[a-z]+\s+)?(?:in|input|prompt|isl)\s*(?:[/,;]|and|\+|->|"
                                       r"→)?\s*" + _NUM + r"\s*" + _UNIT
               + r"?\s*(?:of\s+\w+\s+)?(?:out|output|generated|gen|generation|osl|completion)\b", re.I),
    # "in 400 / out 8", "in ~250 tok / out 3 tok", "input 2k, output 500", "in=2048 out=256"
    re.compile(r"\b(?:in|inputs?|isl|prompts?)\s*[:=]?\s*" + _NUM + r"\s*" + _UNIT + r"?\s*(?:[/,;]|and)?\s*"
               r"(?:out|outputs?|osl|completions?)\s*[:=]?\s*"
               + _NUM, re.I),
    re.compile(r"\b(?:isl|input|in|prompt)\s*/\s*(?:osl|output|out|gen(?:eration)?)\s*(?:lengths?)?\s*(?:of|=|:|is)?\s*"
               + _NUM + r"\s*/\s*" + _NUM, re.I),
    re.compile(r"\b(?:isl|input(?: length)?|input seq(?:uence)? len(?:gth)?)\s*(?:of|=|:|is|~)?\s*" + _NUM + _NOT_TOKENS
               + r"\s*" + _UNIT + r"?[\s,;/and]*(?:osl|output(?: length)?|output seq(?:uence)? len(?:gth)?)\s*(?:of|=|:|is|~)?\s*"
               + _NUM + _NOT_TOKENS, re.I),
]
# one length for both sides: "~40 tokens each in and out", "300 tok in/out" (the words are looked for first: cheaper)
_BOTH_WORDS = ("in and out", "in/out", "input and output", "both ways")
_BOTH_WAYS = re.compile(_NUM + r"\s*" + _UNIT + r"?\s*(?:each\s+)?(?:in and out|in/out|input and output|"
                        r"for (?:both )?(?:the )?input and (?:the )?output|both ways)\b", re.I)
# a bare pair of lengths, "2k/512", "1k/1k", "2k-512": at least one side carries a k, or both are lengths-like
_BARE_PAIR = re.compile(r"(?<![\w.=/-])(\d+(?:[.,]\d+)?[kK]|\d{3,6})\s?[/-]\s?(\d+(?:[.,]\d+)?[kK]|\d{2,6})(?![\w/-]|\.\w)"
                        r"(?!\s*(?:gb|gib|ms|s\b|%|gpus?|nodes?|cards?|users|tok))", re.I)
_PROMPT_PATTERNS = [
    # "80k prompts of ~600 tokens", "prompts ~1k": the length said after the word (the number before it may count them)
    re.compile(r"\bprompts?\s+(?:of\s+|are\s+|is\s+|~|about\s+|around\s+|ca\.?\s+|averag\w*\s+)+" + _NUM
               + r"(?:\s*" + _UNIT + r")?(?!\s*(?:gb|ms|s\b|%|x\b|users|requests))", re.I),
    re.compile(_NUM + r"[ \t-]*(?:" + _UNIT + r"[ \t-]*)?(?:long[ \t-]*)?(?:of\s+)?(?:prompts?|contexts?|inputs?|context windows?|"
               r"sequences?|ctx|system prompts?|input sequences?|seq(?:uence)?[ \t_-]?len(?:gth)?s?|seqlen)\b" + _NOT_RATE
               + _NOT_AT_ONCE, re.I),
    re.compile(_NUM + r"[\s-]*" + _UNIT + r"[\s-]*(?:long[\s-]*)?(?:documents?|articles?|files?|transcripts?|pdfs?|"
               r"reports?|chats?|conversations?|histor(?:y|ies)|codebases?|repos?)\b", re.I),
    re.compile(r"\b(?:prompts?|contexts?|inputs?|sequence length|seq(?:uence)?[\s_]len(?:gth)?|seq(?=\s+\d)|context length|ctx|"
               r"max_model_len|context window)\s*(?:len(?:gth)?\s*)?(?:of|=|:|is|are|" + _ABOUT + r"|up to|averag\w*|"
               r"typically|usually|\s)*\s*" + _NUM + _NOT_TOKENS, re.I),
    # "32 concurrent, 4k in.": "in" closes the clause, so it is the input length ("4k in production" is not)
    re.compile(_NUM + r"\s*(?:" + _UNIT + r"\s*)?(?:in|input)(?=\s*(?:[.,;)]|$))", re.I),
]
_OUTPUT_PATTERNS = [
    # the number and its noun on one line ("61.0\nOutput ..." is two rows of a log); "1587 output tokens/s" is a rate
    re.compile(_NUM + r"(?:[ \t]|-(?!-))*(?:" + _UNIT + r"[ \t-]*)?(?:of\s*)?(?:outputs?|generated|generations?|completions?|"
               r"responses?|new tokens|answers?|decode|replies|summar(?:y|ies))\b" + _NOT_RATE, re.I),
    re.compile(r"\b(?:outputs?|generat\w*|completions?|responses?|answers?|replies|summar(?:y|ies)|max_new_tokens|max_tokens|"
               r"decode)\s*"
               r"(?:len(?:gth)?\s*)?(?:of|=|:|is|are|an?\b|" + _ABOUT + r"|up to|typically|usually|\s)*\s*" + _NUM
               + _NOT_TOKENS + r"(?:\s*(?:new\s*)?" + _UNIT + r")?", re.I),
    re.compile(_NUM + r"\s*(?:new\s*)?(?:output\s*)?" + _UNIT + r"?\s*(?:out\b(?! of)|of output)", re.I),
    # "outputs are long (~8k)", "each answer (~200 tokens)", "thinks for ~3000 tokens", "summary ~150"
    re.compile(r"\b(?:outputs?|generations?|completions?|responses?|answers?|repl(?:y|ies)|"
               r"reasoning(?: traces?)?|thinks?(?: for)?|"
               r"thinking|summary|gen|generat\w*)\b(?:[^.;?!\d]|\b(?:ca|approx)\.){0,28}?" + _NUM + _NOT_TOKENS, re.I),
    re.compile(_NUM + r"\s*" + _UNIT + r"\s*(?:per|each|an?|of)\s*(?:answer|response|output|completion|reply|generation)",
               re.I),
    # what is generated, named after its length: "a 2k-token report", "the full 60-token plan", "~150 tokens of JSON",
    # "a 100-token reply"
    re.compile(_NUM + r"[\s-]*(?:tokens?|toks?)[\s-]+(?:[\w-]+[\s-]+)?(?:reports?|repl(?:y|ies)|answers?|plans?|lines?|"
               r"memos?|summar(?:y|ies)|responses?|completions?|outputs?|paragraphs?|emails?|messages?|drafts?|stories|"
               r"story|verdicts?)\b(?!\s*(?:per|/)\s*(?:s|sec|second)\b)", re.I),
    re.compile(r"\b(?:producing|produces?|generat\w*|writ(?:es?|ing)|emit\w*|returns?|returning)\s+(?:about |around |~|"
               r"roughly )?" + _NUM + r"\s*(?:tokens?|toks?)\b", re.I),
    re.compile(_NUM + r"\s*(?:tokens?|toks?)\s+of\s+(?:json|text|output|code|summary|markdown|prose)\b", re.I),
    re.compile(_NUM + r"\s*(?:tokens?|toks?)\s+from\s+(?:an?|the|each)\s+[~≈]?\s?\d", re.I),
    # "an NPC line (~60 tokens)": what is generated, its length in brackets after it
    re.compile(r"\b(?:repl(?:y|ies)|answers?|lines?|reports?|summar(?:y|ies)|responses?|completions?|messages?|outputs?|"
               r"memos?|labels?)\s*\(\s*(?:about\s+|around\s+)?" + _NUM + r"\s*(?:tokens?|toks?)\s*(?:each\s*)?\)", re.I),
    # "about 20 seconds for 400 tokens": a time for that many generated tokens
    re.compile(r"\b(?:seconds?|secs?|s|ms|minutes?)\s+for\s+(?:about\s+|~)?" + _NUM + r"\s*" + _UNIT, re.I),
]
# "790 tokens/sec" is a rate, not a length
_BARE_TOKENS = re.compile(_NUM + r"[\s-]*" + _UNIT + r"\b(?!\s*(?:/|per)\s*s)", re.I)

# Settings read by their key in a config, a launch flag, an env var or a tool's output (keys lower-case, words joined
# by "_"; "-", "_" and a space are the same when read). EXACT keys give the workload's figure itself (a benchmark's
# mean lengths, the counts a run printed) and win over the prose; CAP keys give an upper bound, read only when the
# prose states nothing for that field.
_SETTINGS_EXACT = {
    "synthetic_input_tokens_mean": "prompt_tokens", "input_tokens_mean": "prompt_tokens",
    "random_input_len": "prompt_tokens", "random_input": "prompt_tokens",
    "input_len": "prompt_tokens", "prompt_eval_count": "prompt_tokens", "prompt_tokens": "prompt_tokens",
    "input_tokens": "prompt_tokens",
    "output_tokens_mean": "output_tokens", "random_output_len": "output_tokens", "random_output": "output_tokens", "output_len": "output_tokens",
    "eval_count": "output_tokens", "output_tokens": "output_tokens", "completion_tokens": "output_tokens",
    "concurrency": "batch", "max_concurrency": "batch",
}
_SETTINGS_CAP = {
    "max_tokens": "output_tokens", "max_new_tokens": "output_tokens", "max_completion_tokens": "output_tokens",
    "max_model_len": "prompt_tokens", "max_input_tokens": "prompt_tokens", "max_input_length": "prompt_tokens",
    "max_input_len": "prompt_tokens",
    "max_num_seqs": "batch", "ollama_num_parallel": "batch", "num_parallel": "batch", "max_batch_size": "batch",
    "max_concurrent_requests": "batch", "max_running_requests": "batch",
}


def _setting_pattern(keys: dict[str, str]) -> re.Pattern[str]:
    """``--key 48``, ``KEY=48``, ``key: 48``, ``"key": 48`` for every key (longest first, so "prompt eval count" is not
    read as "eval count")."""
    spelled = "|".join(r"[\s_-]".join(map(re.escape, key.split("_"))) for key in sorted(keys, key=len, reverse=True))
    return re.compile(r"(?<![\w-])-{0,2}(" + spelled + r")[\"']?\s*[=:]?\s*[\"']?(\d+(?:[.,]\d+)*\s?[kK]?)\b", re.I)


_SETTING_EXACT = _setting_pattern(_SETTINGS_EXACT)
_SETTING_CAP = _setting_pattern(_SETTINGS_CAP)


def _read_settings(pattern: re.Pattern[str], keys: dict[str, str], text: str, found: Found) -> None:
    """Put each field a setting names, unless something read before already gave it."""
    for m in pattern.finditer(text):
        name = keys[re.sub(r"[\s-]", "_", m.group(1).lower())]
        value = parse_count(m.group(2))
        if value and name not in found.values:
            found.put(name, value, m.group(0))
# a count in digits or words; "a"/"an" alone is not a count of users ("a user asked")
_COUNT = r"(\d+|" + "|".join(w for w in NUM_WORDS if w not in ("a", "an", "pair", "couple")) + r")"
# ...or in thousands, as loads are said at scale ("hold 20k concurrent users")
_COUNT_K = r"(\d+(?:\.\d+)?\s?[kK]\b|\d+|" + "|".join(w for w in NUM_WORDS if w not in ("a", "an", "pair", "couple")) + r")"
_PER_TIME = r"(?:per|/|an?|each|every)\s*(?:second|sec|s|minute|min|hour|hr|h|day|week|month)\b|daily|monthly|weekly"
_BATCH_PATTERNS = [
    # a trainer's per-device key: "per_device_train_batch_size=4", "train_micro_batch_size_per_gpu: 2"
    re.compile(r"\b(?:per_device_(?:train_)?batch_size|train_micro_batch_size_per_gpu)(?:\s*[:=]\s*|\s+)(\d+)\b", re.I),
    re.compile(r"\b" + _COUNT_K + r"[\s-]*(?:concurrent|simultaneous|parallel|active|in[\s-]flight)?[\s-]*(?:users?|requests?|"
               r"sessions?|streams?|clients?|conversations?|sequences?|chats?|seqs|slots?|agents?|workers?)\b"
               r"(?!\s*(?:" + _PER_TIME + "))", re.I),
    re.compile(r"\b(?:batch(?:es)?(?:[\s-]*size)?|bs|max[_-]num[_-]seqs|max[\s_-]batch(?:[\s_-]size)?)"
               r"(?:\s+(?:in practice|usually|typically|today|now|currently|on average|mostly|normally|in prod\w*))?"
               r"\s*(?:of|=|:|is|at)?\s*(?:~\s?|about |around |roughly |approx\w*\.? )?" + _COUNT + r"\b", re.I),
    # a count after its key as logs and tickets print it: "conc 128", "active requests 256", "running seqs: 12"
    re.compile(r"\b(?:conc|(?:active|running|concurrent)[\s_](?:requests|users|sessions|seqs|sequences))\s*[:=]?\s*(\d+)\b",
               re.I),
    re.compile(r"\b(?:concurren(?:cy|t)(?:\s+(?:users|requests|sessions|streams|clients|sequences|seqs))?|parallelism of|"
               r"in[\s-]flight)\s*(?:of|=|:|is|at|level)?\s*(?:about |around |roughly |~\s?)?" + _COUNT + r"\b", re.I),
    # "about 30 analysts using it concurrently", "when 5 people use it at the same time"
    re.compile(r"\b" + _COUNT + r"\s+(?:people|persons|analysts|engineers|developers|colleagues|students|agents|employees|"
               r"users|members|students|agents)\b[^.;?!]{0,48}?\b(?:concurrently|simultaneously|at the same time|at once|"
               r"in parallel|(?:in |at )?(?:the )?same time)\b", re.I),
    # a key and its count: "users: 3", "concurrent_users=12"
    re.compile(r"\b(?:concurrent[_ ]?)?users\s*[:=]\s*(\d+)\b", re.I),
    re.compile(r"\b" + _COUNT + r"\s*(?:(?:prompts?|requests?|queries|questions|jobs|documents|docs|items|inputs|samples)\s+)?"
               r"(?:concur\w*|in[\s-]flight|at a time|at once|parallel)\b", re.I),
    re.compile(r"\bc\s*=\s*(\d+)\b", re.I),
    # no number at all, but the load is one request at a time
    re.compile(r"\b(?:no|without) batching\b|\bunbatched\b|\bone (?:\w+ )?at a time\b|\bjust (?:for )?(?:me|myself)\b|"
               r"\bfor myself\b|\bsingle[\s-](?:user|stream)\b|\bonly me\b|\b(?:for )?me alone\b|\bby myself\b|\bthe only user\b",
               re.I),
]
# the writer and a few others: "only me and one colleague", "me plus 3 teammates" (the count leaves the writer out)
_ME_AND = re.compile(r"\b(?:me|myself)\s+(?:and|plus|\+)\s+" + _COUNT + r"\s+(?:other\s+)?(?:colleagues?|co-?workers?|"
                     r"teammates?|others?|people|friends?|users?|devs?|developers?|engineers?)\b", re.I)
_RATE = r"(\d+(?:,\d{3})*(?:\.\d+)?\s?[kK]?)"
_QPS_PATTERNS = [  # (pattern, seconds per unit of time)
    (re.compile(_RATE + r"\s*(?:qps|rps|req(?:uest)?s?\s*(?:per|/|an?)\s*(?:second|sec|s)\b|queries per second)", re.I), 1.0),
    (re.compile(r"\b(?:qps|rps|requests per second|request rate)\s*(?:of|=|:|is|at|around|about|~|>=|≥|peaks? at)?\s*" + _RATE,
                re.I), 1.0),
    (re.compile(_RATE + r"\s*(?:(?:req(?:uest)?s?|queries|calls)\s*(?:per|/|an?)\s*min(?:ute)?\b|rpm\b|qpm\b)", re.I), 60.0),
    (re.compile(_RATE + r"\s*(?:req(?:uest)?s?|queries|calls)\s*(?:per|/|an?)\s*(?:hour|hr|h)\b", re.I), 3600.0),
]


def _rate(text: str) -> float:
    text = text.strip().lower().replace(",", "")
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)


# a count right after a model family's name belongs to the name ("the llama 2 chat model"), not to a load
_AFTER_FAMILY = re.compile(r"\b(?:llama|qwen|gemma|phi|mistral|mixtral|falcon|gpt|yi|deepseek|glm|olmo|opt|bloom|mpt)"
                           r"[\s-]?(?:\d(?:\.\d)?[\s-]?)?$", re.I)
# the sentence before a count asks for that load ("want it to hold 64 users", "so the same cards handle ~180 users")
_LOAD_WISH = re.compile(r"\b(?:want|need|should|must|target|goal|hold|handle|support|scale|grow|expect|aim|plan)\w*\b",
                        re.I)
# ... unless the words between say it is today's load ("meets its target today at ~60 users")
_LOAD_NOW = re.compile(r"\b(?:today|now|currently|at the moment|right now)\b", re.I)


def _load_count(words: str) -> int | None:
    """A count of users or requests: "20k" is 20,000 (a token length's k is 1,024), else digits or words."""
    if words[-1:] in "kK":
        return round(float(words[:-1].strip()) * 1000)
    return parse_count(words) or word_number(words)


# training: the batch per optimizer step, stated outright ("global batch is 256", "global_batch_size=512")
_GLOBAL_BATCH = re.compile(r"\b(?:global[\s_-]*batch(?:[\s_-]*size)?|gbs|global)\s*(?:of|=|:|is|at|was)?\s*(?:~\s?|about |around )?"
                           r"(\d+)\b", re.I)
_ACCUMULATION = re.compile(r"\b(?:(?:gradient|grad)[\s_-]*)?accum\w*(?:[\s_-]*steps?)?\s*(?:of|=|:|is|at)?\s*(\d+)\b", re.I)
_PER_DEVICE_KEY = re.compile(r"per[\s_-]*(?:device|gpu)", re.I)  # the evidence of a per-device key
_PER_DEVICE = re.compile(r"\s*(?:per|/|a|each|on each|in each)\s*(?:gpu|card|device)\b", re.I)


def _batch(text: str, found: Found) -> tuple[int | None, str]:
    """The load in requests at once: the first count the patterns find, unless a later sentence wishes for another
    ("fine with one user ... want it to hold 64 users"); a number inside a model's name is not a count."""
    counts: list[tuple[int, str, bool, int]] = []  # value, words, wished, where the words end
    for pattern in _BATCH_PATTERNS:
        for m in pattern.finditer(text):
            value = _load_count(m.group(1)) if pattern.groups else 1
            if not value:
                continue
            if pattern.groups and (found.inside_name(m.start(1), m.end(1))
                                   or _AFTER_FAMILY.search(text, max(0, m.start(1) - 12), m.start(1))):
                continue
            before = text[sentence_start(text, m.start()):m.start()]
            wish = None
            for wish in _LOAD_WISH.finditer(before):
                pass
            counts.append((value, m.group(0), wish is not None and not _LOAD_NOW.search(before, wish.end()), m.end()))
    global_batch = _GLOBAL_BATCH.search(text)
    if global_batch:  # "micro batch 2 per card ... so global batch is 256", "GBS 512": the global figure is the batch
        return int(global_batch.group(1)), global_batch.group(0)
    if not counts:
        return None, ""
    wished = [c for c in counts if c[2] and c[0] > 1]
    value, evidence, _, end = wished[-1] if wished and wished[-1][0] != counts[0][0] else counts[0]
    per_device = _PER_DEVICE.match(text, end) or _PER_DEVICE_KEY.search(evidence)
    # a load per GPU ("batch 256 per GPU" on 8 GPUs) is that many on each: the whole load is their sum
    if per_device and found.values.get("gpu_count", 1) > 1:
        value *= found.values["gpu_count"]
    accumulation = _ACCUMULATION.search(text)
    if per_device and accumulation:  # each optimizer step sums that many micro-batches on every GPU
        value *= int(accumulation.group(1))
        evidence = f"{evidence} ... {accumulation.group(0)}"
    return value, evidence


def _search_int(patterns: list[re.Pattern[str]], text: str) -> tuple[int | None, str]:
    for pattern in patterns:
        for m in pattern.finditer(text):
            # a pattern without a number group means exactly one ("no batching")
            value = (parse_count(m.group(1)) or word_number(m.group(1))) if pattern.groups else 1
            if value:
                return value, m.group(0)
    return None, ""


# no answer runs this long: a larger figure with no token unit counts items ("500k summaries")
MAX_OUTPUT_TOKENS = 65536
_TOKEN_WORD = re.compile(r"\btok(?:en)?s?\b", re.I)
# a figure before a plural of these with no token unit may count the job's items ("2M prompts overnight")
_COUNTED_ITEMS = re.compile(r"\b(?:prompts|inputs|sequences|requests)\s*$", re.I)


def prompts_beyond_context(catalog: Any, found: Found) -> None:
    """Drop a prompt length read from "<N> prompts" (no token unit) that the named model could not take: longer than
    its context window, the figure counts prompts ("nightly scoring of 100k prompts with OPT-66B")."""
    value, ev = found.values.get("prompt_tokens"), found.evidence.get("prompt_tokens", "")
    model = catalog.models.get(found.values.get("model") or "")
    window = getattr(model, "max_position_embeddings", None)
    if value and window and value > window and not _TOKEN_WORD.search(ev) and _COUNTED_ITEMS.search(ev):
        del found.values["prompt_tokens"]
        found.evidence.pop("prompt_tokens", None)


# a length said as an average beats a cap or a maximum said next to it: "max_tokens is 1024 but outputs average only
# ~310", "prompts average 850 tokens (max 2k)", "about 4.5k averaged over all turns"; and a cap every answer reaches is
# the length ("capped at 200 tokens and almost all of them hit the cap")
_AVERAGE = r"(?:averag(?:e|es|ed|ing)|avg|mean)"
_AVG_LENGTH = {
    "output_tokens": re.compile(r"\b(?:outputs?|answers?|completions?|replies|responses?|generations?|summar(?:y|ies))\s+"
                                r"(?:\w+\s+){0,2}?" + _AVERAGE + r"\s*(?:only\s*|of\s*|is\s*|at\s*)?(?:" + _ABOUT + r")?\s*"
                                + _NUM + _NOT_TOKENS, re.I),
    "prompt_tokens": re.compile(r"\b(?:prompts?|inputs?|contexts?)\s+(?:\w+\s+){0,2}?" + _AVERAGE
                                + r"\s*(?:only\s*|of\s*|is\s*|at\s*)?(?:" + _ABOUT + r")?\s*" + _NUM + _NOT_TOKENS + r"|"
                                + r"(?:" + _ABOUT + r")?\s*" + _NUM + r"\s*(?:" + _UNIT + r"\s*)?averaged\b", re.I),
}
_HIT_CAP = re.compile(r"\bcapped at\s*" + _NUM + r"\s*" + _UNIT + r"?[^.;]{0,50}?\bhit (?:the|that) cap\b", re.I)


# a length given as a range: its middle ("prompts between 800 and 1200 tokens", "replies 80-120 tok", "contexts 4-6k")
_RANGE_LENGTH = {
    "prompt_tokens": re.compile(r"\b(?:prompts?|inputs?|contexts?)\b[^.;\n\d]{0,20}?(?:between\s+)?(\d+(?:\.\d+)?)\s*([kK]?)\s*"
                                r"(?:-|–|to|and)\s*(\d+(?:\.\d+)?)\s*([kK]?)\s*(?:tokens?|toks?)?(?![\w%/])", re.I),
    "output_tokens": re.compile(r"\b(?:answers?|replies|reply|outputs?|responses?|completions?)\b[^.;\n\d]{0,20}?(?:between\s+)?"
                                r"(\d+(?:\.\d+)?)\s*([kK]?)\s*(?:-|–|to|and)\s*(\d+(?:\.\d+)?)\s*([kK]?)\s*(?:tokens?|toks?)?"
                                r"(?![\w%/])", re.I),
}


def _range_middle(m: re.Match[str], name: str) -> int | None:
    k_low, k_high = (m.group(2) or m.group(4)), m.group(4)
    low = float(m.group(1)) * (1000 if k_low else 1)
    high = float(m.group(3)) * (1000 if k_high else 1)
    if 0 < low < high <= 4 * low and (name != "output_tokens" or high <= MAX_OUTPUT_TOKENS):
        return int(round((low + high) / 2))
    return None


def _average(m: re.Match[str], name: str) -> int | None:
    value = parse_count(next((g for g in m.groups() if g), ""))
    return value if value and (name != "output_tokens" or value <= MAX_OUTPUT_TOKENS) else None


def _typical_lengths(text: str, found: Found) -> None:
    """The lengths the user says are typical override any read before: a range's middle, then an average, then a cap
    every answer reaches (each later form is the more precise statement)."""
    for patterns, value_of in ((_RANGE_LENGTH, _range_middle), (_AVG_LENGTH, _average)):
        for name, pattern in patterns.items():
            m = pattern.search(text)
            value = value_of(m, name) if m else None
            if value:
                found.values[name], found.evidence[name] = value, m.group(0)
    cap = _HIT_CAP.search(text)
    if cap and parse_count(cap.group(1)):
        found.values["output_tokens"], found.evidence["output_tokens"] = parse_count(cap.group(1)), cap.group(0)


def find_quantities(text: str, found: Found) -> None:
    """Put prompt_tokens, output_tokens, batch and qps stated in ``text`` into ``found``."""
    for pattern in _PAIRS:
        m = pattern.search(text)
        if m and parse_count(m.group(1)) and parse_count(m.group(2)):
            found.put("prompt_tokens", parse_count(m.group(1)), m.group(0))
            found.put("output_tokens", parse_count(m.group(2)), m.group(0))
            break
    lowered = text.lower()
    both = _BOTH_WAYS.search(text) if any(words in lowered for words in _BOTH_WORDS) else None
    if both and parse_count(both.group(1)):
        found.put("prompt_tokens", parse_count(both.group(1)), both.group(0))
        found.put("output_tokens", parse_count(both.group(1)), both.group(0))
    _read_settings(_SETTING_EXACT, _SETTINGS_EXACT, text, found)
    if "prompt_tokens" not in found.values:
        pair = _BARE_PAIR.search(text)
        if pair and parse_count(pair.group(1)) and parse_count(pair.group(2)) and (
                "k" in pair.group(0).lower() or min(parse_count(pair.group(1)), parse_count(pair.group(2))) >= 64):
            found.put("prompt_tokens", parse_count(pair.group(1)), pair.group(0))
            found.put("output_tokens", parse_count(pair.group(2)), pair.group(0))
    me_and = _ME_AND.search(text)
    if me_and and (parse_count(me_and.group(1)) or word_number(me_and.group(1))):
        found.put("batch", (parse_count(me_and.group(1)) or word_number(me_and.group(1))) + 1, me_and.group(0))
    for name, patterns in (("output_tokens", _OUTPUT_PATTERNS), ("prompt_tokens", _PROMPT_PATTERNS),
                           ("batch", _BATCH_PATTERNS)):
        if name not in found.values:
            value, ev = _batch(text, found) if name == "batch" else _search_int(patterns, text)
            if name == "prompt_tokens" and value is not None and value == found.values.get("output_tokens") \
                    and ev.strip() in found.evidence.get("output_tokens", ""):
                continue
            if name == "output_tokens" and value is not None and value > MAX_OUTPUT_TOKENS and not _TOKEN_WORD.search(ev):
                continue  # "500k summaries" counts the items of a job, not the tokens of one answer
            found.put(name, value, ev)
    _typical_lengths(text, found)
    _read_settings(_SETTING_CAP, _SETTINGS_CAP, text, found)
    if "prompt_tokens" not in found.values:
        bare = [m for m in _BARE_TOKENS.finditer(text) if parse_count(m.group(1)) != found.values.get("output_tokens")]
        if bare:
            found.put("prompt_tokens", parse_count(bare[0].group(1)), bare[0].group(0))
    for pattern, per_s in _QPS_PATTERNS:
        qps = pattern.search(text)
        if qps:
            found.put("qps", round(_rate(qps.group(1)) / per_s, 3), qps.group(0))
            break
