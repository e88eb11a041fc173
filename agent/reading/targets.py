"""Read targets and measurements: latency SLOs and the figures the user measured on their setup.

"p99 TTFT under 1 s" is a target; "TTFT is 3 s" is a measurement. Memory budgets live in ``agent.reading.budgets``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agent.reading.findings import Found
from agent.reading.scope import sentence_start

_NUMBER = r"~?\s?(?<![pP\d.,])(\d+(?:[.,]\d+)?)"  # "p99" is a percentile, not a figure
_TIME_UNIT = r"(ms|milliseconds?|msec|s|secs?|seconds?|mins?|minutes?)\b"
_BOUND = (r"(?:under|below|<=?|≤|less than|at most|within|max(?:imum)?(?: of)?|no more than|not (?:more|higher) than|"
          r"target(?:ing)?(?: of| is)?|slo(?: of| is)?|sla(?: of| is)?|budget(?: of| is)?|should be|must be|needs? to be|"
          r"has to be|sub[\s-]?)")
_PCT = r"(?:p\d{2,3}|median|mean|average|avg|tail)?"
_TTFT = (r"(?:ttft|time[\s-]to[\s-]first[\s-]token|first[\s-]token(?: latency| time| arrives(?: after)?| shows up(?: after)?)?|"
         r"first (?:suggestion|words?|chunk|characters?|output|sentence|letters?|line of text)(?: must)?"
         r"(?: show up| shows?(?: up)?| appears?| arrives?| comes? out| is (?:shown|generated|spoken|displayed))?|prefill latency|"
         r"(?:start|begin)s? (?:answering|replying|responding|streaming|typing|talking|speaking|generating|writing|showing|"
         r"appearing)|"
         # the wait before any output, in plain words: "nothing shows up within", "waiting 25 s before anything appears"
         r"(?:nothing|anything|something|any text|any output) (?:shows? up|appears?|is shown|comes? out|is displayed|"
         r"shows\b)(?: on (?:the )?screen)?)")
_TPOT = (r"(?:tpot|itl|inter[\s-]token(?: latency)?|time per (?:output )?token|per[\s-]token (?:latency|time)|token latency|"
         r"decode latency|tbt|(?:time )?between tokens)")
_E2E = (r"(?:end[\s-]to[\s-]end(?: latency| time)?|e2e latency|e2e|total latency|request latency|response time|latency|"
        r"(?:to )?fully (?:appear|show|render|generat)\w*)")
_SEP = (r"\s*(?:" + _PCT + r"\s*)?(?:slo|target|goal|sla)?\s*(?:(?:of|is|at|=|:|around|about|currently|sits|hovers|runs|"
        r"stays|now|roughly|approx\w*|~)\s*){0,3}")


def figure_ms(text: str) -> float | None:
    """The first time figure in ``text`` in milliseconds ("500 ms or less" -> 500.0), or None."""
    m = _FIGURE.search(text)
    return to_ms(m.group(1), m.group(2)) if m else None


def to_ms(value: str, unit: str) -> float:
    number = float(value.replace(",", "."))
    unit = unit.lower()
    return number * 60000.0 if unit.startswith("min") else number if unit.startswith("m") else number * 1000.0


def _latency(kind: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(target after the name, target before the name, any figure after the name) for one latency metric."""
    bounds = r"(?:" + _BOUND + r"\s*){1,2}"
    return (re.compile(_PCT + r"\s*" + kind + _SEP + bounds + r"\s*" + _NUMBER + r"\s*" + _TIME_UNIT, re.I),
            re.compile(bounds + r"\s*" + _NUMBER + r"\s*" + _TIME_UNIT + r"\s*(?:of\s+)?" + _PCT + r"\s*" + kind, re.I),
            re.compile(_PCT + r"\s*" + kind + _SEP + _NUMBER + r"\s*" + _TIME_UNIT, re.I))


# a target stated after the figure: "TTFT p99 is 4.1s, SLO is 2s", "itl 45ms, target is <30ms", "need below 3s"
_LATER_TARGET = re.compile(r"(?:(?!ttft|tpot|itl|latency)[^?!]){0,50}?\b(?:target|slo|sla|goal|need|needs|want|wants|must|should|has to|have to|"
                           r"required|requirement|aim)\b[^.;?!\d]{0,20}?" + _NUMBER + r"\s*" + _TIME_UNIT, re.I)


_LATENCIES = {"ttft": _latency(_TTFT), "tpot": _latency(_TPOT), "latency": _latency(_E2E)}
_SUB_SECOND = re.compile(r"sub[\s-]second\s+" + _TTFT, re.I)
RATE = r"(?:tok(?:en)?s?/s(?:ec)?|tokens? (?:per|a) second|t/s|tps)"  # a tokens-per-second unit
_PER_USER = r"(?:(?:per|/)\s*(?:user|request|stream|sequence|session|slot)\b|each\b|for (?:a|one|each) user|single[\s-]user)"
_RATE_TARGET = re.compile(r"(?:at least|>=?|≥|minimum(?: of)?|min\.?|above|over|more than|need|want|"
                          r"target(?: of)?|(?:i|we)'d like|would like(?: to (?:see|get|hit|reach))?|ask(?:s|ed)? for)\s*"
                          + _NUMBER + r"\+?\s*" + RATE + r"\s*" + _PER_USER + "?|"
                          # the bound said after the rate: "25 tokens per second minimum per stream", "40 tok/s at least"
                          + _NUMBER + r"\+?\s*" + RATE + r"\s*(?:minimum|min\.?|at least|or (?:more|better|faster))\s*"
                          + _PER_USER + "?", re.I)
_MS_PER_TOKEN = re.compile(r"(?:(" + _BOUND + r")\s*)?" + _NUMBER + r"\s*(ms|s)\s*(?:/|per)\s*(?:output\s+|generated\s+)?"
                           r"tok(?:en)?\b(\s*(?:slo|sla|target|budget|goal|(?:would be|is|are) (?:fine|ok|okay|acceptable)|"
                           r"or (?:less|better|lower|below)))?", re.I)
