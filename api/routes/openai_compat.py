"""``POST /v1/chat/completions``: the OpenAI chat-completions shape, so chat UIs and the ``openai`` SDK work unchanged.

Stateless: the last user message is the question; the earlier user messages are replayed through
the workload planner so a follow-up keeps their GPU, model and lengths. The reply's content is
the Markdown answer; the full answer JSON rides along under ``accelsage``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.answer import Answer, render_markdown
from agent.service import Conversation
from agent.workload import plan_workload
from api.deps import Services, ServicesDep, check_question
from api.routes.chat import SSE_HEADERS, wants_stream
from api.routes.progress import stream_events
from api.schemas import ErrorBody

router = APIRouter(tags=["openai-compatible"])

MAX_MESSAGES = 64


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(..., max_length=40)
    text: str | None = Field(None, max_length=20_000)


class ChatMessage(BaseModel):
    """An OpenAI chat message."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The fields accelsage reads; other OpenAI fields (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "model": "accelsage", "messages": [{"role": "user", "content": "Llama-3.1-8B on one L4: how to cut TPOT?"}]}]})
    model: str = Field("accelsage", max_length=200)
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: str = "stop"


class Usage(BaseModel):
    """Rough word counts: accelsage runs no tokenizer-billed model on the default path."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """An OpenAI ``chat.completion`` object plus the structured answer."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    accelsage: Answer


def _conversation(services: Services, earlier: list[str]) -> Conversation:
    """Replay earlier user turns through the planner: their workload carries over, no answers computed."""
    conversation = Conversation()
    for text in earlier:
        if not text.strip():
            continue
        try:
            conversation.workload = plan_workload(text, services.catalog, None, conversation.workload)
        except Exception:  # an odd earlier turn must not sink the current one; its facts are just not kept
            continue
        conversation.questions.append(text)
    return conversation


def _split(body: ChatCompletionRequest) -> tuple[str, list[str]]:
    users = [m.text() for m in body.messages if m.role == "user"]
    if not users or not users[-1].strip():
        raise HTTPException(422, "messages: the last user message is the question and none was given")
    return users[-1], users[:-1]


def _answer(services: Services, question: str, earlier: list[str]) -> Answer:
    return services.answerer.answer(question, conversation=_conversation(services, earlier))


def _completion(body: ChatCompletionRequest, answer: Answer, completion_id: str) -> ChatCompletion:
    content = render_markdown(answer)
    prompt_words = sum(len(m.text().split()) for m in body.messages)
    words = len(content.split())
    return ChatCompletion(id=completion_id, created=int(time.time()), model=body.model,
                          choices=[Choice(message=CompletionMessage(content=content))],
                          usage=Usage(prompt_tokens=prompt_words, completion_tokens=words,
                                      total_tokens=prompt_words + words), accelsage=answer)


def _chunk(completion_id: str, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    data = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _pieces(text: str) -> list[str]:
    """The Markdown split after each line, so a chat UI renders it as it arrives."""
    return text.splitlines(keepends=True) or [text]


@router.post("/v1/chat/completions", response_model=ChatCompletion, summary="OpenAI-compatible chat completions",
             responses={200: {"content": {"text/event-stream": {}}}, 422: {"model": ErrorBody},
                        413: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def chat_completions(body: ChatCompletionRequest, services: ServicesDep,
                           accept: Annotated[str | None, Header()] = None) -> ChatCompletion | StreamingResponse:
    """The last user message is the question; earlier user turns keep the workload. ``stream: true`` streams chunks."""
    question, earlier = _split(body)
    check_question(services, question)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if not wants_stream(body.stream, accept):
        answer = await services.run_answer(_answer, services, question, earlier)
        return _completion(body, answer, completion_id)

    async def chunks():
        yield _chunk(completion_id, body.model, {"role": "assistant", "content": ""})
        finish = lambda answer: ("answer", answer)  # noqa: E731
        async for event, data in stream_events(lambda emit: _answer(services, question, earlier), services, finish):
            if event == "answer":
                for piece in _pieces(render_markdown(data)):
                    yield _chunk(completion_id, body.model, {"content": piece})
            elif event == "error":
                yield _chunk(completion_id, body.model, {"content": f"\n\nerror: {data['error']['message']}"})
        yield _chunk(completion_id, body.model, {}, finish="stop")
        yield "data: [DONE]\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream", headers=SSE_HEADERS)
