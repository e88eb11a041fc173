"""`accelsage plan`: SLA-driven search for a serving configuration, in the manner of NVIDIA's aiconfigurator.

Pipeline (this module only calls the stages in order):
:mod:`plan_space` enumerates layouts and dtypes -> :func:`_fitting_layouts` keeps what fits in memory (the
analytical memory model, nothing simulated) -> :func:`plan_space.expand` crosses them with engines, batch caps
and prefill/decode splits -> :func:`plan_search.screen`-style analytical estimates -> :func:`plan_search.shortlist`
-> the serving simulator on the shortlist -> the Pareto frontier of tokens/s per GPU vs tokens/s per user and
the best configuration under the SLOs, with the engine's launch flags.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from agent.costmodel.arrivals import ClosedLoop, Lengths, Poisson
from agent.costmodel.calibration import Calibration
from agent.costmodel.inference import InferenceEstimate, estimate_inference
from agent.costmodel.memo import remembered, shared_evaluations
from agent.costmodel.plan_search import (
    analytical_point,
    frontier,
    pick_best,
    shortlist,
    simulate_candidate,
    slo_misses,
)
from agent.costmodel.plan_space import (
    ENGINE_ALIASES,
    ENGINES,
    Candidate,
    Layout,
    dtype_pairs,
    expand,
    expert_sizes,
    pipeline_sizes,
    tensor_sizes,
)
from agent.costmodel.serving_stats import Slo
from agent.costmodel.specs import hardware_from_spec, shape_from_spec
from agent.costmodel.steady_state import DEFAULT_SPREAD
from agent.costmodel.workload import InferenceWorkload, ParallelConfig
from index.errors import AccelsageError

# Per-engine technique overrides. Prefix caching stays on but finds nothing: the planned requests share no prefix.
# The token budget per iteration is each engine's default: vLLM --max-num-batched-tokens and SGLang
# --chunked-prefill-size (8192 on large GPUs), TensorRT-LLM --max_num_tokens (8192).
ENGINE_PARAMS: dict[str, dict[str, dict]] = {
    "prefix-caching": {"hit_rate": 0.0},
    "chunked-prefill": {"chunk_tokens": 8192},
}
DISAGGREGATION = "pd-disaggregation"

# Launch flag templates, one table per engine. Sources:
#   vLLM: https://docs.vllm.ai/en/latest/configuration/engine_args.html (vllm serve engine arguments) and
#         https://docs.vllm.ai/en/latest/features/disagg_prefill.html (KV transfer connectors)
#   SGLang: https://docs.sglang.ai/advanced_features/server_arguments.html (launch_server arguments) and
#         https://docs.sglang.ai/advanced_features/pd_disaggregation.html
#   TensorRT-LLM: https://nvidia.github.io/TensorRT-LLM/commands/trtllm-serve.html,
#         https://nvidia.github.io/TensorRT-LLM/commands/trtllm-build.html and examples/quantization/README.md
#         (quantize.py --qformat / --kv_cache_dtype)
LAUNCH_FLAGS: dict[str, dict[str, Any]] = {
    "vllm": {
        "serve": "vllm serve {model}", "tp": "--tensor-parallel-size {tp}", "pp": "--pipeline-parallel-size {pp}",
        "dp": "--data-parallel-size {dp}", "ep": "--enable-expert-parallel",
        "weights": {"fp8": "--quantization fp8", "int4": "--quantization awq_marlin"},
        "kv": {"fp8": "--kv-cache-dtype fp8"}, "max_batch": "--max-num-seqs {max_batch}",
        "prefill": "--kv-transfer-config '{{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\"}}'",
        "decode": "--kv-transfer-config '{{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\"}}'",
        "source": "https://docs.vllm.ai/en/latest/configuration/engine_args.html",
    },
    "sglang": {
        "serve": "python -m sglang.launch_server --model-path {model}", "tp": "--tp {tp}", "pp": "--pp-size {pp}",
        "dp": "--dp {dp}", "ep": "--ep-size {ep}",
        "weights": {"fp8": "--quantization fp8", "int4": "--quantization awq_marlin"},
        "kv": {"fp8": "--kv-cache-dtype fp8_e4m3"}, "max_batch": "--max-running-requests {max_batch}",
        "prefill": "--disaggregation-mode prefill", "decode": "--disaggregation-mode decode",
        "source": "https://docs.sglang.ai/advanced_features/server_arguments.html",
    },
    "tensorrt-llm": {
        "quantize": "python examples/quantization/quantize.py --model_dir {model} --dtype bfloat16 "
                    "--qformat {qformat} --tp_size {tp} --pp_size {pp} --output_dir ./ckpt",
        "qformat": {"bf16": "full_prec", "fp8": "fp8", "int4": "int4_awq"},
        "kv": {"fp8": "--kv_cache_dtype fp8"},
        "build": "trtllm-build --checkpoint_dir ./ckpt --output_dir ./engine --max_batch_size {max_batch} "
                 "--max_num_tokens 8192",
        "serve": "trtllm-serve ./engine --tokenizer {model} --tp_size {tp} --pp_size {pp} "
                 "--max_batch_size {max_batch}",
        "ep": "--ep_size {ep}",
        "disagg": "trtllm-serve disaggregated -c disagg_config.yaml  # {prefill} context and {decode} generation "
                  "servers, each started as above",
        "source": "https://nvidia.github.io/TensorRT-LLM/commands/trtllm-serve.html",
    },
}


@dataclass(frozen=True)
class PlanSpec:
    """What to plan for: the hardware, the model, the traffic and the targets.

    Args:
        length_pairs: (prompt, output) pairs used in order instead of the spread around prompt/output.
        engines: catalog framework ids to compare (default all three).
        requests: requests each simulation measures (after a warm-up); small keeps the search fast.
        max_simulations: candidates simulated after the analytical screen.
    """

    gpu: str
    model: str
    gpus: int
    prompt_tokens: int = 1024
    output_tokens: int = 256
    length_pairs: tuple[tuple[int, int], ...] = ()
    concurrency: int | None = None
    qps: float | None = None
    slo_ttft_ms: float | None = None
    slo_tpot_ms: float | None = None
    engines: tuple[str, ...] = ENGINES
    requests: int = 300
    seed: int = 0
    max_simulations: int = 40

    def __post_init__(self) -> None:
        if (self.concurrency is None) == (self.qps is None):
            raise AccelsageError("give exactly one load: --concurrency N or --qps X")
        if self.gpus < 1:
            raise AccelsageError("--gpus must be at least 1")
        if self.max_simulations < 1:
            raise AccelsageError("max_simulations must be at least 1")
        engines = []
        for name in self.engines:
            engine = ENGINE_ALIASES.get(str(name).strip().lower())
            if engine is None:
                raise AccelsageError(f"unknown engine {name!r}: one of vllm, sglang, trtllm")
            if engine not in engines:
                engines.append(engine)
        object.__setattr__(self, "engines", tuple(engines) or ENGINES)

    @property
    def slo(self) -> Slo | None:
        return None if self.slo_ttft_ms is None and self.slo_tpot_ms is None else Slo(self.slo_ttft_ms,
                                                                                       self.slo_tpot_ms)

    def lengths(self) -> Lengths:
        if self.length_pairs:
            return Lengths("list", self.prompt_tokens, self.output_tokens, pairs=tuple(self.length_pairs))
        return Lengths("uniform", self.prompt_tokens, self.output_tokens, DEFAULT_SPREAD)


def plan(catalog: Any, spec: PlanSpec, calibration: Calibration | None = None) -> dict:
    """Search the configurations of `spec` and return the plan's JSON (frontier, best, launch flags).

    Raises:
        AccelsageError: the model fits no configuration searched, or a bad input.
    """
    gpu_spec, model_spec = catalog.resolve_gpu(spec.gpu), catalog.resolve_model(spec.model)
    presets = {engine: _preset(catalog, engine) for engine in spec.engines}
    disagg = catalog.resolve_technique(DISAGGREGATION)
    slo, load, lengths = spec.slo, _load(spec), spec.lengths()
    with shared_evaluations():
        hw, shape = hardware_from_spec(gpu_spec), shape_from_spec(model_spec)
        layouts, checked, smallest = _fitting_layouts(hw, shape, spec, presets[spec.engines[0]], calibration)
        if not layouts:
            raise AccelsageError(_no_fit_message(model_spec, gpu_spec, spec, smallest))
        screened = []
        for (layout, dtype, kv), isolated_ms in layouts:
            for candidate in expand(layout, dtype, kv, spec.engines, spec.concurrency):
                techniques = presets[candidate.engine] + (
                    [(disagg, {"prefill_fraction": candidate.prefill_instances / candidate.instances})]
                    if candidate.prefill_instances else [])
                estimate = _estimate(hw, shape, candidate, _screen_batch(spec, candidate, isolated_ms), spec,
                                     techniques, calibration)
                screened.append(analytical_point(candidate, estimate))
        simulated = [p for p in (simulate_candidate(point, load, lengths, spec.requests, spec.seed, slo)
                                 for point in shortlist(screened, slo, spec.max_simulations)) if p is not None]
    if not simulated:
        raise AccelsageError(f"{model_spec.name} leaves no memory for the KV cache on {spec.gpus} x {gpu_spec.name} "
                             "in any configuration searched")
    best, meets = pick_best(simulated, slo)
    return {
        "model": model_spec.id, "gpu": gpu_spec.id, "gpu_name": gpu_spec.name, "gpus": spec.gpus,
        "workload": {"prompt_len": spec.prompt_tokens, "output_len": spec.output_tokens,
                     "lengths": lengths.describe(), "load": load.describe(), "requests": spec.requests,
                     "seed": spec.seed},
        "slo": {"ttft_ms": spec.slo_ttft_ms, "tpot_ms": spec.slo_tpot_ms} if slo else None,
        "search": {"engines": list(spec.engines), "layouts_checked": checked, "layouts_fit": len(layouts),
                   "configurations": len(screened), "simulated": len(simulated)},
        "frontier": [p.to_dict() for p in frontier(simulated)],
        "best": {**best.to_dict(), "meets_slo": meets, "missed_slo": slo_misses(best, slo),
                 "launch": launch_commands(best.candidate, _hf_repo(model_spec))},
        "assumptions": _assumptions(spec),
    }


def _preset(catalog: Any, engine: str) -> list:
    """The engine's default techniques (data/frameworks/<id>.yaml), with the plan's parameter overrides."""
    framework = catalog.frameworks.get(engine)
    if framework is None:
        raise AccelsageError(f"no framework file data/frameworks/{engine}.yaml")
    out = []
    for name in framework.defaults:
        tech = catalog.resolve_technique(name)
        out.append((tech, dict(ENGINE_PARAMS.get(tech.id, {}))))
    return out


def _load(spec: PlanSpec) -> Any:
    return ClosedLoop(int(spec.concurrency)) if spec.concurrency is not None else Poisson(float(spec.qps))


def _estimate(hw: Any, shape: Any, c: Candidate, batch: int, spec: PlanSpec, techniques: list,
              calibration: Calibration | None) -> InferenceEstimate:
    workload = InferenceWorkload(batch=batch, prompt_len=spec.prompt_tokens, output_len=spec.output_tokens,
                                 dtype=c.dtype, kv_dtype=c.kv_dtype)
    parallel = ParallelConfig(gpus=c.gpus, tp=c.tp, pp=c.pp, ep=c.ep)
    key = ("plan", id(hw), id(shape), c, batch, spec.prompt_tokens, spec.output_tokens)
    return remembered(key, lambda: estimate_inference(hw, shape, workload, parallel, techniques=techniques,
                                                      calibration=calibration), (hw, shape))


def _fitting_layouts(hw: Any, shape: Any, spec: PlanSpec, preset: list,
                     calibration: Calibration | None) -> tuple[list, int, float | None]:
    """([((layout, dtype, kv), isolated latency ms)], layouts checked, smallest GB per GPU seen): for each TP size,
    EP size and dtype pair the smallest PP that holds one request, pruned before any simulation."""
    found, checked, smallest = [], 0, None
    for tp in tensor_sizes(hw, shape, spec.gpus):
        for dtype, kv in dtype_pairs(hw):
            for ep_choice in range(3):
                for pp in pipeline_sizes(hw, shape, spec.gpus, tp):
                    instances = spec.gpus // (tp * pp)
                    eps = expert_sizes(shape, tp, instances)
                    if ep_choice >= len(eps):
                        break
                    layout = Layout(tp, pp, eps[ep_choice], instances)
                    probe = Candidate(spec.engines[0], tp, pp, layout.ep, instances, dtype, kv, 1)
                    checked += 1
                    estimate = _estimate(hw, shape, probe, 1, spec, preset, calibration)
                    total = estimate.metrics.memory.total_gb
                    smallest = total if smallest is None else min(smallest, total)
                    if estimate.metrics.memory.fits and estimate.metrics.max_batch >= 1:
                        entry = ((layout, dtype, kv), estimate.metrics.latency_ms)
                        if entry[0] not in {f[0] for f in found}:
                            found.append(entry)
                        break  # the smallest PP that fits; more stages only add bubbles
    return found, checked, smallest


def _screen_batch(spec: PlanSpec, c: Candidate, isolated_ms: float) -> int:
    """Requests in flight across the deployment for the analytical screen: the concurrency, or the QPS times an
    isolated request's latency (Little's law, with a fifth more for queueing), capped by the batch caps."""
    cap = c.max_batch * c.decode_instances
    if spec.concurrency is not None:
        return max(1, min(spec.concurrency, cap))
    return max(1, min(math.ceil(spec.qps * isolated_ms / 1000 * 1.2), cap))


def _no_fit_message(model: Any, gpu: Any, spec: PlanSpec, smallest_gb: float | None) -> str:
    need = f": the most compact layout needs {smallest_gb / 1.073741824:.0f} GiB per GPU" if smallest_gb else ""
    return (f"{model.name} does not fit on {spec.gpus} x {gpu.name} ({gpu.memory_gib:g} GiB each) in any "
            f"configuration searched (tp up to {min(spec.gpus, 8)}, pipeline stages, int4 weights, fp8 KV){need}; "
            "add GPUs or pick a larger GPU")


def _hf_repo(model: Any) -> str:
    """The HuggingFace repo named in the model file's source, else its id."""
    found = re.search(r"HF\s+([\w.-]+/[\w.-]+)", str(getattr(model, "source", "") or ""))
    return found.group(1) if found else model.id