# a figure said of an earlier state: "Before the upgrade: 55 ms/token" is not today's
_FORMER = re.compile(r"\b(?:before|previously|used to|originally|earlier|last (?:week|month|release))\b", re.I)
# one stream's speed named before the figure: "each user only 8 token/s", "eval rate: 11 tokens/s", "token generation ~8 tok/s"
_STREAM_BEFORE = re.compile(r"(?:\b(?:each|every|per|a single|one)\s+(?:user|stream|request|session|client|slot)\b|\beval rate\b|"
                            r"\bstreaming (?:speed|rate)\b|"
                            r"\b(?:token )?generation\b(?!\s*(?:throughput|tok))|\btg\d*\b|\bgeneration speed\b|\bdecode speed\b)[^.;\n]{0,44}$",
                            re.I)
# "Output token throughput (tok/s): 2511.3", "gen throughput (token/s): 6124.55": a log row with the unit first
_RATE_UNIT_FIRST = re.compile(r"throughput\s*\(\s*" + RATE + r"\s*\)\s*:?\s*(\d+(?:[.,]\d+)?)", re.I)
# a rate unit followed by ":" or "=" is a key that labels the figure after it ("loss: 3.1  tps: 2,100")
_RATE_FIGURE = re.compile(_NUMBER + r"\s*([kK])?\s*(?:(?:output|generated|generation|total|aggregate|decode)\s+)?"
                          + RATE + r"(?!\s*[:=])(?:\s*" + _PER_USER + r")?", re.I)
_PREFILL_RATE = re.compile(r"\b(?:prompt|prefill|pp\d*)\b[^,;.\n]{0,30}$", re.I)
# "output_throughput: 1290.3", "generation throughput = 1410": a key that names generated tokens per second
_GEN_THROUGHPUT_KEY = re.compile(r"\b(?:output|generation|gen|decode)[_ ]throughput\s*[:=]\s*(\d+(?:\.\d+)?)", re.I)
_RATE_KEY = re.compile(RATE + r"\s*[:=]", re.I)
# "tokens/s plateaus at 61k": the figure after the unit; "tok/s: 2511", "tokens/s (total) 412k": the unit labels the
# figure (a key and its value, a table's header and its cell)
_RATE_THEN_FIGURE = re.compile(RATE + r"(?:(?:\s+\w+){0,3}?\s+(?:at|of|is|=|~|around|about)|[ \t]*\([\w ]{1,20}\))?[ \t]*[:=]?"
                               + r"[ \t]*" + _NUMBER + r"\s*([kK])?\b", re.I)
# a number right before a rate unit: the unit belongs to it ("30 tok/s 4 users"), it does not label what follows
_FIGURE_BEFORE = re.compile(r"\d\s*[kK]?\s*$")
# one stream's speed named after the figure: "first token 1.1 s, ~20 tok/s after that", "30 tok/s once it starts"
_STREAM_AFTER = re.compile(r"\s*(?:after (?:that|the first token|it starts)|once (?:it|the (?:answer|reply|output)) "
                           r"(?:starts|begins|gets going)|while (?:it )?stream\w*)\b", re.I)
# one stream: a tokens/s figure is the per-token speed of that stream
# (Ollama answers one request at a time unless the text says it runs several)
ONE_STREAM = re.compile(r"single[\s-]user|\b(?:ollama|lm studio|llama\.cpp|koboldcpp|exllama\w*)\b"
                        r"(?![^.\n]{0,40}(?:parallel|concurren|users))|one user|only me|just me|"
                         r"for myself|for my own|my own use|(?:for )?me alone|by myself|the only user|one request at a time|single stream|one chat|"
                         r"\bmy (?:m\d|mac|macbook|laptop|phone|pc|desktop|rig|rtx|\d{4})\b|"
                         r"\bbatch(?: size)?(?: of)? 1\b|\bbs\s*=?\s*1\b|\bdecode\b", re.I)
_PERCENT = r"(%|\s*percent\b)"
# "MFU 0.43", "MFU lies by 29 percent", "0.37 MFU", "31% MFU"; a figure above 1 without a percent sign is not an MFU;
# "tps: 3,560  mfu: 38.70%": "mfu:" labels the figure after it, so the one before is not read as the MFU
_MFU = re.compile(r"\bmfu\b(?:\s+(?:[a-z]+)){0,5}?\s*[:=~]?\s*"
                  + r"(?:\d+(?:[.,]\d+)?\s*%?\s*(?:->|→|to)\s*)?" + _NUMBER + _PERCENT + r"?|" + _NUMBER + _PERCENT
                  + r"?\s*mfu\b(?!\s*[:=])", re.I)
# a figure that changed: "drops to 0.27", "went down to 31%": the later one is today's
_CHANGED_TO = re.compile(r"\b(?:drops?|dropped|falls?|fell|goes|went|degrades?|degraded|slips?|slipped|down)\s+(?:down\s+)?to\s+"
                         + _NUMBER + _PERCENT + r"?", re.I)
# a figure stated after a metric: the rest of the sentence, up to this many characters
_WINDOW = 48
_FIGURE = re.compile(_NUMBER + r"\s*" + _TIME_UNIT)
# whole words only: "feels slow (~55ms)" is a figure, not an SLO
_TARGET_WORDS = re.compile(r"(?:<|≤|\bsub[\s-]?|\b(?:under|below|less than|at most|within|no more than|targets?|"
                           r"slos?|slas?|goals?|"
                           r"budget|cap|limit|need|needs|want|must|should|has to|have to|required|aim|max(?:imum)?)\b)"
                           r"(?:\W+[^\W\d]\w*){0,3}\W*$", re.I)  # a figure in between is the earlier metric's
