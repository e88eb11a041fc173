"""The optional LLM path: tools, a fake OpenAI-compatible server on 127.0.0.1, and a scripted in-process model.

Checks that the planner calls tools, keeps verified citations, rejects a bad citation or a number with
no source, and falls back to the default answer on a slow server (timeout) or an error.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage

from agent.llm.planner import LlmPlanner, numbers_in, unsupported_numbers
from agent.llm.tools import build_tools
from agent_helpers import small_answerer

QUESTION = "Single-user chat with Llama 3 8B on one H100; per-token latency at batch 1 is too slow. What helps?"


class ScriptedChatModel(FakeMessagesListChatModel):
    """A fake chat model that replays scripted messages and accepts tools (the base class refuses bind_tools)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedChatModel":
        return self


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("llm") / "a.db")


@pytest.fixture(scope="module")
def spec_chunk(answerer) -> int:
    hits = answerer.searcher.search("draft model proposes several tokens speculative decoding", k=3)
    return next(h.chunk_id for h in hits if h.paper_id == "2211.17192")


def tool_call(name: str, args: dict, call_id: str = "call_1") -> dict:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


# ---------------------------------------------------------------- the fake OpenAI-compatible server

class FakeOpenAI:
    """Serves /v1/chat/completions from a script: each entry is a message dict, optionally with a delay."""

    def __init__(self, script: list[dict]) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                step = owner.script.pop(0) if owner.script else {"content": "done"}
                time.sleep(step.pop("delay_s", 0))
                reply = json.dumps(_completion(step)).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:  # the client gave up (timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completion(step: dict) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
    finish = "stop"
    if "tool_calls" in step:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(step["tool_calls"])
        ]
        finish = "tool_calls"
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake-model",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def planner_for(server: FakeOpenAI, timeout_s: float = 120.0) -> LlmPlanner:
    return LlmPlanner.from_spec("openai:fake-model", base_url=server.base_url, api_key="test", timeout_s=timeout_s)


# ---------------------------------------------------------------- tests

def test_tools_are_listed_in_one_place_with_docstrings(answerer):
    tools = build_tools(answerer)
    names = [t.name for t in tools]
    assert names == ["recommend", "search_papers", "get_technique", "list_techniques", "get_gpu", "get_model", "estimate"]
    assert all(len(t.description) > 60 for t in tools)


def test_estimate_tool_returns_cost_model_numbers(answerer):
    estimate = {t.name: t for t in build_tools(answerer)}["estimate"]
    out = estimate.invoke({"gpu": "H100", "model": "llama-3.1-8b", "batch": 1, "prompt_tokens": 1024,
                           "output_tokens": 128, "techniques": ["fp8-inference"]})
    assert out["before"]["tpot_ms"] > 0 and out["after"]["tpot_ms"] > 0
    unknown = estimate.invoke({"gpu": "H1000", "model": "llama-3.1-8b"})
    assert "error" in unknown


def test_fake_server_answer_with_valid_citation_is_kept(answerer, spec_chunk):
    script = [
        {"tool_calls": [("recommend", {"question": QUESTION})]},
        {"tool_calls": [("search_papers", {"query": "speculative decoding draft model", "k": 3})]},
        {"content": f"Use speculative decoding: a draft proposes tokens the target verifies [chunk:{spec_chunk}]."},
    ]
    with FakeOpenAI(script) as server:
        base = answerer.default_answer(QUESTION)
        answerer.llm = planner_for(server)
        try:
            answer = answerer.answer(QUESTION)
        finally:
            answerer.llm = None
    assert answer.answered_by == "llm"
    assert [c.chunk_id for c in answer.answer_citations] == [spec_chunk]
    assert answer.recommendations == base.recommendations
    assert len(server.requests) == 3 and server.requests[0]["tools"]


def test_fake_server_bad_citation_is_rejected(answerer):
    script = [{"tool_calls": [("recommend", {"question": QUESTION})]},
              {"content": "Speculative decoding is proven to work [chunk:987654]."}]
    with FakeOpenAI(script) as server:
        answer = small_planner_answer(answerer, planner_for(server))
    assert answer.answered_by == "rules"
    assert any("987654" in w and "rejected" in w for w in answer.warnings)
    assert answer.answer_citations == []


def test_fake_server_slow_reply_times_out_and_falls_back(answerer):
    script = [{"content": "too late", "delay_s": 3.0}]
    with FakeOpenAI(script) as server:
        answer = small_planner_answer(answerer, planner_for(server, timeout_s=0.5))
    assert answer.answered_by == "rules" and answer.recommendations
    assert any("LLM unavailable" in w and "no reply within 0.5 s" in w for w in answer.warnings)


def test_unreachable_server_falls_back(answerer):
    planner = LlmPlanner.from_spec("openai:fake-model", base_url="http://127.0.0.1:9/v1", api_key="x", timeout_s=5)
    answer = small_planner_answer(answerer, planner)
    assert answer.answered_by == "rules" and any("LLM unavailable" in w for w in answer.warnings)


def small_planner_answer(answerer, planner):
    answerer.llm = planner
    try:
        return answerer.answer(QUESTION)
    finally:
        answerer.llm = None


