"""Score candidates: cost-model effect on the user's objective + retrieval evidence + question intent − risk."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agent.candidates import Candidate
from agent.effects import Effect
from agent.workload import TRAINING_PHASES, Workload

# weights of the score terms; an effect of 2x on the objective is worth as much as a clear intent match
W_EFFECT = 1.0
W_EVIDENCE = 1.0
W_INTENT = 1.0
W_NAMED = 2.5
PHASE_MISMATCH = -1.5
LOSSY = -0.3
# techniques that drop information (evicted context, skipped layers, pruned weights) risk more than a format change
DROPS_INFORMATION = -0.8
_DROPPING_TRANSFORMS = frozenset({"kv_eviction", "pruning", "early_exit", "contextual_sparsity"})
LOSSY_QUALITY_OBJECTIVE = -1.0
RETRAINING = -0.4
CALIBRATION = -0.1
FRAMEWORK = 0.2
SUPERSEDED = -0.3
FITS_WHEN_BASELINE_DOES_NOT = 1.5
BOTTLENECK = 0.5
# a different model architecture is no answer for serving a given model unless the question asks for one
ARCHITECTURE_CHANGE = -2.0
ARCHITECTURE_IDS = frozenset({"grouped-query-attention", "multi-head-latent-attention", "hybrid-ssm-attention"})


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
    """Penalties for changing outputs (more when information is dropped and not asked for), retraining, calibration."""
    out: dict[str, float] = {}
    if not technique.quality.lossless:
        out["lossy"] = LOSSY_QUALITY_OBJECTIVE if workload.objective == "quality" else LOSSY
        if technique.cost_model.transform in _DROPPING_TRANSFORMS and not asked_for:
            out["lossy"] += DROPS_INFORMATION
    if technique.requires.retraining and workload.phase not in TRAINING_PHASES:
        out["retraining"] = RETRAINING
    if technique.requires.calibration_data:
        out["calibration"] = CALIBRATION
    return out


def is_architecture_change(technique: Any) -> bool:
    """Whether adopting the technique means a differently built (pre-trained) model."""
    return (technique.family == "ssm-linear" or technique.cost_model.transform == "linear_attention"
            or technique.id in ARCHITECTURE_IDS)


def score_candidate(cand: Candidate, workload: Workload, intents: dict[str, float], effect: Effect | None,
                    bottlenecks: set[str] = frozenset()) -> Scored:
    """The score of one candidate with each part kept for the explanation."""
    tech = cand.technique
    parts = {
        "effect": W_EFFECT * effect_term(effect),
        "evidence": W_EVIDENCE * evidence_term(cand.retrieved_rank),
        "intent": W_INTENT * intent_term(tech, intents),
    }
    if cand.named:
        parts["named"] = W_NAMED
    if not cand.phase_match:
        parts["phase"] = PHASE_MISMATCH
    if effect is not None and effect.fits_before is False and effect.fits_after:
        parts["fit"] = FITS_WHEN_BASELINE_DOES_NOT
    if workload.framework and workload.framework in tech.frameworks:
        parts["framework"] = FRAMEWORK
    if bottlenecks & set(tech.bottlenecks):
        parts["bottleneck"] = BOTTLENECK
    if is_architecture_change(tech) and parts["intent"] < 1.0 and not cand.named:
        parts["architecture"] = ARCHITECTURE_CHANGE
    # asked for: named, pointed at by id ("shrink the KV cache"), or its family pointed at by many rules
    asked_for = cand.named or intents.get(tech.id, 0.0) >= 1.0 or intents.get(tech.family, 0.0) >= 1.4
    parts.update(risk_terms(tech, workload, asked_for))
    return Scored(cand, round(sum(parts.values()), 4), parts, effect)


def rank_candidates(cands: list[Candidate], workload: Workload, intents: dict[str, float],
                    effects: dict[str, Effect | None], bottlenecks: set[str] = frozenset()) -> list[Scored]:
    """All candidates scored and sorted best first; a technique superseded by a better-scored one drops a little."""
    scored = [score_candidate(c, workload, intents, effects.get(c.technique.id), bottlenecks) for c in cands]
    scored.sort(key=lambda s: (-s.score, s.technique.id))
    seen: set[str] = set()
    for s in scored:
        if s.technique.id in seen:
            s.parts["superseded"] = SUPERSEDED
            s.score = round(s.score + SUPERSEDED, 4)
        seen.update(s.technique.relations.supersedes)
    scored.sort(key=lambda s: (-s.score, s.technique.id))
    return scored


def why_text(s: Scored, workload: Workload) -> str:
    """One or two sentences on why this technique is recommended, from the score parts (no invented numbers)."""
    tech = s.technique
    bits = [tech.summary.strip().rstrip(".") + "."]
    if s.effect and s.effect.speedup and s.effect.speedup > 1.005:
        bits.append(f"The cost model gives ×{s.effect.speedup:.2f} on {s.effect.metric} for this workload.")
    elif s.effect and s.effect.speedup and s.effect.speedup < 0.995:
        bits.append(f"The cost model shows it costs ×{1 / s.effect.speedup:.2f} on {s.effect.metric} here.")
    if s.parts.get("fit"):
        bits.append("It makes the setup fit in GPU memory.")
    reasons = list(s.candidate.reasons)
    if s.parts.get("intent", 0) >= 1.0:
        reasons.append("it addresses what the question asks about")
    if reasons:
        bits.append("Considered because " + "; ".join(reasons) + ".")
    return " ".join(bits)
