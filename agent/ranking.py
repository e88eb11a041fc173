"""Score candidates: cost-model effect on the user's objective + retrieval evidence + question intent − risk."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from agent.answer import memory_text, metric_words
from agent.candidates import Candidate
from agent.effects import EXCLUSIVE_TRANSFORMS, WEIGHT_FORMAT, Effect
from agent.object_memo import ObjectMemo
from agent.workload import TRAINING_PHASES, Workload

# The cost model's effect on the objective dominates: 4 points per doubling (clipped to [-1, 2] doublings),
# plus a floor for any real modelled gain. Retrieval evidence, weak intent, framework and bottleneck hints are
# tie-breakers whose sum stays below that floor, so they never lift a technique with no modelled effect above
# one with a real gain. Only a question that names a technique, or clearly points at it or its family
# (an intent rule of weight >= 1.0), earns the larger "asked" terms.
W_EFFECT = 4.0
REAL_GAIN = 1.02
GAIN_FLOOR = 1.5
W_EVIDENCE = 0.5
W_WEAK_INTENT = 0.3
TIE_BREAK_CAP = 1.2
W_INTENT = 1.0
# What the question asks about comes first (a family it points at; more for a technique it points at or names):
# these bonuses exceed the largest effect term, so an explicit question is answered before unasked gains.
ASKED = 10.0
ASKED_BY_ID = 4.0
# an intent weight this negative means the question says the technique cannot be used
REFUSED_INTENT = -1.0
W_NAMED = 4.0
# shipped in two or more serving/training frameworks: what an engineer can switch on today (a tie-breaker)
DEPLOYABLE = 0.5
PHASE_MISMATCH = -1.5
# quality risk by tier (see quality_tier): near-lossless formats cost little, dropping information costs a lot
RISK_BY_TIER = {0: 0.0, 1: -0.1, 2: -0.4, 3: -1.0, 4: -2.5}
RISK_QUALITY_OBJECTIVE = -1.0
_DROPPING_TRANSFORMS = frozenset({"kv_eviction", "pruning", "early_exit", "contextual_sparsity"})
RETRAINING = -0.4
CALIBRATION = -0.1
FRAMEWORK = 0.2
NOT_IN_ENGINE = -1.0
SUPERSEDED = -0.3
# a second technique with the same cost-model knob (another 4-bit method, another draft scheme) is an alternative,
# not a further recommendation, unless the question asks about that family
ALTERNATIVE = -1.5
FITS_WHEN_BASELINE_DOES_NOT = 1.5
# a request longer than the model's trained context is not usable at all: a technique that makes it usable (context
# extension) is worth as much as the largest modelled gain, though it speeds nothing up
FEASIBLE = W_EFFECT * 2.0 + GAIN_FLOOR
BOTTLENECK = 0.3
# a different model architecture is no answer for serving a given model unless the question asks for one
ARCHITECTURE_CHANGE = -2.0
ARCHITECTURE_IDS = frozenset({"grouped-query-attention", "multi-head-latent-attention", "hybrid-ssm-attention"})
# how well the technique's profile (what it solves, when to use it) matches the question, relative to the best
# match among the candidates: a strong match outweighs a modest modelled gain (see agent/relevance.py)
W_RELEVANCE = 10.0
# modelled effects that rest on a property of the traffic the question must state (a prefix-cache hit rate)
_TRAFFIC_ASSUMPTIONS = {"prefix_cache": "prefix-caching"}


def quality_tier(technique: Any) -> int:
    """0 exact; 1 near-lossless (FP8/INT8 formats, 8-bit KV); 2 small stated loss (4-6-bit weights, 4-bit KV);
    3 notable loss (2-3-bit weights, other lossy methods); 4 drops information (KV eviction, pruning, early exit)."""
    return traits_of(technique).tier


def _quality_tier(technique: Any) -> int:
    cm = technique.cost_model
    if cm.transform in _DROPPING_TRANSFORMS:
        return 4
    bits = cm.params.get("weight_bits") if cm.transform == "weight_quant" else cm.params.get("kv_bits") if cm.transform == "kv_quant" else None
    if isinstance(bits, (int, float)) and bits < 16:
        return 1 if bits >= 8 else 2 if bits >= 4 else 3
    if technique.quality.lossless:
        return 0
    if cm.transform in ("fp8_compute", "int8_compute", "mixed_precision"):
        return 1
    return 3


@dataclass(frozen=True)
class Traits:
    """What scoring asks of a technique about itself alone, for every candidate of every ranking of every answer."""

    tier: int
    knob: str | None
    architecture_change: bool
    frameworks: frozenset[str]
    deployable: bool  # shipped in two or more frameworks
    bottlenecks: frozenset[str]
    traffic_key: str | None
    retraining: bool
    calibration_data: bool


def _traits(technique: Any) -> Traits:
    return Traits(_quality_tier(technique), _knob_of(technique), _is_architecture_change(technique),
                  frozenset(_engine_key(f) for f in technique.frameworks), len(technique.frameworks) >= 2,
                  frozenset(technique.bottlenecks),
                  _TRAFFIC_ASSUMPTIONS.get(technique.cost_model.transform), bool(technique.requires.retraining),
                  bool(technique.requires.calibration_data))


def _engine_key(name: str) -> str:
    """A framework's name as both catalogs spell it: "llama.cpp" and "llama_cpp", "tensorrt-llm" and "tensorrt_llm"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