def launch_commands(c: Candidate, model: str) -> dict:
    """The commands that start the candidate on its engine, from :data:`LAUNCH_FLAGS` (templates: check them
    against your engine's version)."""
    flags = LAUNCH_FLAGS[c.engine]
    values = {"model": model, "tp": c.tp, "pp": c.pp, "ep": c.ep, "dp": c.instances, "max_batch": c.max_batch}
    notes = []
    if c.engine == "tensorrt-llm":
        commands = _trtllm_commands(c, flags, values, notes)
    else:
        common = [flags["serve"], flags["tp"]] + ([flags["pp"]] if c.pp > 1 else []) \
            + ([flags["ep"]] if c.ep > 1 else []) \
            + ([flags["weights"][c.dtype]] if c.dtype in flags["weights"] else []) \
            + ([flags["kv"][c.kv_dtype]] if c.kv_dtype in flags["kv"] else []) + [flags["max_batch"]]
        if c.prefill_instances:
            commands = [" ".join(common + [flags["prefill"]]).format(**values)
                        + f"  # prefill, {c.prefill_instances} instance(s)",
                        " ".join(common + [flags["decode"]]).format(**values)
                        + f"  # decode, {c.decode_instances} instance(s)"]
            notes.append(f"start {c.prefill_instances} prefill and {c.decode_instances} decode instance(s) of "
                         f"{c.tp * c.pp} GPU(s) each, behind a router that sends each request to prefill, then decode")
        else:
            one_server_dp = c.instances > 1 and (c.ep == 1 or c.ep == c.tp * c.instances)
            commands = [" ".join(common + ([flags["dp"]] if one_server_dp else [])).format(**values)]
            if c.instances > 1 and not one_server_dp:
                notes.append(f"run {c.instances} copies behind a load balancer (experts split within each copy)")
    if c.dtype == "int4":
        notes.append("int4 weights: serve an AWQ (or GPTQ) checkpoint of the model")
    return {"engine": c.engine, "commands": commands, "notes": notes, "source": flags["source"]}