# a figure before the metric: "~30s TTFT", "takes 40s to first token"
# a bound right after a figure makes it a target: "100 ms max to first token", "2 s tops for the first token"
_BOUND_AFTER = r"(?:(max(?:imum)?|at most|or less|tops|or better)\s+(?:for\s+)?)?"
_BEFORE = {"ttft": re.compile(_NUMBER + r"\s*" + _TIME_UNIT + r"\s*" + _BOUND_AFTER + r"(?:to (?:the )?first token|(?:of\s+)?"
                              + _PCT + r"\s*(?:(?:to|before|until)\s+)?"
                              + _TTFT + r"|"
                              # "~1.2 s of dead air before the TTS gets its first token", "waits ~2.5 s before the
                              # first token comes back"
                              r"(?:of\s+(?:[\w-]+\s+){1,2})?(?:before|until)\s+(?:[\w']+\s+){0,5}?" + _TTFT + r")", re.I),
           "tpot": re.compile(_NUMBER + r"\s*" + _TIME_UNIT + r"\s*(?:of\s+)?" + _PCT + r"\s*" + _TPOT, re.I),
           "latency": re.compile(_NUMBER + r"\s*" + _TIME_UNIT + r"\s*(?:of\s+)?" + _PCT + r"\s*" + _E2E, re.I)}
# a whole request's time without the word latency: "takes about 4s", "2.5s per answer", "30s per request"
_REQUEST_TIME = re.compile(r"(?:takes?|taking|took|needs?|needed|requires?)\s*(?:about|around|~|roughly|over|almost)?\s*"
                           + _NUMBER + r"\s*" + _TIME_UNIT + r"|" + _NUMBER + r"\s*" + _TIME_UNIT
                           + r"\s*(?:each\b|apiece\b|(?:per|for (?:each|an?|one)|an?)\s*"
                           r"(?:\d+[\s-]*tok(?:en)?s?[\s-]*)?(?:answer|request|response|reply|query|generation|"
                           r"completion|call|step|report|"
                           r"document|doc|page|turn|item|summary|review)"
                           r"|for\s+(?:about\s+|~)?\d+\s*(?:output\s+)?tokens\b)", re.I)
_PREFILL_TIME = re.compile(r"prefill\b[^.;?!]{0,40}?(?:takes?|took|is|of)\s*(?:about|around|~)?\s*" + _NUMBER + r"\s*"
                           + _TIME_UNIT, re.I)
_FIGURE_THEN = re.compile(r"\d[ \t]*" + _TIME_UNIT + r"[ \t]*" + _BOUND_AFTER + r"(?:to[ \t]+(?:the[ \t]+)?)?(?:of[ \t]+)?"
                          + _PCT + r"[ \t]*\Z", re.I)
# a name that is a key ("tpot_avg=", "tpot:"): the figure after it is its own
_KEY_AFTER = re.compile(r"\w*\s*[:=]")
# a metric's name right after a figure: the figure is that metric's
_OWNED = re.compile(r"[ \t]*(?:(?:/|per)\s*(?:output\s+|generated\s+)?tok(?:en)?\b|(?:of\s+)?" + _PCT + r"[ \t]*(?:" + _TTFT + "|"
                    + _TPOT + r")(?!\w*\s*[:=]|\s*\d))", re.I)
_KINDS = {"ttft": re.compile(_TTFT, re.I), "tpot": re.compile(_TPOT, re.I), "latency": re.compile(_E2E, re.I)}
# "Time to first token (ms)   avg 612.4": a table or log row whose unit comes before the value
_UNIT_FIRST = {name: re.compile(kind + r"\s*\((ms|s)\)[^\d\n]{0,24}?" + _NUMBER, re.I)
               for name, kind in (("ttft", _TTFT), ("tpot", _TPOT))}
# "we're at 11 ms": today's figure said after a target
_NOW_FIGURE = re.compile(r"\b(?:we(?:'re| are)(?: currently| now)? at|currently(?: at)?|today(?: it's| it is)?|right now|"
                         r"now (?:at|it's))\s*(?:about |around |~)?" + _NUMBER + r"\s*" + _TIME_UNIT, re.I)


# a threshold the question asks about: "how many users before ITL goes above 50ms", "until p99 TTFT exceeds 2 s"
_THRESHOLD = {name: re.compile(r"\b(?:before|until|till|without)\s+(?:the\s+)?(?:" + _PCT + r"\s*)?" + kind + r"\s*(?:" + _PCT
                               + r"\s*)?(?:goes|gets|climbs|rises)?\s*(?:above|over|past|beyond|exceeds?|exceeding|crosses|"
                               r"passes|breaks|hits)\s*" + _NUMBER + r"\s*" + _TIME_UNIT, re.I)
              for name, kind in (("ttft", _TTFT), ("tpot", _TPOT), ("latency", _E2E))}
# today's speed said after a per-user target, its unit left out: "need 30+ tok/s per user, currently 18"
_NOW_RATE = re.compile(r"\b(?:we(?:'re| are)(?: currently| now)? at|currently(?: at)?|today(?: it's| it is)?|right now|"
                       r"now (?:at|it's))\s*(?:about |around |~)?" + _NUMBER + r"(?:\s*" + RATE + r")?"
                       r"(?!\s*[\d.]|\s*(?:ms|s|sec|seconds?)\b)", re.I)
_ARROW = re.compile(r"\s*(?:->|→|=>)\s*" + _NUMBER + r"\s*" + _TIME_UNIT)
# a figure that moved, said in words: "from 1.1 s to 3.6 s", "600ms last week, 2.1s now"
_FROM_BEFORE = re.compile(r"\bfrom\s*(?:about |around |~)?$", re.I)
_TO_LATER = re.compile(r"\s*to\s+(?:about |around |~)?" + _NUMBER + r"\s*" + _TIME_UNIT)
_FORMER_THEN_NOW = re.compile(r"\s*(?:last (?:week|month|release)|before|previously|earlier|yesterday)\s*[,;]?\s*(?:and\s+|but\s+)?"
                              r"(?:about |around |~)?" + _NUMBER + r"\s*" + _TIME_UNIT + r"\s*(?:now|today|these days)\b",
                              re.I)


# a limit said through what happens past it: "people leave if it takes more than 2 s to start replying", "sessions
# where the bot takes longer than 3 s": the figure after "more than" in a condition is the most users tolerate
_CONDITION = re.compile(r"\b(?:if|when|whenever|once|where|as soon as)\b[^.;?!\n]{0,80}?\b(?:more than|longer than|over|above|"
                        r"beyond|past|exceeds?|exceeding)\s*(?:about |around |~)?$", re.I)


