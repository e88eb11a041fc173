"""``POST /v1/chat/completions``: the OpenAI chat-completions shape, so chat UIs and the ``openai`` SDK work unchanged.

Stateless: the last user message is the question; the earlier user messages are replayed through
the workload planner so a follow-up keeps their GPU, model and lengths. The reply's content is
the Markdown answer; the full answer JSON rides along under ``accelsage``.

``GET /v1/models`` lists the chat models a client may name: ``accelsage`` (the rule-based answer) and, when
an LLM is configured, ``accelsage-llm`` (the same answer with its prose written by the LLM). A request's
``model`` may also name a catalog model shape (``llama-3.1-70b``, any alias; see ``/v1/catalog/models``):
the answer is then for that model, as if it were given as the explicit ``model`` field of ``/v1/ask``.
Any other name is a 422 that lists the closest known names.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.answer import Answer, render_markdown
from agent.names import closest
from agent.service import Conversation
from agent.workload import plan_workload
from api.deps import Services, ServicesDep, SettingsDep, check_question
from api.routes.chat import SSE_HEADERS, wants_stream
from api.routes.progress import stream_events
from api.schemas import ErrorBody, ListEnvelope
from api.settings import Settings
from index.errors import NotFound

router = APIRouter(tags=["openai-compatible"])

MAX_MESSAGES = 64
CHAT_MODEL = "accelsage"
LLM_CHAT_MODEL = "accelsage-llm"


class ChatModel(BaseModel):
    """An OpenAI ``model`` object: one name a chat completion's ``model`` field may take."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "accelsage"
    description: str


def chat_models(settings: Settings) -> dict[str, ChatModel]:
    """The chat models this server answers as, by id: ``accelsage``, plus ``accelsage-llm`` with an LLM."""
    models = {CHAT_MODEL: ChatModel(id=CHAT_MODEL, description=(
        "Ranked techniques with the cost model's numbers and citations, written without an LLM. Name a "
        "catalog model shape (GET /v1/catalog/models) instead to answer for that model."))}
    if settings.llm:
        models[LLM_CHAT_MODEL] = ChatModel(id=LLM_CHAT_MODEL, description=(
            f"The same answer, its prose written by the configured LLM ({settings.llm.split(':')[0]})."))
    return models


@router.get("/v1/models", response_model=ListEnvelope, summary="List the chat models (OpenAI-compatible)")
def list_chat_models(settings: SettingsDep) -> ListEnvelope:
    """The names a chat completion's ``model`` may take, as ``openai.models.list()`` reads them.

    Model shapes the cost model knows are listed at ``/v1/catalog/models``.
    """
    return ListEnvelope(data=[m.model_dump() for m in chat_models(settings).values()])


@router.get("/v1/models/{name}", response_model=ChatModel, summary="Show one chat model (OpenAI-compatible)",
            responses={404: {"model": ErrorBody}})
def show_chat_model(settings: SettingsDep,
                    name: Annotated[str, Path(min_length=1, max_length=200, description="A chat model id.")]) -> Any:
    """``accelsage`` (and ``accelsage-llm`` when an LLM is configured); 404 for any other id."""
    models = chat_models(settings)
    if name not in models:
        raise NotFound(f"no chat model {name!r} (chat models: {', '.join(models)}; model shapes are at "
                       f"/v1/catalog/models)", closest(name, models, limit=3))
    return models[name]


def answer_target(services: Services, name: str) -> tuple[bool, dict[str, Any]]:
    """What a completion's ``model`` asks for: (write the prose with the LLM?, explicit workload fields).

    Raises:
        HTTPException: 422 naming the closest chat models and model shapes when ``name`` is neither.
    """
    models = chat_models(services.settings)
    key = name.strip().lower()
    if key in models:
        return key == LLM_CHAT_MODEL, {}
    try:
        return False, {"model": services.catalog.resolve_model(name).id}
    except NotFound as exc:
        near = closest(name, list(models), limit=2) + exc.suggestions or list(models)
        raise HTTPException(422, f"model: no chat model or catalog model shape {name!r}; closest known: "
                                 f"{', '.join(near)} (chat models: GET /v1/models; shapes: GET /v1/catalog/models)"
                            ) from None


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
    model: str = Field(CHAT_MODEL, max_length=200, description=(
        "A chat model from GET /v1/models, or a catalog model shape (e.g. 'llama-3.1-70b', see GET "
        "/v1/catalog/models): the answer is then for that model, as an explicit workload field."))
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


def _answer(services: Services, question: str, earlier: list[str], refine: bool = False,
            overrides: dict[str, Any] | None = None) -> Answer:
    conversation = _conversation(services, earlier)
    if refine:  # accelsage-llm: the configured LLM writes the prose
        return services.answerer.answer(question, overrides=overrides, conversation=conversation)
    return services.answerer.default_answer(question, overrides, conversation)


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
    """The last user message is the question; earlier user turns keep the workload. ``stream: true`` streams chunks.

    ``model``: ``accelsage``, ``accelsage-llm`` (with an LLM configured), or a catalog model shape to answer for.
    """
    question, earlier = _split(body)
    check_question(services, question)
    refine, overrides = answer_target(services, body.model)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if not wants_stream(body.stream, accept):
        answer = await services.run_answer(_answer, services, question, earlier, refine, overrides)
        return _completion(body, answer, completion_id)

    async def chunks():
        yield _chunk(completion_id, body.model, {"role": "assistant", "content": ""})
        finish = lambda answer: ("answer", answer)  # noqa: E731
        async for event, data in stream_events(lambda emit: _answer(services, question, earlier, refine, overrides),
                                               services, finish):
            if event == "answer":
                for piece in _pieces(render_markdown(data)):
                    yield _chunk(completion_id, body.model, {"content": piece})
            elif event == "error":
                yield _chunk(completion_id, body.model, {"content": f"\n\nerror: {data['error']['message']}"})
        yield _chunk(completion_id, body.model, {}, finish="stop")
        yield "data: [DONE]\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream", headers=SSE_HEADERS)