def _trtllm_commands(c: Candidate, flags: dict, values: dict, notes: list[str]) -> list[str]:
    quantize = flags["quantize"] + (" " + flags["kv"][c.kv_dtype] if c.kv_dtype in flags["kv"] else "")
    serve = flags["serve"] + (" " + flags["ep"] if c.ep > 1 else "")
    values = {**values, "qformat": flags["qformat"][c.dtype]}
    commands = [quantize.format(**values), flags["build"].format(**values), serve.format(**values)]
    if c.prefill_instances:
        commands.append(flags["disagg"].format(prefill=c.prefill_instances, decode=c.decode_instances))
    elif c.instances > 1:
        notes.append(f"run {c.instances} copies of trtllm-serve behind a load balancer")
    return commands


def _assumptions(spec: PlanSpec) -> list[str]:
    return [
        "each engine runs its default techniques (data/frameworks/<id>.yaml); prefix caching finds no shared "
        "prefixes; iteration token budget 8192",
        "candidates are screened analytically, then at most "
        f"{spec.max_simulations} are simulated ({spec.requests} requests, seed {spec.seed}); frontier and best come "
        "from the simulation",
        "TTFT and TPOT are simulated medians (TPOT = median inter-token latency); tokens/s per user = 1000 / TPOT; "
        "SLOs are checked on the medians",
        "disaggregated: prefill and decode instances share one layout; the KV moves over the GPU link",
        "launch flags are templates from each engine's documentation: check them against your version",
    ]

