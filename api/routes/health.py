"""``GET /healthz`` (alive), ``GET /readyz`` (index loaded and matching the store) and ``GET /metrics``.

Both ``/readyz`` and ``/metrics`` report the answer processes: how many were configured and how many are
alive. Fewer alive (one restarting, or the pool given up and answers in threads) leaves the server ready
but ``degraded``: it answers, with less capacity.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import Services, ServicesDep
from api.schemas import Health
from index.state import StateDir
from index.vectors import verify_file

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    """Always ok while the server runs."""
    return Health(status="ok")


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=16)
def _file_problem(root: Path, stamps: tuple) -> str | None:
    """The index file check for one version of the files (``stamps``): probes after the first cost a stat."""
    return verify_file(StateDir(root))


def index_file_problem(state: StateDir) -> str | None:
    """Why the saved index file is damaged or inconsistent with its meta, or None when it is intact."""
    for _ in range(2):  # a refresh may swap index and meta while we read them: then look again
        stamps = (_stamp(state.index_path), _stamp(state.index_meta_path))
        problem = _file_problem(state.root, stamps)
        if problem is None or stamps == (_stamp(state.index_path), _stamp(state.index_meta_path)):
            return problem
    return problem


def answer_capacity(services: Services) -> dict[str, int]:
    """``{"configured": n, "alive": k}`` for the answer processes; ``k`` is 0 once the pool gave up."""
    pool = services.answer_processes
    if pool is None:  # none configured, or given up (the metrics keep the pool the server dropped)
        dropped = services.metrics.answer_processes
        return {"configured": dropped.processes if dropped is not None else 0, "alive": 0}
    return {"configured": pool.processes, "alive": pool.alive()}


def readiness(services: Services) -> Health:
    """Ready when the index holds the corpus, its fingerprint matches the store's and its file is intact."""
    snapshot = services.searcher.snapshot
    model_id = services.searcher.query_embedder.model_id
    chunks = snapshot.store.chunk_count()
    file_problem = index_file_problem(services.state)
    checks = {"chunks": chunks, "index_vectors": snapshot.vectors.count,
              "index_matches_store": snapshot.vectors.fingerprint == snapshot.store.fingerprint(model_id),
              "index_file_ok": file_problem is None, "index_kind": snapshot.vectors.describe(),
              "refresh_running": services.jobs.running}
    capacity = answer_capacity(services)
    if capacity["configured"]:
        checks["answer_processes"] = capacity
    # still ready: answers go on, in fewer processes or in the server's threads
    checks["degraded"] = capacity["alive"] < capacity["configured"]
    if file_problem:
        checks["index_file_problem"] = file_problem
    ready = chunks > 0 and checks["index_matches_store"] and file_problem is None and snapshot.vectors.count == chunks
    return Health(status="ready" if ready else "not-ready", checks=checks)


@router.get("/readyz", response_model=Health, summary="Readiness: the corpus index is loaded and consistent",
            responses={503: {"model": Health}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """200 when ready; 503 (with the failing checks) when the corpus is empty or the index is stale.

    ``checks.degraded`` is true (and the status still ready) while fewer answer processes are alive than
    configured (``checks.answer_processes``).
    """
    health = await services.run(readiness, services)
    return JSONResponse(health.model_dump(mode="json"), status_code=200 if health.status == "ready" else 503)


def _gauges(services: Services) -> dict[str, tuple[str, float]]:
    snapshot = services.searcher.snapshot
    gauges = {
        "accelsage_corpus_chunks": ("Passages in the store.", snapshot.store.chunk_count()),
        "accelsage_corpus_papers": ("Papers in the store.", len(snapshot.store.list_papers())),
        "accelsage_index_vectors": ("Vectors in the loaded FAISS index.", snapshot.vectors.count),
        "accelsage_chat_sessions": ("Chat sessions held in memory.", len(services.sessions)),
        "accelsage_refresh_running": ("1 while this server runs a refresh.", int(services.jobs.running)),
    }
    capacity = answer_capacity(services)
    gauges["accelsage_answer_processes_configured"] = ("Answer processes this server was configured to run.",
                                                       capacity["configured"])
    gauges["accelsage_answer_processes_alive"] = ("Answer processes alive and answering now.", capacity["alive"])
    return gauges


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (text format)")
async def metrics(services: ServicesDep) -> PlainTextResponse:
    """Request counts and latency histograms per route, refresh runs, corpus size, answer processes."""
    gauges = await services.run(_gauges, services)
    return PlainTextResponse(services.metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8")
