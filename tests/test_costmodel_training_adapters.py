"""Adapter fine-tuning (LoRA, QLoRA): only the adapters' share of the parameters carries gradients, Adam states and
their traffic; the frozen base is stored at its own width and skips its weight-gradient GEMMs. QLoRA on one 48 GB
card then fits a 70B model with recomputation and host offload, as its paper reports for 65B."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.costmodel import TrainingWorkload
from agent.costmodel.specs import shape_from_spec
from agent.costmodel.training import step_flops
from agent.costmodel.training_memory import training_memory_gb
from agent.effects import EffectModel, adapter_fraction
from agent.knowledge.catalog import Catalog
from agent.workload import Workload
from index.errors import AccelsageError

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")
TINY = shape_from_spec({"id": "tiny", "params_total": 1e9, "hidden_size": 1024, "intermediate_size": 4096,
                        "num_hidden_layers": 2, "num_attention_heads": 8, "head_dim": 128, "vocab_size": 1000,
                        "gated_mlp": False})


def test_adapters_keep_states_for_their_share_and_store_the_base_at_its_width():
    full = training_memory_gb(TINY, TrainingWorkload(gpus=1, global_batch=1), 80.0)
    qlora = training_memory_gb(TINY, TrainingWorkload(gpus=1, global_batch=1, trainable_fraction=0.01,
                                                      frozen_weight_bits=4), 80.0)
    assert qlora["optimizer_gb"] == pytest.approx(full["optimizer_gb"] * 0.01)
    assert qlora["grads_gb"] == pytest.approx(full["grads_gb"] * 0.01)
    # 1% at 2 bytes and 99% at half a byte
    assert qlora["params_gb"] == pytest.approx(1e9 * (0.01 * 2 + 0.99 * 0.5) / 1e9)
    assert qlora["activations_gb"] == full["activations_gb"]


def test_frozen_weights_skip_their_weight_gradient_gemms():
    full = step_flops(TINY, TrainingWorkload(gpus=1, global_batch=1))
    frozen = step_flops(TINY, TrainingWorkload(gpus=1, global_batch=1, trainable_fraction=0.0001))
    assert frozen.linear == pytest.approx(full.linear * (2 + 0.0001) / 3)
    assert frozen.attention == full.attention  # attention has no weights: its backward is unchanged


def test_a_trainable_fraction_outside_zero_to_one_is_refused():
    with pytest.raises(AccelsageError):
        TrainingWorkload(trainable_fraction=0.0)


def test_the_adapter_share_of_a_70b_model_at_rank_64_is_about_one_percent():
    assert 0.005 < adapter_fraction(CATALOG.models["llama-3.1-70b"], 64) < 0.02


def test_qlora_cuts_a_70b_fine_tune_on_one_48gb_card_to_what_recompute_and_offload_can_fit():
    w = Workload(gpu="rtx-a6000", gpu_count=1, model="llama-3.1-70b", phase="fine-tuning", objective="memory",
                 batch=1, prompt_tokens=2048)
    model = EffectModel(CATALOG, w)
    t = CATALOG.techniques
    full = model.effect([t["qlora"]]).before["memory.total_gb"]
    fitted = model.effect([t["qlora"], t["activation-checkpointing"], t["zero-offload"]])
    assert full > 500  # a full fine-tune's Adam states alone
    assert fitted.fits_after and fitted.after["memory.total_gb"] < 48
