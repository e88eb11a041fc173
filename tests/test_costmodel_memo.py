"""Shared evaluations inside one answer give exactly the numbers computed afresh."""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.memo import remembered, shared_evaluations
from agent.knowledge.catalog import Catalog

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")
STACKS = [(), ("flash-attention-2",), ("flash-attention-2", "paged-attention", "continuous-batching"),
          ("flash-attention-2", "paged-attention", "continuous-batching", "fp8-inference", "speculative-decoding")]


def estimates(gpu: str, model: str, gpus: int) -> list[dict]:
    workload = InferenceWorkload(batch=32, prompt_len=4096, output_len=256)
    return [estimate_inference(CATALOG.resolve_gpu(gpu), CATALOG.resolve_model(model), workload,
                               ParallelConfig(gpus=gpus, tp=gpus), [CATALOG.resolve_technique(t) for t in stack]).to_dict()
            for stack in STACKS]


@pytest.mark.parametrize("gpu, model, gpus", [("h100", "llama-3.1-70b", 2), ("a100-80gb", "mixtral-8x7b", 1),
                                              ("l40s", "llama-3.1-8b", 1)])
def test_estimates_in_a_shared_scope_equal_fresh_ones(gpu: str, model: str, gpus: int) -> None:
    fresh = estimates(gpu, model, gpus)
    with shared_evaluations():
        shared_first = estimates(gpu, model, gpus)
        shared_again = estimates(gpu, model, gpus)  # every step now comes from the scope
    assert shared_first == fresh and shared_again == fresh


def test_remembered_computes_once_per_key_in_a_scope_and_always_outside() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with shared_evaluations():
        assert remembered(("k",), compute) == remembered(("k",), compute) == 1
        assert remembered(("other",), compute) == 2
    assert remembered(("k",), compute) == 3
    assert remembered(("k",), compute) == 4


TRAINING = [dict(seq_len=4096, global_batch=64, gpus=8, tp=8), dict(seq_len=2048, global_batch=32, gpus=8, zero_stage=1),
            dict(seq_len=2048, global_batch=32, gpus=8, zero_stage=3, recompute="full", dtype="fp8")]


@pytest.mark.parametrize("gpu, model", [("h100", "llama-3.1-70b"), ("a100-80gb", "llama-3.1-8b")])
def test_training_estimates_on_shared_rates_equal_fresh_ones(gpu: str, model: str) -> None:
    from agent.costmodel import TrainingWorkload, estimate_training
    from agent.costmodel.specs import hardware_from_spec, shape_from_spec

    spec_gpu, spec_model = CATALOG.resolve_gpu(gpu), CATALOG.resolve_model(model)
    fresh = [estimate_training(spec_gpu, spec_model, TrainingWorkload(**kw)).to_dict() for kw in TRAINING]
    with shared_evaluations():
        # the effects model hands one Hardware and ModelShape to every estimate of an answer
        hw, shape = hardware_from_spec(spec_gpu), shape_from_spec(spec_model)
        shared = [estimate_training(hw, shape, TrainingWorkload(**kw)).to_dict() for kw in TRAINING * 2]
    assert shared == fresh * 2


def test_rates_are_shared_per_gpu_calibration_and_roofline_kind() -> None:
    from agent.costmodel.calibration import CalibrationEntry
    from agent.costmodel.roofline import rates_for
    from agent.costmodel.specs import hardware_from_spec

    hw = hardware_from_spec(CATALOG.resolve_gpu("h100"))
    other = hardware_from_spec(CATALOG.resolve_gpu("a100-80gb"))
    entry = CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", gpu_id="h100-sxm", gemm_efficiency=0.5)
    with shared_evaluations():
        assert rates_for(hw) is rates_for(hw)
        assert rates_for(hw) == rates_for(hardware_from_spec(CATALOG.resolve_gpu("h100")))
        assert rates_for(other) != rates_for(hw)
        assert rates_for(hw, peak_only=True) != rates_for(hw) and rates_for(hw, peak_only=True).peak_only
        assert rates_for(hw, entry) != rates_for(hw) and rates_for(hw, entry).gemm_efficiency == 0.5
    assert rates_for(hw) is not rates_for(hw)  # outside a scope: built afresh


@pytest.mark.parametrize("question", ["Fine-tune Llama-3.1-70B on 8x H100, 4k sequences: it runs out of memory",
                                      "Pretraining an 8B model on 16x A100-80GB; the step time is too slow",
                                      "Distill a 70B teacher into a small model on 8x H100 for training"])
def test_training_effects_in_a_shared_scope_equal_fresh_ones(question: str) -> None:
    from agent.effects import EffectModel
    from agent.workload import build_indexes, plan_workload

    w = plan_workload(question, CATALOG, None, None, build_indexes(CATALOG))
    techniques = [t for t in CATALOG.techniques.values() if t.cost_model.transform in
                  ("zero", "recompute", "offload", "fp8_compute", "distillation", "adapter")]

    def effects() -> list:
        model = EffectModel(CATALOG, w)
        return [model.baseline()] + [model.effect([t]) for t in techniques]

    fresh = effects()
    with shared_evaluations():
        assert effects() == fresh


def test_a_key_that_cannot_be_hashed_is_computed_afresh_in_a_scope() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with shared_evaluations():
        assert remembered(("k", [1, 2]), compute) == 1
        assert remembered(("k", [1, 2]), compute) == 2
        assert remembered(("k", (1, 2)), compute) == remembered(("k", (1, 2)), compute) == 3


def test_steps_with_overrides_in_a_shared_scope_equal_fresh_ones() -> None:
    """A (technique, overrides) pair is stepped afresh: two hit rates of one prefix cache never share a step."""
    gpu, model = CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-3.1-8b")
    workload = InferenceWorkload(batch=16, prompt_len=4096, output_len=256)
    reference = [CATALOG.resolve_technique(t) for t in STACKS[2]]
    prefix = CATALOG.resolve_technique("prefix-caching")
    stacks = [reference + [(prefix, {"hit_rate": rate})] for rate in (0.2, 0.8)] + [reference + [prefix], reference]

    def run() -> list[dict]:
        return [estimate_inference(gpu, model, workload, techniques=stack).to_dict() for stack in stacks]

    fresh = run()
    assert fresh[0]["ttft_ms"] != fresh[1]["ttft_ms"]
    with shared_evaluations():
        assert run() == fresh and run() == fresh
