"""GET /metrics: Prometheus text with request counts, latency histograms per route template, corpus size."""

from __future__ import annotations

import re

import pytest
from api_helpers import bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from fastapi.testclient import TestClient

from api.app import create_app
from api.metrics import LATENCY_BUCKETS_S, Metrics
from index.store import Store

pytestmark = pytest.mark.slow
SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="[^"]*",?)*\})? (-?[0-9.e+]+|\+Inf)$')


def samples(text: str) -> dict[str, float]:
    """'name{labels}' -> value, checking every non-comment line is a well-formed sample."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"malformed sample line: {line!r}"
        out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


@pytest.fixture(scope="module")
def scraped(bundled_state):  # noqa: F811
    with TestClient(create_app(make_settings(bundled_state), query_embedder=query_embedder())) as client:
        for paper_id in ("2307.08691", "2309.06180", "9999.99999"):
            client.get(f"/v1/papers/{paper_id}")
        client.get("/v1/search", params={"q": "kv cache quantization"})
        client.get("/no/such/route")
        response = client.get("/metrics")
    return response


def test_metrics_are_prometheus_text(scraped) -> None:
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = scraped.text
    assert "# TYPE accelsage_requests_total counter" in text
    assert "# TYPE accelsage_request_duration_seconds histogram" in text
    samples(text)


def test_requests_are_counted_by_route_template(scraped) -> None:
    s = samples(scraped.text)
    assert s['accelsage_requests_total{method="GET",route="/v1/papers/{arxiv_id}",status="200"}'] == 2
    assert s['accelsage_requests_total{method="GET",route="/v1/papers/{arxiv_id}",status="404"}'] == 1
    assert s['accelsage_requests_total{method="GET",route="unmatched",status="404"}'] == 1
    assert not any("2307.08691" in key for key in s)  # raw paths never become labels


def test_latency_histogram_is_cumulative_and_complete(scraped) -> None:
    s = samples(scraped.text)
    base = 'method="GET",route="/v1/papers/{arxiv_id}"'
    buckets = [s[f'accelsage_request_duration_seconds_bucket{{{base},le="{b!r}"}}'] for b in LATENCY_BUCKETS_S]
    assert buckets == sorted(buckets)
    assert s[f'accelsage_request_duration_seconds_bucket{{{base},le="+Inf"}}'] == 3
    assert s[f"accelsage_request_duration_seconds_count{{{base}}}"] == 3
    assert s[f"accelsage_request_duration_seconds_sum{{{base}}}"] > 0


def test_corpus_size_gauges_match_the_store(scraped, bundled_state) -> None:  # noqa: F811
    s = samples(scraped.text)
    with Store(bundled_state.db_path) as store:
        assert s["accelsage_corpus_chunks"] == store.chunk_count()
        assert s["accelsage_corpus_papers"] == len(store.list_papers())
    assert s["accelsage_index_vectors"] == s["accelsage_corpus_chunks"]
    assert s["accelsage_refresh_running"] == 0


@pytest.mark.parametrize("seconds, first_bucket", [(0.001, 0), (0.3, LATENCY_BUCKETS_S.index(0.5)), (100.0, None)])
def test_observation_lands_in_the_right_buckets(seconds: float, first_bucket: int | None) -> None:
    metrics = Metrics()
    metrics.observe_request("GET", "/x", 200, seconds)
    hist = metrics.latency[("GET", "/x")]
    expected = [0.0 if first_bucket is None or i < first_bucket else 1.0 for i in range(len(LATENCY_BUCKETS_S))]
    assert hist[:-2] == expected and hist[-1] == 1


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.observe_request("GET", 'a"b\\c', 200, 0.01)
    assert 'route="a\\"b\\\\c"' in metrics.render({})
