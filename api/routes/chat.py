"""``POST /v1/chat``: multi-turn answers over a server-side session, as JSON or as server-sent events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from agent.answer import render_markdown
from api.deps import Services, ServicesDep, check_names, check_question
from api.routes.chat_sessions import Session
from api.routes.progress import Emit, answer_with_progress, sse, stream_events
from api.schemas import ChatRequest, ChatResponse, ErrorBody

router = APIRouter(tags=["answers"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_SSE_DOC = ("With `Accept: text/event-stream` or `stream: true`: events `session`, `workload`, `retrieval`, "
            "`estimate` (one per recommendation, then the stack), `answer` (a ChatResponse), `done`; "
            "`error` if the answer fails or runs out of time.")


def wants_stream(body_stream: bool, accept: str | None) -> bool:
    return body_stream or "text/event-stream" in (accept or "").lower()


def _turn(services: Services, session: Session, body: ChatRequest, emit: Emit | None) -> ChatResponse:
    """One turn, serialised per session (in the worker pool)."""
    with session.lock:
        overrides = body.overrides()
        if emit is None:
            answer = services.answerer.answer(body.message, overrides=overrides, conversation=session.conversation)
        else:
            answer = answer_with_progress(services.answerer, body.message, overrides, session.conversation, emit)
        session.turns += 1
        return ChatResponse(session_id=session.session_id, turn=session.turns, answer=answer,
                            markdown=render_markdown(answer))


@router.post("/v1/chat", response_model=ChatResponse, summary="Multi-turn chat with a server-side session",
             description=_SSE_DOC,
             responses={200: {"content": {"text/event-stream": {}}}, 413: {"model": ErrorBody},
                        422: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def chat(body: ChatRequest, services: ServicesDep,
               accept: Annotated[str | None, Header()] = None) -> ChatResponse | StreamingResponse:
    """Answer this turn; follow-ups ("what about on A100?") keep the earlier turns' workload."""
    check_question(services, body.message)
    check_names(services, body.overrides())
    session = services.sessions.open(body.session_id)
    if not wants_stream(body.stream, accept):
        return await services.run_answer(_turn, services, session, body, None)

    async def events():
        yield sse("session", {"session_id": session.session_id})
        finish = lambda response: ("answer", response.model_dump(mode="json"))  # noqa: E731
        async for event, data in stream_events(lambda emit: _turn(services, session, body, emit), services, finish):
            yield sse(event, data)
        yield sse("done", {})

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