@pytest.mark.parametrize(("final", "accepted"), [
    ("Speculative decoding helps at batch 1 [chunk:{cid}].", True),
    ("Speculative decoding cuts latency by 3.7x [chunk:{cid}].", False),   # a number no tool gave
    ("See [chunk:424242] for details.", False),                         # a chunk that does not exist
    ("", False),                                                         # nothing said
])
def test_scripted_model_checks(answerer, spec_chunk, final, accepted):
    model = ScriptedChatModel(responses=[
        AIMessage(content="", tool_calls=[tool_call("recommend", {"question": QUESTION})]),
        AIMessage(content=final.format(cid=spec_chunk)),
    ])
    answer = small_planner_answer(answerer, LlmPlanner(model, timeout_s=120))
    assert (answer.answered_by == "llm") is accepted
    if not accepted:
        assert any("LLM answer rejected" in w for w in answer.warnings)


def test_scripted_model_may_quote_tool_numbers(answerer):
    base = answerer.default_answer(QUESTION)
    top = base.recommendations[0]
    number = top.estimate.before[top.estimate.metric]
    model = ScriptedChatModel(responses=[
        AIMessage(content="", tool_calls=[tool_call("recommend", {"question": QUESTION})]),
        AIMessage(content=f"Today {top.estimate.metric} is {number} {top.estimate.unit}; start with {top.name}."),
    ])
    answer = small_planner_answer(answerer, LlmPlanner(model, timeout_s=120))
    assert answer.answered_by == "llm", answer.warnings


@pytest.mark.parametrize(("prose", "bad"), [
    ("TPOT drops from 12.5 ms to 6.25 ms on an H100 with FP8 and Llama-3 70B", []),
    ("it is 42.0 times faster", [42.0]),
    ("ranked 1, 2 and 3", []),
])
def test_unsupported_numbers(prose, bad):
    assert unsupported_numbers(prose, {12.5, 6.25}) == bad


def test_numbers_in_skips_names_and_citations():
    assert numbers_in("H100 FP8 Llama-3 70B [chunk:55] gives 1.5x and 1,200 tokens") == [1.5, 1200.0]


# ---------------------------------------------------------------- the LLM workload reader

def _reading(**fields: Any) -> dict:
    return {"tool_calls": [("WorkloadReading", fields)]}


def test_llm_reader_fills_what_the_rules_leave_open(answerer):
    question = "our box has the big Hopper card with 141 gigs of HBM and a handful of colleagues chat with the 8B Llama"
    with FakeOpenAI([_reading(gpu="H200", gpu_count=1, model="Llama 3.1 8B", batch=4, framework="vLLM"),
                     {"content": "Use the ranked list."}]) as server:
        planner = planner_for(server)
        answerer.llm, answerer.reader = planner, _reader_of(planner)
        try:
            answer = answerer.answer(question)
        finally:
            answerer.llm = answerer.reader = None
    w = answer.workload
    assert (w.gpu, w.batch, w.framework) == ("h200", 4, "vllm")
    assert w.fields["gpu"].origin == "understood" and w.fields["gpu"].note == "read by the LLM"
    assert "WorkloadReading" in json.dumps(server.requests[0]["tools"])


def test_llm_reader_never_overrides_the_rules_or_explicit_fields(answerer):
    with FakeOpenAI([_reading(gpu="H200", batch=99, objective="cost"), {"content": "ok"}]) as server:
        planner = planner_for(server)
        answerer.llm, answerer.reader = planner, _reader_of(planner)
        try:
            answer = answerer.answer("Llama 3 8B on an A100, 16 concurrent users", overrides={"objective": "throughput"})
        finally:
            answerer.llm = answerer.reader = None
    w = answer.workload
    assert (w.gpu, w.batch, w.objective) == ("a100-80gb", 16, "throughput")
    assert w.fields["objective"].origin == "explicit"


def test_llm_reader_failure_leaves_the_rules_reading_with_a_warning(answerer):
    with FakeOpenAI([{"content": "not a tool call"}, {"content": "ok"}]) as server:
        planner = planner_for(server)
        answerer.llm, answerer.reader = planner, _reader_of(planner)
        try:
            answer = answerer.answer("Llama 3 8B on an A100, 16 concurrent users")
        finally:
            answerer.llm = answerer.reader = None
    assert answer.workload.gpu == "a100-80gb"
    assert any("LLM reader unavailable" in w for w in answer.warnings)


def _reader_of(planner: LlmPlanner) -> Any:
    from agent.llm.reader import LlmReader

    return LlmReader(planner.model, timeout_s=planner.timeout_s)


def test_a_timing_never_vouches_for_a_number_in_the_prose(answerer, spec_chunk):
    answer = answerer.answer(QUESTION)
    answer.timings_ms = {"total": 3.7}  # a figure only the clock produced
    model = ScriptedChatModel(responses=[
        AIMessage(content="", tool_calls=[tool_call("recommend", {"question": QUESTION})]),
        AIMessage(content=f"Speculative decoding cuts latency by 3.7x [chunk:{spec_chunk}]."),
    ])
    refined = LlmPlanner(model, timeout_s=120).refine(answer, answerer)
    assert refined.answered_by != "llm" and any("LLM answer rejected" in w for w in refined.warnings)
