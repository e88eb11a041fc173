"""max_batch: the largest concurrency whose per-GPU memory breakdown fits, probe by probe."""

from dataclasses import replace
from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig
from agent.costmodel.knobs import Knobs
from agent.costmodel.memory import max_batch, memory_breakdown
from agent.costmodel.shapes import layer_counts, param_split
from agent.costmodel.specs import hardware_from_spec, shape_from_spec
from agent.knowledge.catalog import Catalog

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")


@pytest.mark.parametrize("gpu, model, gpus, knobs", [
    ("h100", "llama-3.1-8b", 1, Knobs()),
    ("a100-80gb", "llama-3.1-70b", 4, Knobs(paged_block_tokens=16, continuous_batching=True, attention_fused=True)),
    ("l40s", "llama-3.1-8b", 1, Knobs(kv_bytes=1.0, attention_fused=True)),
    ("l40s", "llama-3.1-70b", 1, Knobs(offload_target="cpu", attention_fused=True)),
])
def test_max_batch_is_the_largest_batch_whose_breakdown_fits(gpu: str, model: str, gpus: int, knobs: Knobs) -> None:
    hw, shape = hardware_from_spec(CATALOG.resolve_gpu(gpu)), shape_from_spec(CATALOG.resolve_model(model))
    split, counts = param_split(shape), layer_counts(shape)
    workload, parallel = InferenceWorkload(batch=8, prompt_len=4096, output_len=512), ParallelConfig(gpus=gpus, tp=gpus)
    biggest = max_batch(shape, split, counts, knobs, workload, parallel, hw.capacity_gb)

    def fits(b: int) -> bool:
        return memory_breakdown(shape, split, counts, knobs, workload, parallel, hw.capacity_gb, batch=b).fits

    assert biggest == 0 and not fits(1) or fits(biggest) and not fits(biggest + 1)
    assert memory_breakdown(shape, split, counts, knobs, replace(workload, batch=max(biggest, 1)), parallel,
                            hw.capacity_gb).fits == (biggest >= 1)
