"""The answering service: question (+ explicit fields, + conversation) -> ranked, quantified, cited Answer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.answer import METRIC_WORDS, Answer, PaperRef, Recommendation
from agent.compare import build_options, question_form, verdict
from agent.candidates import Candidate, named_techniques, select_candidates
from agent.citations import cite_technique
from agent.answer import FieldOrigin
from agent.effects import EffectModel, describe_fit, gpus_that_fit, lookup, more_gpus_model
from agent.diagnose import diagnose
from agent.guard import screen_question
from agent.measured import compare_measured
from agent.intents import read_explicit, read_intents
from agent.names import closest
from agent.ranking import Scored, knob_of, quality_tier, rank_candidates, why_text
from agent.stacking import FitPlan, build_stack, find_fit_stack
from agent.workload import TRAINING_PHASES, Workload, build_indexes, clarify_questions, plan_workload
from index.errors import AccelsageError, NotFound

TOP_N = 5
# distinct cost-model effects run per answer (techniques with the same transform and params share one run)
EFFECT_BUDGET = 12
ASKED_EFFECT_BUDGET = 8
# a dedicated intent rule this strong says the user runs without a baseline technique ("waits for the longest request")
BASELINE_MISSING_INTENT = 2.0
# the techniques that make the setup fit are listed first, this far above the best of the rest
FIT_LEAD = 1.0
QUESTION_HITS = 30
# a follow-up this short ("what about on A100?") is read together with the turn before it
FOLLOW_UP_MAX_WORDS = 12


@dataclass
class Conversation:
    """Multi-turn state: the last workload and the questions so far; follow-ups re-plan with the change."""

    workload: Workload | None = None
    questions: list[str] = field(default_factory=list)

    def ask(self, answerer: "Answerer", question: str, overrides: dict[str, Any] | None = None) -> Answer:
        """Answer a turn of this conversation."""
        return answerer.answer(question, overrides=overrides, conversation=self)


class Answerer:
    """Answers technique-selection questions; the default path uses no LLM.

    Args:
        searcher: an ``index.search.Searcher`` (or None when there is no corpus: answers carry no citations).
        catalog: an ``agent.knowledge.Catalog``.
        llm: an optional planner (``agent.llm.planner.LlmPlanner``) that writes the prose; on failure the default path answers.
        calibration: optional cost-model calibration passed to the estimates.
        max_question_chars: longest question accepted.
    """

    def __init__(self, searcher: Any, catalog: Any, llm: Any = None, calibration: Any = None,
                 max_question_chars: int = 4000) -> None:
        self.searcher = searcher
        self.catalog = catalog
        self.llm = llm
        self.calibration = calibration
        self.max_question_chars = max_question_chars
        self._indexes = build_indexes(catalog)
        self.reader = _llm_reader(llm)
        self._profiles = None

    @property
    def store(self) -> Any:
        """The store of the searcher's current snapshot (citations are checked against it)."""
        snapshot = getattr(self.searcher, "snapshot", None)
        return getattr(snapshot, "store", None) or getattr(self.searcher, "store", None)

    def answer(self, question: str, overrides: dict[str, Any] | None = None,
               conversation: Conversation | None = None) -> Answer:
        """Answer one question; never raises for bad input (a safe reply instead)."""
        answer = self.default_answer(question, overrides, conversation)
        if self.llm is not None and answer.status == "ok":
            answer = self.llm.refine(answer, self)
        return answer

    def default_answer(self, question: str, overrides: dict[str, Any] | None = None,
                       conversation: Conversation | None = None) -> Answer:
        """The rule-based answer (no LLM): what the LLM path starts from and falls back to."""
        started = time.perf_counter()
        previous = conversation.questions[-1] if conversation and conversation.questions else ""
        screen = screen_question(question, self.max_question_chars, context=previous)
        warnings = [screen.warning] if screen.warning else []
        if screen.status != "ok":
            return Answer(question=str(question or "")[:500], status="refused", answer=screen.message, warnings=warnings)
        text = screen.question
        from agent.costmodel.memo import shared_evaluations  # noqa: PLC0415 (lazy: refusals stay cheap)

        try:
            # one answer runs dozens of estimates of one workload: equal cost-model evaluations are shared
            with shared_evaluations():
                result = self._answer(text, overrides, conversation, warnings)
        except NotFound as exc:
            result = Answer(question=text, status="unknown-name", answer=str(exc), warnings=warnings)
        except AccelsageError as exc:
            result = Answer(question=text, status="refused", answer=str(exc), warnings=warnings)
        result.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 2)
        return result

    def _context_text(self, text: str, conversation: Conversation | None) -> str:
        if conversation and conversation.questions and len(text.split()) <= FOLLOW_UP_MAX_WORDS:
            return f"{conversation.questions[-1]} {text}"
        return text

    def _unknown_names(self, w: Workload, text: str) -> Answer | None:
        if w.unknown_gpu and w.origin("gpu") == "assumed" and not w.origins["gpu"].note.startswith("no specs for"):
            names = closest(w.unknown_gpu, [g.name for g in self.catalog.gpus.values()] + list(self.catalog.gpus))
            return Answer(question=text, status="unknown-name",
                          answer=f"I don't have specs for the GPU '{w.unknown_gpu}', so I can't give numbers for it. "
                                 f"Known GPUs include: {', '.join(names or sorted(self.catalog.gpus)[:8])}.",
                          clarify=[f"Which of the known GPUs is closest to {w.unknown_gpu}? (pass --gpu NAME)"])
        far = w.model_size_b and w.unknown_model and w.model and not _size_close(w.model_shape(self.catalog), w.model_size_b)
        if w.unknown_model and (far or not w.model_size_b) and w.origin("model") != "explicit":
            names = closest(w.unknown_model, [m.name for m in self.catalog.models.values()] + list(self.catalog.models))
            return Answer(question=text, status="unknown-name",
                          answer=f"I don't know the model '{w.unknown_model}' and no catalog model is near its size, "
                                 f"so I won't guess numbers. Known models include: "
                                 f"{', '.join(names or sorted(self.catalog.models)[:8])}.",
                          clarify=["Which known model has the closest shape? (pass --model NAME)"])
        return None

    def _answer(self, text: str, overrides: dict[str, Any] | None, conversation: Conversation | None,
                warnings: list[str]) -> Answer:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        previous = conversation.workload if conversation else None
        llm_fields: dict[str, Any] = {}
        if self.reader is not None:
            llm_fields, problem = self.reader.read(text, self.catalog)
            if problem:
                warnings.append(f"LLM reader unavailable ({problem}); the workload was read by the rules alone.")
        w = plan_workload(text, self.catalog, overrides, previous, self._indexes, llm_fields)
        unknown = self._unknown_names(w, text)
        if unknown:
            unknown.warnings = warnings
            return unknown
        context = self._context_text(text, conversation)
        if conversation is not None:
            conversation.workload = w
            conversation.questions.append(text)
        t1 = time.perf_counter()
        hits = self._search(context, warnings)
        t2 = time.perf_counter()
        # first: an assumed GPU count may grow to hold the model, which changes what the candidates can use
        effects_model = self._effects_model(w)
        selection = select_candidates(w, self.catalog, context, hits)
        intents, explicit = read_intents(context), read_explicit(context)
        cands, baseline = self._without_baseline(selection.candidates, effects_model, intents)
        relevance = self._relevance(context)
        measured = compare_measured(w, effects_model.baseline())
        diagnosis = diagnose(w, effects_model.baseline(), measured)
        limits = effects_model.bottlenecks() | (diagnosis.relieved_by if diagnosis else frozenset())
        prior = rank_candidates(cands, w, intents, {}, limits, explicit, relevance)
        fit = find_fit_stack(prior, w, effects_model)
        if not fit.techniques:
            effects_model, fit = self._fit_at_smaller_batch(prior, w, effects_model, fit)
        model = effects_model.fitted(fit.techniques) if fit.techniques else _more_gpus(effects_model)
        rest = self._on_top(prior, fit, model, selection.excluded)
        effects = {s.technique.id: model.effect([s.technique]) for s in _effect_budget(rest, w, explicit)}
        ranked = rank_candidates([s.candidate for s in rest], w, intents, effects, model.bottlenecks() | limits,
                                 explicit, relevance)
        ranked = _fit_first(fit, prior, ranked) + ranked
        stack = build_stack(ranked, w, effects_model if fit.techniques else model, fit, model)
        t3 = time.perf_counter()
        recs = [self._recommend(i + 1, s, w, hits, fit) for i, s in enumerate(ranked[:TOP_N])]
        t4 = time.perf_counter()
        timings.update(plan=_ms(t0, t1), retrieve=_ms(t1, t2), rank=_ms(t2, t3), cite=_ms(t3, t4))
        fit_text = describe_fit(effects_model, fit.techniques, fit.effect, on_more_gpus=model.workload.gpu_count != w.gpu_count)
        answer = Answer(question=text, workload=w.view(self.catalog), fit=fit_text,
                        baseline=[t.name for t in effects_model.reference], recommendations=recs, stack=stack,
                        clarify=clarify_questions(w, self.catalog), excluded=selection.excluded,
                        warnings=warnings + effects_model.warnings, timings_ms=timings)
        named = mentioned_techniques(context, self.catalog)
        answer.warnings += [f"{self.catalog.techniques[t].name} is ruled out: {selection.excluded[t]}."
                            for t in sorted(named) if t in selection.excluded]
        answer.warnings += [f"{self.catalog.techniques[t].name} already runs in your stack "
                            f"({w.stack[t]}); the gains shown are on top of it." if t in w.stack else
                            f"{self.catalog.techniques[t].name} is already part of the assumed baseline "
                            f"({' + '.join(answer.baseline)}); the gains shown are on top of it."
                            for t in sorted(named & baseline)]
        if w.unknown_gpu and w.origins["gpu"].note.startswith("no specs for"):
            answer.warnings.append(f"I have no specs for '{w.unknown_gpu}': {w.origins['gpu'].note}.")
        if not w.stack and answer.baseline:
            answer.warnings.append(f"No framework or stack named: the numbers assume a baseline of "
                                   f"{' + '.join(answer.baseline)}; say what you run for a baseline that matches it.")
        answer.measured = measured
        answer.diagnosis = diagnosis.headline if diagnosis else None
        if conversation is not None and answer.clarify:
            answer.follow_up = answer.clarify[0]
        answer.answer = summary_text(answer)
        self._answer_the_form(answer, text, w, model, selection.excluded, effects, recs)
        return answer

    def _answer_the_form(self, answer: Answer, text: str, w: Workload, model: EffectModel, excluded: dict[str, str],
                         effects: dict[str, Any], recs: list[Recommendation]) -> None:
        """For "X or Y?" and "is X worth it?": the named options side by side, and a verdict said first."""
        from agent.reading.findings import Found  # noqa: PLC0415
        from agent.reading.stack import technique_mentions  # noqa: PLC0415

        training = Found(values={"phase": w.phase})
        named = list(dict.fromkeys(m.item_id for m in technique_mentions(text, self._indexes.techniques, training)))
        form = question_form(text, named)
        if form is None:
            return
        effects = dict(effects)
        for tech_id in named:
            if tech_id not in effects and tech_id not in excluded:
                effects[tech_id] = model.effect([self.catalog.techniques[tech_id]])
        answer.options = build_options(named, {r.technique: r for r in recs}, effects, excluded, w.stack, self.catalog)
        answer.verdict = verdict(form, answer.options, answer.diagnosis)
        answer.answer = f"{answer.verdict} {answer.answer}"

    def _without_baseline(self, cands: list[Candidate], effects_model: EffectModel,
                          intents: dict[str, float]) -> tuple[list[Candidate], set[str]]:
        """Drop the reference stack's techniques (and ones they replace with the same effect): they are assumed in
        use. One stays when the question names it, or says the user runs without it ("waits for the longest request")."""
        ref = effects_model.reference
        same = {t.id for t in ref} | {old for t in ref for old in t.relations.supersedes
                                      if old in self.catalog.techniques
                                      and _same_effect(self.catalog.techniques[old], t)}
        # what the user's stack already runs is never recommended, even when the question names it
        running = set(effects_model.workload.stack)
        keep = [c for c in cands if c.technique.id not in running and (
            c.technique.id not in same or c.named or intents.get(c.technique.id, 0.0) >= BASELINE_MISSING_INTENT)]
        return keep, same | running

    def _on_top(self, prior: list[Scored], fit: FitPlan, model: EffectModel, excluded: dict[str, str]) -> list[Scored]:
        """Candidates to rank on top of the fitted setup: not in the fitting stack; disaggregation only when each
        pool can hold the model."""
        out = []
        fitting = {t.id for t in fit.techniques}
        for s in prior:
            tech = s.technique
            if tech.id in fitting:
                continue
            if tech.cost_model.transform == "disaggregation":
                problem = _pool_problem(model)
                if problem:
                    excluded[tech.id] = problem
                    continue
            out.append(s)
        return out

    def _effects_model(self, w: Workload) -> EffectModel:
        """The cost-model runner; an assumed GPU count grows to the fewest GPUs that hold the model."""
        effects_model = EffectModel(self.catalog, w, self.calibration)
        base = effects_model.baseline()
        if base is not None and w.origin("gpu_count") == "assumed" and not w.single_gpu and lookup(base, "memory.fits") is False:
            count = gpus_that_fit(effects_model, limit=64 if w.phase in ("pre-training", "fine-tuning") else 16)
            if count:
                w.gpu_count = count
                w.origins["gpu_count"] = FieldOrigin(origin="assumed", value=count,
                                                     note="the fewest GPUs that hold the model with the reference stack")
                w.notes.append(f"GPU count assumed to be {count}: the fewest that hold the model")
                effects_model = EffectModel(self.catalog, w, self.calibration)
        return effects_model

    def _relevance(self, text: str) -> dict[str, float]:
        """Technique id -> how well its profile matches the question (empty without an embedding model)."""
        embedder = getattr(self.searcher, "query_embedder", None)
        if embedder is None:
            return {}
        if self._profiles is None:
            from agent.relevance import load_profiles  # noqa: PLC0415

            state = getattr(self.searcher, "state", None)
            cache = Path(state.root) / "cache" if state is not None else None
            self._profiles = load_profiles(self.catalog, embedder.embed, embedder.model_id, cache)
        vector_of = getattr(self.searcher, "query_vector", None)
        return self._profiles.relevance(text, vector_of(text) if vector_of else None)

    def _fit_at_smaller_batch(self, prior: list[Scored], w: Workload, effects_model: EffectModel,
                              fit: FitPlan) -> tuple[EffectModel, FitPlan]:
        """When nothing fits at an assumed batch, the largest smaller batch (halving down to 1) at which the
        baseline or a stack fits; the workload takes that batch and says so. Unchanged when none does."""
        base = effects_model.baseline()
        if not base or lookup(base, "memory.fits") is not False or w.origin("batch") != "assumed" or w.batch <= 1:
            return effects_model, fit
        assumed = w.batch
        batch = assumed // 2
        while batch >= 1:
            w.batch = batch
            trial = EffectModel(self.catalog, w, self.calibration)
            trial_fit = find_fit_stack(prior, w, trial)
            if lookup(trial.baseline() or {}, "memory.fits") or trial_fit.techniques:
                w.origins["batch"] = FieldOrigin(origin="assumed", value=batch,
                                                 note=f"the largest batch (halving from {assumed}) at which it fits")
                w.notes.append(f"batch assumed to be {batch}: at the usual {assumed} nothing fits in memory")
                return trial, trial_fit
            batch //= 2
        w.batch = assumed
        return effects_model, fit

    def _search(self, query: str, warnings: list[str]) -> list[Any]:
        if self.searcher is None:
            warnings.append("No corpus loaded: recommendations carry no citations (run `accelsage refresh`).")
            return []
        return list(self.searcher.search(query, k=QUESTION_HITS))

    def _recommend(self, rank: int, s: Scored, w: Workload, hits: list[Any], fit: FitPlan) -> Recommendation:
        tech = s.technique
        papers = []
        for pid in tech.papers:
            entry = self.catalog.papers.get(pid)
            if entry:
                papers.append(PaperRef(paper_id=pid, arxiv_id=entry.arxiv_id, title=entry.title))
        citations = cite_technique(tech, self.searcher, self.store, hits) if self.searcher is not None else []
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
                              caveats=caveats, frameworks=dict(tech.frameworks), papers=papers, citations=citations)