# the technique's :class:`Traits`, worked out once per technique object (catalog techniques are immutable)
traits_of: ObjectMemo[Traits] = ObjectMemo(_traits, limit=4096)


@dataclass
class Scored:
    """A candidate with its score, the parts of that score, and its cost-model effect."""

    candidate: Candidate
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    effect: Effect | None = None

    @property
    def technique(self) -> Any:
        return self.candidate.technique


def effect_term(effect: Effect | None) -> float:
    """log2 of the improvement on the objective, clipped to [-1, 2]; 0 when the model says nothing."""
    if effect is None or effect.speedup is None or effect.speedup <= 0:
        return 0.0
    return max(-1.0, min(2.0, math.log2(effect.speedup)))


def evidence_term(rank: int | None) -> float:
    """1 for a backing paper at the top of the question's hits, fading with rank; 0 when absent."""
    return 0.0 if rank is None else 1.0 / (1.0 + rank / 4.0)


def intent_term(technique: Any, intents: dict[str, float]) -> float:
    """The question's pointer at this technique or its family (whichever is stronger, plus half the other)."""
    a, b = intents.get(technique.id, 0.0), intents.get(technique.family, 0.0)
    return max(a, b) + 0.5 * min(a, b)


def risk_terms(technique: Any, workload: Workload, asked_for: bool = False) -> dict[str, float]:
    """Penalties for changing outputs (by quality tier; halved when asked for or when memory is all that matters),
    retraining and calibration."""
    return _risks(traits_of(technique), workload, asked_for)


