"""Answer the question asked: "X or Y?" and "is X worth it?" get the named options side by side and a verdict.

The options are the techniques the question names; each is shown with the cost model's effect on the user's
objective for their workload, or with why it cannot run there, and the verdict follows from those numbers.
"""

from __future__ import annotations

import re
from typing import Any

from agent.answer import Option, Recommendation, metric_words
from agent.ranking import quality_tier

# the forms of question: choosing between named options, or asking whether one is worth it
_CHOICE = re.compile(r"\b(?:or|vs\.?|versus|compared? (?:to|with)|against|better than|instead of|rather than|which)\b", re.I)
_YES_NO = re.compile(r"\b(?:worth|do (?:i|we) need|should (?:i|we)|is it|does it|would it|will it|help|pay off|"
                     r"make sense|any (?:gain|benefit|point)|necessary|needed)\b", re.I)
# below this the cost model sees no real change on the objective; below WORSE it makes it worse
NO_GAIN = 1.02
WORSE = 0.98
QUALITY_WORDS = {0: "lossless", 1: "near-lossless", 2: "small quality loss", 3: "notable quality loss",
                 4: "drops information"}


def question_form(text: str, named: list[str]) -> str | None:
    """'choice' for "X or Y?", 'yes-no' for "is X worth it?", None for an open question."""
    if len(named) >= 2 and _CHOICE.search(text):
        return "choice"
    if len(named) == 1 and (_YES_NO.search(text) or text.rstrip().endswith("?")):
        return "yes-no"
    return None


def build_options(named: list[str], recs: dict[str, Recommendation], effects: dict[str, Any], excluded: dict[str, str],
                  stack: dict[str, str], catalog: Any) -> list[Option]:
    """One option per named technique: its effect here, or why it is out."""
    out = []
    for tech_id in named:
        tech = catalog.techniques[tech_id]
        effect = effects.get(tech_id)
        estimate = effect.to_estimate() if effect is not None else (recs[tech_id].estimate if tech_id in recs else None)
        reason = excluded.get(tech_id) or (f"already runs in your stack ({stack[tech_id]})" if tech_id in stack else None)
        out.append(Option(technique=tech_id, name=tech.name, estimate=estimate, ruled_out=reason,
                          quality=QUALITY_WORDS[quality_tier(tech)],
                          rank=recs[tech_id].rank if tech_id in recs else None))
    return out


def _gain(option: Option) -> float:
    est = option.estimate
    return est.speedup if est is not None and est.speedup else 1.0


def _effect_words(option: Option) -> str:
    est = option.estimate
    if est is None or not est.speedup:
        return "no modelled effect"
    return f"×{est.speedup:.2f} on {metric_words(est.metric)}"


def verdict(form: str, options: list[Option], diagnosis: str | None) -> str:
    """The first sentence of the answer for a choice or a yes/no question, from the options' numbers."""
    why = f" {diagnosis}" if diagnosis else ""
    if form == "yes-no":
        option = options[0]
        if option.ruled_out:
            return f"No: {option.name} {option.ruled_out}.{why}"
        if _gain(option) >= NO_GAIN:
            return f"Yes: {option.name} gives {_effect_words(option)} by the cost model ({option.quality}).{why}"
        if option.estimate is None or not option.estimate.speedup:
            return (f"Likely, but unquantified: the cost model has no figure for {option.name} on this workload, so it "
                    f"is judged on what it addresses ({option.quality}).{why}")
        if _gain(option) <= WORSE:
            return (f"Not for this workload: the cost model gives {option.name} {_effect_words(option)} on your "
                    f"objective here, a loss.{why}")
        return (f"Unclear from the cost model: it shows no change on your objective from {option.name} here; what it "
                f"relieves may not be what limits this workload ({option.quality}).{why}")
    usable = [o for o in options if not o.ruled_out]
    if not usable:
        return "Neither fits here: " + "; ".join(f"{o.name} {o.ruled_out}" for o in options) + "."
    best = max(usable, key=lambda o: (_gain(o), -list(QUALITY_WORDS.values()).index(o.quality)))
    others = "; ".join(f"{o.name}: {o.ruled_out or _effect_words(o) + ', ' + o.quality}" for o in options if o is not best)
    if _gain(best) < NO_GAIN:
        return (f"The cost model shows no clear winner on your objective ({', '.join(o.name for o in usable)}); "
                f"choose on quality and support: {others or best.quality}.{why}")
    return f"{best.name}: {_effect_words(best)} by the cost model ({best.quality}); {others}.{why}"