def _llm_reader(llm: Any) -> Any:
    """The structured-output workload reader that shares the planner's chat model (None without an LLM)."""
    model = getattr(llm, "model", None)
    if model is None:
        return None
    from agent.llm.reader import LlmReader  # noqa: PLC0415 (langchain stays off the default path)

    return LlmReader(model, timeout_s=getattr(llm, "timeout_s", 30.0))


def mentioned_techniques(text: str, catalog: Any) -> set[str]:
    """Techniques named in the text, or whose distinctive id prefix ("fp8", "eagle") is a word of it."""
    import re  # noqa: PLC0415

    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    prefixes: dict[str, list[str]] = {}
    for tech_id in catalog.techniques:
        prefixes.setdefault(tech_id.split("-")[0], []).append(tech_id)
    out = set(named_techniques(text, catalog))
    for prefix, ids in prefixes.items():
        if len(prefix) >= 3 and len(ids) <= 2 and prefix in words:
            out.update(ids)
    return out


def _same_effect(a: Any, b: Any) -> bool:
    return a.cost_model.transform == b.cost_model.transform and a.cost_model.params == b.cost_model.params


def _effect_budget(prior: list[Scored], w: Workload, explicit: set[str]) -> list[Scored]:
    """The candidates whose effect is run (each run costs milliseconds).

    Modelled, phase-matched techniques in prior order, those needing retraining or losing notable quality last;
    one per exclusive knob (a second 4-bit method or draft scheme would only rank as an alternative) unless the
    question asks about it; at most EFFECT_BUDGET distinct effects (equal transforms and params share a run).
    """
    training = w.phase in TRAINING_PHASES
    modelled = [s for s in prior if s.technique.cost_model.transform != "none" and s.candidate.phase_match]
    modelled.sort(key=lambda s: (s.technique.requires.retraining and not training, quality_tier(s.technique) >= 3))
    # the one run per knob is its most widely shipped member (a draft model before Jacobi iteration)
    firsts: dict[str, Scored] = {}
    for s in sorted(modelled, key=lambda s: -min(2, len(s.technique.frameworks))):
        firsts.setdefault(knob_of(s.technique) or s.technique.id, s)
    out, signatures, asked_signatures, knobs = [], set(), set(), set()
    for s in modelled:
        if knob_of(s.technique) and firsts[knob_of(s.technique)] is not s and knob_of(s.technique) not in knobs:
            s = firsts[knob_of(s.technique)]
        tech = s.technique
        asked = s.candidate.named or tech.id in explicit or tech.family in explicit
        knob = knob_of(tech)
        if knob in knobs and not asked:
            continue
        cm = tech.cost_model
        signature = (cm.transform, str(sorted(cm.params.items())))
        # what the question asks about always gets numbers (up to its own budget)
        pool = asked_signatures if asked else signatures
        cap = ASKED_EFFECT_BUDGET if asked else EFFECT_BUDGET
        if signature not in signatures | asked_signatures and len(pool) >= cap:
            continue
        pool.add(signature)
        if knob:
            knobs.add(knob)
        out.append(s)
    return out


