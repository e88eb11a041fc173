"""Evaluating `accelsage plan` candidates: an analytical screen, then the serving simulator on the promising ones.

Stage 2 and 3 of the plan pipeline: :func:`screen` runs the analytical estimate of each candidate (a few ms each)
and :func:`shortlist` keeps the ones worth simulating; :func:`simulate_candidate` serves the load on one of them
(about 0.1-0.2 s for 300 requests); :func:`frontier` and :func:`pick_best` read the simulated points.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from agent.costmodel.arrivals import Lengths, Load
from agent.costmodel.inference import InferenceEstimate
from agent.costmodel.iteration import CostModelIterations
from agent.costmodel.plan_space import Candidate
from agent.costmodel.serving_stats import ServingStats, Slo
from agent.costmodel.simulator import default_warmup, simulate
from agent.costmodel.steady_state import engine_for

# a candidate is simulated when no other one beats it by this share on both axes analytically: the analytical
# screen ignores queueing and prefill interference, so near-misses may still reach the simulated frontier
SCREEN_SLACK = 0.15

# the analytical screen compares SLOs with this much headroom for the same reason
SCREEN_SLO_SLACK = 1.5


@dataclass(frozen=True)
class Point:
    """One evaluated candidate: tokens/s per GPU (throughput) against tokens/s per user (1000 / TPOT)."""

    candidate: Candidate
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float
    ttft_ms: float
    tpot_ms: float
    stats: ServingStats | None = None
    estimate: InferenceEstimate | None = None

    def meets(self, slo: Slo | None, slack: float = 1.0) -> bool:
        return slo is None or slo.met(self.ttft_ms / slack, self.tpot_ms / slack)

    def to_dict(self) -> dict:
        out = {**self.candidate.to_dict(),
               "tokens_per_s_per_gpu": round(self.tokens_per_s_per_gpu, 2),
               "tokens_per_s_per_user": round(self.tokens_per_s_per_user, 2),
               "ttft_ms": round(self.ttft_ms, 3), "tpot_ms": round(self.tpot_ms, 4)}
        if self.stats is not None:
            s = self.stats
            out.update({"ttft_p90_ms": round(s.ttft_ms.p90, 3), "tpot_p90_ms": round(s.itl_ms.p90, 4),
                        "latency_ms": round(s.latency_ms.p50, 2),
                        "throughput_tokens_per_s": round(s.output_tokens_per_s, 2),
                        "requests_per_s": round(s.requests_per_s, 4), "preemptions": s.preemptions,
                        "slo_attainment": None if s.slo_attainment is None else round(s.slo_attainment, 4)})
        return out


def analytical_point(candidate: Candidate, estimate: InferenceEstimate) -> Point:
    """The analytical estimate's view of a candidate (no queueing)."""
    m = estimate.metrics
    per_user = 1000.0 / m.tpot_ms if m.tpot_ms else 0.0
    return Point(candidate, m.throughput_tokens_per_s / candidate.gpus, per_user, m.ttft_ms, m.tpot_ms,
                 estimate=estimate)


def dominates(a: Point, b: Point, slack: float = 0.0) -> bool:
    """True when `a` is at least as good as `b` on both axes (by `slack` more when given) and better on one."""
    ax, ay = a.tokens_per_s_per_gpu * (1 - slack), a.tokens_per_s_per_user * (1 - slack)
    bx, by = b.tokens_per_s_per_gpu, b.tokens_per_s_per_user
    return ax >= bx and ay >= by and (ax > bx or ay > by)


def frontier(points: list[Point], slack: float = 0.0) -> list[Point]:
    """The points no other point dominates, one per distinct (throughput, per-user) pair, fastest per user
    first."""
    kept: list[Point] = []
    seen: set[tuple[float, float]] = set()
    for p in sorted(points, key=_order):
        key = (round(p.tokens_per_s_per_gpu, 6), round(p.tokens_per_s_per_user, 6))
        if key in seen or any(dominates(q, p, slack) for q in points):
            continue
        seen.add(key)
        kept.append(p)
    return kept


