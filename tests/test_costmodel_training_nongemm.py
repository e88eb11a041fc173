"""Training non-GEMM time: the vocabulary cross-entropy, the gradient-norm pass and the kernel-boundary cost,
each derived from the model shape and the layout."""

import dataclasses

import pytest
from test_costmodel_training_terms import CATALOG, TINY  # the same small GPT-style shape and catalog

from agent.costmodel import TrainingWorkload, estimate_training
from agent.costmodel.roofline import rates_for
from agent.costmodel.training_kernels import kernel_boundary_s, kernels_per_micro_batch
from agent.costmodel.training_loss import (
    CROSS_ENTROPY_BACKWARD_BYTES,
    CROSS_ENTROPY_FORWARD_BYTES,
    cross_entropy_bytes_per_gpu,
    grad_clip_bytes_per_gpu,
)


def run(gpu="h100", model="llama-3.1-8b", peak_only=False, **kw):
    defaults = dict(seq_len=2048, global_batch=64, micro_batch=1, gpus=8)
    return estimate_training(CATALOG.resolve_gpu(gpu), CATALOG.resolve_model(model),
                             TrainingWorkload(**{**defaults, **kw}), peak_only=peak_only)


def test_cross_entropy_moves_52_bytes_per_vocabulary_element_per_token():
    assert CROSS_ENTROPY_FORWARD_BYTES + CROSS_ENTROPY_BACKWARD_BYTES == 52
    # 64 sequences of 2048 tokens over dp 8: 16384 tokens per GPU, 1000 vocabulary entries
    w = TrainingWorkload(seq_len=2048, global_batch=64, gpus=8)
    assert cross_entropy_bytes_per_gpu(TINY, w) == pytest.approx(16384 * 1000 * 52)


def test_tensor_parallel_splits_the_vocabulary_and_pipeline_does_not():
    base = cross_entropy_bytes_per_gpu(TINY, TrainingWorkload(seq_len=2048, global_batch=64, gpus=8))
    tp = cross_entropy_bytes_per_gpu(TINY, TrainingWorkload(seq_len=2048, global_batch=64, gpus=8, tp=2))
    pp = cross_entropy_bytes_per_gpu(TINY, TrainingWorkload(seq_len=2048, global_batch=64, gpus=8, pp=2))
    # tp 2: half the vocabulary, but dp drops to 4 so twice the tokens; pp 2: the last stage sees every token
    assert tp == pytest.approx(base)
    assert pp == pytest.approx(2 * base)


@pytest.mark.parametrize("zero, expected", [(0, 1e9 * 2), (1, 1e9 * 2), (2, 1e9 * 2 / 8), (3, 1e9 * 2 / 8)])
def test_gradient_norm_reads_the_gradients_this_gpu_holds(zero, expected):
    w = TrainingWorkload(seq_len=2048, global_batch=64, gpus=8, zero_stage=zero)
    assert grad_clip_bytes_per_gpu(TINY, w) == pytest.approx(expected)


def test_kernels_per_micro_batch_of_a_two_layer_model():
    w = TrainingWorkload(seq_len=2048, global_batch=64, gpus=8)
    # forward 4 GEMMs + 1 attention + 6 element-wise; backward 8 + 1 + 6; two layers; 8 loss kernels
    assert kernels_per_micro_batch(TINY, w, fp8=False) == 2 * (11 + 15) + 8
    # full recompute runs the forward twice; FP8 adds four casts forward and four backward per layer
    full = TrainingWorkload(seq_len=2048, global_batch=64, gpus=8, recompute="full")
    assert kernels_per_micro_batch(TINY, full, fp8=True) == 2 * (2 * 15 + 19) + 8


def test_kernel_boundary_time_counts_every_micro_batch():
    w = TrainingWorkload(seq_len=2048, global_batch=64, gpus=8)  # 8 micro-batches per GPU
    assert kernel_boundary_s(TINY, w, False, 2.9) == pytest.approx(60 * 8 * 2.9e-6)


def test_non_gemm_terms_are_in_the_breakdown_and_slow_the_step():
    est = run()
    for term in ("loss_s", "grad_clip_s", "kernel_boundary_s"):
        assert est.breakdown_s[term] > 0, term
    assert est.step_time_s == pytest.approx(sum(est.breakdown_s.values()))
    rates = rates_for(est.gpu)
    shape, w = est.model, est.workload
    assert est.breakdown_s["loss_s"] == pytest.approx(cross_entropy_bytes_per_gpu(shape, w) / (rates.memory_gb_s * 1e9))
    assert est.breakdown_s["kernel_boundary_s"] == pytest.approx(
        kernel_boundary_s(shape, w, False, rates.kernel_boundary_us))
    assert any("cross-entropy" in a for a in est.assumptions)


def test_plain_roofline_has_no_kernel_boundary_cost():
    assert "kernel_boundary_s" not in run(peak_only=True).breakdown_s


def test_loss_time_grows_with_the_vocabulary():
    big = run()
    small = dataclasses.replace(big.model, vocab_size=32000)
    est = estimate_training(CATALOG.resolve_gpu("h100"), small, big.workload)
    assert est.breakdown_s["loss_s"] == pytest.approx(big.breakdown_s["loss_s"] * 32000 / big.model.vocab_size)