# a figure someone else gets ("my friend gets 6 ms", "OpenAI's API gives the first token in ~400ms", "competitors do
# 1 s") is not the user's measurement; it is their target when they say they want to match it
_OTHERS = re.compile(r"\b(?:friends?|colleagues?|competitors?|competition|openai|chatgpt|anthropic|claude|gemini|groq|"
                     r"hosted apis?|(?:the|their) api|blog ?posts?|the paper|vendors?|other (?:box|cluster|team|setup|node|"
                     r"machine|server))\b", re.I)
_MATCH = re.compile(r"\b(?:match(?:es|ing)?|as fast as|catch up|keep up with|same as|on par|the bar)\b", re.I)


def _theirs(text: str, at: int) -> bool:
    """Whether the clause holding the figure at ``at`` is about someone else's system."""
    start = max(text.rfind(".", 0, at), text.rfind("\n", 0, at), text.rfind("?", 0, at), text.rfind("!", 0, at),
                text.rfind(";", 0, at), text.rfind(",", 0, at)) + 1
    return bool(_OTHERS.search(text, start, at))


def _tolerance(text: str, start: int) -> bool:
    """Whether the figure at ``start`` is the bound of a condition ("if ... takes more than 2 s"), a target."""
    return bool(_CONDITION.search(text, max(0, start - 100), start))


def _sentence_after(text: str, end: int) -> str:
    """The rest of the sentence after ``end`` (a decimal point does not end it), at most _WINDOW characters."""
    tail = text[end:end + _WINDOW]
    stop = re.search(r"[;?!]|\.(?!\d)", tail)
    return tail[:stop.start()] if stop else tail


# a wish stated after a metric was named, possibly in a later sentence: "SLO is 2s", "Boss require it less than 1.5s",
# "want under 20", "we would like to descend under 1 second"
_WISH = re.compile(r"\b(?:slo|sla|target|goal|budget|requires?|required|requirement|expect\w*|needs?|wants?|would like|"
                   r"spec(?:ification)?|"
                   r"aim\w*|must|should|has to|have to|"
                   r"get (?:it )?(?:back )?(?:to|down to)|(?:could|can|will|would) (?:it|we|i|this|that) (?:hit|reach|get to|do))\b"
                   r"(?:[^.;?!\d]|\bp\d{2,3}\b){0,32}?~?\s?(?<![pP\d])(\d+(?:[.,]\d+)?)"
                   r"\s*(ms|milliseconds?|msec|s|secs?|seconds?|sec)?\b", re.I)
_WISH_REACH = 220
# a wished figure that is a speed ("at least 20 tok/s per user") is read by _rates, not as a time
_RATE_AFTER = re.compile(r"\s*" + RATE, re.I)
# a bare wished number that stands alone ("can I get to 60?"), not a count of something ("expect 200 users")
_ALONE = re.compile(r"\s*\+?\s*(?:or (?:more|higher|better|faster|above)\b|[?.!,;)]|$)")


# a metric's name (and a bound or separator) right before a figure: "ttft<1500ms tpot<50ms", "obs ttft 1100ms tpot 71ms"
_METRIC_THEN = re.compile(r"(?:" + _TTFT + "|" + _TPOT + "|" + _E2E + r")\s*(?:" + _PCT + r"\s*)?(?:[:=]|" + _BOUND
                          + r")?\s*$", re.I)


def _follows_metric(text: str, start: int) -> bool:
    """Whether the figure at ``start`` comes right after a metric's name: it is that metric's figure, not the next one's."""
    while start > 0 and (text[start - 1].isdigit() or text[start - 1] in ".,~"):
        start -= 1  # from anywhere in the figure to its first character
    return bool(_METRIC_THEN.search(text[max(0, start - 40):start]))


@lru_cache(maxsize=16)
def _mentions(text: str) -> tuple[tuple[int, int, str], ...]:
    """Every metric named in ``text`` as (start, end, name), in order; a "ms/token" figure names the per-token time."""
    named = [(m.start(), m.end(), name) for name, kind in _KINDS.items() for m in kind.finditer(text)]
    named += [(m.start(), m.end(), "tpot") for m in _PER_TOKEN_FIGURE.finditer(text)]
    named += [(m.start(), m.end(), "latency") for m in _TOTAL_FIGURE.finditer(text)]
    return tuple(sorted(named))


# "~600 ms total today": a time said to be the whole request's names the end-to-end latency
_TOTAL_FIGURE = re.compile(r"\d\s*(?:ms|s|secs?|seconds?)\s+(?:total|in total|overall|end[\s-]to[\s-]end|e2e)\b", re.I)
_PER_TOKEN_FIGURE = re.compile(r"\d\s*(?:ms|s)\s*(?:/|per)\s*(?:output\s+|generated\s+)?tok(?:en)?\b", re.I)


# a list of targets after the metrics were named: "The SLOs are 800 ms and 35 ms", "the targets are 100 ms and 15 ms
# respectively"
_LIST_ITEM = r"(?:<=?\s*|under\s+|below\s+)?~?\s?\d+(?:[.,]\d+)?\s*(?:ms|milliseconds?|msec|s|secs?|seconds?)\b"
_TARGET_LIST = re.compile(r"\b(?:targets?|slos?|slas?|goals?|budgets?|requirements?)\s+(?:are|were|would be|:)\s*(?:of\s+)?("
                          + _LIST_ITEM + r"(?:\s*(?:,|and|/|&|,\s*and)\s*" + _LIST_ITEM + r")+)", re.I)


def _target_lists(text: str, found: Found) -> None:
    """Targets given as a list, in the order their metrics were named before it."""
    for listed in _TARGET_LIST.finditer(text):
        names: list[str] = []
        for _, end, name in _mentions(text):
            if end <= listed.start() and name not in names:
                names.append(name)
        figures = _FIGURE.findall(listed.group(1))
        if len(names) != len(figures):
            continue  # which figure bounds which metric is not said
        for name, (value, unit) in zip(names, figures):
            found.put(f"slo_{name}_ms", round(to_ms(value, unit), 3), listed.group(0))


