"""Training state that no stack fits: the answer names how many GPUs would hold it, laid out as the user's sharding
(not as tensor parallelism), searching as far as multi-node jobs go."""

from __future__ import annotations

from agent.effects import EffectModel, describe_fit
from agent.workload import Workload


def test_training_that_does_not_fit_names_the_gpu_count_and_its_sharding(catalog):
    w = Workload(gpu="a100-80gb", gpu_count=4, model="llama-3.1-70b", phase="fine-tuning", objective="memory",
                 batch=1, stack={"zero-3": "stated"})
    text = describe_fit(EffectModel(catalog, w), [], None)
    assert "Alternatively use 32×" in text
    assert "sharded as ZeRO stage 3" in text
    assert "tensor parallel" not in text


def test_serving_that_does_not_fit_names_tensor_parallelism(catalog):
    w = Workload(gpu="l4", gpu_count=2, model="llama-3.1-70b", phase="serving", objective="latency", batch=1)
    text = describe_fit(EffectModel(catalog, w), [], None)
    assert "tensor parallel" in text
