"""The answering service: question (+ explicit fields, + conversation) -> ranked, quantified, cited Answer.

A question walks down the stages once: read (``workload``) -> retrieve (``index.search``) -> quantify the user's
stack and diagnose (``quantify``, ``diagnose``) -> candidates (``candidates``) -> rank (``relevance``, ``ranking``,
``stacking``) -> compose (``compose``). This module only calls them in order.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.answer import Answer
from agent.candidates import select_candidates, without_needless_offload
from agent.compose import (
    answer_fit_question,
    answer_the_form,
    asked_options,
    mentioned_techniques,
    recommend,
    summary_text,
)
from agent.diagnose import diagnose
from agent.effects import describe_fit
from agent.guard import screen_question
from agent.measured import compare_measured
from agent.names import closest
from agent.quantify import (
    doubted_default,
    effect_budget,
    effects_model_for,
    fit_at_smaller_batch,
    fit_first,
    fit_is_advice,
    more_gpus,
    on_top,
    uncertainty_range,
    without_baseline,
)
from agent.ranking import for_better_outputs, prerequisites_first, rank_candidates, shown_picks
from agent.relevance import clear_subject, intents_from_relevance, named_families
from agent.stacking import build_stack, find_fit_stack
from agent.workload import TRAINING_PHASES, Workload, build_indexes, clarify_questions, plan_workload
from index.errors import AccelsageError, NotFound

TOP_N = 5
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
        t0 = time.perf_counter()
        w = self._read(text, overrides, conversation, warnings)
        unknown = self._unknown_names(w, text)
        if unknown:
            unknown.warnings = warnings
            return unknown
        context = self._context_text(text, conversation)
        if conversation is not None:
            conversation.workload = w
            conversation.questions.append(text)
        t1 = time.perf_counter()
        # retrieval and relevance both see the problem, not the setup (one question embedding for both)
        problem = problem_statement(context, self._indexes)
        hits = self._search(problem, warnings)
        t2 = time.perf_counter()
        # quantify the user's stack first: an assumed GPU count may grow to hold the model
        effects_model = effects_model_for(self.catalog, w, self.calibration)
        measured = compare_measured(w, effects_model.baseline())
        diagnosis = diagnose(w, effects_model.baseline(), measured)
        relevance = self._relevance(problem)
        # what the question points at comes from the techniques' profiles, not from tables of phrases
        # "is X worth it?", "X or Y?": the options asked about, whose families are the question's
        under_question = asked_options(text, w.phase, self._indexes.techniques)
        intents, explicit = intents_from_relevance(relevance, self.catalog, context)
        # techniques the profiles point at join the candidates across phases only when the phase was a guess
        asked = explicit & set(self.catalog.techniques) if w.origin("phase") == "assumed" else set()
        selection = select_candidates(w, self.catalog, context, hits, asked)
        without_needless_offload(selection, w, effects_model.baseline() or {})
        named = mentioned_techniques(context, self.catalog)
        # a technique named but ruled out here ("FP8 on our A100s?") hands the question to its family: what of that
        # kind does run on this setup
        explicit = explicit | {self.catalog.techniques[t].family for t in named if t in selection.excluded}
        subject = clear_subject(relevance)
        doubted = doubted_default(w, subject)
        cands, baseline = without_baseline(selection.candidates, effects_model, subject,
                                           max(relevance, key=relevance.get, default=None), doubted)
        limits = effects_model.bottlenecks() | (diagnosis.relieved_by if diagnosis else frozenset())
        cands = for_better_outputs(cands, w, self.catalog, selection.excluded)
        prior = rank_candidates(cands, w, intents, {}, limits, explicit, relevance, self.catalog)
        fit = find_fit_stack(prior, w, effects_model)
        if not fit.techniques:
            effects_model, fit = fit_at_smaller_batch(prior, w, effects_model, fit)
        model = effects_model.fitted(fit.techniques) if fit.techniques else more_gpus(effects_model)
        rest = on_top(prior, fit, model, selection.excluded)
        effects = {s.technique.id: model.effect([s.technique]) for s in effect_budget(rest, w, explicit)}
        ranked = rank_candidates([s.candidate for s in rest], w, intents, effects, model.bottlenecks() | limits,
                                 explicit, relevance, self.catalog)
        if fit_is_advice(w, fit):
            ranked = fit_first(fit, prior, ranked,
                               None if w.objective == "memory" else named_families(context, self.catalog))
        elif fit.techniques:
            # training that does not fit as assumed: the usual memory savers are taken as part of the stack
            w.stack.update({t.id: "assumed to make it fit" for t in fit.techniques})
            warnings.append(f"As assumed it does not fit in memory; {' + '.join(t.name for t in fit.techniques)} "
                            "taken as part of your stack, and the recommendations are measured on top of it.")
        # only techniques that answer the question, relieve the diagnosed limit or gain materially are shown
        ranked = prerequisites_first(shown_picks(ranked, model.bottlenecks() | limits), set(w.stack) | baseline)
        stack = build_stack(ranked, w, effects_model if fit.techniques else model, fit, model)
        t3 = time.perf_counter()
        recs = [recommend(i + 1, s, w, hits, fit, self.catalog, self.searcher, self.store)
                for i, s in enumerate(ranked[:TOP_N])]
        for rec, s in zip(recs, ranked):
            if rec.estimate is not None and "fit-stack" not in s.parts:
                rec.estimate.range = uncertainty_range(s.technique, model)
        t4 = time.perf_counter()
        # a training fit stack taken as assumed is said in the warnings, not as the first advice
        fit_text = None if fit.techniques and not fit_is_advice(w, fit) else describe_fit(
            effects_model, fit.techniques, fit.effect, on_more_gpus=model.workload.gpu_count != w.gpu_count)
        answer = Answer(question=text, workload=w.view(self.catalog), fit=fit_text,
                        baseline=[t.name for t in effects_model.reference], recommendations=recs, stack=stack,
                        clarify=clarify_questions(w, self.catalog), excluded=selection.excluded,
                        warnings=warnings + effects_model.warnings, measured=measured,
                        diagnosis=_assuming(w, self.catalog) + diagnosis.headline if diagnosis else None,
                        timings_ms=dict(plan=_ms(t0, t1), retrieve=_ms(t1, t2), rank=_ms(t2, t3), cite=_ms(t3, t4)))
        answer.warnings += self._stack_warnings(w, named, answer.baseline, baseline, selection.excluded,
                                                doubted if any(c.technique.id == doubted for c in cands) else None)
        if conversation is not None and answer.clarify:
            answer.follow_up = answer.clarify[0]
        answer.answer = summary_text(answer)
        answer_the_form(answer, w, model, selection.excluded, effects, recs, under_question, fit, effects_model)
        answer_fit_question(answer, text, w, effects_model, fit)
        return answer

    def _read(self, text: str, overrides: dict[str, Any] | None, conversation: Conversation | None,
              warnings: list[str]) -> Workload:
        """The workload: explicit fields, the rules' reading, an LLM reader's (when configured), the earlier turn."""
        previous = conversation.workload if conversation else None
        llm_fields: dict[str, Any] = {}
        if self.reader is not None:
            llm_fields, problem = self.reader.read(text, self.catalog)
            if problem:
                warnings.append(f"LLM reader unavailable ({problem}); the workload was read by the rules alone.")
        return plan_workload(text, self.catalog, overrides, previous, self._indexes, llm_fields)

    def _stack_warnings(self, w: Workload, named: set[str], baseline_names: list[str], baseline: set[str],
                        excluded: dict[str, str], doubted: str | None = None) -> list[str]:
        """What the answer assumed about the stack and the GPU, named techniques that are out or already on, and a
        default the question reports failing (``doubted``)."""
        out = [f"{self.catalog.techniques[doubted].name} is assumed on ({w.stack[doubted]}), yet what you describe is "
               "what it prevents: check that it is really on and how it is set, before anything else."] if doubted else []
        out += [f"{self.catalog.techniques[t].name} is ruled out: {excluded[t]}." for t in sorted(named) if t in excluded]
        out += [f"{self.catalog.techniques[t].name} already runs in your stack ({w.stack[t]}); the gains shown are on "
                "top of it." if t in w.stack else
                f"{self.catalog.techniques[t].name} is already part of the assumed baseline "
                f"({' + '.join(baseline_names)}); the gains shown are on top of it." for t in sorted(named & baseline)]
        framework = self.catalog.frameworks.get(w.framework or "")
        if framework is not None:
            # a default of the framework's current release that the question asks about: assumed off, and said so
            out += [f"{self.catalog.techniques[t].name} is on by default in {framework.name} {framework.version}; the "
                    "numbers assume your deployment runs without it, as the question suggests."
                    for t in sorted(named) if t in framework.defaults and t not in w.stack and t not in excluded]
        if w.unknown_gpu and w.origins["gpu"].note.startswith("no specs for"):
            out.append(f"I have no specs for '{w.unknown_gpu}': {w.origins['gpu'].note}.")
        if not w.stack and baseline_names:
            out.append(f"No framework or stack named: the numbers assume a baseline of {' + '.join(baseline_names)}; "
                       "say what you run for a baseline that matches it.")
        return out

    def warm(self) -> None:
        """Load what the first answer would otherwise load: the technique profiles (read from the state dir's
        cache, or embedded when it has none)."""
        self._load_profiles()

    def _relevance(self, problem: str) -> dict[str, float]:
        """Technique id -> how well its profile matches the problem statement (empty without an embedding model)."""
        profiles = self._load_profiles()
        if profiles is None:
            return {}
        vector_of = getattr(self.searcher, "query_vector", None)
        return profiles.relevance(problem, vector_of(problem) if vector_of else None)

    def _load_profiles(self) -> Any:
        embedder = getattr(self.searcher, "query_embedder", None)
        if embedder is None:
            return None
        if self._profiles is None:
            from agent.relevance import load_profiles  # noqa: PLC0415

            state = getattr(self.searcher, "state", None)
            cache = Path(state.root) / "cache" if state is not None else None
            self._profiles = load_profiles(self.catalog, embedder.embed, embedder.model_id, cache)
        return self._profiles

    def _search(self, query: str, warnings: list[str]) -> list[Any]:
        if self.searcher is None:
            warnings.append("No corpus loaded: recommendations carry no citations (run `accelsage refresh`).")
            return []
        return list(self.searcher.search(query, k=QUESTION_HITS))

def _assuming(w: Workload, catalog: Any) -> str:
    """"Assuming 4× H100, Llama-3.1-8B as the model and batch 16 (not stated): " when the diagnosis's numbers rest on
    a GPU, GPU count, model, load or lengths the question did not give."""
    parts = []
    gpu_name = getattr(catalog.gpus.get(w.gpu), "name", w.gpu)
    if w.origin("gpu") == "assumed":
        parts.append(f"{w.gpu_count}× {gpu_name}")
    elif w.origin("gpu_count") == "assumed" and not w.single_gpu:
        parts.append(f"{w.gpu_count} GPU{'s' if w.gpu_count > 1 else ''}")
    if w.origin("model") == "assumed":
        shape = w.model_shape(catalog)
        parts.append(f"{getattr(shape, 'name', w.model)} as the model")
    if w.origin("batch") == "assumed":
        parts.append(f"{'batch' if w.phase in TRAINING_PHASES else 'concurrency'} {w.batch}")
    if w.origin("prompt_tokens") == "assumed" and w.prompt_tokens:
        parts.append(f"{w.prompt_tokens}-token {'sequences' if w.phase in TRAINING_PHASES else 'prompts'}")
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Assuming {listed} (not stated): "


def problem_statement(text: str, indexes: Any) -> str:
    """The question without its setup (model, GPU, framework and machine names, numbers): what is matched against
    the techniques' profiles, so that "Llama" or "tokens" in a question does not pull in a technique whose profile
    happens to name them."""
    spans = [(m.start, m.end) for index in (indexes.models, indexes.gpus, indexes.frameworks, indexes.instances)
             for m in index.find(text)]
    out, last = [], 0
    for start, end in sorted(spans):
        if start >= last:
            out.append(text[last:start])
            last = end
    out.append(text[last:])
    # a figure goes; the digits of a word stay ("fp32", "int8", "bf16" say what the user runs)
    return re.sub(r"\s+", " ", re.sub(r"(?<![A-Za-z\d])[~≈]?\d[\d.,]*\s?[kKmMbB]?\b", " ", "".join(out))).strip()


def _llm_reader(llm: Any) -> Any:
    """The structured-output workload reader that shares the planner's chat model (None without an LLM)."""
    model = getattr(llm, "model", None)
    if model is None:
        return None
    from agent.llm.reader import LlmReader  # noqa: PLC0415 (langchain stays off the default path)

    return LlmReader(model, timeout_s=getattr(llm, "timeout_s", 30.0))


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 2)


def _size_close(model: Any, size_b: float) -> bool:
    return 0.6 <= model.params_total / (size_b * 1e9) <= 1.6


