"""POST /v1/chat (server-side sessions, SSE progress) and POST /v1/chat/completions (OpenAI shape) in-process."""

from __future__ import annotations

import re

import pytest
from api_helpers import bundled_state, make_settings, parse_sse, query_embedder  # noqa: F401 - fixture
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.chat_sessions import ChatSessions

FIRST = "Serving Llama-3.1-70B on 4x A100 80GB with 4k prompts and 64 users; throughput matters. What should we use?"
FOLLOW_UP = "What about on H100?"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(bundled_state):  # noqa: F811
    settings = make_settings(bundled_state, chat_sessions_max=3)
    with TestClient(create_app(settings, query_embedder=query_embedder())) as test_client:
        yield test_client


def test_follow_up_keeps_the_workload_of_the_session(client) -> None:
    first = client.post("/v1/chat", json={"message": FIRST}).json()
    assert first["turn"] == 1 and first["answer"]["workload"]["model"] == "llama-3.1-70b"
    second = client.post("/v1/chat", json={"message": FOLLOW_UP, "session_id": first["session_id"]}).json()
    assert second["session_id"] == first["session_id"] and second["turn"] == 2
    workload = second["answer"]["workload"]
    assert workload["gpu"].startswith("h100")
    assert workload["model"] == "llama-3.1-70b"  # carried over from turn 1
    assert "**Workload:**" in second["markdown"]


def test_a_new_session_does_not_see_other_sessions(client) -> None:
    client.post("/v1/chat", json={"message": FIRST})
    alone = client.post("/v1/chat", json={"message": FOLLOW_UP}).json()
    assert alone["turn"] == 1
    assert alone["answer"]["workload"]["model"] != "llama-3.1-70b"


def test_unknown_session_id_starts_a_new_session_under_a_server_issued_id(client) -> None:
    reply = client.post("/v1/chat", json={"message": FIRST, "session_id": "client-chosen-id"}).json()
    assert reply["turn"] == 1 and reply["session_id"] != "client-chosen-id"
    # the chosen id was not adopted: using it again still starts afresh, under yet another id
    again = client.post("/v1/chat", json={"message": FOLLOW_UP, "session_id": "client-chosen-id"}).json()
    assert again["turn"] == 1 and again["session_id"] not in ("client-chosen-id", reply["session_id"])
    # the issued id continues the conversation
    follow = client.post("/v1/chat", json={"message": FOLLOW_UP, "session_id": reply["session_id"]}).json()
    assert follow["turn"] == 2 and follow["session_id"] == reply["session_id"]


def test_session_ids_are_long_random_tokens() -> None:
    sessions = ChatSessions(max_sessions=100, ttl_s=10)
    ids = {sessions.open(None).session_id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 32 and re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)
    assert sessions.open("not-a-known-session").session_id not in ids | {"not-a-known-session"}


@pytest.mark.parametrize("how", [{"headers": {"Accept": "text/event-stream"}, "stream": False}, {"stream": True}])
def test_stream_reports_progress_then_the_answer(client, how: dict) -> None:
    body = {"message": FIRST, "stream": how["stream"]}
    with client.stream("POST", "/v1/chat", json=body, headers=how.get("headers", {})) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.read().decode())
    names = [name for name, _ in events]
    assert names[0] == "session" and names[1] == "workload" and names[-2:] == ["answer", "done"]
    assert "retrieval" in names and names.index("retrieval") < names.index("estimate")
    answer = dict(events)["answer"]["answer"]
    assert names.count("estimate") >= len(answer["recommendations"])
    assert dict(events)["workload"]["model"] == "llama-3.1-70b"


def test_bad_session_ids_are_422(client) -> None:
    for session_id in ("../../etc/passwd", "short", "x" * 65, "a b c d e f g h"):
        response = client.post("/v1/chat", json={"message": FIRST, "session_id": session_id})
        assert response.status_code == 422, session_id


def test_sessions_are_bounded_in_number_and_age() -> None:
    now = [0.0]
    sessions = ChatSessions(max_sessions=2, ttl_s=10, clock=lambda: now[0])
    a, b = sessions.open(None), sessions.open(None)
    sessions.open(a.session_id)  # a used again: b is now the least recently used
    sessions.open(None)
    assert len(sessions) == 2
    assert sessions.open(b.session_id).turns == 0 and sessions.open(b.session_id) is not b
    now[0] = 100.0
    assert len(sessions) == 0


# ---------------------------------------------------------------- OpenAI-compatible


def test_completion_answers_the_last_user_message_with_earlier_workload(client) -> None:
    body = {"model": "accelsage", "temperature": 0.2, "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": "(earlier answer)"},
        {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]},
    ]}
    reply = client.post("/v1/chat/completions", json=body).json()
    assert reply["object"] == "chat.completion" and reply["model"] == "accelsage"
    message = reply["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"]
    assert reply["accelsage"]["workload"]["model"] == "llama-3.1-70b"
    assert reply["accelsage"]["workload"]["gpu"].startswith("h100")


def test_completion_stream_is_openai_chunks_then_done(client) -> None:
    body = {"messages": [{"role": "user", "content": FIRST}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        events = parse_sse(response.read().decode())
    assert events[-1] == ("message", "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "Workload" in text


@pytest.mark.parametrize("messages", [
    [],
    [{"role": "assistant", "content": "hi"}],
    [{"role": "user", "content": ""}],
    [{"role": "wizard", "content": FIRST}],
])
def test_completion_without_a_user_question_is_422(client, messages: list) -> None:
    response = client.post("/v1/chat/completions", json={"model": "accelsage", "messages": messages})
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "validation_error"
