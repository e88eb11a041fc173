"""Gradient accumulation across micro-batches: a memory pass per micro-batch without fusion, none with it."""

import pytest

from agent.costmodel import TrainingWorkload
from agent.costmodel.specs import shape_from_spec
from agent.costmodel.training_traffic import GRAD_ACCUMULATION_BYTES_PER_PARAM, grad_accumulation_bytes_per_gpu

TINY = shape_from_spec({"id": "tiny", "params_total": 1e9, "hidden_size": 1024, "intermediate_size": 4096,
                        "num_hidden_layers": 2, "num_attention_heads": 8, "head_dim": 128, "vocab_size": 1000,
                        "gated_mlp": False})


@pytest.mark.parametrize("kw, expected_bytes", [
    (dict(gpus=1), 8 * 1e9 * 6),                    # 8 micro-batches x 1e9 params x (2 + 2 + 2) bytes
    (dict(gpus=2, tp=2), 8 * 0.5e9 * 6),            # each TP rank holds half the parameters
    (dict(gpus=2), 4 * 1e9 * 6),                    # dp 2: 4 micro-batches each
    (dict(gpus=1, trainable_fraction=0.25), 8 * 0.25e9 * 6),  # adapters: only the trained share has gradients
])
def test_unfused_accumulation_reads_the_new_gradient_and_reads_and_writes_the_buffer(kw, expected_bytes):
    w = TrainingWorkload(global_batch=8, grad_accumulation_fusion=False, **kw)
    assert GRAD_ACCUMULATION_BYTES_PER_PARAM == 6
    assert grad_accumulation_bytes_per_gpu(TINY, w) == pytest.approx(expected_bytes)


def test_fused_accumulation_costs_no_pass():
    assert grad_accumulation_bytes_per_gpu(TINY, TrainingWorkload(global_batch=8, gpus=1)) == 0.0


def test_estimate_times_the_accumulation_pass_at_hbm_bandwidth():
    from pathlib import Path

    from agent.costmodel import estimate_training
    from agent.costmodel.roofline import rates_for
    from agent.knowledge.catalog import Catalog

    catalog = Catalog.load(Path(__file__).resolve().parents[1] / "data")
    gpu, model = catalog.resolve_gpu("a100"), catalog.resolve_model("llama-2-7b")
    w = TrainingWorkload(global_batch=64, gpus=8, grad_accumulation_fusion=False)
    est = estimate_training(gpu, model, w)
    expected_s = grad_accumulation_bytes_per_gpu(est.model, w) / (rates_for(est.gpu).memory_gb_s * 1e9)
    assert est.breakdown_s["grad_accumulation_s"] == pytest.approx(expected_s)
    fused = estimate_training(gpu, model, TrainingWorkload(global_batch=64, gpus=8))
    assert fused.breakdown_s["grad_accumulation_s"] == 0.0
    assert est.step_time_s == pytest.approx(fused.step_time_s + expected_s, rel=1e-3)
