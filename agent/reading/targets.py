"""Read targets and measurements: latency SLOs, a memory budget, and figures the user measured on their setup.

"p99 TTFT under 1 s" is a target; "TTFT is 3 s" is a measurement; "must stay under 20 GB" is a memory budget,
while "a 24GB RTX 4090" only describes a GPU.
"""

from __future__ import annotations

import re

from agent.reading.findings import Found

_NUMBER = r"~?\s?(\d+(?:[.,]\d+)?)"
_TIME_UNIT = r"(ms|milliseconds?|msec|s|secs?|seconds?)\b"
_BOUND = (r"(?:under|below|<=?|≤|less than|at most|within|max(?:imum)?(?: of)?|no more than|not (?:more|higher) than|"
          r"target(?:ing)?(?: of| is)?|slo(?: of| is)?|sla(?: of| is)?|budget(?: of| is)?|should be|must be|needs? to be|"
          r"has to be|sub[\s-]?)")
_PCT = r"(?:p\d{2,3}|median|mean|average|avg|tail)?"
_TTFT = (r"(?:ttft|time[\s-]to[\s-]first[\s-]token|first[\s-]token(?: latency| time| arrives(?: after)?| shows up(?: after)?)?|"
         r"first (?:suggestion|word|chunk)(?: must)?(?: show up| appear| arrive)?|prefill latency)")
_TPOT = (r"(?:tpot|itl|inter[\s-]token(?: latency)?|time per (?:output )?token|per[\s-]token (?:latency|time)|token latency|"
         r"decode latency|tbt|(?:time )?between tokens)")
_E2E = r"(?:end[\s-]to[\s-]end latency|e2e latency|e2e|request latency|response time|latency)"
_SEP = (r"\s*(?:" + _PCT + r"\s*)?(?:slo|target|goal|sla)?\s*(?:(?:of|is|at|=|:|around|about|currently|sits|hovers|runs|"
        r"stays|now|roughly|approx\w*|~)\s*){0,3}")


def _ms(value: str, unit: str) -> float:
    number = float(value.replace(",", "."))
    return number if unit.lower().startswith("m") else number * 1000.0


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
_RATE = r"(?:tok(?:en)?s?/s(?:ec)?|tokens? per second|t/s|tps)"
_PER_USER = r"(?:per (?:user|request|stream|sequence|session)|for (?:a|one|each) user|single[\s-]user)"
_RATE_TARGET = re.compile(r"(?:at least|>=?|≥|minimum(?: of)?|min\.?|above|over|more than|need|want|target(?: of)?)\s*"
                          + _NUMBER + r"\s*" + _RATE + r"\s*" + _PER_USER + "?", re.I)
_MS_PER_TOKEN = re.compile(r"(?:(" + _BOUND + r")\s*)?" + _NUMBER + r"\s*(ms|s)\s*(?:/|per)\s*tok(?:en)?\b", re.I)
# one stream's speed named before the figure: "each user only 8 token/s", "eval rate: 11 tokens/s", "token generation ~8 tok/s"
_STREAM_BEFORE = re.compile(r"(?:\b(?:each|every|per|a single|one)\s+(?:user|stream|request|session)\b|\beval rate\b|"
                            r"\btoken generation\b|\bgeneration speed\b|\bdecode speed\b)[^.;\n]{0,24}$", re.I)
# "Output token throughput (tok/s): 2511.3", "gen throughput (token/s): 6124.55": a log row with the unit first
_RATE_UNIT_FIRST = re.compile(r"throughput\s*\(\s*" + _RATE + r"\s*\)\s*:?\s*(\d+(?:[.,]\d+)?)", re.I)
_RATE_FIGURE = re.compile(_NUMBER + r"\s*([kK])?\s*" + _RATE + r"(?:\s*" + _PER_USER + r")?", re.I)
# "tokens/s plateaus at 61k": the figure after the unit
_RATE_THEN_FIGURE = re.compile(_RATE + r"(?:\s+\w+){0,3}?\s+(?:at|of|is|=|~|around|about)\s*" + _NUMBER + r"\s*([kK])?\b", re.I)
# one stream: a tokens/s figure is the per-token speed of that stream
_ONE_STREAM = re.compile(r"single[\s-]user|one user|only me|just me|for myself|one request at a time|single stream|"
                         r"\bbatch(?: size)?(?: of)? 1\b|\bbs\s*=?\s*1\b|\bdecode\b", re.I)
