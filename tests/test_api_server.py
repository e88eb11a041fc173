"""A real uvicorn server on 127.0.0.1: SSE read with httpx, the ``openai`` SDK (plain, streaming), `accelsage serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from api_helpers import DATA, ServerThread, bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from openai import OpenAI

from api.app import create_app

QUESTION = "Mistral-7B on one RTX 4090 with 4k prompts and 8 users: how do I raise throughput without retraining?"
FOLLOW_UP = "And on an L40S?"
REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(bundled_state):  # noqa: F811
    app = create_app(make_settings(bundled_state), query_embedder=query_embedder())
    with ServerThread(app) as running:
        yield running


def test_sse_stream_arrives_event_by_event(server) -> None:
    names, answer = [], None
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with client.stream("POST", "/v1/chat", json={"message": QUESTION},
                           headers={"Accept": "text/event-stream"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    names.append(event)
                elif line.startswith("data:") and event == "answer":
                    answer = json.loads(line[5:])
    assert names[:2] == ["session", "workload"] and names[-2:] == ["answer", "done"]
    assert "retrieval" in names and "estimate" in names
    assert answer["answer"]["workload"]["model"] == "mistral-7b"
    assert answer["answer"]["recommendations"]


def test_openai_sdk_plain_completion(server) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0, timeout=60)
    completion = client.chat.completions.create(
        model="accelsage", messages=[{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "..."},
                                     {"role": "user", "content": FOLLOW_UP}])
    content = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert "Mistral 7B" in content and "L40S" in content  # the model from turn 1, the GPU from turn 2


def test_openai_sdk_streaming_completion(server) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0, timeout=60)
    stream = client.chat.completions.create(model="accelsage", stream=True,
                                            messages=[{"role": "user", "content": QUESTION}])
    pieces, finish = [], None
    for chunk in stream:
        pieces.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    text = "".join(pieces)
    assert finish == "stop" and len([p for p in pieces if p]) > 3
    assert text.startswith("**") and "Mistral 7B" in text


def test_openai_sdk_lists_and_retrieves_the_chat_models(server) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0, timeout=60)
    assert [model.id for model in client.models.list()] == ["accelsage"]  # no LLM configured
    assert client.models.retrieve("accelsage").owned_by == "accelsage"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("llama-3.1-8b")  # a model shape, not a chat model: /v1/catalog/models has it


def test_openai_sdk_model_field_names_the_model_to_answer_for(server) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0, timeout=60)
    completion = client.chat.completions.create(model="llama-3.1-70b", messages=[{"role": "user", "content": QUESTION}])
    assert completion.model == "llama-3.1-70b"
    workload = completion.model_extra["accelsage"]["workload"]
    assert workload["model"] == "llama-3.1-70b" and workload["fields"]["model"]["origin"] == "explicit"
    with pytest.raises(openai.UnprocessableEntityError, match="llama-3.1-70b"):
        client.chat.completions.create(model="llama-3.1-7Ob", messages=[{"role": "user", "content": QUESTION}])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_accelsage_serve_starts_and_answers(bundled_state) -> None:  # noqa: F811
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELSAGE_")}
    env.update(ACCELSAGE_HOME=str(bundled_state.root), ACCELSAGE_DATA_DIR=str(DATA), ACCELSAGE_INDEX_WATCH_S="0")
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--log-level", "warning"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, ready = time.monotonic() + 90, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert ready is not None, "accelsage serve did not answer"
        assert ready.status_code == 200, ready.text
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "accelsage" in page.text
    finally:
        process.terminate()
        process.wait(30)
