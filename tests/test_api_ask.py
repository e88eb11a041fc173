"""POST /v1/ask: the agent's answer over the bundled corpus, the same JSON as `accelsage ask --json`."""

from __future__ import annotations

import pytest
from api_helpers import bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from fastapi.testclient import TestClient

from api.app import create_app
from index.store import Store

QUESTION = "Llama-3.1-70B on 2x H100, 8k-token prompts, 256 output tokens, 32 users: how do we cut time to first token?"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(bundled_state):  # noqa: F811
    with TestClient(create_app(make_settings(bundled_state), query_embedder=query_embedder())) as test_client:
        yield test_client


def _without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def test_ask_matches_the_answerer_json(client) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200
    services = client.app.state.services
    expected = services.answerer.answer(QUESTION).model_dump(mode="json")
    assert _without_timings(response.json()) == _without_timings(expected)


def test_ask_recommends_cited_techniques(client, bundled_state) -> None:  # noqa: F811
    answer = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert answer["status"] == "ok"
    assert answer["recommendations"], answer
    citations = [c for rec in answer["recommendations"] for c in rec["citations"]]
    assert citations
    with Store(bundled_state.db_path) as store:
        stored = {row["id"]: row for row in store.get_chunks([c["chunk_id"] for c in citations])}
    for citation in citations:  # every cited passage exists, word for word, in the store
        assert stored[citation["chunk_id"]]["text"] == citation["text"]


@pytest.mark.parametrize("fields, key, value", [
    ({"gpu": "A100 80GB"}, "gpu", "a100-80gb"),
    ({"model": "llama-3.1-8b"}, "model", "llama-3.1-8b"),
    ({"gpus": 4}, "gpu_count", 4),
    ({"prompt_tokens": 32768}, "prompt_tokens", 32768),
    ({"batch": 128}, "batch", 128),
    ({"objective": "throughput"}, "objective", "throughput"),
    ({"phase": "offline-batch"}, "phase", "offline-batch"),
])
def test_explicit_fields_win_over_the_question(client, fields: dict, key: str, value: object) -> None:
    answer = client.post("/v1/ask", json={"question": QUESTION, **fields}).json()
    assert answer["workload"][key] == value
    assert answer["workload"]["fields"][key]["origin"] == "explicit"


@pytest.mark.parametrize("question, status", [
    ("What is the best pizza topping in Naples?", "refused"),
    ("   ", "refused"),
])
def test_questions_the_agent_will_not_answer_still_answer_200(client, question: str, status: str) -> None:
    response = client.post("/v1/ask", json={"question": question})
    assert response.status_code == 200
    assert response.json()["status"] == status


def test_unknown_explicit_gpu_names_the_closest(client) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION, "gpu": "H1000"})
    assert response.status_code == 422
    assert "h100" in response.json()["error"]["message"].lower()


def test_unknown_gpu_in_the_question_is_answered_on_the_closest_known_one(client) -> None:
    answer = client.post("/v1/ask", json={"question": "Llama-3-70B on 2x H1000, latency matters"}).json()
    assert answer["status"] == "ok" and answer["workload"]["gpu_count"] == 2
    assert answer["workload"]["fields"]["gpu"]["origin"] == "assumed"
    assert any("no specs for 'H1000'" in w and "H100" in w for w in answer["warnings"])


@pytest.mark.parametrize("body", [
    {},
    {"question": ""},
    {"question": 42},
    {"question": "x" * 4001},
    {"question": QUESTION, "gpus": 0},
    {"question": QUESTION, "phase": "dreaming"},
    {"question": QUESTION, "prompt_tokens": -5},
])
def test_bad_ask_bodies_are_422(client, body: dict) -> None:
    response = client.post("/v1/ask", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "validation_error"


def test_identical_asks_are_cached_until_the_index_is_swapped(client) -> None:
    body = {"question": QUESTION, "gpu": "H200"}
    first = client.post("/v1/ask", json=body)
    second = client.post("/v1/ask", json=body)
    assert second.headers["x-accelsage-cache"] == "hit"
    assert second.json() == first.json()
    assert client.post("/v1/ask", json={**body, "batch": 3}).headers["x-accelsage-cache"] == "miss"
    client.app.state.services.searcher.reload()  # what a refresh does when it ends
    assert client.post("/v1/ask", json=body).headers["x-accelsage-cache"] == "miss"


@pytest.mark.parametrize("fields, word", [
    ({"gpus": 0}, "gpus"),
    ({"batch": 0}, "batch"),
    ({"prompt_tokens": 0}, "prompt_tokens"),
])
def test_out_of_range_workload_fields_are_422_naming_the_field(client, fields: dict, word: str) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION, **fields})
    assert response.status_code == 422, response.text
    assert word in response.json()["error"]["message"]