def _risks(traits: Traits, workload: Workload, asked_for: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    tier = traits.tier
    if tier:
        penalty = RISK_BY_TIER[tier]
        if asked_for or workload.objective == "memory":
            penalty /= 2
        if workload.objective == "quality":
            penalty += RISK_QUALITY_OBJECTIVE
        out["lossy"] = penalty
    if traits.retraining and workload.phase not in TRAINING_PHASES:
        out["retraining"] = RETRAINING
    if traits.calibration_data:
        out["calibration"] = CALIBRATION
    return out


def traffic_assumption(technique: Any, intents: dict[str, float], named: bool) -> bool:
    """Whether the technique's modelled gain rests on traffic the question does not describe (shared prefixes)."""
    return _rests_on_traffic(traits_of(technique), intents, named)


def _rests_on_traffic(traits: Traits, intents: dict[str, float], named: bool) -> bool:
    key = traits.traffic_key
    return key is not None and not named and intents.get(key, 0.0) < 1.0


def is_architecture_change(technique: Any) -> bool:
    """Whether adopting the technique means a differently built (pre-trained) model."""
    return traits_of(technique).architecture_change


def _is_architecture_change(technique: Any) -> bool:
    return (technique.family == "ssm-linear" or technique.cost_model.transform == "linear_attention"
            or technique.id in ARCHITECTURE_IDS)


def relative_relevance(relevance: dict[str, float], ids: list[str]) -> dict[str, float]:
    """Each candidate's profile match scaled between the candidates' median (0) and best (1) match."""
    values = sorted(relevance.get(i, 0.0) for i in ids)
    if not values or values[-1] <= 0:
        return {}
    median, best = values[len(values) // 2], values[-1]
    span = max(best - median, 1e-6)
    return {i: max(0.0, (relevance.get(i, 0.0) - median) / span) for i in ids}


def score_candidate(cand: Candidate, workload: Workload, intents: dict[str, float], effect: Effect | None,
                    bottlenecks: set[str] = frozenset(), explicit: set[str] = frozenset(),
                    relevance: float = 0.0) -> Scored:
    """The score of one candidate with each part kept for the explanation.

    Args:
        explicit: technique ids and families the question clearly points at (``intents.read_explicit``).
    """
    return _score(cand, workload, intents, effect, bottlenecks, explicit, relevance, workload.origin("phase") == "assumed")


def _score(cand: Candidate, workload: Workload, intents: dict[str, float], effect: Effect | None,
           bottlenecks: set[str], explicit: set[str], relevance: float, guessed_phase: bool) -> Scored:
    """:func:`score_candidate`, told whether the workload's phase was a guess (the same for every candidate)."""
    tech = cand.technique
    traits = traits_of(tech)
    # the question rules this one out by what it says ("we have no draft model")
    refused = intents.get(tech.id, 0.0) <= REFUSED_INTENT
    # a technique asked about by its own profile is asked even in another phase when the phase was only guessed
    # (distilling a student under a default "serving"); a phase the question states holds, and a family asked
    # about brings in only those of its techniques that act in that phase
    asked = (cand.named or (tech.id in explicit and (cand.phase_match or guessed_phase))
             or (tech.family in explicit and cand.phase_match)) and not refused
    assumed = _rests_on_traffic(traits, intents, cand.named)
    counted = None if assumed else effect
    gain = counted is not None and counted.speedup is not None and counted.speedup >= REAL_GAIN
    parts = {"effect": W_EFFECT * effect_term(counted)}
    if gain:
        parts["gain"] = GAIN_FLOOR
    if assumed and effect is not None:
        parts["assumed"] = 0.0  # marks the caveat: the gain needs a stated cache hit rate
    intent = intent_term(tech, intents)
    ties = W_EVIDENCE * evidence_term(cand.retrieved_rank)
    ties += 0.0 if asked else min(0.5, W_WEAK_INTENT * intent)
    engine = _engine_key(workload.framework) if workload.framework else None
    ties += FRAMEWORK if engine and engine in traits.frameworks else 0.0
    if engine and engine not in traits.frameworks and not cand.named:
        # the user's engine has no switch for it: it means changing engines first
        parts["engine"] = NOT_IN_ENGINE
    ties += DEPLOYABLE if traits.deployable else 0.0
    ties += BOTTLENECK if not traits.bottlenecks.isdisjoint(bottlenecks) else 0.0
    parts["evidence"] = round(min(TIE_BREAK_CAP, ties), 4)
    if relevance > 0:
        parts["relevance"] = round(W_RELEVANCE * relevance, 4)
    if asked:
        parts["asked"] = ASKED + (ASKED_BY_ID if cand.named or tech.id in explicit else 0.0)
        parts["intent"] = W_INTENT * max(1.0, intent)
    if cand.named and not refused:
        parts["named"] = W_NAMED
    if refused:
        parts["refused"] = round(intents[tech.id] - max(0.0, parts["effect"]) - parts.get("gain", 0.0), 4)
    if not cand.phase_match:
        parts["phase"] = PHASE_MISMATCH
    if effect is not None and effect.fits_before is False and effect.fits_after:
        parts["fit"] = FITS_WHEN_BASELINE_DOES_NOT
    if effect is not None and effect.feasible_before is False and effect.feasible_after:
        parts["feasible"] = FEASIBLE
    if traits.architecture_change and not (asked and (cand.named or tech.id in explicit)):
        # a differently built model is no option for this one: its modelled gain does not count
        parts["architecture"] = round(ARCHITECTURE_CHANGE - max(0.0, parts["effect"]) - parts.get("gain", 0.0), 4)
    # asked for by id (named, "shrink the KV cache" -> eviction) softens the quality penalty
    asked_for = cand.named or intents.get(tech.id, 0.0) >= 1.0 or intents.get(tech.family, 0.0) >= 1.4
    parts.update(_risks(traits, workload, asked_for))
    return Scored(cand, round(sum(parts.values()), 4), parts, effect)


# better outputs asked for: a format of the same kind that loses less than the one running is the change to make
QUALITY_UP = 2 * W_EFFECT


def for_better_outputs(cands: list[Candidate], workload: Workload, catalog: Any, excluded: dict[str, str]) -> list[Candidate]:
    """With quality as the goal and a lossy technique running, leave out what loses more than it does, unless the
    question names it: 2-bit weights cannot give back what 4-bit ones took (a better method at the same bits stays)."""
    if workload.objective != "quality":
        return cands
    worst = max((quality_tier(catalog.techniques[t]) for t in workload.stack if t in catalog.techniques), default=0)
    if worst < 2:
        return cands  # nothing lossy runs: the quality problem lies elsewhere (context length, a small model)
    floor = worst
    keep = []
    for cand in cands:
        if quality_tier(cand.technique) > floor and not cand.named:
            excluded[cand.technique.id] = "loses more output quality than your stack does; the goal is better outputs"
        else:
            keep.append(cand)
    return keep


def _less_lossy_swap(traits: Traits, workload: Workload, catalog: Any) -> bool:
    """Whether this technique replaces one of the stack's on the same knob with a format that loses less."""
    for tech_id in workload.stack:
        running = catalog.techniques.get(tech_id) if catalog else None
        if running is not None and traits.knob and knob_of(running) == traits.knob and traits.tier < quality_tier(running):
            return True
    return False


def prerequisites_first(ranked: list[Scored], running: set[str]) -> list[Scored]:
    """Put a technique that another one needs (chunked prefill needs continuous batching) before it, when the stack
    does not run it yet: the first change must be one that can be made first."""
    out = list(ranked)
    for s in ranked:
        for need in s.technique.relations.requires:
            if need in running:
                continue
            at = out.index(s)
            later = next((i for i, x in enumerate(out) if x.technique.id == need and i > at), None)
            if later is not None:
                out.insert(at, out.pop(later))
    return out


def rank_candidates(cands: list[Candidate], workload: Workload, intents: dict[str, float],
                    effects: dict[str, Effect | None], bottlenecks: set[str] = frozenset(),
                    explicit: set[str] = frozenset(), relevance: dict[str, float] | None = None,
                    catalog: Any = None) -> list[Scored]:
    """Score and sort candidates; a technique superseded by a better-placed one, or a second one setting the
    same cost-model knob (an alternative), is marked down. With quality as the goal, a format that loses less than the
    stack's on the same knob (FP8 weights where 4-bit ones run) earns ``QUALITY_UP``."""
    relative = relative_relevance(relevance or {}, [c.technique.id for c in cands])
    named = {c.technique.id for c in cands if c.named}
    if named:
        # techniques named in the question are what it asks about: a profile match elsewhere is a hint, not the
        # question ("is FA3 worth the switch?" asks about FlashAttention-3, not whatever profile reads closest)
        # ...and an unversioned name ("flash attention") names its later versions too
        explicit = {x for x in explicit if x not in (relevance or {}) or any(x == n or x.startswith(n + "-")
                                                                             for n in named)}
    guessed_phase = workload.origin("phase") == "assumed"
    scored = [_score(c, workload, intents, effects.get(c.technique.id), bottlenecks, explicit,
                     relative.get(c.technique.id, 0.0), guessed_phase) for c in cands]
    if workload.objective == "quality" and catalog is not None:
        for s in scored:
            if _less_lossy_swap(traits_of(s.technique), workload, catalog):
                s.parts["better-outputs"] = QUALITY_UP
                s.score = round(s.score + QUALITY_UP, 4)
    scored.sort(key=_rank_order)
    seen: set[str] = set()
    knobs: set[str] = set()
    for s in scored:
        tech = s.candidate.technique
        if tech.id in seen:
            s.parts["superseded"] = SUPERSEDED
        knob = traits_of(tech).knob
        asked = s.candidate.named or tech.family in explicit or tech.id in explicit
        if knob and knob in knobs and not asked:
            # its gain is the same kind as the better one's: it counts as a tie-breaker only
            s.parts["alternative"] = round(ALTERNATIVE - max(0.0, s.parts.get("effect", 0.0)) - s.parts.get("gain", 0.0), 4)
        s.score = round(sum(s.parts.values()), 4)
        seen.update(tech.relations.supersedes)
        if knob:
            knobs.add(knob)
    scored.sort(key=_rank_order)
    return scored


def _rank_order(s: Scored) -> tuple[float, str]:
    return -s.score, s.candidate.technique.id


# Which ranked techniques are worth showing: a pick must answer the question (asked about, makes the setup fit or
# the request usable), show a material modelled gain on the objective, or relieve what the diagnosis says limits this
# workload while its profile matches the question well (RELEVANT_SHARE of the best match). Anything else fills a
# place (an offline offload system in a latency answer, a kernel at ×1.01): fewer picks are shown instead.
MATERIAL_GAIN = 1.05
RELEVANT_SHARE = 0.6
ARCHITECTURE_SHARE = 0.9
_ANSWERS = ("named", "fit", "feasible", "fit-stack")


def worth_showing(s: Scored, bottlenecks: set[str] | frozenset[str]) -> bool:
    """Whether a ranked technique answers the question, shows a material gain, or relieves the diagnosed limit."""
    parts = s.parts
    if any(parts.get(key) for key in _ANSWERS):
        return True
    if is_architecture_change(s.technique) and parts.get("relevance", 0.0) < ARCHITECTURE_SHARE * W_RELEVANCE:
        # a differently built model is shown only when the question is about that design
        return False
    if parts.get("asked"):
        return True
    relieves = bool(bottlenecks & set(s.technique.bottlenecks))
    counted = s.effect if "assumed" not in parts else None
    marked_down = any(key in parts for key in ("alternative", "architecture", "refused"))
    if counted is not None and counted.speedup is not None and counted.speedup >= MATERIAL_GAIN and not marked_down:
        return True
    return relieves and parts.get("relevance", 0.0) >= RELEVANT_SHARE * W_RELEVANCE and "refused" not in parts


def shown_picks(ranked: list[Scored], bottlenecks: set[str] | frozenset[str]) -> list[Scored]:
    """The techniques worth showing, in rank order; the best-ranked one when none is."""
    picks = [s for s in ranked if worth_showing(s, bottlenecks)]
    return picks or ranked[:1]


def knob_of(technique: Any) -> str | None:
    """The cost-model knob a technique sets, when two such techniques are alternatives (one weight format...)."""
    return traits_of(technique).knob


def _knob_of(technique: Any) -> str | None:
    transform = technique.cost_model.transform
    if transform in WEIGHT_FORMAT:
        return "weight-format"
    return transform if transform in EXCLUSIVE_TRANSFORMS else None


# the metric an objective is judged on, for saying what the cost model left unchanged when it has no estimate
_OBJECTIVE_METRIC = {"latency": "latency_ms", "ttft": "ttft_ms", "tpot": "tpot_ms", "throughput": "throughput_tokens_per_s",
                     "memory": "memory.total_gb", "cost": "throughput_tokens_per_s"}


def unmodelled_text(technique: Any, metric: str) -> str:
    """Say plainly that the cost model has no gain for this technique here (never a bare ×1.00), and what decides it."""
    what = f" in {metric}" if metric else ""
    when = technique.when.strip().split(". ")[0].rstrip(".") if getattr(technique, "when", "").strip() else ""
    text = (f"Its gain is not modelled for this workload: the cost model shows no change{what}, so it is listed for "
            "the problem it addresses, not for a measured number.")
    return text + (f" What decides it: {when[0].lower() + when[1:]}." if when else "")


def why_text(s: Scored, workload: Workload, fit: list[Any] = (), fit_effect: Effect | None = None) -> str:
    """One or two sentences on why this technique is recommended, from the score parts (no invented numbers)."""
    tech = s.technique
    bits = [tech.summary.strip().rstrip(".") + "."]
    if "fit-stack" in s.parts:
        after = fit_effect.after.get("memory.total_gb") if fit_effect else None
        names = " + ".join(t.name for t in fit)
        bits.append(f"Part of the smallest stack that makes this setup fit ({names}"
                    + (f": {memory_text(after, per_gpu=True)})." if isinstance(after, (int, float)) else ")."))
        if s.effect and s.effect.speedup and s.effect.speedup > 1.005:
            bits.append(f"Alone it gives ×{s.effect.speedup:.2f} on {metric_words(s.effect.metric)}.")
        return " ".join(bits)
    on_top = " on top of the fitted setup" if fit else ""
    metric = metric_words(s.effect.metric) if s.effect else ""
    if "assumed" in s.parts and s.effect and s.effect.speedup and s.effect.speedup > 1.005:
        bits.append(f"The cost model gives ×{s.effect.speedup:.2f} on {metric}{on_top} only under an assumed "
                    "cache hit rate (not counted in the ranking).")
    elif s.effect and s.effect.speedup and s.effect.speedup > 1.005:
        bits.append(f"The cost model gives ×{s.effect.speedup:.2f} on {metric}{on_top} for this workload.")
    elif s.effect and s.effect.speedup and s.effect.speedup < 0.995:
        bits.append(f"The cost model shows it making {metric} worse{on_top} here (×{s.effect.speedup:.2f}).")
    else:
        bits.append(unmodelled_text(tech, metric or metric_words(_OBJECTIVE_METRIC.get(workload.objective, ""))))
    if s.parts.get("fit"):
        bits.append("It makes the setup fit in GPU memory.")
    if s.parts.get("feasible"):
        bits.append("The request is longer than the model's trained context; this makes that length usable.")
    reasons = list(s.candidate.reasons)
    if s.parts.get("intent", 0) >= 1.0:
        reasons.append("it addresses what the question asks about")
    if reasons:
        bits.append("Considered because " + "; ".join(reasons) + ".")
    return " ".join(bits)
