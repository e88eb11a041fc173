"""A latency–throughput curve: one estimate's final configuration simulated at a sweep of concurrencies.

Stages: :func:`sweep_ceiling` bounds the sweep by what the engine can run at once -> :func:`simulate_curve`
serves closed-loop loads 1, 2, 4, ... through :func:`agent.costmodel.steady_state.simulate_estimate` (fewer
requests per point than a single run) and stops once throughput saturates or the KV cache runs out ->
:class:`LatencyCurve` (its JSON is what `accelsage estimate --curve --json` prints under ``curve``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from agent.costmodel.arrivals import Lengths
from agent.costmodel.serving_stats import Slo
from agent.costmodel.steady_state import LoadSpec, SimulationReport, engine_for, simulate_estimate

# requests measured at each point: the curve's shape settles well before the 1000 a single run measures,
# and ten or so points must stay within a few seconds on a 2-core machine
REQUESTS_PER_POINT = 200

# output tokens simulated at each point, at most: with few clients nearly every token is an event of its own,
# so a point's cost grows with its output tokens (200 requests of 4096 tokens took 2 s at concurrency 1 on our
# 2-core machine; 60k tokens take about a third of a second); long outputs get fewer requests, never under
# MIN_REQUESTS_PER_POINT
OUTPUT_TOKENS_PER_POINT = 60_000
MIN_REQUESTS_PER_POINT = 20

# the sweep ends once doubling the concurrency adds less than this share of throughput: past that point more
# clients only queue
SATURATION_GAIN_PER_DOUBLING = 0.05

# the sweep ends once the KV cache is this full at its peak (or requests are preempted or refused)
KV_FULL = 0.95

# a few words for each batch policy of :func:`agent.costmodel.steady_state.engine_for`, for captions
POLICY_NAMES = {"static": "static batching", "continuous": "continuous batching",
                "paged": "continuous batching on paged KV", "chunked": "chunked prefill",
                "disaggregated": "disaggregated prefill and decode"}

# at most this many points besides the one asked for, whatever the engine holds (1 to 2048 clients by doubling,
# wider steps beyond)
MAX_POINTS = 12

# the sweep goes up to this many times the sequences whose mean lengths fit in the KV cache: a paged cache holds
# more than that (a sequence's context grows as it decodes) and the KV stop ends the sweep where it really fills
KV_FIT_HEADROOM = 2


@dataclass(frozen=True)
class CurveSpec:
    """What the sweep simulates beside the concurrencies.

    Args:
        lengths: request lengths; None: the workload's default (spread ±50%, or fixed for uniform lengths).
        requests: requests measured at each point (after a warm-up of a tenth, at least the first wave), fewer
            for long outputs (:func:`requests_per_point`).
        seed: seeds the lengths; every point draws the same requests.
        slo: targets drawn on the plot and counted as SLO attainment at each point.
        concurrency: a concurrency to simulate besides the powers of two (the one the user asked about).
    """

    lengths: Lengths | None = None
    requests: int = REQUESTS_PER_POINT
    seed: int = 0
    slo: Slo | None = None
    concurrency: int | None = None

    @classmethod
    def from_load(cls, spec: LoadSpec | None, concurrency: int | None = None) -> CurveSpec:
        """The curve for the lengths, seed and SLOs of a stated load (None: the defaults), with at most
        ``REQUESTS_PER_POINT`` requests per point (fewer when the load asks for fewer) and ``concurrency`` as an
        extra point."""
        if spec is None:
            return cls(concurrency=concurrency)
        return cls(lengths=spec.lengths, requests=min(spec.requests, REQUESTS_PER_POINT), seed=spec.seed,
                   slo=spec.slo, concurrency=concurrency)


@dataclass(frozen=True)
class CurvePoint:
    """One simulated concurrency: throughput per GPU and the latencies a user sees (ms)."""

    concurrency: int
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float  # 1000 / median inter-token latency
    ttft_p50_ms: float
    ttft_p90_ms: float
    itl_p50_ms: float
    itl_p90_ms: float
    latency_p50_ms: float
    kv_utilisation_peak: float | None
    preemptions: int
    rejected: int
    slo_attainment: float | None

    def to_dict(self) -> dict:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in self.__dict__.items()}


@dataclass(frozen=True)
class LatencyCurve:
    """The sweep's points (ascending concurrency) and what was simulated."""

    points: list[CurvePoint]
    policy: str
    lengths: str
    requests_per_point: int
    seed: int
    gpus: int
    slo: Slo | None
    stopped: str
    assumptions: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for a caption or a table heading."""
        counts = ", ".join(str(p.concurrency) for p in self.points)
        return (f"closed loop at concurrency {counts}; {self.policy} on {self.gpus} GPU(s); lengths "
                f"{self.lengths}; {self.requests_per_point} requests per point, seed {self.seed}; {self.stopped}")

    def to_dict(self) -> dict:
        return {
            "load": "closed loop", "policy": self.policy, "lengths": self.lengths,
            "requests_per_point": self.requests_per_point, "seed": self.seed, "gpus": self.gpus,
            "slo": {"ttft_ms": self.slo.ttft_ms, "tpot_ms": self.slo.tpot_ms} if self.slo else None,
            "stopped": self.stopped, "points": [p.to_dict() for p in self.points],
            "assumptions": list(self.assumptions),
        }


def _mean_lengths(lengths: Lengths) -> tuple[float, float]:
    """(mean prompt, mean output) tokens of the requests ``lengths`` draws."""
    if lengths.kind == "list":
        count = len(lengths.pairs)
        return sum(p for p, _ in lengths.pairs) / count, sum(o for _, o in lengths.pairs) / count
    return lengths.prompt_tokens, lengths.output_tokens


def requests_per_point(asked: int, lengths: Lengths) -> int:
    """The requests each point measures: ``asked``, capped so a point simulates about
    ``OUTPUT_TOKENS_PER_POINT`` output tokens (but not below ``MIN_REQUESTS_PER_POINT``)."""
    budget = max(MIN_REQUESTS_PER_POINT, int(OUTPUT_TOKENS_PER_POINT // _mean_lengths(lengths)[1]))
    return max(1, min(asked, budget))


def sweep_ceiling(estimate: Any, lengths: Lengths) -> int:
    """The highest concurrency worth simulating: what the engine's decode instances run at once, bounded by
    ``KV_FIT_HEADROOM`` times the requests of mean length their KV cache holds."""
    engine, _ = engine_for(estimate.setup, estimate.workload)
    per_instance = engine.max_seqs
    if math.isfinite(engine.kv_capacity_tokens):
        fit = math.ceil(KV_FIT_HEADROOM * engine.kv_capacity_tokens / sum(_mean_lengths(lengths)))
        per_instance = min(per_instance, max(fit, 1))
    return max(1, per_instance * engine.replicas)


def concurrencies(ceiling: int, extra: int | None = None) -> list[int]:
    """1, 2, 4, ... below ``ceiling``, then ``ceiling`` itself (at most ``MAX_POINTS``), plus ``extra``. A ceiling
    past 2 ** (MAX_POINTS - 1) steps by 4, 8, ... instead, so the points still span the whole range."""
    doublings = max(1, math.ceil(math.log2(max(ceiling, 2)) / (MAX_POINTS - 1)))
    step = 2 ** doublings
    out = []
    while len(out) < MAX_POINTS - 1 and step ** len(out) < ceiling:
        out.append(step ** len(out))
    out.append(ceiling)
    if extra is not None and extra not in out:
        out.append(extra)
    return sorted(out)


def _point(concurrency: int, report: SimulationReport, gpus: int) -> CurvePoint:
    s = report.stats
    return CurvePoint(
        concurrency=concurrency, tokens_per_s_per_gpu=s.output_tokens_per_s / gpus,
        tokens_per_s_per_user=1000.0 / s.itl_ms.p50 if s.itl_ms.p50 else 0.0,
        ttft_p50_ms=s.ttft_ms.p50, ttft_p90_ms=s.ttft_ms.p90, itl_p50_ms=s.itl_ms.p50, itl_p90_ms=s.itl_ms.p90,
        latency_p50_ms=s.latency_ms.p50, kv_utilisation_peak=s.kv_utilisation_peak, preemptions=s.preemptions,
        rejected=s.rejected, slo_attainment=s.slo_attainment,
    )


def _stop_reason(point: CurvePoint, previous: CurvePoint | None) -> str | None:
    """Why the sweep ends at ``point``, or None to go on."""
    if point.preemptions or point.rejected or (point.kv_utilisation_peak or 0.0) >= KV_FULL:
        return f"stopped at concurrency {point.concurrency}: the KV cache is full"
    if previous is not None:
        doublings = math.log2(point.concurrency / previous.concurrency)
        if point.tokens_per_s_per_gpu < previous.tokens_per_s_per_gpu * (1 + SATURATION_GAIN_PER_DOUBLING * doublings):
            return (f"stopped at concurrency {point.concurrency}: throughput saturated (under "
                    f"{SATURATION_GAIN_PER_DOUBLING:.0%} more per doubling of concurrency)")
    return None


def simulate_curve(estimate: Any, spec: CurveSpec = CurveSpec()) -> LatencyCurve:
    """Simulate the estimate's final configuration (all its techniques applied) at a sweep of closed-loop
    concurrencies, from 1 up to where throughput saturates, the KV cache fills or the engine runs no more.

    Args:
        estimate: an :class:`agent.costmodel.inference.InferenceEstimate`.
        spec: lengths, requests per point, seed, SLOs and an extra concurrency.
    Raises:
        AccelsageError: the weights leave no memory for the KV cache.
    """
    lengths = LoadSpec(lengths=spec.lengths).lengths_for(estimate.workload)
    requests = requests_per_point(spec.requests, lengths)
    load = LoadSpec(concurrency=1, lengths=lengths, requests=requests, seed=spec.seed, slo=spec.slo)
    ceiling = sweep_ceiling(estimate, lengths)
    par = estimate.setup.parallel
    points: list[CurvePoint] = []
    stopped = None
    report = None
    pending = concurrencies(ceiling, spec.concurrency)
    while pending:
        concurrency = pending.pop(0)
        report = simulate_estimate(estimate, replace(load, concurrency=concurrency))
        instances = report.replicas + (report.prefill_replicas if report.policy == "disaggregated" else 0)
        point = _point(concurrency, report, instances * par.tp * par.pp)
        reason = _stop_reason(point, points[-1] if points else None)
        points.append(point)
        if reason and stopped is None:
            stopped = reason
            # the concurrency the user asked about is still shown, past the stop
            pending = [c for c in pending if c == spec.concurrency]
    assert report is not None  # the sweep always has its first point
    if stopped is None:
        stopped = f"ends at concurrency {ceiling}, the most sequences the engine runs at once"
    notes = [n for n in report.assumptions if not n.startswith("steady state over")]
    return LatencyCurve(points=points, policy=POLICY_NAMES[report.policy], lengths=report.lengths,
                        requests_per_point=requests, seed=spec.seed, gpus=instances * par.tp * par.pp,
                        slo=spec.slo, stopped=stopped, assumptions=notes)
