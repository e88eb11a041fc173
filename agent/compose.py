"""Compose: turn the ranked, quantified candidates into the answer a person reads.

The first sentence answers the question (the decision and the number that decides it, or the verdict on the
options the question names); then why (the diagnosis); then each recommendation with its numbers, caveats,
framework settings and checked citations; then the warnings about what was assumed.
"""

from __future__ import annotations

import re
from typing import Any

from agent.answer import NO_CHANGE, Answer, PaperRef, Recommendation, change_text, memory_text, metric_words
from agent.candidates import named_techniques
from agent.citations import cite_technique
from agent.effects import lookup
from agent.hardware_papers import paper_covers_gpu
from agent.compare import NO_GAIN, build_options, outweighed, question_form, verdict
from agent.ranking import Scored, knob_of, why_text
from agent.stacking import FitPlan
from agent.workload import Workload


def recommend(rank: int, s: Scored, w: Workload, hits: list[Any], fit: FitPlan, catalog: Any, searcher: Any,
              store: Any) -> Recommendation:
    """One recommendation: why, the effect on the objective, caveats, framework settings, papers and citations."""
    tech = s.technique
    papers = []
    gpu = catalog.gpus.get(w.gpu)
    for pid in tech.papers:
        entry = catalog.papers.get(pid)
        if entry and paper_covers_gpu(entry, gpu, catalog):
            papers.append(PaperRef(paper_id=pid, arxiv_id=entry.arxiv_id, title=entry.title))
    shown = {p.paper_id for p in papers}
    citations = cite_technique(tech, searcher, store, hits) if searcher is not None else []
    citations = [c for c in citations if c.paper_id in shown or catalog.papers.get(c.paper_id) is None]
    caveats = [tech.quality.impact] if not tech.quality.lossless else []
    if tech.requires.retraining:
        caveats.append("needs training or fine-tuning (e.g. of draft heads or the model itself)")
    if tech.requires.calibration_data:
        caveats.append("needs a calibration data set")
    if tech.requires.notes:
        caveats.append(tech.requires.notes)
    if s.effect and s.effect.caveat and "not fit" not in s.effect.caveat:
        caveats.append(s.effect.caveat)
    if "assumed" in s.parts:
        rate = tech.cost_model.params.get("hit_rate")
        caveats.append(f"assumption: the modelled gain needs {rate:.0%} of prompt tokens to hit the cache; the question "
                       "does not say requests share a prefix, so it is not counted in the ranking"
                       if isinstance(rate, (int, float)) else "assumption: the gain needs requests that share a prefix")
    if "alternative" in s.parts:
        caveats.append("an alternative to a higher-ranked technique that sets the same thing; use one of them")
    return Recommendation(rank=rank, technique=tech.id, name=tech.name, family=tech.family, score=s.score,
                          why=why_text(s, w, fit.techniques, fit.effect), estimate=s.effect.to_estimate() if s.effect else None,
                          caveats=caveats, frameworks=dict(tech.frameworks), papers=papers, citations=citations,
                          settings=_settings(tech, w, catalog))


def _settings(tech: Any, w: Workload, catalog: Any) -> str | None:
    """The switch for this technique in the user's framework (its catalog key may be spelled differently)."""
    if not w.framework:
        return None
    framework = catalog.frameworks.get(w.framework)
    keys = {w.framework, w.framework.replace("-", "_"), w.framework.replace(".", ""), w.framework.replace(".", "_")}
    hit = next((v for k, v in tech.frameworks.items() if k in keys), None)
    name = framework.name if framework is not None else w.framework
    return f"{name}: {hit}" if hit else f"{name}: no documented switch in our catalog; check its docs"


def asked_options(text: str, phase: str, technique_index: Any) -> tuple[str | None, list[str]]:
    """The form of the question ("choice", "yes-no" or None) and the techniques it asks about."""
    from agent.reading.findings import Found  # noqa: PLC0415
    from agent.reading.stack import technique_mentions  # noqa: PLC0415

    mentions = [(m.item_id, m.start) for m in technique_mentions(text, technique_index, Found(values={"phase": phase}))]
    return question_form(text, mentions)


