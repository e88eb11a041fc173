"""``POST /v1/refresh`` (admin) starts a corpus refresh in the background; ``GET /v1/refresh/{run_id}`` reports it.

``GET`` reads a job this server started (its 12-hex-digit id) or any run in the store's ``refresh_runs``
(its integer id, as in ``store_run_id`` and ``accelsage refresh --status``). A store run still recorded as
``running`` while no process holds the refresh lock was killed mid-refresh: it is marked and reported
``interrupted`` (``ingest.refresh.close_interrupted_runs``), never shown as running.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse

from api.deps import AdminDep, Services, ServicesDep
from api.schemas import ErrorBody, RefreshJob, RefreshRequest
from index.errors import NotFound

router = APIRouter(tags=["admin"])

_ADMIN_ERRORS = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}
_STORE_STATUSES = {"running", "ok", "partial", "error", "busy", "interrupted"}


@router.post("/v1/refresh", status_code=202, response_model=RefreshJob, summary="Start a corpus refresh (admin)",
             responses={**_ADMIN_ERRORS, 409: {"model": ErrorBody}})
async def start_refresh(services: ServicesDep, _: AdminDep,
                        body: Annotated[RefreshRequest | None, Body()] = None) -> JSONResponse:
    """202 with a run id; the refresh runs in a background thread and the index is swapped in when it ends.

    409 when this server already runs one; a run refused by another process's lock ends as ``busy``.
    """
    job = services.jobs.submit("api", arxiv=bool(body and body.arxiv))
    job.status_url = f"/v1/refresh/{job.run_id}"
    return JSONResponse(job.model_dump(mode="json"), status_code=202, headers={"Location": job.status_url})


def _store_run(services: Services, run_id: int) -> RefreshJob:
    """A run from the store; one left ``running`` by a killed process is closed as ``interrupted`` first."""
    from ingest.refresh import close_interrupted_runs

    store = services.searcher.snapshot.store
    row = store.get_run(run_id)  # NotFound (404) for an unknown id
    if row["status"] == "running":
        # Only marks runs while it holds the refresh lock, so a run that really is running stays running.
        close_interrupted_runs(services.state, store, noticed_by="GET /v1/refresh")
        row = store.get_run(run_id)
    status = row["status"] if row["status"] in _STORE_STATUSES else "error"
    return RefreshJob(run_id=str(run_id), status=status, trigger="store", started_at=row.get("started_at"),
                      finished_at=row.get("finished_at"), store_run_id=run_id,
                      report=None if status == "running" else row)


@router.get("/v1/refresh/{run_id}", response_model=RefreshJob, summary="Status of a refresh run (admin)",
            responses={**_ADMIN_ERRORS, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def refresh_status(services: ServicesDep, _: AdminDep,
                   run_id: Annotated[str, Path(pattern=r"^(?:[0-9a-f]{12}|[0-9]{1,12})$",
                                               description="The id POST returned, or a store run id.")]
                   ) -> RefreshJob:
    """queued, running, then ok / partial / error / busy / interrupted, with the run report once finished.

    A store run id (an integer) reads ``refresh_runs``, whichever process ran it (``trigger`` is ``store``);
    a run whose process was killed reads ``interrupted``.
    """
    try:
        job = services.jobs.get(run_id)
    except NotFound:
        if not run_id.isdigit():
            raise
        job = _store_run(services, int(run_id))
    job.status_url = f"/v1/refresh/{job.run_id}"
    return job
