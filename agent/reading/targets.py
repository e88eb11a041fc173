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
_TTFT = r"(?:ttft|time[\s-]to[\s-]first[\s-]token|first[\s-]token(?: latency| time)?|prefill latency)"
_TPOT = (r"(?:tpot|itl|inter[\s-]token(?: latency)?|time per (?:output )?token|per[\s-]token latency|token latency|"
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
_RATE_FIGURE = re.compile(_NUMBER + r"\s*([kK])?\s*" + _RATE + r"(?:\s*" + _PER_USER + r")?", re.I)
_MFU = re.compile(r"\bmfu\s*(?:of|is|at|=|:|around|about|~)?\s*" + _NUMBER + r"\s*%|" + _NUMBER + r"\s*%\s*mfu\b", re.I)
_GB = r"(?:gb|gib|g)\b(?!/s|\s*/\s*s|ps)"
_BUDGET = re.compile(r"(?:under|below|within|at most|less than|max(?:imum)?(?: of)?|no more than|only (?:have|got|has)|"
                     r"budget of|limit(?:ed)? (?:of|to)|cap(?:ped)? (?:of|at)|fit (?:in|into|within)|stay (?:under|below|within)|"
                     r"restricted to|constrained to)\s*(?:about |around |~)?" + _NUMBER + r"\s*" + _GB + r"(?!\s*(?:gpus?|cards?|"
                     r"rtx|a100|h100|l40|a6000|version|variant|model))|" + _NUMBER + r"\s*" + _GB
                     + r"\s*(?:of\s+)?(?:vram\s+|memory\s+|ram\s+)?(?:free|available|left|spare|to spare|of headroom|budget|"
                     r"limit|cap|max)\b", re.I)
_MEMORY_FIGURE = re.compile(r"(?:uses?|using|takes?|taking|eats?|consum\w+|occup\w+|allocat\w+|peaks? at|at|hits?|reach\w*|"
                            r"usage (?:is|of)|footprint (?:is|of)|memory (?:is|of))\s*(?:about |around |~|over |almost )?"
                            + _NUMBER + r"\s*" + _GB + r"|" + _NUMBER + r"\s*" + _GB + r"\s*(?:used|in use|allocated|peak)",
                            re.I)


def _latency_targets(text: str, found: Found) -> None:
    for name, (after, before, figure) in _LATENCIES.items():
        target = after.search(text) or before.search(text)
        if target:
            found.put(f"slo_{name}_ms", round(_ms(target.group(1), target.group(2)), 3), target.group(0))
        elif name == "ttft" and _SUB_SECOND.search(text):
            found.put("slo_ttft_ms", 1000.0, _SUB_SECOND.search(text).group(0))
        else:
            for m in figure.finditer(text):
                later = _LATER_TARGET.match(text, m.end())
                if later:
                    found.put(f"slo_{name}_ms", round(_ms(later.group(1), later.group(2)), 3), later.group(0))
                    break
        measured = next((m for m in figure.finditer(text) if not (target and m.start() == target.start())), None)
        if measured and not re.search(_BOUND + r"\s*$", text[max(0, measured.start() - 14):measured.start()], re.I):
            found.measure(f"{name}_ms", round(_ms(measured.group(1), measured.group(2)), 3), measured.group(0))


def _rates(text: str, found: Found) -> None:
    target = _RATE_TARGET.search(text)
    if target and (re.search(_PER_USER, target.group(0), re.I) or float(target.group(1).replace(",", ".")) <= 150):
        found.put("slo_tpot_ms", round(1000.0 / float(target.group(1).replace(",", ".")), 3), target.group(0))
    for m in _MS_PER_TOKEN.finditer(text):
        value = _ms(m.group(2), m.group(3))
        if m.group(1):
            found.put("slo_tpot_ms", round(value, 3), m.group(0))
        else:
            found.measure("tpot_ms", round(value, 3), m.group(0))
    for m in _RATE_FIGURE.finditer(text):
        if target and m.start() >= target.start() and m.end() <= target.end():
            continue
        value = float(m.group(1).replace(",", "")) * (1000 if m.group(2) else 1)
        if value <= 0:
            continue
        if re.search(_PER_USER, m.group(0), re.I):
            found.measure("tpot_ms", round(1000.0 / value, 3), m.group(0))
        else:
            found.measure("throughput_tok_s", value, m.group(0))


def find_targets(text: str, found: Found) -> None:
    """Put SLOs (slo_ttft_ms, slo_tpot_ms, slo_latency_ms), memory_budget_gb and measured figures into ``found``."""
    _latency_targets(text, found)
    _rates(text, found)
    mfu = _MFU.search(text)
    if mfu:
        found.measure("mfu", round(float((mfu.group(1) or mfu.group(2)).replace(",", ".")) / 100, 4), mfu.group(0))
    budget = _BUDGET.search(text)
    if budget:
        found.put("memory_budget_gb", float((budget.group(1) or budget.group(2)).replace(",", ".")), budget.group(0))
    memory = _MEMORY_FIGURE.search(text)
    if memory and not (budget and budget.start() <= memory.start() < budget.end()):
        found.measure("memory_gb", float((memory.group(1) or memory.group(2)).replace(",", ".")), memory.group(0))