_PERCENT = r"(%|\s*percent\b)"
# "MFU 0.43", "MFU lies by 29 percent", "0.37 MFU", "31% MFU"; a figure above 1 without a percent sign is not an MFU
_MFU = re.compile(r"\bmfu\b(?:\s+(?:[a-z]+)){0,3}?\s*[:=~]?\s*"
                  + r"(?:\d+(?:[.,]\d+)?\s*%?\s*(?:->|→|to)\s*)?" + _NUMBER + _PERCENT + r"?|" + _NUMBER + _PERCENT
                  + r"?\s*mfu\b", re.I)
# a figure that changed: "drops to 0.27", "went down to 31%": the later one is today's
_CHANGED_TO = re.compile(r"\b(?:drops?|dropped|falls?|fell|goes|went|degrades?|degraded|slips?|slipped|down)\s+(?:down\s+)?to\s+"
                         + _NUMBER + _PERCENT + r"?", re.I)
_GB = r"(?:gb|gib|g)\b(?!/s|\s*/\s*s|ps)"
_BUDGET = re.compile(r"(?:under|below|within|at most|less than|maximum(?: of)?|max of|no more than|only (?:have|got|has)|"
                     r"budget of|limit(?:ed)? (?:of|to)|cap\w* (?:\w+ ){0,3}?(?:of|at|to)|fits? (?:in|into|within)(?: the [\w']+)?|stay (?:under|below|within)|"
                     r"restricted to|constrained to)\s*(?:about |around |~)?" + _NUMBER + r"\s*" + _GB + r"(?!\s*(?:gpus?|cards?|"
                     r"rtx|a100|h100|l40|a6000|version|variant|model))|" + _NUMBER + r"\s*" + _GB
                     + r"\s*(?:of\s+)?(?:vram\s+|memory\s+|ram\s+)?(?:free|available|left|spare|to spare|of headroom|budget|"
                     r"limit|cap|max)\b", re.I)
_MEMORY_FIGURE = re.compile(r"(?:uses?|using|takes?|taking|eats?|consum\w+|occup\w+|allocat\w+|peaks? at|at|hits?|reach\w*|"
                            r"(?:says|shows|reports|reads)|"
                            r"peak (?:memory|vram|usage)(?: is| of| at)?|"
                            r"usage (?:is|of)|footprint (?:is|of)|memory (?:is|of))\s*(?:about |around |~|over |almost )?"
                            + _NUMBER + r"\s*" + _GB + r"|" + _NUMBER + r"\s*" + _GB + r"\s*(?:used|in use|allocated|peak)",
                            re.I)


# a figure stated after a metric: the rest of the sentence, up to this many characters
_WINDOW = 48
_FIGURE = re.compile(_NUMBER + r"\s*" + _TIME_UNIT)
# whole words only: "feels slow (~55ms)" is a figure, not an SLO
_TARGET_WORDS = re.compile(r"(?:<|≤|\bsub[\s-]?|\b(?:under|below|less than|at most|within|no more than|target|slo|sla|goal|"
                           r"budget|cap|limit|need|needs|want|must|should|has to|have to|required|aim|max(?:imum)?)\b)"
                           r"\W*(?:\w+\W+){0,3}$", re.I)
# a figure before the metric: "~30s TTFT", "takes 40s to first token"
_BEFORE = {"ttft": re.compile(_NUMBER + r"\s*" + _TIME_UNIT + r"\s*(?:to (?:the )?first token|(?:of\s+)?" + _PCT + r"\s*"
                              + _TTFT + r")", re.I),
           "tpot": re.compile(_NUMBER + r"\s*" + _TIME_UNIT + r"\s*(?:of\s+)?" + _PCT + r"\s*" + _TPOT, re.I),
           "latency": re.compile(_NUMBER + r"\s*" + _TIME_UNIT + r"\s*(?:of\s+)?" + _PCT + r"\s*" + _E2E, re.I)}
# a whole request's time without the word latency: "takes about 4s", "2.5s per answer", "30s per request"
_REQUEST_TIME = re.compile(r"(?:takes?|taking|took|needs?|needed|requires?)\s*(?:about|around|~|roughly|over|almost)?\s*"
                           + _NUMBER + r"\s*" + _TIME_UNIT + r"|" + _NUMBER + r"\s*" + _TIME_UNIT
                           + r"\s*(?:(?:per|for (?:each|an?|one)|an?)\s*"
                           r"(?:\d+[\s-]*tok(?:en)?s?[\s-]*)?(?:answer|request|response|reply|query|generation|completion|call)"
                           r"|for\s+(?:about\s+|~)?\d+\s*(?:output\s+)?tokens\b)", re.I)
