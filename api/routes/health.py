"""``GET /healthz`` (alive), ``GET /readyz`` (index loaded and matching the store) and ``GET /metrics``."""

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


def readiness(services: Services) -> Health:
    """Ready when the index holds the corpus, its fingerprint matches the store's and its file is intact."""
    snapshot = services.searcher.snapshot
    model_id = services.searcher.query_embedder.model_id
    chunks = snapshot.store.chunk_count()
    file_problem = index_file_problem(services.state)
    checks = {"chunks": chunks, "index_vectors": snapshot.vectors.count,
              "index_matches_store": snapshot.vectors.fingerprint == snapshot.store.fingerprint(model_id),
              "index_file_ok": file_problem is None,
              "refresh_running": services.jobs.running}
    if file_problem:
        checks["index_file_problem"] = file_problem
    ready = chunks > 0 and checks["index_matches_store"] and file_problem is None and snapshot.vectors.count == chunks
    return Health(status="ready" if ready else "not-ready", checks=checks)


@router.get("/readyz", response_model=Health, summary="Readiness: the corpus index is loaded and consistent",
            responses={503: {"model": Health}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """200 when ready; 503 (with the failing checks) when the corpus is empty or the index is stale."""
    health = await services.run(readiness, services)
    return JSONResponse(health.model_dump(mode="json"), status_code=200 if health.status == "ready" else 503)


def _gauges(services: Services) -> dict[str, tuple[str, float]]:
    snapshot = services.searcher.snapshot
    return {
        "accelsage_corpus_chunks": ("Passages in the store.", snapshot.store.chunk_count()),
        "accelsage_corpus_papers": ("Papers in the store.", len(snapshot.store.list_papers())),
        "accelsage_index_vectors": ("Vectors in the loaded FAISS index.", snapshot.vectors.count),
        "accelsage_chat_sessions": ("Chat sessions held in memory.", len(services.sessions)),
        "accelsage_refresh_running": ("1 while this server runs a refresh.", int(services.jobs.running)),
    }


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (text format)")
async def metrics(services: ServicesDep) -> PlainTextResponse:
    """Request counts and latency histograms per route, refresh runs, corpus size."""
    gauges = await services.run(_gauges, services)
    return PlainTextResponse(services.metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8")
