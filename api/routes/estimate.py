"""``POST /v1/estimate`` (the JSON of `accelsage estimate --json`), ``GET /v1/estimate/roofline.png`` and
``GET /v1/estimate/curve.png`` (the simulated latency-throughput curve beside it on the web page)."""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.deps import Services, ServicesDep
from agent.costmodel.curve import REQUESTS_PER_POINT
from api.schemas import MAX_BATCH, MAX_SIM_CONCURRENCY, MAX_TOKENS, ErrorBody, EstimateRequest
from index.errors import AccelsageError

router = APIRouter(tags=["cost model"])

_ERRORS = {404: {"model": ErrorBody}, 422: {"model": ErrorBody}}


class EstimateInputError(AccelsageError):
    """The cost model could not evaluate this combination of inputs."""

    http_status = 422


def run_estimate(services: Services, body: EstimateRequest) -> Any:
    """Resolve names, apply the techniques in order and return the ``InferenceEstimate``."""
    from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
    from agent.costmodel.workload import check_layout, check_workload_value
    from api.commands.estimate import checked_techniques

    catalog = services.catalog
    gpu, model = catalog.resolve_gpu(body.gpu), catalog.resolve_model(body.model)
    # the same checks as the command line: param types and ranges, workload ranges, a layout the model can take
    chosen = checked_techniques(catalog, body.techniques, body.params)
    given = body.model_fields_set
    # as on the command line: gpus default to tp x pp, batch to the simulated concurrency
    gpus = check_workload_value("gpus", body.gpus if "gpus" in given else body.tp * body.pp)
    batch = check_workload_value(
        "batch", body.batch if "batch" in given or body.concurrency is None else body.concurrency)
    check_layout(model, gpus, body.tp, body.pp)
    try:
        workload = InferenceWorkload(batch=batch, prompt_len=body.prompt, output_len=body.output, dtype=body.dtype,
                                     kv_dtype=body.kv_dtype, max_seq_len=body.max_seq_len,
                                     uniform_lengths=body.uniform_lengths)
        parallel = ParallelConfig(gpus=gpus, tp=body.tp, pp=body.pp, ep=body.ep)
        return estimate_inference(gpu, model, workload, parallel, techniques=chosen,
                                  calibration=services.calibration, peak_only=body.peak_only)
    except AccelsageError:
        raise
    except (ValueError, TypeError, ArithmeticError, KeyError) as exc:
        # odd combinations (a param of the wrong type, a degenerate layout) are input problems, not crashes
        raise EstimateInputError(f"cannot estimate these inputs: {exc.__class__.__name__}: {exc}") from exc


def load_spec(body: EstimateRequest) -> Any:
    """The simulated load the body states, or None (then the estimate is analytical only)."""
    from agent.costmodel.serving_stats import Slo
    from agent.costmodel.steady_state import LoadSpec, lengths_from

    if body.concurrency is None and body.qps is None:
        if body.lengths or body.length_pairs or body.slo_ttft_ms is not None or body.slo_tpot_ms is not None:
            raise EstimateInputError("lengths, length_pairs and slo_* describe a load: give concurrency or qps too")
        return None
    slo = Slo(body.slo_ttft_ms, body.slo_tpot_ms) if body.slo_ttft_ms or body.slo_tpot_ms else None
    lengths = lengths_from(body.lengths, body.prompt, body.output, body.uniform_lengths,
                           tuple(tuple(p) for p in body.length_pairs or ()))
    return LoadSpec(concurrency=body.concurrency, qps=body.qps, lengths=lengths, requests=body.requests,
                    seed=body.seed, slo=slo)


def curve_spec(body: EstimateRequest) -> Any:
    """The sweep's lengths, seed and SLOs from the body (they need no load here: the curve brings its own), with
    the body's concurrency as an extra point."""
    from agent.costmodel.curve import CurveSpec

    has_load = body.concurrency is not None or body.qps is not None
    stated = body if has_load else body.model_copy(update={"concurrency": 1})
    return CurveSpec.from_load(load_spec(stated), body.concurrency)


# The web page asks for a curve twice, as JSON for its caption and as a PNG, with the same setup: the sweep (up to
# a second of CPU) runs once and both answers read it. Keyed by the server and the request; a few setups kept.
_CURVES: OrderedDict[tuple[int, str], Any] = OrderedDict()
_CURVES_KEPT = 16
_CURVES_LOCK = threading.Lock()


def simulated_curve(services: Services, body: EstimateRequest, result: Any = None) -> Any:
    """The latency-throughput curve of the body's final configuration, simulated once per distinct request."""
    from agent.costmodel.curve import simulate_curve

    spec = curve_spec(body)
    # the sweep depends on the setup and on the spec (which caps the requests per point), not on the raw request count
    key = (id(services), body.model_copy(update={"requests": 0}).model_dump_json(), repr(spec))
    with _CURVES_LOCK:
        if key in _CURVES:
            _CURVES.move_to_end(key)
            return _CURVES[key]
    curve = simulate_curve(result if result is not None else run_estimate(services, body), spec)
    with _CURVES_LOCK:
        _CURVES[key] = curve
        while len(_CURVES) > _CURVES_KEPT:
            _CURVES.popitem(last=False)
    return curve


