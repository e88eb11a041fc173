"""Steady-state statistics of a serving simulation: latency percentiles, throughput, goodput, KV use.

Only measured requests (after the warm-up, before the tail that keeps the load on) count toward latencies.
Rates are taken over the measurement window, from the first measured arrival to the last measured finish,
and count every token and request the engine completed in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from agent.costmodel.replica import Job, Replica


@dataclass(frozen=True)
class Slo:
    """Latency targets a request must meet to count toward goodput (None: no target)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None

    def met(self, ttft_ms: float, tpot_ms: float) -> bool:
        return ((self.ttft_ms is None or ttft_ms <= self.ttft_ms)
                and (self.tpot_ms is None or tpot_ms <= self.tpot_ms))


@dataclass(frozen=True)
class Spread:
    """Mean and percentiles of one latency, in milliseconds."""

    mean: float
    p50: float
    p90: float
    p99: float

    def to_dict(self) -> dict:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of an ascending list; 0 when empty."""
    if not ordered:
        return 0.0
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread_of(values: Iterable[float]) -> Spread:
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered) if ordered else 0.0
    return Spread(mean, *(percentile(ordered, q) for q in (0.5, 0.9, 0.99)))


def weighted_spread(pairs: list[tuple[float, int]]) -> Spread:
    """Spread of values that each occur `weight` times: mean, and the smallest value whose cumulative
    weight reaches each quantile."""
    pairs = sorted(p for p in pairs if p[1] > 0)
    total = sum(w for _, w in pairs)
    if not total:
        return Spread(0.0, 0.0, 0.0, 0.0)
    mean = sum(v * w for v, w in pairs) / total
    out, cum, index = [], 0, 0
    for q in (0.5, 0.9, 0.99):
        while index < len(pairs) and cum + pairs[index][1] < q * total:
            cum += pairs[index][1]
            index += 1
        out.append(pairs[min(index, len(pairs) - 1)][0])
    return Spread(mean, *out)


@dataclass(frozen=True)
class ServingStats:
    """What a simulation measured in its steady state (times in ms, rates per second, whole deployment)."""

    requests: int
    warmup: int
    rejected: int
    window_s: float
    ttft_ms: Spread
    itl_ms: Spread
    tpot_ms: Spread       # per request: (latency - TTFT) / (output - 1)
    latency_ms: Spread
    output_tokens_per_s: float
    requests_per_s: float
    goodput_requests_per_s: float | None
    slo_attainment: float | None
    kv_utilisation_mean: float | None
    kv_utilisation_peak: float | None
    preemptions: int
    iterations: int

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        for key in ("ttft_ms", "itl_ms", "tpot_ms", "latency_ms"):
            out[key] = getattr(self, key).to_dict()
        for key in ("window_s", "output_tokens_per_s", "requests_per_s", "goodput_requests_per_s",
                    "slo_attainment", "kv_utilisation_mean", "kv_utilisation_peak"):
            if out[key] is not None:
                out[key] = round(out[key], 4)
        return out


def _kv_utilisation(replicas: list[Replica], start: float, end: float) -> tuple[float | None, float | None]:
    """Time-weighted mean and peak of KV used / capacity over the window (idle time counts as empty)."""
    bounded = [r for r in replicas if math.isfinite(r.kv_capacity) and r.kv_capacity > 0]
    if not bounded or end <= start:
        return None, None
    area, peak = 0.0, 0.0
    for r in bounded:
        for s, e, used, top in zip(r.log.starts, r.log.ends, r.log.kv_used, r.log.kv_top):
            overlap = min(e, end) - max(s, start)
            if overlap > 0 or start <= s <= end:
                peak = max(peak, top / r.kv_capacity)
            if overlap > 0:
                area += overlap * used / r.kv_capacity
    return area / ((end - start) * len(bounded)), peak


def summarise(jobs: list[Job], finished_all: list[tuple[float, Job]], replicas: list[Replica], warmup: int,
              slo: Slo | None) -> ServingStats:
    """Statistics over the measured jobs; rates over the window from their first arrival to their last finish."""
    done = [j for j in jobs if not j.rejected]
    rejected = len(jobs) - len(done)
    if not done:
        zero = Spread(0.0, 0.0, 0.0, 0.0)
        return ServingStats(0, warmup, rejected, 0.0, zero, zero, zero, zero, 0.0, 0.0, None, None, None, None, 0,
                            sum(len(r.log.ends) for r in replicas))
    start = min(j.req.arrival_s for j in done)
    end = max(j.finish_s for j in done)
    window = max(end - start, 1e-12)
    ttft = [(j.first_token_s - j.req.arrival_s) * 1e3 for j in done]
    latency = [(j.finish_s - j.req.arrival_s) * 1e3 for j in done]
    tpot = [(j.finish_s - j.first_token_s) * 1e3 / (j.req.output_tokens - 1) for j in done if j.req.output_tokens > 1]
    itl_pairs = [(g * 1e3, w) for r in replicas for g, w in zip(r.log.itl_gaps, r.log.itl_weights)]
    itl_pairs += [(g * 1e3, 1) for r in replicas for g in r.log.itl_samples]
    tokens = sum(t for r in replicas for e, t in zip(r.log.ends, r.log.tokens) if start < e <= end)
    completions = sum(1 for t, _ in finished_all if start < t <= end)
    goodput = attainment = None
    if slo is not None and (slo.ttft_ms is not None or slo.tpot_ms is not None):
        per_request_tpot = [(j.finish_s - j.first_token_s) * 1e3 / max(j.req.output_tokens - 1, 1) for j in done]
        attainment = sum(slo.met(a, b) for a, b in zip(ttft, per_request_tpot)) / len(done)
        goodput = attainment * completions / window  # the request rate that meets the targets
    kv_mean, kv_peak = _kv_utilisation(replicas, start, end)
    preemptions = sum(1 for r in replicas for t in r.log.preemption_times if start <= t <= end)
    return ServingStats(
        requests=len(done), warmup=warmup, rejected=rejected, window_s=window,
        ttft_ms=spread_of(ttft), itl_ms=weighted_spread(itl_pairs), tpot_ms=spread_of(tpot),
        latency_ms=spread_of(latency), output_tokens_per_s=tokens / window, requests_per_s=completions / window,
        goodput_requests_per_s=goodput, slo_attainment=attainment, kv_utilisation_mean=kv_mean,
        kv_utilisation_peak=kv_peak, preemptions=preemptions, iterations=sum(len(r.log.ends) for r in replicas),
    )
