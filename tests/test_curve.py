"""The latency-throughput curve: a concurrency sweep of the serving simulator, where it stops, and its JSON."""

from __future__ import annotations

import pytest
from api_helpers import DATA

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.arrivals import Lengths
from agent.costmodel.curve import (
    MIN_REQUESTS_PER_POINT,
    CurvePoint,
    CurveSpec,
    _stop_reason,
    concurrencies,
    requests_per_point,
    simulate_curve,
)
from agent.costmodel.serving_stats import Slo
from agent.knowledge import Catalog
from index.errors import AccelsageError

SERVING = ["flash-attention-2", "paged-attention", "continuous-batching"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(DATA)


def _estimate(catalog: Catalog, techniques: list[str], model: str = "llama-3.1-8b", tp: int = 1,
              prompt: int = 1024, output: int = 256):
    return estimate_inference(catalog.resolve_gpu("h100"), catalog.resolve_model(model),
                              InferenceWorkload(batch=1, prompt_len=prompt, output_len=output),
                              ParallelConfig(gpus=tp, tp=tp), techniques=[(catalog.resolve_technique(t), {})
                                                                          for t in techniques])


def _point(concurrency: int, tokens_per_s: float, kv: float = 0.1, preemptions: int = 0) -> CurvePoint:
    return CurvePoint(concurrency, tokens_per_s, 100.0, 20.0, 30.0, 10.0, 12.0, 1000.0, kv, preemptions, 0, None)


@pytest.mark.parametrize("ceiling, extra, expected", [
    (1, None, [1]),
    (8, None, [1, 2, 4, 8]),
    (100, None, [1, 2, 4, 8, 16, 32, 64, 100]),
    (100, 24, [1, 2, 4, 8, 16, 24, 32, 64, 100]),
    (100, 500, [1, 2, 4, 8, 16, 32, 64, 100, 500]),
    (2048, None, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]),
    (16384, None, [1, 4, 16, 64, 256, 1024, 4096, 16384]),  # too many doublings: steps of 4
    (10**6, 3, [1, 3, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 10**6]),
])
def test_sweep_doubles_up_to_the_ceiling(ceiling: int, extra: int | None, expected: list[int]) -> None:
    assert concurrencies(ceiling, extra) == expected


@pytest.mark.parametrize("asked, output, expected", [
    (200, 256, 200),     # 51k output tokens: within the budget
    (200, 512, 117),     # 60,000 // 512
    (200, 4096, MIN_REQUESTS_PER_POINT),
    (10, 4096, 10),      # never more than asked
])
def test_long_outputs_get_fewer_requests_per_point(asked: int, output: int, expected: int) -> None:
    assert requests_per_point(asked, Lengths("fixed", 1024, output)) == expected


@pytest.mark.parametrize("point, previous, words", [
    (_point(2, 190.0), _point(1, 100.0), None),
    (_point(4, 204.0), _point(2, 200.0), "throughput saturated"),  # 2% more for twice the clients
    (_point(24, 207.0), _point(16, 200.0), None),  # 3.5% for 1.5x the clients: over 5% per doubling, pro rata
    (_point(32, 180.0), _point(16, 200.0), "throughput saturated"),
    (_point(8, 400.0, kv=0.96), _point(4, 200.0), "KV cache is full"),
    (_point(8, 400.0, preemptions=3), _point(4, 200.0), "KV cache is full"),
    (_point(1, 100.0), None, None),
])
def test_sweep_stops_at_saturation_or_a_full_kv_cache(point, previous, words) -> None:
    reason = _stop_reason(point, previous)
    assert (reason is None) if words is None else (words in reason)


