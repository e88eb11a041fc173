"""Every error is JSON ``{"error": {"message", "type"}}`` with the right 4xx; limits, timeouts, CORS, admin auth."""

from __future__ import annotations

import pytest
from api_helpers import bundled_state, make_settings, parse_sse, query_embedder  # noqa: F401 - fixture
from fastapi.testclient import TestClient

from api.app import create_app
from api.middleware_limits import TokenBuckets

QUESTION = "Llama-3.1-8B on one L4 with 2k prompts: how do I cut per-token latency?"

pytestmark = pytest.mark.slow


def app_client(state, **overrides) -> TestClient:
    return TestClient(create_app(make_settings(state, **overrides), query_embedder=query_embedder()))


@pytest.fixture(scope="module")
def client(bundled_state):  # noqa: F811
    with app_client(bundled_state, max_body_bytes=2048, admin_token="s3cret-token") as test_client:
        yield test_client


def assert_error(response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type"}
    assert body["error"]["type"] == kind and body["error"]["message"]


@pytest.mark.parametrize("method, path, kwargs, status, kind", [
    ("GET", "/v1/nothing-here", {}, 404, "not_found"),
    ("DELETE", "/v1/ask", {}, 405, "method_not_allowed"),
    ("POST", "/v1/ask", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422,
     "validation_error"),
    ("POST", "/v1/ask", {"content": b"question=hi", "headers": {"Content-Type": "text/plain"}}, 422,
     "validation_error"),
    ("POST", "/v1/ask", {"json": {"question": ["a list"]}}, 422, "validation_error"),
    ("POST", "/v1/ask", {"json": {"question": "x" * 3000}}, 413, "request_too_large"),
    ("POST", "/v1/ask", {"content": iter([b'{"question": "', b"y" * 3000, b'"}']),
                         "headers": {"Content-Type": "application/json"}}, 413, "request_too_large"),
    ("GET", "/v1/gpus/not-a-gpu", {}, 404, "not_found"),
    ("POST", "/v1/estimate", {"json": {"gpu": "H100", "model": "llama-3.1-8b", "gpus": 3, "tp": 2}}, 400,
     "invalid_request"),
    ("POST", "/v1/refresh", {}, 401, "unauthorized"),
    ("POST", "/v1/refresh", {"headers": {"Authorization": "Bearer wrong-token"}}, 401, "unauthorized"),
    ("POST", "/v1/refresh", {"headers": {"Authorization": "Basic czNjcmV0LXRva2Vu"}}, 401, "unauthorized"),
    ("GET", "/v1/refresh/0123456789ab", {"headers": {"Authorization": "Bearer s3cret-token"}}, 404, "not_found"),
    ("GET", "/v1/refresh/..%2Fetc", {"headers": {"Authorization": "Bearer s3cret-token"}}, 404, "not_found"),
    ("GET", "/v1/refresh/NOT-AN-ID!", {"headers": {"Authorization": "Bearer s3cret-token"}}, 422, "validation_error"),
])
def test_errors_have_the_json_shape_and_status(client, method: str, path: str, kwargs: dict, status: int,
                                               kind: str) -> None:
    assert_error(client.request(method, path, **kwargs), status, kind)


def test_unauthorized_asks_for_a_bearer_token(client) -> None:
    assert client.post("/v1/refresh").headers["www-authenticate"] == "Bearer"


def test_admin_endpoints_are_off_without_a_token(bundled_state) -> None:  # noqa: F811
    with app_client(bundled_state, admin_token=None) as c:
        assert_error(c.post("/v1/refresh", headers={"Authorization": "Bearer anything"}), 403, "forbidden")
        assert_error(c.get("/v1/refresh/0123456789ab"), 403, "forbidden")


def test_rate_limit_answers_429_with_retry_after(bundled_state) -> None:  # noqa: F811
    with app_client(bundled_state, rate_limit_per_min=2, rate_limit_burst=2) as c:
        assert [c.get("/v1/gpus").status_code for _ in range(2)] == [200, 200]
        limited = c.get("/v1/gpus")
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert c.get("/healthz").status_code == 200  # probes are never limited


def test_token_bucket_refills_over_time() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate_per_min=60, capacity=2, clock=lambda: now[0])
    assert [buckets.take("a"), buckets.take("a")] == [0, 0]
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0  # per client
    now[0] = 1.0
    assert buckets.take("a") == 0


def test_timeouts_are_504(bundled_state) -> None:  # noqa: F811
    with app_client(bundled_state, request_timeout_s=1e-9) as c:
        assert_error(c.post("/v1/ask", json={"question": QUESTION}), 504, "timeout")
        with c.stream("POST", "/v1/chat", json={"message": QUESTION, "stream": True}) as response:
            events = parse_sse(response.read().decode())
        assert ("error", {"error": {"message": "the answer took too long", "type": "timeout"}}) in events


def test_question_length_limit_is_422(bundled_state) -> None:  # noqa: F811
    with app_client(bundled_state, max_question_chars=50) as c:
        assert_error(c.post("/v1/ask", json={"question": "a" * 51}), 422, "validation_error")
        assert_error(c.post("/v1/chat", json={"message": "a" * 51}), 422, "validation_error")
        assert c.post("/v1/ask", json={"question": QUESTION[:50]}).status_code == 200


@pytest.mark.parametrize("origins, expected", [(["http://ui.example"], "http://ui.example"), ([], None)])
def test_cors_is_configurable(bundled_state, origins: list, expected: str | None) -> None:  # noqa: F811
    with app_client(bundled_state, cors_origins=origins) as c:
        preflight = {"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"}
        response = c.options("/v1/ask", headers=preflight)
        assert response.headers.get("access-control-allow-origin") == expected
        plain = c.get("/v1/gpus", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in plain.headers


@pytest.mark.parametrize("route, body", [
    ("/v1/ask", {"question": "Llama-3-70B serving, latency matters", "gpu": "h9000"}),
    ("/v1/ask", {"question": "Llama-3-70B on 2x H100", "model": "llama-9-900b"}),
    ("/v1/chat", {"message": "Llama-3-70B serving on H100", "gpu": "h9000"}),
])
def test_unknown_explicit_name_is_422_with_suggestions(client, route: str, body: dict) -> None:
    response = client.post(route, json=body)
    assert response.status_code == 422
    assert "closest known" in response.json()["error"]["message"]