def _estimate_dict(services: Services, body: EstimateRequest, curve: bool = False) -> dict:
    spec = load_spec(body) if body.concurrency is not None or body.qps is not None or not curve else None
    if curve:
        curve_spec(body)  # a bad sweep (lengths, SLOs) is refused before anything is simulated
    result = run_estimate(services, body)
    data = result.to_dict()
    if spec is not None:
        from agent.costmodel.steady_state import simulate_estimate, with_simulation

        data = with_simulation(data, simulate_estimate(result, spec))
    if curve:
        data["curve"] = simulated_curve(services, body, result).to_dict()
    return data


@router.post("/v1/estimate", summary="Estimate inference latency, throughput and memory", responses=_ERRORS)
async def estimate(
    body: EstimateRequest, services: ServicesDep,
    curve: Annotated[bool, Query(description="Also simulate concurrency 1, 2, 4, ... until throughput saturates "
                                             "or the KV cache fills: the latency-throughput curve, under `curve`.")]
    = False,
) -> dict[str, Any]:
    """TTFT, TPOT, throughput and memory before and after each technique; the JSON of `accelsage estimate --json`
    (with `?curve=true`, of `accelsage estimate --curve --json`)."""
    return await services.run(_estimate_dict, services, body, curve)


def _roofline_png(services: Services, body: EstimateRequest) -> bytes:
    from agent.costmodel.plot import plot_roofline

    result = run_estimate(services, body)
    with services.plot_lock, tempfile.TemporaryDirectory(prefix="accelsage-plot-") as folder:
        # the file name is ours, never built from input
        path = plot_roofline(result, Path(folder) / "roofline.png")
        return Path(path).read_bytes()


def _plotted_setup(
    gpu: Annotated[str, Query(min_length=1, max_length=200, description="GPU id or alias.")],
    model: Annotated[str, Query(min_length=1, max_length=200, description="Model id or alias.")],
    gpus: Annotated[int | None, Query(ge=1, le=4096, description="Default: tp x pp.")] = None,
    tp: Annotated[int, Query(ge=1, le=4096)] = 1,
    pp: Annotated[int, Query(ge=1, le=4096)] = 1,
    ep: Annotated[int, Query(ge=1, le=4096)] = 1,
    dtype: Annotated[str, Query(max_length=16)] = "bf16",
    kv_dtype: Annotated[str | None, Query(max_length=16)] = None,
    batch: Annotated[int, Query(ge=1, le=MAX_BATCH, description="The analytical batch (the curve sweeps its own).")]
    = 1,
    prompt: Annotated[int, Query(ge=1, le=MAX_TOKENS)] = 1024,
    output: Annotated[int, Query(ge=1, le=MAX_TOKENS)] = 256,
    technique: Annotated[list[str], Query(max_length=32, description="Technique ids, in order (repeatable).")] = [],
) -> dict[str, Any]:
    """The setup both plot routes draw, from the same query parameters."""
    return dict(gpu=gpu, model=model, gpus=gpus or tp * pp, tp=tp, pp=pp, ep=ep, dtype=dtype, kv_dtype=kv_dtype,
                batch=batch, prompt=prompt, output=output, techniques=technique)


PlottedSetup = Annotated[dict[str, Any], Depends(_plotted_setup)]


@router.get("/v1/estimate/roofline.png", summary="Roofline plot of an estimate (PNG)",
            responses={200: {"content": {"image/png": {}}}, **_ERRORS}, response_class=Response)
async def roofline_png(services: ServicesDep, setup: PlottedSetup) -> Response:
    """The GPU's compute and bandwidth roofs with prefill and decode plotted before and after each technique."""
    png = await services.run(_roofline_png, services, EstimateRequest(**setup))
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


def _curve_png(services: Services, body: EstimateRequest) -> bytes:
    from agent.costmodel.plot_curve import plot_curve

    curve = simulated_curve(services, body)
    with services.plot_lock, tempfile.TemporaryDirectory(prefix="accelsage-plot-") as folder:
        # the file name is ours, never built from input
        path = plot_curve(curve, Path(folder) / "curve.png")
        return Path(path).read_bytes()


@router.get("/v1/estimate/curve.png", summary="Simulated latency-throughput curve of an estimate (PNG)",
            responses={200: {"content": {"image/png": {}}}, **_ERRORS}, response_class=Response)
async def curve_png(
    services: ServicesDep,
    setup: PlottedSetup,
    concurrency: Annotated[int | None, Query(ge=1, le=MAX_SIM_CONCURRENCY,
                                             description="A concurrency to simulate besides 1, 2, 4, ...")] = None,
    lengths: Annotated[Literal["spread", "fixed"] | None, Query(
        description="spread (uniform ±50% around prompt/output, the default) or fixed.")] = None,
    requests: Annotated[int, Query(ge=1, le=REQUESTS_PER_POINT, description="Requests measured per point.")]
    = REQUESTS_PER_POINT,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    slo_ttft_ms: Annotated[float | None, Query(gt=0, le=1e9, description="TTFT target, drawn as a line.")] = None,
    slo_tpot_ms: Annotated[float | None, Query(gt=0, le=1e9, description="TPOT target, drawn as a line.")] = None,
) -> Response:
    """Inter-token latency and TTFT (median and p90) against output tokens/s per GPU, the final configuration
    (all techniques applied) simulated at closed-loop concurrency 1, 2, 4, ... until throughput saturates or the
    KV cache fills; each point labelled with its concurrency."""
    body = EstimateRequest(**setup, concurrency=concurrency, lengths=lengths, requests=requests, seed=seed,
                           slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms)
    png = await services.run(_curve_png, services, body)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
