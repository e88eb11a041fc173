"""OpenAI-compatible model names: /v1/models lists the chat models; a completion's `model` may name a model shape."""

from __future__ import annotations

import pytest
from api_helpers import bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from fastapi.testclient import TestClient

from api.app import create_app

pytestmark = pytest.mark.slow
QUESTION = "On 2x H100 with 8k prompts and 64 users, latency matters: what should we use?"


@pytest.fixture(scope="module")
def client(bundled_state):  # noqa: F811
    with TestClient(create_app(make_settings(bundled_state), query_embedder=query_embedder())) as test_client:
        yield test_client


def _complete(client: TestClient, model: str | None, question: str = QUESTION):
    body = {"messages": [{"role": "user", "content": question}]}
    if model is not None:
        body["model"] = model
    return client.post("/v1/chat/completions", json=body)


def test_models_lists_accelsage_as_the_one_chat_model(client) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in body["data"]] == [("accelsage", "model", "accelsage")]


class _ScriptedPlanner:
    """Stands in for the LLM planner: marks the answer as the LLM's, as a real refine would."""

    def refine(self, answer, answerer):  # noqa: ANN001, ANN201 - the planner's interface
        return answer.model_copy(update={"answered_by": "llm"})


def test_accelsage_llm_is_listed_and_answers_through_the_llm(bundled_state) -> None:  # noqa: F811
    settings = make_settings(bundled_state, llm="openai:some-model", llm_base_url="http://127.0.0.1:9/v1",
                             llm_api_key="unused")
    with TestClient(create_app(settings, query_embedder=query_embedder())) as client:
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["accelsage", "accelsage-llm"]
        assert client.get("/v1/models/accelsage-llm").json()["id"] == "accelsage-llm"
        client.app.state.services.answerer.llm = _ScriptedPlanner()
        by = {model: _complete(client, model).json()["accelsage"]["answered_by"]
              for model in ("accelsage", "accelsage-llm", "llama-3.1-70b")}
        assert by == {"accelsage": "rules", "accelsage-llm": "llm", "llama-3.1-70b": "rules"}


def test_show_chat_model(client) -> None:
    shown = client.get("/v1/models/accelsage")
    assert shown.status_code == 200
    assert {k: shown.json()[k] for k in ("id", "object", "created", "owned_by")} == {
        "id": "accelsage", "object": "model", "created": 0, "owned_by": "accelsage"}


@pytest.mark.parametrize("name", ["gpt-4o", "llama-3.1-70b", "accelsage-llm", "accelsag"])
def test_unknown_chat_model_is_a_404_json_error(client, name: str) -> None:
    response = client.get(f"/v1/models/{name}")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "not_found" and "/v1/catalog/models" in error["message"]
    if name == "accelsag":
        assert error["message"].endswith("closest known: accelsage")


@pytest.mark.parametrize("model", ["llama-3.1-70b", "llama3-70b", "meta-llama/Llama-3.1-70B-Instruct"])
def test_a_model_shape_in_the_model_field_sets_the_workload_model(client, model: str) -> None:
    reply = _complete(client, model, "Mixtral 8x7B on 2x H100 with 8k prompts, latency matters: what should we use?")
    assert reply.status_code == 200, reply.text
    workload = reply.json()["accelsage"]["workload"]
    # the explicit field wins over the model the question names, as --model does on the CLI
    assert workload["model"] == "llama-3.1-70b" and workload["fields"]["model"]["origin"] == "explicit"
    assert reply.json()["model"] == model


@pytest.mark.parametrize("model", [None, "accelsage", "ACCELSAGE"])
def test_accelsage_reads_the_model_from_the_question(client, model: str | None) -> None:
    reply = _complete(client, model, "Mixtral 8x7B on 2x H100 with 8k prompts, latency matters: what should we use?")
    assert reply.status_code == 200
    assert reply.json()["accelsage"]["workload"]["model"] == "mixtral-8x7b"


@pytest.mark.parametrize("model, closest", [("llama-3.1-7b", "llama-3.1-8b"), ("acelsage", "accelsage"),
                                            ("mixtral-8x7", "mixtral-8x7b"), ("accelsage-llm", "accelsage")])
def test_an_unknown_model_field_is_a_422_naming_the_closest(client, model: str, closest: str) -> None:
    for stream in (False, True):
        response = client.post("/v1/chat/completions", json={
            "model": model, "stream": stream, "messages": [{"role": "user", "content": QUESTION}]})
        assert response.status_code == 422
        message = response.json()["error"]["message"]
        assert message.startswith(f"model: no chat model or catalog model shape {model!r}")
        assert closest in message.split("closest known:")[1]
