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
