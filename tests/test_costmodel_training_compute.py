"""Tensor-core time of a training step: linear GEMMs at their forward / data-gradient / weight-gradient shapes,
the fused-attention backward, unfused attention bound by its score traffic, and the B200 GEMM figure.

Each test checks a hand-computed value that the model before these mechanisms did not give: before, linear GEMMs
ran at the reference-shape efficiency (factor 1), fused attention backward at the forward rate on 2x the forward
FLOPs, unfused attention on causal (half-square) FLOPs at the GEMM rate, and the B200 at the H100's 0.807.
"""

from pathlib import Path

import pytest

from agent.costmodel import TrainingWorkload
from agent.costmodel.efficiency import weighted_shape_factor
from agent.costmodel.forward import dense_widths
from agent.costmodel.roofline import rates_for
from agent.costmodel.shapes import attention_flops
from agent.costmodel.specs import hardware_from_spec, shape_from_spec
from agent.costmodel.training_compute import (
    FUSED_BWD_FLOPS_PER_FWD,
    FUSED_BWD_RATE_VS_FWD,
    attention_s,
    linear_shape_factor,
    step_flops,
)
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)
# a GPT-style shape with 64-wide heads: MHA, plain MLP of 4h
GPT = shape_from_spec({"id": "gpt", "params_total": 1.3e9, "hidden_size": 2048, "intermediate_size": 8192,
                       "num_hidden_layers": 24, "num_attention_heads": 32, "head_dim": 64, "vocab_size": 50000,
                       "gated_mlp": False})


def rates(gpu: str):
    return rates_for(hardware_from_spec(CATALOG.resolve_gpu(gpu)))


def test_fused_attention_backward_does_2_5_forwards_at_0_865_of_the_rate():
    w = TrainingWorkload(seq_len=4096, global_batch=8, gpus=8)
    r = rates("h100")
    flops = step_flops(GPT, w)
    fwd = attention_flops(GPT, 4096, 4096, decode=False) * 24 * 8
    assert flops.attention == pytest.approx(3 * fwd)  # counted FLOPs keep the usual 3 forwards
    rate = r.compute_tflops("bf16", "attention") * 1e12
    # forward once at the rate, backward 2.5 forwards at 0.865 of it: (1 + 2.5 / 0.865) forwards' time,
    # 1.30x the 3 forwards at the forward rate that were timed before
    assert (FUSED_BWD_FLOPS_PER_FWD, FUSED_BWD_RATE_VS_FWD) == (2.5, 0.865)
    assert attention_s(flops, GPT, w, r) == pytest.approx(fwd / rate * (1 + 2.5 / 0.865))
    assert attention_s(flops, GPT, w, r) / (3 * fwd / rate) == pytest.approx(1.297, abs=1e-3)


def test_selective_recompute_redoes_the_fused_forward_only():
    w = TrainingWorkload(seq_len=4096, global_batch=8, gpus=8, recompute="selective")
    r = rates("h100")
    flops = step_flops(GPT, w)
    fwd = attention_flops(GPT, 4096, 4096, decode=False) * 24 * 8
    rate = r.compute_tflops("bf16", "attention") * 1e12
    assert attention_s(flops, GPT, w, r) == pytest.approx(fwd / rate * (2 + 2.5 / 0.865))


def test_unfused_attention_runs_the_full_square_bound_by_score_traffic():
    w = TrainingWorkload(seq_len=2048, global_batch=8, gpus=8, flash_attention=False)
    r = rates("a100-80gb")
    flops = step_flops(GPT, w)
    full = 2 * 32 * (64 + 64) * 2048 * 2048 * 24 * 8  # every score of the square, 24 layers, 8 sequences
    assert flops.attention == pytest.approx(3 * full)
    # head dim 64: each GEMM moves 2 B per score against 128 FLOPs; on an A100 (0.807 x 312 TFLOP/s, 0.896 x 2039
    # GB/s) the bytes take longer: 2 / 128 / 1827e9 s per FLOP against 1 / 251.8e12
    per_flop = 2 / 128 / (0.896 * 2039e9)
    assert per_flop > 1 / (0.807 * 312e12)
    assert attention_s(flops, GPT, w, r) == pytest.approx(3 * full * per_flop)


def test_linear_gemms_are_timed_at_their_three_shapes():
    w = TrainingWorkload(seq_len=2048, global_batch=32, gpus=32, tp=4)
    r = rates("a100-80gb")
    widths = dense_widths(GPT, 4)
    fwd = weighted_shape_factor(2048, widths, r.tiles, r.sm_count)
    dgrad = weighted_shape_factor(2048, [(k, n) for n, k in widths], r.tiles, r.sm_count)
    flops = sum(n * k for n, k in widths)
    wgrad = flops / sum(n * k / weighted_shape_factor(n, [(k, 2048)], r.tiles, r.sm_count) for n, k in widths)
    assert linear_shape_factor(GPT, w, r) == pytest.approx(3 / (1 / fwd + 1 / dgrad + 1 / wgrad))
    # narrow TP-split GEMMs over 108 SMs lose to partial waves: below the reference shape's efficiency
    assert linear_shape_factor(GPT, w, r) < 0.95
    # no SM count (GB200 file): no shape effect
    assert linear_shape_factor(GPT, w, rates("gb200")) == 1.0


def test_b200_gemm_efficiency_is_its_published_mamf_figure():
    b200 = CATALOG.resolve_gpu("b200")
    assert b200.efficiency.gemm == pytest.approx(1745.0 / 2250, abs=5e-4)
    assert b200.efficiency.fitted_from == "mamf-b200-bf16-1745.0"
