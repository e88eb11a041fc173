"""The FastAPI app: ``create_app(settings)`` wires the routers, middleware and a lifespan that builds the services.

Nothing is loaded at import time. The lifespan opens the store and index (``open_searcher``), builds
the answerer, the chat sessions and the refresh jobs, and starts the background thread (cron
refresh, index watching); on shutdown it stops them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from api.answer_processes import AnswerProcesses, resolve_processes, usable_cores
from api.deps import Services
from api.mcp.http import mount_mcp
from api.metrics import Metrics, MetricsMiddleware
from api.middleware_errors import install_error_handlers
from api.middleware_limits import BodySizeLimit, RateLimit, SecurityHeaders, TokenBuckets
from api.routes import ask, catalog, chat, estimate, health, openai_compat, papers, plan, refresh, search, web
from api.routes.ask import AnswerCache
from api.routes.chat_sessions import ChatSessions
from api.scheduler import Background, CronSchedule, RefreshJobs
from api.settings import Settings, load_settings
from index.state import StateDir

log = logging.getLogger("accelsage.api")

ANSWER_THREADS = 8  # pool for I/O-ish work (reads, probes) and, with an LLM, answers waiting on the network


def answer_threads(workers: int) -> int:
    """Threads per worker that compute rule-based answers: the usable cores shared among the workers.

    An answer is mostly pure Python under the GIL. Measured with bench/load_ask.py (16 clients, 2 cores,
    1 worker): 8 answer threads used ~86-93 ms of server CPU per request, 1 thread ~72 ms, at about the
    same ~14-17 req/s; the extra threads only spent CPU handing the GIL around.
    """
    return max(1, usable_cores() // max(1, workers))


def _one_blas_thread() -> None:
    """One BLAS thread per worker: query matrices are tiny, and per-call limits race between threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


def _refresh_runner(settings: Settings, state: StateDir,
                    embedder_factory: Callable[[], Any] | None) -> Callable[[bool], Any]:
    """The function a refresh job calls: the same refresh as `accelsage refresh [--arxiv]`."""

    def run(include_arxiv: bool) -> Any:
        from index.embedding import load_batch_embedder, resolve_model_path
        from api.wiring import build_feed, index_plan
        from ingest.refresh import refresh
        from ingest.sources import load_papers

        model_path = resolve_model_path(settings.embedding_model)
        factory = embedder_factory or (lambda: load_batch_embedder(model_path))
        feed = None
        if include_arxiv:
            feed = build_feed(settings)
        try:
            return refresh(state, load_papers(settings.data_dir / "papers.yaml"), settings.data_dir / "cards",
                           embedder_factory=factory, feed=feed, include_arxiv=include_arxiv,
                           watch_queries=tuple(settings.watch_queries) if include_arxiv else (),
                           model_path=model_path, watch_max_results=settings.watch_max_results,
                           database_url=settings.database_url, index_plan=index_plan(settings))
        finally:
            if feed is not None:
                feed.close()

    return run


def _last_run_started(searcher: Any) -> datetime | None:
    """When the newest refresh recorded in the store started (any process), for the scheduler's dedup."""
    runs = searcher.snapshot.store.list_runs(1)
    if not runs or not runs[0].get("started_at"):
        return None
    started = datetime.fromisoformat(runs[0]["started_at"])
    return started if started.tzinfo else started.replace(tzinfo=timezone.utc)