_PREFILL_TIME = re.compile(r"prefill\b[^.;?!]{0,40}?(?:takes?|took|is|of)\s*(?:about|around|~)?\s*" + _NUMBER + r"\s*"
                           + _TIME_UNIT, re.I)
_KINDS = {"ttft": re.compile(_TTFT, re.I), "tpot": re.compile(_TPOT, re.I), "latency": re.compile(_E2E, re.I)}
# "Time to first token (ms)   avg 612.4": a table or log row whose unit comes before the value
_UNIT_FIRST = {name: re.compile(kind + r"\s*\((ms|s)\)[^\d\n]{0,24}?" + _NUMBER, re.I)
               for name, kind in (("ttft", _TTFT), ("tpot", _TPOT))}
# "we're at 11 ms": today's figure said after a target
_NOW_FIGURE = re.compile(r"\b(?:we(?:'re| are)(?: currently| now)? at|currently(?: at)?|today(?: it's| it is)?|right now|"
                         r"now (?:at|it's))\s*(?:about |around |~)?" + _NUMBER + r"\s*" + _TIME_UNIT, re.I)


_ARROW = re.compile(r"\s*(?:->|→|=>)\s*" + _NUMBER + r"\s*" + _TIME_UNIT)


def _sentence_after(text: str, end: int) -> str:
    """The rest of the sentence after ``end`` (a decimal point does not end it), at most _WINDOW characters."""
    tail = text[end:end + _WINDOW]
    stop = re.search(r"[;?!]|\.(?!\d)", tail)
    return tail[:stop.start()] if stop else tail


# a wish stated after a metric was named, possibly in a later sentence: "SLO is 2s", "Boss require it less than 1.5s",
# "want under 20", "we would like to descend under 1 second"
_WISH = re.compile(r"\b(?:slo|sla|target|goal|budget|requires?|required|requirement|expect\w*|needs?|wants?|would like|"
                   r"aim\w*|must|should|has to|have to|get (?:it )?(?:to|down to))\b[^.;?!\d]{0,32}?~?\s?(\d+(?:[.,]\d+)?)"
                   r"\s*(ms|milliseconds?|msec|s|secs?|seconds?|sec)?\b", re.I)
_WISH_REACH = 220


def _later_wishes(text: str, found: Found) -> None:
    """Targets stated after the metric they bound; a bare number takes the unit of that metric's figure."""
    mentions = sorted((m.start(), m.end(), name) for name, kind in _KINDS.items() for m in kind.finditer(text))
    for wish in _WISH.finditer(text):
        before = [m for m in mentions if m[1] <= wish.start() and wish.start() - m[1] <= _WISH_REACH]
        if not before:
            continue
        name = before[-1][2]
        if f"slo_{name}_ms" in found.values:
            continue
        unit = wish.group(2)
        if unit is None:
            shown = found.measured.get(f"{name}_ms")
            value = float(wish.group(1).replace(",", "."))
            # a bare number is in the unit of the figure it improves on ("31 ms, want under 20")
            if shown is None or not 0.05 * shown <= value <= 2 * shown:
                continue
            found.put(f"slo_{name}_ms", value, wish.group(0))
        else:
            found.put(f"slo_{name}_ms", round(_ms(wish.group(1), unit), 3), wish.group(0))


