"""Stacks of composable techniques: the smallest stack that makes a setup fit, and the combined recommendation."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from agent.answer import Stack
from agent.effects import Effect, clash, lookup
from agent.ranking import Scored, is_architecture_change, quality_tier
from agent.workload import TRAINING_PHASES, Workload

__all__ = ["FitPlan", "build_stack", "clash", "find_fit_stack"]

MAX_STACK = 4
MAX_FIT = 3
# how many distinct ways of saving memory the fit search combines (pairs/triples of these)
FIT_POOL = 8
# transforms that can lower memory per GPU, by phase kind
_MEMORY_TRANSFORMS = frozenset({"weight_quant", "fp8_compute", "int8_compute", "kv_quant", "kv_eviction", "pruning",
                                "offload"})
_TRAINING_MEMORY_TRANSFORMS = frozenset({"zero", "offload", "recompute", "mixed_precision", "weight_quant", "adapter"})


@dataclass
class FitPlan:
    """The smallest stack that makes a non-fitting setup fit (empty when it already fits or nothing does)."""

    techniques: list[Any] = field(default_factory=list)
    effect: Effect | None = None  # the stack against the reference (memory metric)
    singles: dict[str, Effect] = field(default_factory=dict)  # each pool technique alone


def _memory_pool(ranked: list[Scored], workload: Workload) -> list[Scored]:
    training = workload.phase in TRAINING_PHASES
    allowed = _TRAINING_MEMORY_TRANSFORMS if training else _MEMORY_TRANSFORMS
    out = []
    for s in ranked:
        tech = s.technique
        if tech.cost_model.transform not in allowed or not s.candidate.phase_match or is_architecture_change(tech):
            continue
        # serving a given model: no stack that first needs (re)training it
        if tech.requires.retraining and not training:
            continue
        out.append(s)
    return out


def _total_gb(effect: Effect | None) -> float | None:
    value = None if effect is None else effect.after.get("memory.total_gb")
    return value if isinstance(value, (int, float)) else None


def _representatives(pool: list[Scored], effects_model: Any, singles: dict[str, Effect]) -> tuple[list[Any], dict[str, Effect]]:
    """One technique per distinct cost-model effect (AWQ stands for every 4-bit g128 method), with its effect alone.

    Among equals one the question names wins ("AWQ or GPTQ?"), then the lowest quality risk, then the widest
    framework support, then the ranking.
    """
    named = _named(pool)
    by_effect: dict[tuple, list[Any]] = {}
    for order, s in enumerate(pool):
        effect = singles.get(s.technique.id) or effects_model.effect([s.technique])
        total = _total_gb(effect)
        if effect is None or total is None or total >= (effect.before.get("memory.total_gb") or 0):
            continue
        singles[s.technique.id] = effect
        by_effect.setdefault(tuple(sorted((k, str(v)) for k, v in effect.after.items())), []).append((order, s.technique))
    reps = [min(group, key=lambda x: (x[1].id not in named, quality_tier(x[1]), -len(x[1].frameworks), x[0]))[1]
            for group in by_effect.values()]
    reps.sort(key=lambda t: (quality_tier(t), _total_gb(singles[t.id])))
    return reps[:FIT_POOL], singles


def _named(pool: list[Scored]) -> set[str]:
    """Ids of the techniques the question names and does not refuse."""
    return {s.technique.id for s in pool if s.candidate.named and "refused" not in s.parts}


def _objective_value(effect: Effect, workload: Workload, effects_model: Any) -> float:
    """The objective's metric after the stack, as a number where lower is better (for choosing among fits)."""
    from agent.effects import INFERENCE_METRICS, TRAINING_DEFAULT, TRAINING_METRICS  # noqa: PLC0415

    table = TRAINING_METRICS if effects_model.training else INFERENCE_METRICS
    key, _unit, higher = table.get(workload.objective, TRAINING_DEFAULT if effects_model.training else INFERENCE_METRICS["latency"])
    value = effect.after.get(key)
    if not isinstance(value, (int, float)) or value <= 0:
        return float("inf")
    return 1.0 / value if higher else float(value)


def find_fit_stack(ranked: list[Scored], workload: Workload, effects_model: Any) -> FitPlan:
    """The smallest composable stack that makes the setup fit, respecting the candidates' constraints.

    Preference: no notable quality loss (nothing beyond 4-bit weights; no dropped context) over size, then
    fewer techniques, then lower worst-case quality risk, then the best objective (latency, throughput...)
    on the fitted setup: FP8 weights + FP8 KV on Hopper before KV eviction. Techniques with notable loss are
    only tried when nothing else fits. When memory is the objective, size comes first.
    """
    base = effects_model.baseline()
    if not base or lookup(base, "memory.fits") is not False:
        return FitPlan()
    pool = _memory_pool(ranked, workload)
    memory_first = workload.objective == "memory"
    stages = [pool] if memory_first else [[s for s in pool if quality_tier(s.technique) < 3], pool]
    singles: dict[str, Effect] = {}
    for stage in stages:
        reps, _ = _representatives(stage, effects_model, singles)
        best = _smallest_fit(reps, singles, base, workload, effects_model, _named(stage))
        if best is not None:
            # said in order of what each does for the objective alone (FP8 weights before an FP8 KV cache)
            ordered = sorted(best[0], key=lambda t: (_objective_value(singles[t.id], workload, effects_model), quality_tier(t)))
            return FitPlan(ordered, best[1], singles)
    return FitPlan(singles=singles)