def _order(p: Point) -> tuple:
    return (-p.tokens_per_s_per_user, -p.tokens_per_s_per_gpu, p.candidate)


def shortlist(points: list[Point], slo: Slo | None, limit: int) -> list[Point]:
    """The candidates worth simulating, best first, at most `limit`: the analytical frontier, those that
    meet the SLOs with headroom (highest throughput first) or else come closest, each engine's best, then the
    near-frontier."""
    by_throughput = sorted(points, key=lambda p: (-p.tokens_per_s_per_gpu, p.candidate))
    meeting = [p for p in by_throughput if p.meets(slo, SCREEN_SLO_SLACK)]
    engine_best = []
    for engine in sorted({p.candidate.engine for p in points}):
        mine = [p for p in (meeting or by_throughput) if p.candidate.engine == engine]
        engine_best += mine[:2]
    closest = sorted(points, key=lambda p: (shortfall(p, slo), p.candidate))[:6] if slo and not meeting else []
    ordered = frontier(points) + meeting[:8] + closest + engine_best + frontier(points, SCREEN_SLACK)
    out, seen = [], set()
    for p in ordered:
        if p.candidate not in seen:
            seen.add(p.candidate)
            out.append(p)
    return out[:limit]


def simulate_candidate(point: Point, load: Load, lengths: Lengths, requests: int, seed: int,
                       slo: Slo | None) -> Point | None:
    """Serve the load on the candidate's engine (batch capped at its max batch); None when no KV fits."""
    estimate = point.estimate
    setup, workload = estimate.setup, estimate.workload
    engine, _ = engine_for(setup, workload)
    if not engine.kv_capacity_tokens:
        return None
    engine = dataclasses.replace(engine, max_seqs=max(1, min(engine.max_seqs, point.candidate.max_batch)))
    stats = simulate(engine, CostModelIterations(setup), load, lengths, requests,
                     default_warmup(load, requests), seed, slo)
    tpot = stats.itl_ms.p50
    per_user = 1000.0 / tpot if tpot else 0.0
    return Point(point.candidate, stats.output_tokens_per_s / point.candidate.gpus, per_user, stats.ttft_ms.p50,
                 tpot, stats=stats, estimate=estimate)


def slo_misses(point: Point, slo: Slo | None) -> list[dict]:
    """Each SLO the point misses: its name, the target and the simulated median."""
    if slo is None:
        return []
    out = []
    for name, target, value in (("ttft_ms", slo.ttft_ms, point.ttft_ms), ("tpot_ms", slo.tpot_ms, point.tpot_ms)):
        if target is not None and value > target:
            out.append({"slo": name, "target": target, "value": round(value, 3),
                        "over_by": round(value / target - 1, 4)})
    return out


def shortfall(point: Point, slo: Slo | None) -> float:
    """How far the point is from meeting every SLO: the largest value/target ratio (1 or less: met)."""
    if slo is None:
        return 0.0
    ratios = [value / target for target, value in ((slo.ttft_ms, point.ttft_ms), (slo.tpot_ms, point.tpot_ms))
              if target]
    return max(ratios, default=0.0)


def pick_best(points: list[Point], slo: Slo | None) -> tuple[Point, bool]:
    """(best point, meets the SLOs): the highest tokens/s per GPU among those that meet every SLO, else the one
    closest to meeting them (smallest worst ratio to its target)."""
    meeting = [p for p in points if p.meets(slo)]
    if meeting:
        return min(meeting, key=lambda p: (-p.tokens_per_s_per_gpu, -p.tokens_per_s_per_user, p.candidate)), True
    return min(points, key=lambda p: (shortfall(p, slo), -p.tokens_per_s_per_gpu, p.candidate)), False
