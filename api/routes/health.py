"""``GET /healthz`` (alive), ``GET /readyz`` (index loaded and matching the store) and ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import Services, ServicesDep
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    """Always ok while the server runs."""
    return Health(status="ok")


def readiness(services: Services) -> Health:
    """Ready when the index holds the corpus and its fingerprint matches the store's."""
    snapshot = services.searcher.snapshot
    model_id = services.searcher.query_embedder.model_id
    chunks = snapshot.store.chunk_count()
    checks = {"chunks": chunks, "index_vectors": snapshot.vectors.count,
              "index_matches_store": snapshot.vectors.fingerprint == snapshot.store.fingerprint(model_id),
              "refresh_running": services.jobs.running}
    ready = chunks > 0 and checks["index_matches_store"] and snapshot.vectors.count == chunks
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
