"""Run the published validation cases (data/validation/published.yaml) through the cost model."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent.costmodel.inference import estimate_inference
from agent.costmodel.training import estimate_training, training_memory_gb
from agent.costmodel.transforms import TechniqueChoice
from agent.costmodel.workload import InferenceWorkload, ParallelConfig, TrainingWorkload


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

    @staticmethod
    def _error(value: float, published: float | tuple[float, float]) -> float:
        if isinstance(published, tuple):
            lo, hi = published
            if lo <= value <= hi:
                return 0.0
            edge = lo if value < lo else hi
            return (value - edge) / edge
        return (value - published) / published

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


def _inference(case: dict, gpu: Any, model: Any, data: dict, peak_only: bool) -> float:
    workload = InferenceWorkload(**case["workload"])
    parallel = ParallelConfig(**case.get("parallel", {}))
    est = estimate_inference(gpu, model, workload, parallel, _stack(data, case.get("stack")), peak_only=peak_only)
    if case["metric"] == "throughput_per_gpu":
        return est.throughput_tokens_per_s / parallel.gpus
    return float(getattr(est, case["metric"]))


def _training(case: dict, gpu: Any, model: Any, peak_only: bool) -> float:
    est = estimate_training(gpu, model, TrainingWorkload(**case["workload"]), peak_only=peak_only)
    return float(getattr(est, case["metric"]))


def _zero(case: dict, model: Any) -> float:
    from agent.costmodel.specs import shape_from_spec

    w = TrainingWorkload(seq_len=2048, global_batch=case["gpus"], micro_batch=1, gpus=case["gpus"],
                         zero_stage=case["zero_stage"])
    mem = training_memory_gb(shape_from_spec(model), w, 80.0)
    return mem["params_gb"] + mem["grads_gb"] + mem["optimizer_gb"]


def _kernel(case: dict, gpu: Any, peak_only: bool) -> float:
    from agent.kernels.roofline import roofline_attention

    return float(getattr(roofline_attention(gpu, **case["kernel"], peak_only=peak_only), case["metric"]))


def run_case(case: dict, data: dict, catalog: Any) -> CaseResult:
    """Evaluate one case with the calibrated model and with the plain peak roofline."""
    gpu = catalog.resolve_gpu(case["gpu"])
    inline = data.get("models", {})
    model = inline.get(case.get("model")) or (catalog.resolve_model(case["model"]) if case.get("model") else None)
    values = []
    for peak_only in (False, True):
        if case["kind"] == "inference":
            values.append(_inference(case, gpu, model, data, peak_only))
        elif case["kind"] == "training":
            values.append(_training(case, gpu, model, peak_only))
        elif case["kind"] == "zero_memory":
            values.append(_zero(case, model))
        else:
            values.append(_kernel(case, gpu, peak_only))
    published = tuple(case["range"]) if "range" in case else float(case["value"])
    return CaseResult(id=case["id"], kind=case["kind"], metric=case["metric"], published=published,
                      model=values[0], peak_roofline=values[1], tolerance=float(case["tolerance"]),
                      source=case["source"], known_gap=case.get("known_gap"))


def run_all(path: Path, catalog: Any) -> list[CaseResult]:
    """Every case of the file, in order."""
    data = load_published(path)
    return [run_case(case, data, catalog) for case in data["cases"]]


def median_abs_error(results: list[CaseResult], peak: bool = False) -> float:
    """Median of |relative error| over the cases (model or plain peak roofline)."""
    return statistics.median(abs(r.peak_error if peak else r.error) for r in results)
