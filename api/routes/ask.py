"""``POST /v1/ask``: one question (plus explicit workload fields) -> the agent's answer, as ``accelsage ask --json``.

The rule-based answer is deterministic for a given question, fields and index, so identical
requests are served from a small LRU cache tied to the searcher's current snapshot: a refresh
that swaps the index makes every cached answer stale at once. With an LLM configured nothing is cached.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Response

from agent.answer import Answer
from api.deps import Services, ServicesDep, check_names, check_question
from api.schemas import AskRequest, ErrorBody

router = APIRouter(tags=["answers"])


class AnswerCache:
    """LRU of answer JSON keyed by (question, fields), each remembered with the snapshot it was computed on."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[Any, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, snapshot: Any) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] is not snapshot:  # holding the snapshot keeps `is` meaningful
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, snapshot: Any, answer: bytes) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = (snapshot, answer)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


async def _cached_answer_json(services: Services, question: str, overrides: dict[str, Any]) -> tuple[bytes, bool]:
    """(the answer's JSON, came from the cache); JSON is cached so a hit costs no serialisation either."""
    cache: AnswerCache | None = getattr(services, "answer_cache", None)
    if cache is None or services.answerer.llm is not None:
        return await services.answer_json(question, overrides), False
    key = json.dumps([question, overrides], sort_keys=True, default=str)
    snapshot = services.searcher.snapshot  # read before answering: a swap meanwhile only makes this entry stale
    cached = cache.get(key, snapshot)
    if cached is not None:
        return cached, True
    body = await services.answer_json(question, overrides)
    cache.put(key, snapshot, body)
    return body, False


@router.post("/v1/ask", response_model=Answer, summary="Answer a technique-selection question",
             responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def ask(body: AskRequest, services: ServicesDep) -> Response:
    """Ranked techniques with cost-model numbers and citations; the same JSON as `accelsage ask --json`.

    Explicit fields (gpu, model, prompt_tokens, ...) win over what the question says. A question over
    ``max_question_chars`` is a 422, and so is an explicit `gpu` or `model` nobody knows; one the agent will not answer (empty, off-topic) is a 200 whose
    ``status`` says why. ``X-Accelsage-Cache: hit`` marks an answer served from the cache.
    """
    question = check_question(services, body.question)
    overrides = check_names(services, body.overrides())
    content, hit = await _cached_answer_json(services, question, overrides)
    return Response(content, media_type="application/json", headers={"X-Accelsage-Cache": "hit" if hit else "miss"})
