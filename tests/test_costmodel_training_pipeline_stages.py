"""Pipeline stages: how the layers split over them and the busiest stage (LM head and loss on the last) pacing the
step; full recomputation leaving the LM head alone (Megatron-LM's Eq. 3)."""

from pathlib import Path

import pytest

from agent.costmodel import TrainingWorkload, estimate_training
from agent.costmodel.roofline import rates_for
from agent.costmodel.specs import shape_from_spec
from agent.costmodel.training_compute import lm_head_s, step_flops
from agent.costmodel.training_pipeline import StageLayout, slowest_stage_s, stage_imbalance_s, stage_layout
from agent.knowledge.catalog import Catalog

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")


@pytest.mark.parametrize("layers, kw, expected", [
    # 80 layers over 8 x 5 chunks divide: 10 per stage, head and loss on top of the last
    (80, dict(pp=8, schedule="interleaved", interleave=5), StageLayout(10, 10, 10)),
    # 126 layers do not divide over 8 x 8 chunks, 126 + 2 do: embedding and loss take a layer's place
    (126, dict(pp=8, schedule="interleaved", interleave=8), StageLayout(15, 16, 15, ends_as_layers=True)),
    # neither 7 nor 9 divides over 2 stages: an even, fractional share
    (7, dict(pp=2), StageLayout(3.5, 3.5, 3.5)),
    (7, dict(pp=1), StageLayout(7, 7, 7)),
])
def test_stage_layout_follows_megatron_split(layers, kw, expected):
    w = TrainingWorkload(global_batch=64, gpus=kw["pp"], **kw)
    assert stage_layout(layers, w) == expected


def test_slowest_stage_is_the_last_with_even_layers_and_a_middle_one_when_ends_give_up_a_layer():
    assert slowest_stage_s(StageLayout(2, 2, 2), 4, 1.0, 0.5) == 2.5            # 2 layers + head and loss
    assert slowest_stage_s(StageLayout(15, 16, 15, True), 8, 1.0, 0.66) == 16  # 16-layer middle stages
    assert slowest_stage_s(StageLayout(15, 16, 15, True), 2, 1.0, 0.66) == 15.66  # no middle stage at pp 2


def test_stage_imbalance_by_hand():
    w = TrainingWorkload(global_batch=64, gpus=4, pp=4)
    # 8 layers, 2 per stage at 1 s each; the head spread over every GPU is 0.25 s, so 1 s on the last stage
    # alone; loss 0.1 s. Slowest: 2 + 1 + 0.1 = 3.1 s against 2 + 0.25 + 0.1 = 2.35 s counted before.
    assert stage_imbalance_s(stage_layout(8, w), w, 8, 2.0, 0.25, 0.1) == pytest.approx(0.75)
    one = TrainingWorkload(global_batch=64, gpus=4)
    assert stage_imbalance_s(stage_layout(8, one), one, 8, 2.0, 0.25, 0.1) == 0.0


def test_estimate_charges_the_lm_head_to_the_last_stage_and_paces_the_bubble_with_it():
    gpu, model = CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-3.1-70b")
    w = TrainingWorkload(seq_len=4096, global_batch=64, gpus=16, tp=4, pp=4)  # 80 layers: 20 per stage
    est = estimate_training(gpu, model, w)
    head = lm_head_s(step_flops(est.model, w), w, rates_for(est.gpu))
    # even split: the last stage runs the whole head, (pp - 1) spreads of it more than the mean
    assert est.breakdown_s["stage_imbalance_s"] == pytest.approx(3 * head)
    flat = estimate_training(gpu, model, TrainingWorkload(seq_len=4096, global_batch=64, gpus=16, tp=4, dp=4))
    assert flat.breakdown_s["stage_imbalance_s"] == 0.0
    assert any("slowest stage sets the pace" in a for a in est.assumptions)


def test_full_recompute_reruns_layers_not_the_lm_head_matching_megatron_eq3():
    h, layers, vocab, seq, batch = 1024, 2, 1000, 2048, 8
    gpt = shape_from_spec({"id": "gpt", "params_total": 12 * layers * h * h + vocab * h, "hidden_size": h,
                           "intermediate_size": 4 * h, "num_hidden_layers": layers, "num_attention_heads": 8,
                           "vocab_size": vocab, "gated_mlp": False, "tie_word_embeddings": True})
    w = TrainingWorkload(seq_len=seq, global_batch=batch, gpus=1, recompute="full", flash_attention=False)
    flops = step_flops(gpt, w)
    # Narayanan et al. (arXiv:2104.04473) Eq. 3: 96 B s l h^2 (1 + s / 6h + V / 16lh), recomputation included
    assert flops.hardware == pytest.approx(96 * batch * seq * layers * h * h
                                           * (1 + seq / (6 * h) + vocab / (16 * layers * h)))
    plain = step_flops(gpt, TrainingWorkload(seq_len=seq, global_batch=batch, gpus=1, flash_attention=False))
    assert flops.lm_head == plain.lm_head
    assert flops.linear == pytest.approx(4 / 3 * plain.linear)