def _smallest_fit(reps: list[Any], singles: dict[str, Effect], base: dict, workload: Workload,
                  effects_model: Any, named: set[str] = frozenset()) -> tuple[list[Any], Effect] | None:
    """The best fitting combination of at most MAX_FIT representatives; one holding a technique the question names
    beats the others of its quality class (the answer to "AWQ or GPTQ?" is measured with one of them)."""
    need = (lookup(base, "memory.total_gb") or 0) - (lookup(base, "memory.capacity_gb") or 0)
    saving = {t.id: (lookup(base, "memory.total_gb") or 0) - _total_gb(singles[t.id]) for t in reps}
    memory_first = workload.objective == "memory"
    best: tuple | None = None
    for size in range(1, MAX_FIT + 1):
        for combo in combinations(reps, size):
            if any(clash(a, b) for a, b in combinations(combo, 2)):
                continue
            # savings roughly add up; skip combinations that cannot close the gap (saves cost-model runs)
            if size > 1 and sum(saving[t.id] for t in combo) < 0.9 * need:
                continue
            effect = singles[combo[0].id] if size == 1 else effects_model.effect(list(combo))
            if effect is None or not effect.fits_after:
                continue
            tiers = [quality_tier(t) for t in combo]
            shipped = -sum(min(2, len(t.frameworks)) for t in combo)
            unnamed = not any(t.id in named for t in combo)
            key = ((size, max(tiers)) if memory_first else (max(tiers) >= 3, unnamed, size, max(tiers))) + (
                sum(tiers), shipped, _objective_value(effect, workload, effects_model))
            if best is None or key < best[0]:
                best = (key, list(combo), effect)
        if best is not None:
            break
    return None if best is None else (best[1], best[2])


def _gain(effect: Effect | None) -> float:
    return effect.speedup if effect is not None and effect.speedup else 1.0


def build_stack(ranked: list[Scored], workload: Workload, effects_model: Any, fit: FitPlan | None = None,
                fitted_model: Any = None) -> Stack:
    """The fitting stack (if any), then greedily the best-scored techniques that help and compose with all taken.

    Techniques with no modelled effect join only when the question points at them (intent or name),
    so the stack's estimate stays about techniques the cost model can see.
    """
    chosen: list[Any] = list(fit.techniques) if fit else []
    excluded: dict[str, str] = {}
    added: list[Any] = []
    for s in ranked:
        tech = s.technique
        if any(tech.id == c.id for c in chosen) or len(chosen) >= MAX_STACK or s.score <= 0 or not s.candidate.phase_match:
            continue
        helps = (s.effect is not None and s.effect.speedup is not None and s.effect.speedup > 1.01
                 and "assumed" not in s.parts)
        pointed = s.parts.get("intent", 0) >= 1.0 or s.candidate.named
        # a stack is a default to adopt: nothing with notable quality loss unless the question asks for it
        if not (helps or pointed) or (s.parts.get("lossy", 0) <= -1.0 and not pointed):
            continue
        reason = next((r for r in (clash(tech, c) for c in chosen) if r), None)
        if reason:
            excluded[tech.id] = reason
            continue
        modelled = s.effect is not None and s.effect.speedup is not None
        if (helps and added) or (modelled and not helps and chosen):
            # a technique whose gain the stack so far would lose, or one the question points at that the cost model
            # shows slowing it (a tree draft at batch 64), does not join it: the combination must not be worse
            # than what is already there
            # on top of a fit stack the gain is judged on the fitted setup (before it, the metric is memory)
            on_fit = bool(fit and fit.techniques and fitted_model is not None)
            judge, base = (fitted_model, added) if on_fit else (effects_model, chosen)
            before = judge.effect(base) if base else None
            after = judge.effect([*base, tech])
            if _gain(after) < (_gain(before) if before is not None else 1.0):
                excluded[tech.id] = "lowers the combined estimate"
                continue
        chosen.append(tech)
        added.append(tech)
    effect = effects_model.effect(chosen) if chosen else None
    on_top = fitted_model.effect(added) if fit and fit.techniques and fitted_model is not None and added else None
    return Stack(techniques=[t.id for t in chosen], names=[t.name for t in chosen],
                 estimate=effect.to_estimate() if effect else None, excluded=excluded,
                 fit=[t.id for t in fit.techniques] if fit else [],
                 on_top=on_top.to_estimate() if on_top else None)