def _later_wishes(text: str, found: Found) -> None:
    """Targets stated after the metric they bound; a bare number takes the unit of that metric's figure."""
    mentions = _mentions(text)
    for wish in _WISH.finditer(text):
        inside = [m for m in mentions if wish.start() <= m[0] and m[1] <= wish.end()]
        # a metric named right after the figure is the one it bounds ("Expected: ~25 ms TPOT")
        inside = inside or [m for m in mentions if wish.group(2) and 0 <= m[0] - wish.end() <= 4
                            and text[wish.end():m[0]].strip().lower() in ("", "of")][:1]
        before = inside or [m for m in mentions if m[1] <= wish.start() and wish.start() - m[1] <= _WISH_REACH]
        if not before:
            continue
        name = before[-1][2]  # "Target is TTFT < 1 s": a metric named inside the wish is the one it bounds
        if f"slo_{name}_ms" in found.values:
            continue
        unit = wish.group(2)
        if unit is None and _RATE_AFTER.match(text, wish.end()):
            continue
        if unit is None:
            shown = found.measured.get(f"{name}_ms")
            value = float(wish.group(1).replace(",", "."))
            # a bare number is in the unit of the figure it improves on ("31 ms, want under 20")
            if shown is None or not 0.05 * shown <= value <= 3 * shown:
                continue
            found.put(f"slo_{name}_ms", value, wish.group(0))
        else:
            found.put(f"slo_{name}_ms", round(to_ms(wish.group(1), unit), 3), wish.group(0))


# a bound with its unit left out: "Need tpot <= 40", "ttft can go up to 2000"
_BARE_BOUND = {name: re.compile(kind + r"\s*(?:" + _PCT + r"\s*)?(?:<=?|under|below|at most|"
                                r"(?:can|may) (?:go|be) (?:up to|as high as)|"
                                r"up to|(?:should|must|has to|needs? to) (?:be |stay )?(?:under|below|<=?))\s*~?(\d+(?:\.\d+)?)"
                                r"(?!\s*(?:\d|\.\d|%|[a-z/]))", re.I)
               for name, kind in (("ttft", _TTFT), ("tpot", _TPOT), ("latency", _E2E))}


def _bare_bounds(text: str, found: Found) -> None:
    """A bound without a unit is in the unit of today's figure for that metric, when it is of the same order."""
    for name, bound in _BARE_BOUND.items():
        shown = found.measured.get(f"{name}_ms")
        if shown is None or f"slo_{name}_ms" in found.values:
            continue
        for m in bound.finditer(text):
            value = float(m.group(1))
            if 0.02 * shown <= value <= 5 * shown:
                found.put(f"slo_{name}_ms", value, m.group(0))
                break


def _latency_targets(text: str, found: Found) -> None:
    """Targets and measured figures for TTFT, per-token time and end-to-end latency."""
    _target_lists(text, found)
    thresholds, references = [], []
    for name, threshold in _THRESHOLD.items():
        for m in threshold.finditer(text):
            found.put(f"slo_{name}_ms", round(to_ms(m.group(1), m.group(2)), 3), m.group(0))
            thresholds.append((m.start(), m.end()))
    named_spans = [m.span() for name in ("ttft", "tpot") for m in _KINDS[name].finditer(text)]
    for name, kind in _KINDS.items():
        for mention in kind.finditer(text):
            if any(a <= mention.start() < b for a, b in thresholds):
                continue  # the figure after it is a threshold, not a measurement
            if name == "latency" and any(a <= mention.start() < b for a, b in named_spans):
                continue  # "inter token latency" names the per-token time
            before = _FIGURE_THEN.search(text, max(0, mention.start() - 24), mention.start())
            if before and not _KEY_AFTER.match(text, mention.end()) and not _follows_metric(text, before.start()):
                continue  # "takes 14 s end to end": the figure before the name is its value, not one after it
            after = _sentence_after(text, mention.end())
            for value in _FIGURE.finditer(after):
                between = after[:value.start()]
                if _KINDS["ttft"].search(between) or _KINDS["tpot"].search(between):
                    break  # the figure belongs to another metric named in between
                if _OWNED.match(after, value.end()):
                    break  # "140 ms TTFT and 11 ms per output token": the figure is the next metric's
                ms = round(to_ms(value.group(1), value.group(2)), 3)
                evidence = text[mention.start():mention.end() + value.end()]
                if _TARGET_WORDS.search(between) or _tolerance(text, mention.end() + value.start()):
                    found.put(f"slo_{name}_ms", ms, evidence)
                    now = _NOW_FIGURE.search(text, mention.end() + value.end(), mention.end() + value.end() + 80)
                    if now:
                        found.measure(f"{name}_ms", round(to_ms(now.group(1), now.group(2)), 3), now.group(0))
                else:
                    # "31ms -> 44ms", "went from 1.1 s to 3.6 s", "600ms last week, 2.1s now": today's is the later
                    moved = _ARROW.match(text, mention.end() + value.end()) or (
                        _FROM_BEFORE.search(between) and _TO_LATER.match(text, mention.end() + value.end())) or \
                        _FORMER_THEN_NOW.match(text, mention.end() + value.end())
                    if moved:
                        ms, evidence = round(to_ms(moved.group(1), moved.group(2)), 3), evidence + moved.group(0)
                    if _theirs(text, mention.start()):
                        references.append((name, ms, evidence))
                    else:
                        found.measure(f"{name}_ms", ms, evidence)
        if name == "ttft" and _SUB_SECOND.search(text):
            found.put("slo_ttft_ms", 1000.0, _SUB_SECOND.search(text).group(0))
        for target in (_LATENCIES[name][1].finditer(text)):
            if not _follows_metric(text, target.start()):
                found.put(f"slo_{name}_ms", round(to_ms(target.group(1), target.group(2)), 3), target.group(0))
        first = _UNIT_FIRST.get(name)
        row = first.search(text) if first else None
        if row:
            found.measure(f"{name}_ms", round(to_ms(row.group(2), row.group(1)), 3), row.group(0))
        for m in _BEFORE[name].finditer(text):
            if re.search(_BOUND + r"\s*$", text[max(0, m.start() - 14):m.start()], re.I) or _follows_metric(
                    text, m.start()):
                continue
            # "100 ms max to first token"; "users tolerate up to 1.5 s before the first characters show"
            if name == "ttft" and m.group(3) or _tolerance(text, m.start()) or _UP_TO.search(
                    text, max(0, m.start() - 12), m.start()):
                found.put(f"slo_{name}_ms", round(to_ms(m.group(1), m.group(2)), 3), m.group(0))
            else:
                if _theirs(text, m.start()):
                    references.append((name, round(to_ms(m.group(1), m.group(2)), 3), m.group(0)))
                else:
                    found.measure(f"{name}_ms", round(to_ms(m.group(1), m.group(2)), 3), m.group(0))
    _later_wishes(text, found)
    for name, ms, evidence in references:
        if _MATCH.search(text):  # "friend gets 6 ms tpot ... want to match him": their figure is the one to reach
            found.put(f"slo_{name}_ms", ms, evidence)
    _bare_bounds(text, found)
    _now_figures(text, found)
    prefill = _PREFILL_TIME.search(text)
    if prefill:
        found.measure("ttft_ms", round(to_ms(prefill.group(1), prefill.group(2)), 3), prefill.group(0))
    request = _REQUEST_TIME.search(text)
    if request:
        value, unit = (request.group(1), request.group(2)) if request.group(1) else (request.group(3), request.group(4))
        found.measure("latency_ms", round(to_ms(value, unit), 3), request.group(0))


