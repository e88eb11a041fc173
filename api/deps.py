"""What routes depend on: the per-app services and ``Annotated[..., Depends(...)]`` aliases for them.

The services are built once by the app's lifespan (``api/app.py``) and live on ``app.state``; nothing
here is created at import time.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.answer_processes import answer_json
from api.metrics import Metrics
from api.middleware_errors import RequestTimeout
from api.scheduler import Background, RefreshJobs
from api.settings import Settings
from index.state import StateDir

log = logging.getLogger("accelsage.api")
T = TypeVar("T")


@dataclass
class Services:
    """Everything one app instance serves from; built in the lifespan, shared by all requests."""

    settings: Settings
    state: StateDir
    catalog: Any  # agent.knowledge.Catalog
    searcher: Any  # index.search.Searcher
    answerer: Any  # agent.service.Answerer
    sessions: Any  # api.routes.chat_sessions.ChatSessions
    metrics: Metrics
    jobs: RefreshJobs
    background: Background
    executor: ThreadPoolExecutor
    calibration: Any = None
    # Answers are mostly pure Python (cost model, ranking) that holds the GIL: a small pool sized to
    # the cores avoids threads fighting over the GIL. None: answers share ``executor``.
    answer_executor: ThreadPoolExecutor | None = None
    answer_cache: Any = None  # api.routes.ask.AnswerCache
    # api.answer_processes.AnswerProcesses: /v1/ask answers computed in worker processes (None: in threads)
    answer_processes: Any = None
    plot_lock: threading.Lock = field(default_factory=threading.Lock)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work in the worker pool, giving up after ``request_timeout_s`` (504).

        The thread cannot be killed; it finishes in the background and its result is dropped.
        """
        return await self._run_in(self.executor, fn, *args, **kwargs)

    async def run_answer(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Like :meth:`run`, in the answer pool: for work that computes an answer (CPU-bound Python)."""
        return await self._run_in(self.answer_pool, fn, *args, **kwargs)

    async def answer_json(self, question: str, overrides: dict[str, Any]) -> bytes:
        """One stateless answer as JSON: in the answer processes when there are some, else in the answer pool."""
        processes = self.answer_processes
        if processes is not None:
            try:
                # cancelling the wrapper on a timeout drops the question if no process has taken it yet
                return await self._within_timeout(asyncio.wrap_future(processes.submit(question, overrides)))
            except BrokenProcessPool:  # a process died (killed, out of memory): keep answering, in threads
                log.error("an answer process died; answers are computed in the server's threads from now on")
                self.answer_processes = None
                processes.shutdown(wait=False)
        return await self.run_answer(answer_json, self.answerer, question, overrides)

    @property
    def answer_pool(self) -> ThreadPoolExecutor:
        return self.answer_executor or self.executor

    async def _run_in(self, executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await self._within_timeout(loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs)))

    async def _within_timeout(self, future: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(future, self.settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"the request took longer than {self.settings.request_timeout_s:g} s") from None


def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if services is None:  # only when an app is used without its lifespan
        raise HTTPException(503, "the server is still starting")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_catalog(services: ServicesDep) -> Any:
    return services.catalog


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Any, Depends(get_catalog)]

_bearer = HTTPBearer(auto_error=False, description="The admin token (ACCELSAGE_ADMIN_TOKEN).")


def token_matches(given: bytes | str, token: str) -> bool:
    """Whether ``given`` is the configured bearer token, compared in constant time (no timing oracle on the token)."""
    given_bytes = given.encode("utf-8") if isinstance(given, str) else given
    return hmac.compare_digest(given_bytes, token.encode("utf-8"))


def require_admin(services: ServicesDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Admin endpoints: off (403) without a configured token, 401 without the right bearer token."""
    token = services.settings.admin_token
    if not token:
        raise HTTPException(403, "admin endpoints are off: set ACCELSAGE_ADMIN_TOKEN to enable them")
    if not token_matches(credentials.credentials if credentials else "", token):
        raise HTTPException(401, "missing or wrong admin bearer token", headers={"WWW-Authenticate": "Bearer"})


AdminDep = Annotated[None, Depends(require_admin)]


def check_question(services: Services, text: str) -> str:
    """422 when a question is longer than ``max_question_chars`` (checked before any work)."""
    limit = services.settings.max_question_chars
    if len(text) > limit:
        raise HTTPException(422, f"the question is {len(text)} characters long; the limit is {limit}")
    return text


def check_names(services: Services, overrides: dict[str, Any]) -> dict[str, Any]:
    """422 naming the closest known entries when an explicit ``gpu`` or ``model`` field is unknown.

    Names inside the question text are the agent's to judge (it replies with suggestions); a
    structured field that names nothing we know is a bad request.
    """
    from index.errors import NotFound

    resolvers = {"gpu": services.catalog.resolve_gpu, "model": services.catalog.resolve_model}
    for field_name, resolve in resolvers.items():
        if overrides.get(field_name):
            try:
                resolve(str(overrides[field_name]))
            except NotFound as exc:
                raise HTTPException(422, f"{field_name}: {exc}") from exc
    return overrides
