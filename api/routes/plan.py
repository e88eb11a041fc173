"""``POST /v1/plan``: the JSON of `accelsage plan --json`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import Services, ServicesDep
from api.schemas import MAX_SIM_CONCURRENCY, MAX_SIM_REQUESTS, MAX_TOKENS, ErrorBody, Tokens

router = APIRouter(tags=["cost model"])


class PlanRequest(BaseModel):
    """The inputs of `accelsage plan`, as JSON."""

    gpu: str = Field(..., min_length=1, max_length=200, description="GPU id or alias.")
    model: str = Field(..., min_length=1, max_length=200, description="Model id or alias.")
    gpus: int = Field(..., ge=1, le=4096, description="GPUs in all.")
    prompt: int = Field(1024, ge=1, le=MAX_TOKENS, description="Prompt tokens per request (ISL).")
    output: int = Field(256, ge=1, le=MAX_TOKENS, description="Output tokens per request (OSL).")
    length_pairs: list[tuple[Tokens, Tokens]] | None = Field(
        None, min_length=1, max_length=10_000, description="(prompt, output) lengths used in order (--lengths FILE).")
    concurrency: int | None = Field(None, ge=1, le=MAX_SIM_CONCURRENCY, description="Closed-loop clients.")
    qps: float | None = Field(None, gt=0, le=1e6, description="Poisson arrivals per second.")
    slo_ttft_ms: float | None = Field(None, gt=0, description="Median TTFT target.")
    slo_tpot_ms: float | None = Field(None, gt=0, description="Median TPOT target.")
    engine: Literal["vllm", "sglang", "trtllm"] | None = Field(None, description="Only this engine (default all).")
    requests: int = Field(300, ge=1, le=MAX_SIM_REQUESTS, description="Requests each simulation measures.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the simulated lengths and arrivals.")
    max_simulations: int = Field(40, ge=1, le=200, description="Candidates simulated after the analytical screen.")


def _plan_dict(services: Services, body: PlanRequest) -> dict:
    from agent.costmodel.plan import PlanSpec, plan

    spec = PlanSpec(gpu=body.gpu, model=body.model, gpus=body.gpus, prompt_tokens=body.prompt,
                    output_tokens=body.output, length_pairs=tuple(tuple(p) for p in body.length_pairs or ()),
                    concurrency=body.concurrency, qps=body.qps, slo_ttft_ms=body.slo_ttft_ms,
                    slo_tpot_ms=body.slo_tpot_ms, engines=(body.engine,) if body.engine else (),
                    requests=body.requests, seed=body.seed, max_simulations=body.max_simulations)
    return plan(services.catalog, spec, calibration=services.calibration)


@router.post("/v1/plan", summary="Search serving configurations under SLOs",
             responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
async def plan_route(body: PlanRequest, services: ServicesDep) -> dict[str, Any]:
    """Pareto frontier of tokens/s per GPU vs tokens/s per user and the best configuration under the SLOs, with
    launch flags; the JSON of `accelsage plan --json`."""
    return await services.run(_plan_dict, services, body)