# today's time said on its own, after the target or the metric: "Currently ~1.4 s.", "currently eats 1.3 s",
# "we're at 38", "~600 ms total today"
_NOW_ANY = re.compile(r"\b(?:we(?:'re| are)(?: currently| now)? at|currently|today(?: it's| it is)?:?|right now|"
                      r"we (?:measure|see|get|observe)|(?:observed|measured|actual|obs)\s*[:=]?|(?:gives|gets)(?: us| me)?)"
                      r"\s+(?:[\w']+\s*[:=]?\s+){0,3}?"
                      r"(?:about |around |~|roughly )?(\d+(?:[.,]\d+)?)(?:\s*" + _TIME_UNIT + r"|(?!\s*(?:\d|\.\d|%|[a-z/])))"
                      r"|(\d+(?:[.,]\d+)?)\s*" + _TIME_UNIT + r"\s*(total\s+)?(?:today|now|currently|at the moment)\b", re.I)


_UP_TO = re.compile(r"\bup to\s*(?:~|about |around )?$", re.I)


def _measured_apart(found: Found, name: str) -> bool:
    """Whether a figure of this metric was read that is not its target's own words ("up to 1.5 s before the first
    characters show" is the target, so today's "gives 2.6 s" is still to be read)."""
    said = found.evidence.get(f"slo_{name}_ms", "")
    return any(not said or words not in said for _, words in found.measured_all.get(f"{name}_ms", []))


def _now_figures(text: str, found: Found) -> None:
    """Today's figure said apart from its metric: it is the metric named last before it (or the only target's)."""
    for now in _NOW_ANY.finditer(text):
        value, unit = (now.group(1), now.group(2)) if now.group(1) else (now.group(3), now.group(4))
        before = [name for _, end, name in _mentions(text) if end <= now.start()]
        targets = [name for name in ("ttft", "tpot", "latency") if f"slo_{name}_ms" in found.values]
        # no metric named and no target: a time on its own is the whole request's
        name = ("latency" if now.group(5) or not (before or targets or unit is None) else before[-1] if before
                else targets[0] if len(targets) == 1 else None)
        if name is None or _measured_apart(found, name):
            continue
        number = float(value.replace(",", "."))
        if unit is None:  # a bare figure is in the unit of that metric's target ("target 25 ms TPOT, we're at 38")
            wanted = found.values.get(f"slo_{name}_ms")
            if not wanted or not 0.2 * wanted <= number <= 20 * wanted:
                continue
            found.measure(f"{name}_ms", number, now.group(0))
        else:
            found.measure(f"{name}_ms", round(to_ms(value, unit), 3), now.group(0))


def _rate_target(text: str, found: Found) -> list[tuple[int, int]]:
    """A per-user speed target ("at least 20 tok/s per user") and today's speed said after it; their spans."""
    target = _RATE_TARGET.search(text)
    if not target:
        return []
    wanted = float((target.group(1) or target.group(2)).replace(",", "."))
    if not (re.search(_PER_USER, target.group(0), re.I) or wanted <= 150):
        return [target.span()]
    found.put("slo_tpot_ms", round(1000.0 / wanted, 3), target.group(0))
    now = _NOW_RATE.search(text, target.end(), target.end() + 60)
    if now and 0 < float(now.group(1).replace(",", ".")) < wanted:
        found.measure("tpot_ms", round(1000.0 / float(now.group(1).replace(",", ".")), 3), now.group(0))
        return [target.span(), now.span()]
    return [target.span()]


def _ms_per_token(text: str, found: Found) -> None:
    for m in _MS_PER_TOKEN.finditer(text):
        line = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
        if re.search(r"\bprompt\b", line, re.I):
            continue  # "prompt eval time = ... (1.32 ms per token)": prefill, not the time per output token
        value = to_ms(m.group(2), m.group(3))
        if m.group(1) or m.group(4):
            found.put("slo_tpot_ms", round(value, 3), m.group(0))
            continue
        window = text[max(0, m.start() - 48):m.start()]
        sentence = window[max(window.rfind(". "), window.rfind("\n")) + 1:]
        if _FORMER.search(sentence):
            continue  # "Before the upgrade: 55 ms/token": an earlier state, not today's figure
        found.measure("tpot_ms", round(value, 3), m.group(0))