def _fit_first(fit: FitPlan, prior: list[Scored], ranked: list[Scored]) -> list[Scored]:
    """The fitting stack's techniques as the first recommendations, each with its own memory effect."""
    top = max((s.score for s in ranked), default=0.0)
    out = []
    for i, tech in enumerate(fit.techniques):
        cand = next(s.candidate for s in prior if s.technique is tech)
        score = round(top + FIT_LEAD * (len(fit.techniques) - i), 4)
        out.append(Scored(cand, score, {"fit-stack": score}, fit.singles.get(tech.id)))
    return out


def _more_gpus(effects_model: EffectModel) -> EffectModel:
    """When no stack fits several GPUs: the same workload on the fewest GPUs that hold it (so gains are measured
    on a setup that runs); the model unchanged when it fits, runs on one GPU, or no GPU count holds it."""
    w = effects_model.workload
    # on one GPU (or when asked for one) the useful ranking is what comes closest to fitting on it
    if lookup(effects_model.baseline() or {}, "memory.fits") is not False or w.single_gpu or w.gpu_count < 2:
        return effects_model
    return more_gpus_model(effects_model) or effects_model


def _pool_problem(model: EffectModel) -> str | None:
    """Why prefill/decode disaggregation cannot run here: each pool must hold the whole model."""
    from dataclasses import replace  # noqa: PLC0415

    w = model.workload
    half = w.gpu_count // 2
    if half < 1:
        return "needs separate prefill and decode GPUs"
    trial = EffectModel(model.catalog, replace(w, gpu_count=half), model.calibration).fitted(model.reference)
    if lookup(trial.baseline() or {}, "memory.fits"):
        return None
    return (f"each of the prefill and decode pools must hold the whole model, and {half} GPU(s) cannot; "
            f"it needs at least {2 * w.gpu_count} GPUs here")


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 2)


def _size_close(model: Any, size_b: float) -> bool:
    return 0.6 <= model.params_total / (size_b * 1e9) <= 1.6


def _readable(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def decision_line(rec: Recommendation) -> str:
    """The first sentence of an answer: what to do, with the number that decides it."""
    est = rec.estimate
    text = f"Use {rec.name}"
    if est and est.speedup and abs(est.speedup - 1) > 0.005:
        before, after = est.before.get(est.metric), est.after.get(est.metric)
        words = METRIC_WORDS.get(est.metric, est.metric)
        if isinstance(before, (int, float)) and isinstance(after, (int, float)):
            text += f": {words} {_readable(before)} → {_readable(after)} {est.unit} by the cost model (×{est.speedup:.2f})"
        else:
            text += f": ×{est.speedup:.2f} on {words} by the cost model"
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
                     f"{METRIC_WORDS.get(est.metric, est.metric)}{where}.")
    return text.strip()
