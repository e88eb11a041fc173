"""``POST /v1/refresh`` (admin) starts a corpus refresh in the background; ``GET /v1/refresh/{run_id}`` reports it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse

from api.deps import AdminDep, ServicesDep
from api.schemas import ErrorBody, RefreshJob, RefreshRequest

router = APIRouter(tags=["admin"])

_ADMIN_ERRORS = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}


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


@router.get("/v1/refresh/{run_id}", response_model=RefreshJob, summary="Status of a refresh run (admin)",
            responses={**_ADMIN_ERRORS, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def refresh_status(services: ServicesDep, _: AdminDep,
                   run_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="The id POST returned.")]
                   ) -> RefreshJob:
    """queued, running, then ok / partial / error / busy, with the run report once finished."""
    job = services.jobs.get(run_id)
    job.status_url = f"/v1/refresh/{job.run_id}"
    return job