def _rates(text: str, found: Found) -> None:
    """Speeds in tokens/s: a per-user target, one stream's speed (a time per token) and a total throughput."""
    read = _rate_target(text, found)
    one_stream = bool(ONE_STREAM.search(text))
    stream_end, stream_rate = None, 0.0
    figures = [(m, m.group(1), m.group(2)) for m in _RATE_FIGURE.finditer(text)]
    figures += [(m, m.group(1), m.group(2)) for m in _RATE_THEN_FIGURE.finditer(text)
                if _RATE_KEY.match(m.group(0)) or not _FIGURE_BEFORE.search(text, max(0, m.start() - 12), m.start())]
    for m, number, thousands in sorted(figures, key=lambda f: f[0].start()):
        if any(a <= m.start() and m.end() <= b for a, b in read):
            continue
        value = float(number.replace(",", "")) * (1000 if thousands else 1)
        if value <= 0:
            continue
        if _PREFILL_RATE.search(text, max(0, m.start() - 40), m.start()):
            continue  # "Avg prompt throughput: 8120.4 tokens/s", "pp512 = 610 t/s": prefill speed
        stream = _STREAM_BEFORE.search(text[max(0, m.start() - 60):m.start()]) or _STREAM_AFTER.match(text, m.end())
        if re.search(_PER_USER, m.group(0), re.I) or stream or (one_stream and value < 300):
            if "slo_tpot_ms" not in found.values and _wished_here(text, m.start()):
                # "the UX team's bar is 30 tok/s per user", "which we translated into 40 tokens/s per user"
                found.put("slo_tpot_ms", round(1000.0 / value, 3), m.group(0))
                now = _NOW_RATE.search(text, m.end(), m.end() + 60)
                if now and 0 < float(now.group(1).replace(",", ".")) < value:
                    found.measure("tpot_ms", round(1000.0 / float(now.group(1).replace(",", ".")), 3), now.group(0))
                continue
            found.measure("tpot_ms", round(1000.0 / value, 3), m.group(0))
            if stream_end is None:
                stream_end, stream_rate = m.end(), value
        else:
            found.measure("throughput_tok_s", value, m.group(0))
    _count_over_time(text, one_stream, found)
    row = _RATE_UNIT_FIRST.search(text) or _GEN_THROUGHPUT_KEY.search(text)
    if row:
        found.measure("throughput_tok_s", float(row.group(1).replace(",", "")), row.group(0))
    if stream_end is not None and "slo_tpot_ms" not in found.values:
        _wished_rate(text, stream_end, stream_rate, found)


# a speed said as a count of tokens over a time: "200 tokens in 8 seconds", "every 2 seconds I get ~40 tokens"
_TOKENS_IN_TIME = re.compile(r"(?<![\d.])(\d+)\s*(?:output\s+|new\s+)?tokens?\s+(?:in|every|each|per)\s+(?:about\s+|~)?"
                             r"(\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?)\b", re.I)
_TIME_THEN_TOKENS = re.compile(r"\b(?:every|each)\s+(\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?)\b[^.;?!\d]{0,30}?(?:~|about\s+)?(\d+)\s*"
                               r"tokens?\b", re.I)
_STREAM_WORDS = re.compile(r"\b(?:streams?|per user|each user|per[\s-]stream|single[\s-]stream|one stream)\b", re.I)


def _count_over_time(text: str, one_stream: bool, found: Found) -> None:
    """A speed given as tokens over seconds: one stream's time per token when the text is about one stream (or
    says "stream"), else a total throughput."""
    said = [(int(m.group(1)), float(m.group(2)), m) for m in _TOKENS_IN_TIME.finditer(text)]
    said += [(int(m.group(2)), float(m.group(1)), m) for m in _TIME_THEN_TOKENS.finditer(text)]
    for tokens, seconds, m in said:
        if tokens <= 0 or seconds <= 0:
            continue
        sentence = text[sentence_start(text, m.start()):m.end() + 40]
        if one_stream or _STREAM_WORDS.search(sentence):
            found.measure("tpot_ms", round(1000.0 * seconds / tokens, 3), m.group(0))
        else:
            found.measure("throughput_tok_s", round(tokens / seconds, 3), m.group(0))


# words in a rate's sentence, before it, that make it wished for rather than seen: "the bar is", "expected", "wants"
_RATE_WISH = re.compile(r"\b(?:bar|expected|expect(?:s|ing)?|wants?|goal|target|spec|requirement|required|must|has to|"
                        r"pricing|advertis\w*|sold on|marketed|"
                        r"have to|needs? to|aim(?:s|ing)? (?:at|for)|would like|'d like|promis\w*)\b", re.I)
# ...unless today's state is said between that word and the rate: "we want more, each user gets 20 tok/s"
_RATE_STATE = re.compile(r"\b(?:now|currently|today|gets?|got|sees?|saw|getting|seeing|drops?|dropped|falls?|fell|"
                         r"only|is at|are at|we're at|runs?|does|do|did|measured|observed|hits?|reach(?:es)?)\b", re.I)


def _wished_here(text: str, at: int) -> bool:
    """Whether the rate at ``at`` is a wished figure: its sentence names a wish before it, with no state in between."""
    start = max(text.rfind(".", 0, at), text.rfind("\n", 0, at), text.rfind("?", 0, at), text.rfind("!", 0, at),
                text.rfind(";", 0, at)) + 1
    wish = None
    for wish in _RATE_WISH.finditer(text, start, at):
        pass
    return wish is not None and not _RATE_STATE.search(text, wish.end(), at)


_MULTIPLE = {"double": 2.0, "twice": 2.0, "triple": 3.0, "2x": 2.0, "3x": 3.0}
_WISHED_MULTIPLE = re.compile(r"\b(?:would like|'d like|want|need|aim|hope|goal|target)\w*\b[^.;?!\d]{0,30}?\b("
                              + "|".join(_MULTIPLE) + r")\b", re.I)


def _wished_rate(text: str, start: int, rate: float, found: Found) -> None:
    """A speed wished after one stream's measured speed ("~35 tok/s. can I get to 60?", "would like to double that"):
    the per-token target."""
    multiple = _WISHED_MULTIPLE.search(text, start, start + _WISH_REACH)
    if multiple:
        found.put("slo_tpot_ms", round(1000.0 / (rate * _MULTIPLE[multiple.group(1).lower()]), 3), multiple.group(0))
        return
    for wish in _WISH.finditer(text, start, start + _WISH_REACH):
        if wish.group(2) is not None:
            continue  # a time, read by _later_wishes
        if not (_RATE_AFTER.match(text, wish.end()) or _ALONE.match(text, wish.end())):
            continue
        value = float(wish.group(1).replace(",", "."))
        if rate < value <= 10 * rate:  # a faster stream than today's, in the same unit
            found.put("slo_tpot_ms", round(1000.0 / value, 3), wish.group(0))
            return


