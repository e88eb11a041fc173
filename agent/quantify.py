"""Quantify: the cost model on the user's stack, the setup that fits, and each candidate's effect on it.

The stage between candidates and ranking: it grows an assumed GPU count or lowers an assumed batch until the
model fits, drops what the user's stack (or the assumed baseline) already runs, finds the smallest stack that
makes the setup fit, and chooses which candidates get a cost-model run.
"""

from __future__ import annotations

from typing import Any

from agent.answer import FieldOrigin
from agent.candidates import Candidate
from agent.effects import EffectModel, gpus_that_fit, lookup, more_gpus_model
from agent.ranking import W_RELEVANCE, Scored, knob_of, quality_tier
from agent.stacking import FitPlan, find_fit_stack
from agent.workload import TRAINING_PHASES, Workload

# distinct cost-model effects run per answer (techniques with the same transform and params share one run)
EFFECT_BUDGET = 12
ASKED_EFFECT_BUDGET = 8
# the techniques that make the setup fit are listed first, this far above the best of the rest
FIT_LEAD = 1.0
# ... after another way to fit that the question asks about, matching it about as well as any (this share of the best)
LEADS_FIT = 0.9


def _single_card_part(catalog: Any, w: Workload) -> bool:
    """Whether the GPU is a personal device: a consumer card (GeForce) or one whose GPU shares system memory (Apple
    silicon, Jetson). Only a name the user typed leads to one (the default GPU is a datacenter part, and an unknown
    name is taken as the nearest known card); said without a count, it is the one they have, and is not grown."""
    gpu = catalog.gpus.get(w.gpu)
    return gpu is not None and ("geforce" in gpu.name.lower() or bool(getattr(gpu, "unified_memory", False)))


def effects_model_for(catalog: Any, w: Workload, calibration: Any = None) -> EffectModel:
    """The cost-model runner; an assumed GPU count grows to the fewest GPUs that hold the model."""
    effects_model = EffectModel(catalog, w, calibration)
    base = effects_model.baseline()
    if base is not None and w.origin("gpu_count") == "assumed" and not w.single_gpu and lookup(base, "memory.fits") is False \
            and not _single_card_part(catalog, w):
        count = gpus_that_fit(effects_model, limit=64 if w.phase in ("pre-training", "fine-tuning") else 16)
        if count:
            w.gpu_count = count
            w.origins["gpu_count"] = FieldOrigin(origin="assumed", value=count,
                                                 note="the fewest GPUs that hold the model with the reference stack")
            w.notes.append(f"GPU count assumed to be {count}: the fewest that hold the model")
            effects_model = EffectModel(catalog, w, calibration)
    return effects_model


def fit_at_smaller_batch(prior: list[Scored], w: Workload, effects_model: EffectModel, fit: FitPlan) -> tuple[EffectModel, FitPlan]:
    """When nothing fits at an assumed batch, the largest smaller batch (halving down to 1) at which the
    baseline or a stack fits; the workload takes that batch and says so. Unchanged when none does."""
    base = effects_model.baseline()
    if not base or lookup(base, "memory.fits") is not False or w.origin("batch") != "assumed" or w.batch <= 1:
        return effects_model, fit
    assumed = w.batch
    batch = assumed // 2
    while batch >= 1:
        w.batch = batch
        trial = EffectModel(effects_model.catalog, w, effects_model.calibration)
        trial_fit = find_fit_stack(prior, w, trial)
        if lookup(trial.baseline() or {}, "memory.fits") or trial_fit.techniques:
            w.origins["batch"] = FieldOrigin(origin="assumed", value=batch,
                                             note=f"the largest batch (halving from {assumed}) at which it fits")
            w.notes.append(f"batch assumed to be {batch}: at the usual {assumed} nothing fits in memory")
            return trial, trial_fit
        batch //= 2
    w.batch = assumed
    return effects_model, fit


def doubted_default(w: Workload, subject: str | None) -> str | None:
    """A framework default the question is plainly about (``subject``) while it reports a problem: "long prompts
    freeze the other streams, p99 ITL 400 ms" on an engine whose chunked prefill is on by default says it is off or its
    token budget is too large. None when there is none."""
    return subject if subject and w.reports_problem() and w.stack.get(subject, "stated") != "stated" else None


def without_baseline(cands: list[Candidate], effects_model: EffectModel, subject: str | None = None,
                     best_match: str | None = None, doubted: str | None = None) -> tuple[list[Candidate], set[str]]:
    """Drop the reference stack's techniques (and ones they replace with the same effect): they are assumed in
    use. One stays when the question names it, or when no framework was stated and the question is plainly about it
    (``subject``: "the server waits for the longest request in a batch" is about continuous batching, so the user
    runs without it, whatever a typical engine would run)."""
    ref = effects_model.reference
    same = {t.id for t in ref} | {old for t in ref for old in t.relations.supersedes
                                  if old in effects_model.catalog.techniques
                                  and _same_effect(effects_model.catalog.techniques[old], t)}
    # what the user's stack already runs is never recommended, even when the question names it; a framework default
    # the estimate leaves out because its gain rests on the traffic (a prefix cache) is the exception when it is the
    # question's best profile match (``best_match``): the symptom says it is not doing its job
    stack = effects_model.workload.stack
    # ...and so is a default the question doubts (:func:`doubted_default`)
    running = {t for t, origin in stack.items()
               if not ((t == best_match and t not in same or t == doubted) and origin != "stated")}
    assumed = not effects_model.workload.framework
    keep = [c for c in cands if c.technique.id not in running and (
        c.technique.id not in same or c.named or c.technique.id == doubted or (assumed and c.technique.id == subject))]
    return keep, same | running