def build_services(settings: Settings, metrics: Metrics, query_embedder: Any = None,
                   embedder_factory: Callable[[], Any] | None = None) -> Services:
    """Open the corpus and build everything the routes use."""
    from agent.service import Answerer
    from api.wiring import build_index_watcher, build_llm, index_plan, load_calibration, load_catalog
    from index.search import open_searcher

    state = StateDir(settings.home).ensure()
    schedule = CronSchedule(settings.refresh_schedule) if settings.refresh_schedule else None  # bad cron: fail now
    catalog = load_catalog(settings)
    searcher = open_searcher(state, settings.embedding_model, query_embedder=query_embedder,
                             database_url=settings.database_url, index_plan=index_plan(settings))
    if searcher.rebuilt_reason:
        log.info("index rebuilt on start: %s", searcher.rebuilt_reason)
    calibration = load_calibration(settings)
    answerer = Answerer(searcher, catalog, llm=build_llm(settings), calibration=calibration,
                        max_question_chars=settings.max_question_chars)
    watcher = build_index_watcher(settings, searcher, state.index_meta_path)  # + the shared store's runs in PostgreSQL

    def reload() -> None:
        searcher.reload()
        watcher.mark_seen()  # our own rewrite of the index is not news for the watcher

    jobs = RefreshJobs(_refresh_runner(settings, state, embedder_factory), after_run=reload,
                       on_finish=metrics.count_refresh)
    background = Background(jobs, schedule, settings.refresh_arxiv, watcher, reload, settings.index_watch_s,
                            last_run_started=lambda: _last_run_started(searcher))
    _one_blas_thread()
    # with an LLM an answer mostly waits on the network: then it shares the large pool
    answer_pool = None if settings.llm else ThreadPoolExecutor(answer_threads(settings.workers),
                                                               thread_name_prefix="accelsage-answer")
    processes = resolve_processes(settings.answer_processes, settings.workers, settings.llm)
    answer_processes = AnswerProcesses(settings, processes) if processes else None
    if answer_processes is not None:
        log.info("answer processes started: pids %s", answer_processes.start())
    return Services(settings=settings, state=state, catalog=catalog, searcher=searcher, answerer=answerer,
                    sessions=ChatSessions(settings.chat_sessions_max, settings.chat_session_ttl_s), metrics=metrics,
                    jobs=jobs, background=background, calibration=calibration,
                    answer_cache=AnswerCache(settings.answer_cache_size),
                    executor=ThreadPoolExecutor(ANSWER_THREADS, thread_name_prefix="accelsage-io"),
                    answer_executor=answer_pool, answer_processes=answer_processes)


def create_app(settings: Settings | None = None, *, query_embedder: Any = None,
               embedder_factory: Callable[[], Any] | None = None) -> FastAPI:
    """The accelsage HTTP app.

    Args:
        settings: configuration; by default read from the environment and ``.env``.
        query_embedder: an already-loaded query embedder to reuse (tests, benchmarks).
        embedder_factory: builds the embedder refreshes use; by default sentence-transformers.
    """
    settings = settings or load_settings()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, metrics, query_embedder, embedder_factory)
        app.state.services = services
        services.background.start()
        try:
            async with mcp_sessions():  # the MCP session manager of /mcp
                yield
        finally:
            services.background.stop()
            services.jobs.wait(timeout_s=30)
            services.executor.shutdown(wait=False, cancel_futures=True)
            if services.answer_executor is not None:
                services.answer_executor.shutdown(wait=False, cancel_futures=True)
            if services.answer_processes is not None:
                services.answer_processes.shutdown()
            app.state.services = None

    app = FastAPI(
        title="accelsage",
        version="0.1.0",
        summary="Pick the LLM acceleration techniques that pay off on your GPUs, with the papers behind them.",
        lifespan=lifespan,
        docs_url=None,  # api/routes/web.py serves /docs from local files (FastAPI's loads from a CDN)
        redoc_url=None,  # ReDoc too loads from a CDN, and /docs covers the same ground
    )
    for module in (ask, chat, openai_compat, search, papers, catalog, estimate, plan, refresh, health, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    mcp_sessions = mount_mcp(app, settings)  # /mcp: a route, so the middleware below covers it
    install_error_handlers(app)
    # added last = outermost: metrics see every response, limits answer before any route runs
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.rate_limit_per_min > 0:
        burst = settings.rate_limit_burst or settings.rate_limit_per_min
        app.add_middleware(RateLimit, buckets=TokenBuckets(settings.rate_limit_per_min, burst))
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Accept"])
    app.add_middleware(SecurityHeaders)  # outside the limits: their 413/429 answers get the headers too
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
