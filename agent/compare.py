"""Answer the question asked: "X or Y?" and "is X worth it?" get the named options side by side and a verdict.

The options are the techniques the question names; each is shown with the cost model's effect on the user's
objective for their workload, or with why it cannot run there, and the verdict follows from those numbers.
"""

from __future__ import annotations

import re
from typing import Any

from agent.answer import Option, Recommendation, effect_words
from agent.ranking import quality_tier

# the forms of question: choosing between named options, or asking whether one is worth it
_CHOICE = re.compile(r"\b(?:or|vs\.?|versus|compared? (?:to|with)|against|better than|instead of|rather than|which)\b", re.I)
_YES_NO = re.compile(r"\b(?:worth|do (?:i|we) need|should (?:i|we)|is it|does it|would it|will it|help|pay off|"
                     r"make sense|any (?:gain|benefit|point)|necessary|needed)\b", re.I)
# below this the cost model sees no real change on the objective; below WORSE it makes it worse
NO_GAIN = 1.02
WORSE = 0.98
# a yes/no about a change with a modelled gain under MARGINAL is answered "marginal" when another change's gain is at
# least OUTWEIGHS times as large
MARGINAL = 1.2
OUTWEIGHS = 1.15
QUALITY_WORDS = {0: "lossless", 1: "near-lossless", 2: "small quality loss", 3: "notable quality loss",
                 4: "drops information"}


# a sentence asks a yes/no question when it opens with an auxiliary verb ("is", "do we", "can", "should", ...);
# one that opens with a question word asks for a choice, a method or a quantity, and its answer is a decision
_AUXILIARY = re.compile(r"^(?:(?:so|and|but|then|also|ok(?:ay)?|well|now|honestly|quick question)[\s,]+)*(?:is|are|was|were|"
                        r"do|does|did|should|shall|can|could|would|will|has|have|had|must|may|might|isn't|aren't|"
                        r"don't|doesn't|won't|wouldn't|shouldn't|can't|couldn't)\b", re.I)
_QUESTION_WORD = re.compile(r"^(?:(?:so|and|but|then|also|ok(?:ay)?|well|now)[\s,]+)*(?:what|how|which|why|where|when|who|"
                            r"whose|options?|alternatives?|ideas?|suggestions?|anything|any other|next)\b", re.I)
# sentence ends: "?" or "!" always; ".", ";" or ":" before a space (so "3.1" and "8x7B:" in a name stay whole)
_SENTENCE_END = re.compile(r"[?!]+|[.;:](?=\s)|\n+")


def asked_sentences(text: str) -> list[tuple[int, int]]:
    """The spans of the sentences that ask something: those ending in "?" (the whole text when none does)."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if "?" in m.group(0):
            spans.append((start, m.end()))
        start = m.end()
    return spans or [(0, len(text))]


def _sentence_form(sentence: str) -> str | None:
    """'yes-no' when the sentence itself is a yes/no question, 'open' when a question word leads it, else None."""
    body = sentence.strip().lstrip("-*>•,;: ")
    if _QUESTION_WORD.match(body):
        return "open"
    if _AUXILIARY.match(body) or _YES_NO.search(body):
        return "yes-no"
    return None


def question_form(text: str, mentions: list[tuple[str, int]]) -> tuple[str | None, list[str]]:
    """The form of the question and the options it asks about, from the techniques named inside its questions.

    'choice' for "X or Y?", 'yes-no' for "is X worth it?" (a sentence that is itself a yes/no question about a named
    technique), None for an open question ("what next?", "how do I ...?"): a technique named only in the setup
    ("we run chunked prefill. next step?") is not an option under question.

    Args:
        mentions: (technique id, character offset) of each technique named in the text, in order.
    """
    for start, end in asked_sentences(text):
        sentence = text[start:end]
        named = list(dict.fromkeys(tech for tech, at in mentions if start <= at < end))
        if len(named) >= 2 and _CHOICE.search(sentence):
            return "choice", named
        form = _sentence_form(sentence)
        # "FP8 on an A100?": a bare option put as a question asks whether to use it
        leading = named and form is None and min(at for _, at in mentions if start <= at < end) - start <= (
            len(sentence) - len(sentence.lstrip(" \n-*>•,;:")))
        if named and (form == "yes-no" or leading):
            return "yes-no", named[:1]
    return None, []


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
    return effect_words(option.estimate)


def verdict(form: str, options: list[Option], diagnosis: str | None, instead: Recommendation | None = None) -> str:
    """The first sentence of the answer for a choice or a yes/no question, from the options' numbers.

    Args:
        instead: for a yes/no question, the other recommendation with the largest modelled gain on the objective,
            said right after a no or an unclear verdict.
    """
    why = f" {diagnosis}" if diagnosis else ""
    if form != "yes-no":
        return _choice(options, why)
    said = _yes_no(options[0])
    if outweighed(options[0], instead):
        said = (f"Marginal: {options[0].name} gives {_effect_words(options[0])} by the cost model, while "
                f"{instead.name} gives {effect_words(instead.estimate)}; do that first.")
    elif instead is not None and not said.startswith("Yes"):
        said += f" The largest modelled gain here is {instead.name}: {effect_words(instead.estimate)}."
    return said + why


def outweighed(option: Option, instead: Recommendation | None) -> bool:
    """Whether a small modelled gain from what was asked about is clearly beaten by another change's."""
    if instead is None or instead.estimate is None or not instead.estimate.speedup or option.ruled_out:
        return False
    gain = _gain(option)
    return NO_GAIN <= gain < MARGINAL and instead.estimate.speedup >= OUTWEIGHS * gain


def _yes_no(option: Option) -> str:
    if option.ruled_out:
        return f"No: {option.name} {option.ruled_out}."
    if _gain(option) >= NO_GAIN:
        return f"Yes: {option.name} gives {_effect_words(option)} by the cost model ({option.quality})."
    if option.estimate is None or not option.estimate.speedup:
        return (f"Likely, but unquantified: the cost model has no figure for {option.name} on this workload, so it "
                f"is judged on what it addresses ({option.quality}).")
    if _gain(option) <= WORSE:
        return (f"Not for this workload: the cost model gives {option.name} {_effect_words(option)} on your "
                f"objective here, a loss.")
    return (f"Not on the cost model's numbers: it gives {option.name} {_effect_words(option)} here. It pays off "
            f"only if what it relieves is what limits your setup, so measure it before relying on it.")


def _choice(options: list[Option], why: str) -> str:
    usable = [o for o in options if not o.ruled_out]
    if not usable:
        return "Neither fits here: " + "; ".join(f"{o.name} {o.ruled_out}" for o in options) + "."
    best = max(usable, key=lambda o: (_gain(o), -list(QUALITY_WORDS.values()).index(o.quality)))
    others = "; ".join(f"{o.name}: {o.ruled_out or _effect_words(o) + ', ' + o.quality}" for o in options if o is not best)
    if _gain(best) < NO_GAIN:
        return (f"The cost model shows no clear winner on your objective ({', '.join(o.name for o in usable)}); "
                f"choose on quality and support: {others or best.quality}.{why}")
    return f"{best.name}: {_effect_words(best)} by the cost model ({best.quality}); {others}.{why}"