def on_top(prior: list[Scored], fit: FitPlan, model: EffectModel, excluded: dict[str, str]) -> list[Scored]:
    """Candidates to rank on top of the fitted setup: not in the fitting stack; disaggregation only when each
    pool can hold the model."""
    out = []
    fitting = {t.id for t in fit.techniques}
    for s in prior:
        tech = s.technique
        if tech.id in fitting:
            continue
        if tech.cost_model.transform == "disaggregation":
            problem = pool_problem(model)
            if problem:
                excluded[tech.id] = problem
                continue
        out.append(s)
    return out


def _same_effect(a: Any, b: Any) -> bool:
    return a.cost_model.transform == b.cost_model.transform and a.cost_model.params == b.cost_model.params


def effect_budget(prior: list[Scored], w: Workload, explicit: set[str]) -> list[Scored]:
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


def fit_is_advice(w: Workload, fit: FitPlan) -> bool:
    """Whether the stack that makes the setup fit is the first advice: always for inference (it changes the model's
    format or the memory it keeps), in training only when memory is what the question is about (ZeRO and
    recomputation are what any training stack runs when it needs them)."""
    return bool(fit.techniques) and (w.phase not in TRAINING_PHASES or w.objective == "memory")


def fit_first(fit: FitPlan, prior: list[Scored], ranked: list[Scored],
              asked_families: set[str] | None = None) -> list[Scored]:
    """The ranking with the fitting stack's techniques (each with its own memory effect) ahead of everything else,
    except another way to fit that the question asks about ("how do we offload?", "how do we split the sequence?"),
    which stays first. An asked family the stack already draws on is answered by the stack's technique.

    Args:
        asked_families: when the question is not about fitting (memory is not its objective), the families it
            names: only a way to fit that it names, or of a family it names, leads; one whose profile merely reads
            close does not ("the biggest win" for an offline job is not host offload). None: any asked one leads.
    """
    families = {t.family for t in fit.techniques}
    lead = [s for s in ranked if s.technique.family not in families and "memory-capacity" in s.technique.bottlenecks and (
        s.parts.get("named") or s.parts.get("asked") and s.parts.get("relevance", 0.0) >= LEADS_FIT * W_RELEVANCE
        and (asked_families is None or s.technique.family in asked_families))]
    rest = [s for s in ranked if s not in lead]
    top = max((s.score for s in rest), default=0.0)
    stack = []
    for i, tech in enumerate(fit.techniques):
        cand = next(s.candidate for s in prior if s.technique is tech)
        score = round(top + FIT_LEAD * (len(fit.techniques) - i), 4)
        stack.append(Scored(cand, score, {"fit-stack": score}, fit.singles.get(tech.id)))
    floor = max((s.score for s in stack), default=top)
    for j, s in enumerate(lead):  # each score keeps the order shown: what is asked about sits above the stack
        wanted = round(floor + FIT_LEAD * (len(lead) - j), 4)
        if s.score < wanted:
            s.parts["asked-first"] = round(wanted - s.score + s.parts.get("asked-first", 0.0), 4)
            s.score = wanted
    return lead + stack + rest


def more_gpus(effects_model: EffectModel) -> EffectModel:
    """When no stack fits several GPUs: the same workload on the fewest GPUs that hold it (so gains are measured
    on a setup that runs); the model unchanged when it fits, runs on one GPU, or no GPU count holds it."""
    w = effects_model.workload
    # on one GPU (or when asked for one) the useful ranking is what comes closest to fitting on it
    if lookup(effects_model.baseline() or {}, "memory.fits") is not False or w.single_gpu or w.gpu_count < 2:
        return effects_model
    return more_gpus_model(effects_model) or effects_model


def pool_problem(model: EffectModel) -> str | None:
    """Why prefill/decode disaggregation cannot run here: each pool must hold the whole model."""
    from dataclasses import replace  # noqa: PLC0415

    w = model.workload
    half = w.gpus_at_hand() // 2
    if half < 1:
        return "needs separate prefill and decode GPUs"
    trial = EffectModel(model.catalog, replace(w, gpu_count=half), model.calibration).fitted(model.reference)
    if lookup(trial.baseline() or {}, "memory.fits"):
        return None
    return (f"each of the prefill and decode pools must hold the whole model, and {half} GPU(s) cannot; "
            f"it needs at least {2 * w.gpu_count} GPUs here")


# inputs the catalog can only assume, and how far either way a real workload may sit from the assumed value
UNCERTAIN_PARAMS = {"acceptance_rate": ("acceptance rate", 0.1, 0.05, 0.95), "hit_rate": ("prefix-cache hit rate", 0.2, 0.0, 0.95)}


def uncertainty_range(tech: Any, model: EffectModel) -> dict[str, Any] | None:
    """The modelled speed-up at either end of an uncertain input's plausible span (e.g. speculative acceptance)."""
    params = tech.cost_model.params
    for key, (words, spread, lo_cap, hi_cap) in UNCERTAIN_PARAMS.items():
        value = params.get(key)
        if not isinstance(value, (int, float)):
            continue
        low, high = max(lo_cap, round(value - spread, 2)), min(hi_cap, round(value + spread, 2))
        speedups = []
        for v in (low, high):
            variant = tech.model_copy(update={"cost_model": tech.cost_model.model_copy(
                update={"params": {**params, key: v}})})
            effect = model.effect([variant])
            speedups.append(effect.speedup if effect is not None else None)
        if None in speedups:
            return None
        return {"input": words, "low": low, "high": high, "speedup_low": round(speedups[0], 3),
                "speedup_high": round(speedups[1], 3)}
    return None