def _latency_targets(text: str, found: Found) -> None:
    """Targets and measured figures for TTFT, per-token time and end-to-end latency."""
    for name, kind in _KINDS.items():
        for mention in kind.finditer(text):
            after = _sentence_after(text, mention.end())
            for value in _FIGURE.finditer(after):
                between = after[:value.start()]
                if _KINDS["ttft"].search(between) or _KINDS["tpot"].search(between):
                    break  # the figure belongs to another metric named in between
                ms = round(_ms(value.group(1), value.group(2)), 3)
                evidence = text[mention.start():mention.end() + value.end()]
                if _TARGET_WORDS.search(between):
                    found.put(f"slo_{name}_ms", ms, evidence)
                    now = _NOW_FIGURE.search(text, mention.end() + value.end(), mention.end() + value.end() + 80)
                    if now:
                        found.measure(f"{name}_ms", round(_ms(now.group(1), now.group(2)), 3), now.group(0))
                else:
                    moved = _ARROW.match(text, mention.end() + value.end())  # "31ms -> 44ms": today's is the later
                    if moved:
                        ms, evidence = round(_ms(moved.group(1), moved.group(2)), 3), evidence + moved.group(0)
                    found.measure(f"{name}_ms", ms, evidence)
        if name == "ttft" and _SUB_SECOND.search(text):
            found.put("slo_ttft_ms", 1000.0, _SUB_SECOND.search(text).group(0))
        for target in (_LATENCIES[name][1].finditer(text)):
            found.put(f"slo_{name}_ms", round(_ms(target.group(1), target.group(2)), 3), target.group(0))
        first = _UNIT_FIRST.get(name)
        row = first.search(text) if first else None
        if row:
            found.measure(f"{name}_ms", round(_ms(row.group(2), row.group(1)), 3), row.group(0))
        for m in _BEFORE[name].finditer(text):
            if not re.search(_BOUND + r"\s*$", text[max(0, m.start() - 14):m.start()], re.I):
                found.measure(f"{name}_ms", round(_ms(m.group(1), m.group(2)), 3), m.group(0))
    _later_wishes(text, found)
    prefill = _PREFILL_TIME.search(text)
    if prefill:
        found.measure("ttft_ms", round(_ms(prefill.group(1), prefill.group(2)), 3), prefill.group(0))
    request = _REQUEST_TIME.search(text)
    if request:
        value, unit = (request.group(1), request.group(2)) if request.group(1) else (request.group(3), request.group(4))
        found.measure("latency_ms", round(_ms(value, unit), 3), request.group(0))


def _rates(text: str, found: Found) -> None:
    target = _RATE_TARGET.search(text)
    if target and (re.search(_PER_USER, target.group(0), re.I) or float(target.group(1).replace(",", ".")) <= 150):
        found.put("slo_tpot_ms", round(1000.0 / float(target.group(1).replace(",", ".")), 3), target.group(0))
    for m in _MS_PER_TOKEN.finditer(text):
        line = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
        if re.search(r"\bprompt\b", line, re.I):
            continue  # "prompt eval time = ... (1.32 ms per token)": prefill, not the time per output token
        value = _ms(m.group(2), m.group(3))
        if m.group(1):
            found.put("slo_tpot_ms", round(value, 3), m.group(0))
        else:
            found.measure("tpot_ms", round(value, 3), m.group(0))
    one_stream = bool(_ONE_STREAM.search(text))
    figures = [(m, m.group(1), m.group(2)) for m in _RATE_FIGURE.finditer(text)]
    figures += [(m, m.group(1), m.group(2)) for m in _RATE_THEN_FIGURE.finditer(text)]
    for m, number, thousands in sorted(figures, key=lambda f: f[0].start()):
        if target and m.start() >= target.start() and m.end() <= target.end():
            continue
        value = float(number.replace(",", "")) * (1000 if thousands else 1)
        if value <= 0:
            continue
        stream = _STREAM_BEFORE.search(text[max(0, m.start() - 60):m.start()])
        if re.search(_PER_USER, m.group(0), re.I) or stream or (one_stream and value < 300):
            found.measure("tpot_ms", round(1000.0 / value, 3), m.group(0))
        else:
            found.measure("throughput_tok_s", value, m.group(0))
    row = _RATE_UNIT_FIRST.search(text)
    if row:
        found.measure("throughput_tok_s", float(row.group(1).replace(",", "")), row.group(0))


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


def find_targets(text: str, found: Found) -> None:
    """Put SLOs (slo_ttft_ms, slo_tpot_ms, slo_latency_ms), memory_budget_gb and measured figures into ``found``."""
    _latency_targets(text, found)
    _rates(text, found)
    _mfu(text, found)
    budget = _BUDGET.search(text)
    if budget:
        found.put("memory_budget_gb", float((budget.group(1) or budget.group(2)).replace(",", ".")), budget.group(0))
    memory = _MEMORY_FIGURE.search(text)
    if memory and not (budget and budget.start() <= memory.start() < budget.end()):
        found.measure("memory_gb", float((memory.group(1) or memory.group(2)).replace(",", ".")), memory.group(0))