def answer_the_form(answer: Answer, w: Workload, model: Any, excluded: dict[str, str],
                    effects: dict[str, Any], recs: list[Recommendation], asked: tuple[str | None, list[str]],
                    fit: FitPlan | None = None, unfitted: Any = None) -> None:
    """For "X or Y?" and "is X worth it?": the named options side by side, and a verdict said first.

    Args:
        asked: the question's form and the options it asks about (:func:`asked_options`).
        fit, unfitted: the stack that made the setup fit and the model before it. An option that would take the
            place of a fit technique (AWQ for GPTQ: one weight format) is measured in that place, the fit stack
            with it swapped in, so both sides of a comparison are measured the same way.
    """
    form, named = asked
    if form is None:
        return
    effects = dict(effects)
    for tech_id in named:
        if tech_id in excluded:
            continue
        swapped = _in_place_of_fit(model.catalog.techniques[tech_id], fit, unfitted)
        if swapped is not None:
            effects[tech_id] = swapped
        elif tech_id not in effects:
            effects[tech_id] = model.effect([model.catalog.techniques[tech_id]])
    answer.options = build_options(named, {r.technique: r for r in recs}, effects, excluded, w.stack, model.catalog)
    instead = _largest_gain(answer.recommendations, named)
    answer.verdict = verdict(form, answer.options, answer.diagnosis, instead)
    if form == "yes-no" and answer.verdict.startswith(("No:", "Not for this workload")):
        # the answer is no: what was asked about is not the first thing to do
        answer.recommendations = [r for r in answer.recommendations if r.technique != named[0]]
    elif form == "yes-no" and outweighed(answer.options[0], instead):
        # a marginal gain beaten by another change's: that change leads
        answer.recommendations = [instead] + [r for r in answer.recommendations if r is not instead]
    for rank, rec in enumerate(answer.recommendations, 1):
        rec.rank = rank
    answer.answer = f"{answer.verdict} {summary_text(answer)}"


# a question whether the setup fits: "does it fit?", "will it fit", "can I run it on one 4090?", "is it possible?"
_FITS_ASKED = re.compile(r"\b(?:does|do|will|would|can|could) (?:it|this|that|they|the model|\w+ \d+(?:\.\d+)?b) (?:even |still )?"
                         r"(?:fit|run|load)\b|\b(?:can|could) (?:i|we) (?:even )?(?:fit|run|load|serve|host|train|fine[\s-]?tune)\b|"
                         r"\bis (?:it|that|this) (?:even )?(?:possible|feasible|doable)\b|\bfits? (?:in|on|into) (?:a |one |our |my |the )?"
                         r"[^.?!]{0,40}\?", re.I)


def answer_fit_question(answer: Answer, text: str, w: Workload, unfitted: Any, fit: FitPlan | None) -> None:
    """For a question whether the setup fits in memory: the answer's first words are yes or no, with the memory per
    GPU against what the GPU has, and the smallest stack that fits when it does not (no other verdict was given)."""
    if answer.verdict or w.objective != "memory" or not any("?" in text[m.end():m.end() + 200] or text.rstrip()
                                                            .endswith("?") for m in _FITS_ASKED.finditer(text)):
        return
    base = unfitted.baseline() or {}
    total, cap = lookup(base, "memory.total_gb"), lookup(base, "memory.capacity_gb")
    if not isinstance(total, (int, float)) or not isinstance(cap, (int, float)):
        return
    ref = " + ".join(t.name for t in unfitted.reference)
    if lookup(base, "memory.fits"):
        answer.verdict = (f"Yes, it fits: about {memory_text(total, per_gpu=True)} of {memory_text(cap)}"
                          + (f", with {ref}." if ref else "."))
    else:
        answer.verdict = f"Not as stated: about {memory_text(total, per_gpu=True)} is needed against {memory_text(cap)}"
        after = fit.effect.after.get("memory.total_gb") if fit and fit.techniques and fit.effect else None
        answer.verdict += (f"; it fits with {' + '.join(t.name for t in fit.techniques)} "
                           f"({memory_text(after, per_gpu=True)})." if isinstance(after, (int, float)) else ".")
    answer.answer = f"{answer.verdict} {answer.answer}"


def _largest_gain(recs: list[Recommendation], named: list[str]) -> Recommendation | None:
    """The recommendation not asked about with the largest material modelled gain, if any."""
    gains = [r for r in recs if r.technique not in named and r.estimate is not None
             and (r.estimate.speedup or 0.0) >= NO_GAIN]
    return max(gains, key=lambda r: r.estimate.speedup, default=None)


