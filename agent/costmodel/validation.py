"""Run the published validation cases (data/validation/published.yaml) through the cost model.

Each case names a kind (what is estimated), a GPU, the published figure and the metric it is compared with.
The same case runs twice: through the cost model and through the plain peak roofline (spec peaks, no
efficiencies, no overheads). Grouped summaries live in ``validation_report``; the JSON entry point that runs
the cases through an older checkout lives in ``validation_json``.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent.costmodel.inference import estimate_inference
from agent.costmodel.training import estimate_training, training_memory_gb
from agent.costmodel.transforms import TechniqueChoice
from agent.costmodel.workload import InferenceWorkload, ParallelConfig, TrainingWorkload

KINDS = ("inference", "training", "zero_memory", "kernel_attention", "kernel_gemm", "allreduce")

@dataclass(frozen=True)
class CaseResult:
    """One case: the published figure, the model's estimate and the plain peak roofline's."""

    id: str
    kind: str
    metric: str
    published: float | tuple[float, float]
    model: float
    peak_roofline: float
    tolerance: float
    source: str
    known_gap: str | None = None
    gpu: str = ""
    engine: str = ""
    fitted: bool = False
    fitted_for: str | None = None

    @staticmethod
    def _error(value: float, published: float | tuple[float, float]) -> float:
        if isinstance(published, tuple):
            lo, hi = published
            if lo <= value <= hi:
                return 0.0
            edge = lo if value < lo else hi
            return (value - edge) / edge
        return (value - published) / published

    def error_of(self, value: float) -> float:
        """Signed relative error of any estimate of this case (0 inside a published range)."""
        return self._error(value, self.published)

    @property
    def error(self) -> float:
        """Signed relative error of the model (0 inside a published range)."""
        return self._error(self.model, self.published)

    @property
    def peak_error(self) -> float:
        """Signed relative error of the plain peak roofline."""
        return self._error(self.peak_roofline, self.published)

    @property
    def within(self) -> bool:
        return abs(self.error) <= self.tolerance


def load_published(path: Path) -> dict:
    """Read published.yaml (stacks, inline models, cases)."""
    return yaml.safe_load(Path(path).read_text())


def _stack(data: dict, name: str | None) -> list[TechniqueChoice]:
    return [TechniqueChoice(id=t["id"], transform=t["transform"], params=dict(t.get("params") or {}))
            for t in (data.get("stacks", {}).get(name) or [])]


def _largest_batch(case: dict, gpu: Any, model: Any, parallel: ParallelConfig, stack: list, peak_only: bool) -> int:
    """`batch: max` (an offline maximum-throughput run): the largest concurrency the model says fits, capped at
    the case's `max_batch_cap` (the engine's own limit)."""
    probe = InferenceWorkload(**{**case["workload"], "batch": 1})
    fits = estimate_inference(gpu, model, probe, parallel, stack, peak_only=peak_only).max_batch
    if fits < 1:
        raise ValueError(f"{case['id']}: the model does not fit on {parallel.gpus} GPU(s)")
    return min(fits, int(case.get("max_batch_cap", fits)))


def _inference(case: dict, gpu: Any, model: Any, data: dict, peak_only: bool) -> float:
    parallel = ParallelConfig(**case.get("parallel", {}))
    stack = _stack(data, case.get("stack"))
    fields = dict(case["workload"])
    if fields.get("batch") == "max":
        fields["batch"] = _largest_batch(case, gpu, model, parallel, stack, peak_only)
    est = estimate_inference(gpu, model, InferenceWorkload(**fields), parallel, stack, peak_only=peak_only)
    if case["metric"] == "throughput_per_gpu":
        return est.throughput_tokens_per_s / parallel.gpus
    return float(getattr(est, case["metric"]))


def _training(case: dict, gpu: Any, model: Any, peak_only: bool) -> float:
    workload = TrainingWorkload(**case["workload"])
    est = estimate_training(gpu, model, workload, peak_only=peak_only)
    if case["metric"] == "tokens_per_s_per_gpu":   # training benchmarks quote tokens/s per GPU
        return est.tokens_per_s / workload.gpus
    return float(getattr(est, case["metric"]))


def _zero(case: dict, model: Any) -> float:
    from agent.costmodel.specs import shape_from_spec

    w = TrainingWorkload(seq_len=2048, global_batch=case["gpus"], micro_batch=1, gpus=case["gpus"],
                         zero_stage=case["zero_stage"])
    mem = training_memory_gb(shape_from_spec(model), w, 80.0)
    return mem["params_gb"] + mem["grads_gb"] + mem["optimizer_gb"]


def _kernel(case: dict, gpu: Any, peak_only: bool) -> float:
    """A single kernel through the analytical kernel roofline (attention, GEMM or all-reduce)."""
    from agent.kernels import roofline as kernels

    run = {"kernel_attention": kernels.roofline_attention, "kernel_gemm": kernels.roofline_gemm,
           "allreduce": kernels.roofline_allreduce}[case["kind"]]
    return float(getattr(run(gpu, **case["kernel"], peak_only=peak_only), case["metric"]))


def evaluate_case(case: dict, data: dict, catalog: Any, peak_only: bool = False) -> float:
    """The cost model's value of a case's metric (or the plain peak roofline's with `peak_only`)."""
    kind = case["kind"]
    if kind not in KINDS:
        raise ValueError(f"{case['id']}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
    gpu = catalog.resolve_gpu(case["gpu"])
    inline = data.get("models", {})
    model = inline.get(case.get("model")) or (catalog.resolve_model(case["model"]) if case.get("model") else None)
    if kind == "inference":
        return _inference(case, gpu, model, data, peak_only)
    if kind == "training":
        return _training(case, gpu, model, peak_only)
    if kind == "zero_memory":
        return _zero(case, model)
    return _kernel(case, gpu, peak_only)


def case_engine(case: dict) -> str:
    """The software that produced the figure: the case's `engine`, else its cost-model stack, else its kind."""
    return case.get("engine") or case.get("stack") or case["kind"]


def run_case(case: dict, data: dict, catalog: Any) -> CaseResult:
    """Evaluate one case with the calibrated model and with the plain peak roofline."""
    model, peak = (evaluate_case(case, data, catalog, peak_only) for peak_only in (False, True))
    published = tuple(case["range"]) if "range" in case else float(case["value"])
    return CaseResult(id=case["id"], kind=case["kind"], metric=case["metric"], published=published,
                      model=model, peak_roofline=peak, tolerance=float(case["tolerance"]),
                      source=case["source"], known_gap=case.get("known_gap"), gpu=case["gpu"],
                      engine=case_engine(case), fitted=bool(case.get("fitted")), fitted_for=case.get("fitted_for"))


def run_all(path: Path, catalog: Any) -> list[CaseResult]:
    """Every case of the file, in order."""
    data = load_published(path)
    return [run_case(case, data, catalog) for case in data["cases"]]


def median_abs_error(results: list[CaseResult], peak: bool = False) -> float:
    """Median of |relative error| over the cases (model or plain peak roofline)."""
    return statistics.median(abs(r.peak_error if peak else r.error) for r in results)


# --- serving cases: a stated concurrency or QPS, run through the simulator --------------------------------------

# serving benchmarks quote their load in the source ("... concurrency 1: TTFT 406.77 ms")
_CONCURRENCY_IN_SOURCE = re.compile(r"\bconcurrency\s*[=:]?\s*(\d+)", re.IGNORECASE)
_QPS_IN_SOURCE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:QPS|requests?/s|req/s)\b", re.IGNORECASE)

# which simulated statistic a published serving figure is compared with: benchmark clients (GenAI-Perf,
# vLLM's benchmark_serving) report the mean TTFT and mean inter-token latency, and output tokens per second
SIMULATED_METRIC = {
    "ttft_ms": lambda stats, gpus: stats.ttft_ms.mean,
    "tpot_ms": lambda stats, gpus: stats.itl_ms.mean,
    "throughput_tokens_per_s": lambda stats, gpus: stats.output_tokens_per_s,
    "throughput_per_gpu": lambda stats, gpus: stats.output_tokens_per_s / gpus,
}


def stated_load(case: dict) -> dict | None:
    """The load an inference case states: its ``load`` ({concurrency: N} or {qps: X}), else the concurrency or
    QPS its source quotes; None for cases that state none (static-batch and single-kernel measurements)."""
    if case.get("load"):
        return dict(case["load"])
    if case.get("kind") != "inference" or case.get("metric") not in SIMULATED_METRIC:
        return None
    source = case.get("source", "")
    if match := _CONCURRENCY_IN_SOURCE.search(source):
        return {"concurrency": int(match.group(1))}
    if match := _QPS_IN_SOURCE.search(source):
        return {"qps": float(match.group(1))}
    return None


@dataclass(frozen=True)
class ServingCaseResult:
    """One serving case: the published figure, the analytical (isolated) estimate and the simulated one."""

    id: str
    metric: str
    load: str
    published: float
    isolated: float
    simulated: float
    fitted: bool = False

    @property
    def isolated_error(self) -> float:
        return (self.isolated - self.published) / self.published

    @property
    def simulated_error(self) -> float:
        return (self.simulated - self.published) / self.published


def run_serving_cases(cases: list[dict], data: dict, catalog: Any, requests: int = 500, seed: int = 0,
                      prefill_first: bool = False) -> list[ServingCaseResult]:
    """Every case that states a load, evaluated analytically and through the simulator (one simulation per
    distinct configuration and load, shared by its metrics); `prefill_first` as in ``engine_for``."""
    from agent.costmodel.steady_state import LoadSpec, simulate_estimate

    runs: dict[str, tuple] = {}
    out = []
    for case in cases:
        load = stated_load(case)
        if load is None or "value" not in case:
            continue
        key = repr((case["gpu"], case.get("model"), case["workload"], case.get("parallel"), case.get("stack"), load))
        if key not in runs:
            gpu = catalog.resolve_gpu(case["gpu"])
            model = data.get("models", {}).get(case.get("model")) or catalog.resolve_model(case["model"])
            parallel = ParallelConfig(**case.get("parallel", {}))
            est = estimate_inference(gpu, model, InferenceWorkload(**case["workload"]), parallel,
                                     _stack(data, case.get("stack")))
            spec = LoadSpec(concurrency=load.get("concurrency"), qps=load.get("qps"), requests=requests, seed=seed)
            runs[key] = (est, simulate_estimate(est, spec, prefill_first), parallel.gpus)
        est, report, gpus = runs[key]
        metric = case["metric"]
        isolated = est.throughput_tokens_per_s / gpus if metric == "throughput_per_gpu" else float(getattr(est, metric))
        out.append(ServingCaseResult(id=case["id"], metric=metric, load=report.load, published=float(case["value"]),
                                     isolated=isolated, simulated=SIMULATED_METRIC[metric](report.stats, gpus),
                                     fitted=bool(case.get("fitted"))))
    return out