@pytest.mark.parametrize("techniques", [["flash-attention-2"], SERVING, SERVING + ["chunked-prefill"]])
def test_throughput_and_latency_rise_with_concurrency(catalog, techniques: list[str]) -> None:
    curve = simulate_curve(_estimate(catalog, techniques), CurveSpec(requests=100))
    points = curve.points
    assert len(points) >= 6 and [p.concurrency for p in points][:4] == [1, 2, 4, 8]
    # every point draws the same lengths, but which of them land in the measured window shifts with the
    # concurrency: medians that stay flat (a few clients on an idle GPU) wobble by a percent or two
    noise = 0.03
    for before, after in zip(points, points[1:]):
        assert after.tokens_per_s_per_gpu >= before.tokens_per_s_per_gpu
        assert after.itl_p50_ms >= before.itl_p50_ms * (1 - noise)
        assert after.ttft_p50_ms >= before.ttft_p50_ms * (1 - noise)
        assert after.tokens_per_s_per_user <= before.tokens_per_s_per_user * (1 + noise)
    # over the whole sweep latency clearly grows and the per-user rate clearly falls
    assert points[-1].itl_p50_ms > 1.5 * points[0].itl_p50_ms and points[-1].ttft_p50_ms > points[0].ttft_p50_ms
    assert all(p.itl_p90_ms >= p.itl_p50_ms and p.ttft_p90_ms >= p.ttft_p50_ms for p in points)


def test_sweep_ends_where_the_kv_cache_fills(catalog) -> None:
    estimate = _estimate(catalog, SERVING + ["chunked-prefill"], model="llama-3.1-70b", tp=2, prompt=8192, output=512)
    curve = simulate_curve(estimate, CurveSpec(requests=40))
    assert "KV cache is full" in curve.stopped
    assert curve.points[-1].concurrency == max(p.concurrency for p in curve.points)
    assert (curve.points[-1].kv_utilisation_peak or 0) >= 0.95 or curve.points[-1].preemptions
    assert curve.gpus == 2


def test_asked_concurrency_is_simulated_even_past_the_stop(catalog) -> None:
    estimate = _estimate(catalog, SERVING + ["chunked-prefill"], model="llama-3.1-70b", tp=2, prompt=8192, output=512)
    curve = simulate_curve(estimate, CurveSpec(requests=40, concurrency=24))
    *swept, asked = [p.concurrency for p in curve.points]
    assert asked == 24 and swept and max(swept) < 24  # the sweep stopped where the KV cache filled, below 24


def test_curve_json_lists_each_point_per_gpu(catalog) -> None:
    one = simulate_curve(_estimate(catalog, SERVING), CurveSpec(requests=40, slo=Slo(ttft_ms=200, tpot_ms=20)))
    two = simulate_curve(_estimate(catalog, SERVING, tp=2), CurveSpec(requests=40))
    d = one.to_dict()
    assert d["slo"] == {"ttft_ms": 200, "tpot_ms": 20} and d["requests_per_point"] == 40 and d["gpus"] == 1
    assert d["policy"] == "continuous batching on paged KV" and d["lengths"] == "uniform ±50% around 1024/256"
    assert set(d["points"][0]) == {"concurrency", "tokens_per_s_per_gpu", "tokens_per_s_per_user", "ttft_p50_ms",
                                   "ttft_p90_ms", "itl_p50_ms", "itl_p90_ms", "latency_p50_ms",
                                   "kv_utilisation_peak", "preemptions", "rejected", "slo_attainment"}
    assert all(0 <= p["slo_attainment"] <= 1 for p in d["points"])
    assert two.gpus == 2
    # per GPU: two GPUs in tensor parallel serve one client less than twice as fast as one GPU does
    assert two.points[0].tokens_per_s_per_gpu < one.points[0].tokens_per_s_per_gpu
    assert two.points[0].tokens_per_s_per_user > one.points[0].tokens_per_s_per_user


def test_no_curve_when_the_weights_leave_no_kv_cache(catalog) -> None:
    with pytest.raises(AccelsageError, match="no memory for the KV cache"):
        simulate_curve(_estimate(catalog, SERVING, model="llama-3.1-70b"), CurveSpec(requests=20))
