"""Answering with progress events, and turning them into server-sent events.

Progress comes from the real steps: the workload is planned first (and reported), retrieval is
reported when the searcher returns, each recommendation's estimate once ranked, then the answer.
The answer runs in the worker pool; events cross to the event loop through an ``asyncio.Queue``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from agent.answer import Answer
from agent.guard import screen_question
from agent.service import Answerer, Conversation
from agent.workload import plan_workload
from index.errors import AccelsageError

log = logging.getLogger("accelsage.api")
Emit = Callable[[str, dict], None]
_DONE = object()


class ReportingSearcher:
    """Wraps a searcher and reports each search's hits as a ``retrieval`` event."""

    def __init__(self, inner: Any, emit: Emit) -> None:
        self._inner = inner
        self._emit = emit
        self._searches = 0

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Any]:
        hits = self._inner.search(query, k=k, mode=mode)
        papers: list[dict] = []
        for hit in hits:
            if all(p["paper_id"] != hit.paper_id for p in papers):
                papers.append({"paper_id": hit.paper_id, "arxiv_id": hit.arxiv_id, "title": hit.title})
        self._searches += 1
        # the first search reads the question; later ones look up passages to cite for each technique
        purpose = "question" if self._searches == 1 else "citations"
        self._emit("retrieval", {"purpose": purpose, "search": self._searches, "passages": len(hits),
                                 "papers": papers[:8]})
        return hits

    def __getattr__(self, name: str) -> Any:  # snapshot, store, reload...: the real searcher's
        return getattr(self._inner, name)


def answer_with_progress(answerer: Answerer, question: str, overrides: dict[str, Any] | None,
                         conversation: Conversation | None, emit: Emit) -> Answer:
    """``answerer.answer`` with ``workload``, ``retrieval`` and ``estimate`` events along the way."""
    if screen_question(question, answerer.max_question_chars).status == "ok":
        try:
            previous = conversation.workload if conversation else None
            planned = plan_workload(question, answerer.catalog, overrides, previous)
            emit("workload", planned.view(answerer.catalog).model_dump(mode="json"))
        except AccelsageError:
            pass  # the answer itself reports the problem
    observed = copy.copy(answerer)  # shallow: same catalog, indexes and LLM; only the searcher is wrapped
    if answerer.searcher is not None:
        observed.searcher = ReportingSearcher(answerer.searcher, emit)
    answer = observed.answer(question, overrides=overrides, conversation=conversation)
    for rec in answer.recommendations:
        emit("estimate", {"rank": rec.rank, "technique": rec.technique, "name": rec.name,
                          "estimate": rec.estimate.model_dump(mode="json") if rec.estimate else None})
    if answer.stack and answer.stack.estimate:
        emit("estimate", {"stack": answer.stack.techniques, "estimate": answer.stack.estimate.model_dump(mode="json")})
    return answer


def sse(event: str, data: Any) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def stream_events(run: Callable[[Emit], Any], services: Any,
                        finish: Callable[[Any], tuple[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
    """Run ``run(emit)`` in the worker pool and yield ``(event, data)`` as they come, then ``finish(result)``.

    Gives up after ``request_timeout_s`` with an ``error`` event (the stream has already started with 200).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def emit(event: str, data: dict) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (event, data))

    future = loop.run_in_executor(services.answer_pool, run, emit)
    # scheduled after every emit of the run, so the queue drains in order before this arrives
    future.add_done_callback(lambda _: queue.put_nowait((_DONE, None)))
    deadline = loop.time() + services.settings.request_timeout_s
    while True:
        try:
            event, data = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            yield "error", {"error": {"message": "the answer took too long", "type": "timeout"}}
            return
        if event is _DONE:
            break
        yield event, data
    try:
        result = future.result()
    except AccelsageError as exc:
        yield "error", {"error": {"message": str(exc), "type": "invalid_request"}}
        return
    except Exception:
        log.exception("answering a streamed request failed")
        yield "error", {"error": {"message": "internal error; the server log has the details",
                                  "type": "internal_error"}}
        return
    yield finish(result)