def _in_place_of_fit(tech: Any, fit: FitPlan | None, unfitted: Any) -> Any:
    """The option's effect in the fit stack in place of the technique that sets the same knob; None when there is
    no fit stack or the option replaces nothing in it."""
    if not fit or not fit.techniques or unfitted is None or knob_of(tech) is None:
        return None
    rest = [t for t in fit.techniques if knob_of(t) != knob_of(tech)]
    if len(rest) == len(fit.techniques):
        return None
    return unfitted.effect([tech, *rest])


def mentioned_techniques(text: str, catalog: Any) -> set[str]:
    """Techniques named in the text, or whose distinctive id prefix ("fp8", "eagle") is a word of it."""
    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    prefixes: dict[str, list[str]] = {}
    for tech_id in catalog.techniques:
        prefixes.setdefault(tech_id.split("-")[0], []).append(tech_id)
    out = set(named_techniques(text, catalog))
    for prefix, ids in prefixes.items():
        if len(prefix) >= 3 and len(ids) <= 2 and prefix in words:
            out.update(ids)
    return out


def range_words(span: dict | None) -> str:
    """", ×1.6–2.1 for an acceptance rate of 0.7–0.9" or nothing."""
    if not span:
        return ""
    return (f", ×{span['speedup_low']:.2f}–{span['speedup_high']:.2f} with {span['input']} "
            f"{span['low']:g}–{span['high']:g}")


def decision_line(rec: Recommendation) -> str:
    """The first sentence of an answer: what to do, with the number that decides it."""
    est = rec.estimate
    text = f"Use {rec.name}"
    if est and est.speedup and abs(est.speedup - 1) > 0.02:
        before, after = est.before.get(est.metric), est.after.get(est.metric)
        words = metric_words(est.metric)
        if isinstance(before, (int, float)) and isinstance(after, (int, float)):
            text += f": {change_text(est.metric, before, after, est.unit)} by the cost model (×{est.speedup:.2f}"
            text += f"{range_words(est.range)})"
        else:
            text += f": ×{est.speedup:.2f} on {words} by the cost model"
    elif est and est.speedup and abs(est.speedup - 1) >= NO_CHANGE:
        text += (f" for what it addresses; the cost model gives it only ×{est.speedup:.2f} on "
                 f"{metric_words(est.metric)} here")
    else:
        what = f" (no change in {metric_words(est.metric)})" if est else ""
        text += f" for what it addresses; its gain is not modelled for this workload{what}, so measure it on yours"
    return text + "."


def summary_text(answer: Answer) -> str:
    """A short prose summary built only from numbers already in the answer: the decision first, then why."""
    if not answer.recommendations:
        return "No technique in the catalog applies to this workload under the stated constraints."
    fit = set(answer.stack.fit) if answer.stack else set()
    fitting = [r for r in answer.recommendations if r.technique in fit]
    rest = [r for r in answer.recommendations if r.technique not in fit]
    if fitting:
        text = f"First make it fit with {' + '.join(r.name for r in fitting)}. "
        if rest:
            text += "Then " + decision_line(rest[0])[0].lower() + decision_line(rest[0])[1:] + " "
    elif answer.fit:
        # it does not fit and no stack makes it fit: that is the answer, before any speed-up
        text = answer.fit.rstrip(".") + ". "
        if rest:
            text += "Of the techniques that apply: " + decision_line(rest[0])[0].lower() + decision_line(rest[0])[1:] + " "
    else:
        text = decision_line(rest[0]) + " "
    if answer.diagnosis:
        text += f"Why: {answer.diagnosis} "
    names = ", ".join(r.name for r in rest[1:4])
    if names:
        text += f"Next to consider: {names}. "
    stack = answer.stack
    if stack and len(stack.techniques) > 1:
        est = stack.on_top if stack.on_top and stack.on_top.speedup else stack.estimate
        if est and est.speedup:
            where = " on top of the fitted setup" if est is stack.on_top else ""
            text += (f"Combined ({' + '.join(stack.names)}), the cost model gives ×{est.speedup:.2f} on "
                     f"{metric_words(est.metric)}{where}.")
    return text.strip()
