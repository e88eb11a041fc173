"""The answering service: question (+ explicit fields, + conversation) -> ranked, quantified, cited Answer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agent.answer import Answer, PaperRef, Recommendation
from agent.candidates import named_techniques, select_candidates
from agent.citations import cite_technique
from agent.answer import FieldOrigin
from agent.effects import EffectModel, describe_fit, gpus_that_fit, lookup
from agent.guard import screen_question
from agent.intents import read_intents
from agent.names import closest
from agent.ranking import Scored, rank_candidates, why_text
from agent.stacking import build_stack
from agent.workload import Workload, build_indexes, clarify_questions, plan_workload
from index.errors import AccelsageError, NotFound

TOP_N = 5
EFFECT_BUDGET = 16
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
        try:
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
        if w.unknown_gpu and w.origin("gpu") == "assumed":
            names = closest(w.unknown_gpu, [g.name for g in self.catalog.gpus.values()] + list(self.catalog.gpus))
            return Answer(question=text, status="unknown-name",
                          answer=f"I don't have specs for the GPU '{w.unknown_gpu}', so I can't give numbers for it. "
                                 f"Known GPUs include: {', '.join(names or sorted(self.catalog.gpus)[:8])}.",
                          clarify=[f"Which of the known GPUs is closest to {w.unknown_gpu}? (pass --gpu NAME)"])
        far = w.model_size_b and w.unknown_model and w.model and not _size_close(self.catalog.models[w.model], w.model_size_b)
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
        w = plan_workload(text, self.catalog, overrides, previous, self._indexes)
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
        selection = select_candidates(w, self.catalog, context, hits)
        effects_model = self._effects_model(w)
        intents = read_intents(context)
        bottlenecks = effects_model.bottlenecks()
        # the cost model runs only for the best-placed candidates before effects (each run costs milliseconds)
        prior = rank_candidates(selection.candidates, w, intents, {}, bottlenecks)
        effects = {s.technique.id: effects_model.effect([s.technique]) for s in prior[:EFFECT_BUDGET]}
        ranked = rank_candidates(selection.candidates, w, intents, effects, bottlenecks)
        top = ranked[:TOP_N]
        stack = build_stack(ranked, w, effects_model)
        t3 = time.perf_counter()
        recs = [self._recommend(i + 1, s, w, hits) for i, s in enumerate(top)]
        t4 = time.perf_counter()
        timings.update(plan=_ms(t0, t1), retrieve=_ms(t1, t2), rank=_ms(t2, t3), cite=_ms(t3, t4))
        answer = Answer(question=text, workload=w.view(self.catalog), fit=describe_fit(effects_model, ranked),
                        recommendations=recs, stack=stack, clarify=clarify_questions(w, self.catalog),
                        excluded=selection.excluded, warnings=warnings + effects_model.warnings, timings_ms=timings)
        named_out = [t for t in mentioned_techniques(context, self.catalog) if t in selection.excluded]
        answer.warnings += [f"{self.catalog.techniques[t].name} is ruled out: {selection.excluded[t]}." for t in sorted(named_out)]
        answer.answer = summary_text(answer)
        return answer

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

    def _search(self, query: str, warnings: list[str]) -> list[Any]:
        if self.searcher is None:
            warnings.append("No corpus loaded: recommendations carry no citations (run `accelsage refresh`).")
            return []
        return list(self.searcher.search(query, k=QUESTION_HITS))

    def _recommend(self, rank: int, s: Scored, w: Workload, hits: list[Any]) -> Recommendation:
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
        return Recommendation(rank=rank, technique=tech.id, name=tech.name, family=tech.family, score=s.score,
                              why=why_text(s, w), estimate=s.effect.to_estimate() if s.effect else None,
                              caveats=caveats, frameworks=dict(tech.frameworks), papers=papers, citations=citations)


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


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 2)


def _size_close(model: Any, size_b: float) -> bool:
    return 0.6 <= model.params_total / (size_b * 1e9) <= 1.6


def summary_text(answer: Answer) -> str:
    """A short prose summary built only from numbers already in the answer."""
    if not answer.recommendations:
        return "No technique in the catalog applies to this workload under the stated constraints."
    first = answer.recommendations[0]
    names = ", ".join(r.name for r in answer.recommendations[1:4])
    text = f"Start with {first.name}"
    if first.estimate and first.estimate.speedup and first.estimate.speedup > 1.005:
        text += f" (×{first.estimate.speedup:.2f} on {first.estimate.metric} by the cost model)"
    text += f"; then consider {names}." if names else "."
    if answer.stack and answer.stack.estimate and answer.stack.estimate.speedup and len(answer.stack.techniques) > 1:
        text += (f" Combined ({' + '.join(answer.stack.names)}), the cost model gives "
                 f"×{answer.stack.estimate.speedup:.2f} on {answer.stack.estimate.metric}.")
    return text