def _mfu(text: str, found: Found) -> None:
    """The MFU measured today; a later "drops to X" in the same stretch of text replaces the first figure."""
    for mfu in _MFU.finditer(text):
        value = float((mfu.group(1) or mfu.group(3)).replace(",", "."))
        fraction = value / 100 if (mfu.group(2) or mfu.group(4)) else value
        if not 0 < fraction <= 1:  # "MFU 31%" and "MFU 0.31" are the same figure
            continue
        evidence = mfu.group(0)
        later = _CHANGED_TO.search(text, mfu.end(), mfu.end() + 80)
        if later:
            moved = float(later.group(1).replace(",", "."))
            moved = moved / 100 if later.group(2) else moved
            if 0 < moved <= 1:
                fraction, evidence = moved, later.group(0)
        found.measure("mfu", round(fraction, 4), evidence)
        return


# "cut TPOT from ~18 ms to under 10 ms": today's figure and the target in one phrase
_FROM_TO = re.compile(r"\bfrom\s+" + _NUMBER + r"(?:\s*" + _TIME_UNIT + r")?\s+(?:down\s+)?to\s+(?:under\s+|below\s+|<=?\s*|"
                      r"about\s+|around\s+|at most\s+)?" + _NUMBER + r"\s*" + _TIME_UNIT, re.I)


def _from_to(text: str, found: Found) -> None:
    """A change asked for as "from A to B" after a metric was named in the sentence: B is its target, A today's."""
    for m in _FROM_TO.finditer(text):
        start = sentence_start(text, m.start())
        named = [name for a, _, name in _mentions(text) if start <= a < m.start()]
        if not named or f"slo_{named[-1]}_ms" in found.values:
            continue
        before, after = to_ms(m.group(1), m.group(2) or m.group(4)), to_ms(m.group(3), m.group(4))
        if after < before:
            found.put(f"slo_{named[-1]}_ms", round(after, 3), m.group(0))
            found.measure(f"{named[-1]}_ms", round(before, 3), m.group(0))


def find_targets(text: str, found: Found) -> None:
    """Put SLOs (slo_ttft_ms, slo_tpot_ms, slo_latency_ms) and measured figures into ``found``."""
    _from_to(text, found)
    _ms_per_token(text, found)  # first: a later wish ("product wants 12") is in the unit of today's ms/token
    _latency_targets(text, found)
    _rates(text, found)
    _mfu(text, found)
    _promised_figures(text, found)
    _same_percentile(text, found)


def _same_percentile(text: str, found: Found) -> None:
    """Today's figure at the percentile the target names: "p50 TTFT 900 ms, p99 4.2 s; target is p99 < 1.5 s"
    measures 4.2 s, the figure the target is judged on."""
    for name in ("ttft", "tpot", "latency"):
        key = f"{name}_ms"
        target = found.evidence.get(f"slo_{key}", "")
        wanted = _PERCENTILE.search(target)
        if key not in found.measured or not wanted or wanted.group(0).lower() in found.measured_evidence[key].lower():
            continue
        figure = re.compile(r"\b" + wanted.group(0) + r"\b([^.;\d]{0,24}?)" + _NUMBER + r"\s*" + _TIME_UNIT, re.I)
        for m in figure.finditer(text):
            if _TARGET_WORDS.search(m.group(1) + " ") or re.search(r"\b(?:target|slo|sla|goal)\b", m.group(1), re.I):
                continue  # the target's own figure
            # the metric named last before the percentile (or right after it) is the one it measures
            named = [n for start, end, n in _mentions(text) if end <= m.start() and m.start() - end <= 60
                     or m.start() <= start < m.start() + len(wanted.group(0)) + 12]
            if named and named[-1] == name:
                found.measured[key] = round(to_ms(m.group(2), m.group(3)), 3)
                found.measured_evidence[key] = m.group(0)
                break


_PERCENTILE = re.compile(r"\bp\d{2,3}\b", re.I)


# a sentence that states what is promised or required: its figures are targets ("Targets: sub-second TTFT and 40 ms
# between tokens", "we promise 100 ms to first token and 15 ms per output token", "the product spec says ...")
_PROMISE = re.compile(r"\b(?:targets?|slos?|slas?|goals?|promis\w*|spec(?:ification)?|requirements?|required|must|"
                      r"has to|have to|needs? to|guarantee\w*|tolerate\w*|allowed|threshold|aim(?:s|ing)? (?:at|for))\b",
                      re.I)
# ...unless words of today's state come between the promise and the figure ("the target is 1 s and we see 1.6 s")
_STATE = re.compile(r"\b(?:now|currently|today|we see|we get|we're at|we are at|observed|measured|actual\w*|gives?|"
                    r"getting|seeing|sits?|hovers?|at the moment|right now|is at|are at)\b", re.I)


def _promised_figures(text: str, found: Found) -> None:
    """Turn a figure read as today's into the metric's target when its sentence states a promise before it."""
    for name in ("ttft", "tpot", "latency"):
        key = f"{name}_ms"
        evidence = found.measured_evidence.get(key)
        if key not in found.measured or f"slo_{key}" in found.values or not evidence:
            continue
        at = text.find(evidence)
        if at < 0:
            continue
        start = max(text.rfind(".", 0, at), text.rfind("\n", 0, at), text.rfind("?", 0, at), text.rfind("!", 0, at)) + 1
        promise = None
        for promise in _PROMISE.finditer(text, start, at + len(evidence)):
            pass
        if promise is None or _STATE.search(text, promise.end(), at + len(evidence)):
            continue
        found.put(f"slo_{key}", found.measured.pop(key), found.measured_evidence.pop(key))
