"""Combine composable techniques into one stack (catalog conflicts respected) and estimate it."""

from __future__ import annotations

from typing import Any

from agent.answer import Stack
from agent.ranking import Scored
from agent.workload import Workload

MAX_STACK = 4
# transforms that set the same knob: two of them cannot both apply (two weight formats, two schedules)
_EXCLUSIVE_TRANSFORMS = {"weight_quant", "fp8_compute", "int8_compute", "speculative", "kv_quant", "kv_eviction",
                         "pipeline_schedule", "zero", "mixed_precision", "offload", "recompute", "early_exit",
                         "contextual_sparsity", "pruning", "linear_attention", "disaggregation", "launch_overhead"}
_WEIGHT_FORMAT = {"weight_quant", "fp8_compute", "int8_compute"}


def clash(a: Any, b: Any) -> str | None:
    """Why techniques ``a`` and ``b`` should not be stacked, or None when they compose."""
    if b.id in a.relations.conflicts_with or a.id in b.relations.conflicts_with:
        return f"conflicts with {b.name}"
    if b.id in a.relations.supersedes or a.id in b.relations.supersedes:
        return f"one supersedes the other ({a.name} / {b.name})"
    ta, tb = a.cost_model.transform, b.cost_model.transform
    if ta == tb and ta in _EXCLUSIVE_TRANSFORMS:
        return f"both set the same thing as {b.name} ({ta})"
    if ta in _WEIGHT_FORMAT and tb in _WEIGHT_FORMAT:
        return f"both choose the weight format ({b.name})"
    return None


def build_stack(ranked: list[Scored], workload: Workload, effects_model: Any) -> Stack:
    """Greedy: take the best-scored techniques that help and compose with all taken so far.

    Techniques with no modelled effect join only when the question points at them (intent or name),
    so the stack's estimate stays about techniques the cost model can see.
    """
    chosen: list[Any] = []
    excluded: dict[str, str] = {}
    for s in ranked:
        tech = s.technique
        if len(chosen) >= MAX_STACK or s.score <= 0 or not s.candidate.phase_match:
            continue
        helps = s.effect is not None and s.effect.speedup is not None and s.effect.speedup > 1.01
        pointed = s.parts.get("intent", 0) >= 1.0 or s.candidate.named
        if not (helps or pointed):
            continue
        reason = next((r for r in (clash(tech, c) for c in chosen) if r), None)
        if reason:
            excluded[tech.id] = reason
            continue
        chosen.append(tech)
    effect = effects_model.effect(chosen) if chosen else None
    return Stack(techniques=[t.id for t in chosen], names=[t.name for t in chosen],
                 estimate=effect.to_estimate() if effect else None, excluded=excluded)
