"""Training: ZeRO memory, pipeline bubbles, activation memory, recompute, offload, step time."""

from pathlib import Path

import pytest

from agent.costmodel import TrainingWorkload, estimate_training
from agent.costmodel.specs import shape_from_spec
from agent.costmodel.training import bubble_fraction, training_memory_gb
from agent.costmodel.training_memory import activation_bytes_per_layer
from agent.knowledge.catalog import Catalog
from index.errors import AccelsageError

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)
ZERO_MODEL = shape_from_spec({"id": "zero-7.5b", "params_total": 7.5e9, "hidden_size": 4096,
                              "num_hidden_layers": 36, "num_attention_heads": 32, "vocab_size": 50257})


@pytest.mark.parametrize("stage, expected_gb", [(0, 120.0), (1, 31.40625), (2, 16.640625), (3, 1.875)])
def test_zero_model_states_7_5b_on_64_gpus(stage, expected_gb):
    # ZeRO paper Figure 1: (2 + 2 + 12) x 7.5B = 120 GB per GPU without sharding
    mem = training_memory_gb(ZERO_MODEL, TrainingWorkload(global_batch=64, gpus=64, zero_stage=stage), 80.0)
    assert mem["params_gb"] + mem["grads_gb"] + mem["optimizer_gb"] == pytest.approx(expected_gb)


def test_offload_moves_optimizer_and_grads_to_cpu():
    mem = training_memory_gb(ZERO_MODEL, TrainingWorkload(global_batch=8, gpus=8, zero_stage=2, offload=True), 80.0)
    assert mem["optimizer_gb"] == 0 and mem["grads_gb"] == 0 and mem["params_gb"] == pytest.approx(15.0)


@pytest.mark.parametrize("schedule, pp, m, expected", [
    ("gpipe", 4, 8, 3 / 11),
    ("1f1b", 4, 8, 3 / 11),
    ("1f1b", 8, 64, 7 / 71),
    ("interleaved", 4, 8, 3 / (2 * 8 + 3)),  # bubble (p-1)/(V m) of the ideal step: 3/16 -> 3/19 of the step
    ("zero-bubble", 4, 8, 0.0),
    ("1f1b", 1, 8, 0.0),
])
def test_bubble_fraction(schedule, pp, m, expected):
    assert bubble_fraction(schedule, pp, m, interleave=2) == pytest.approx(expected)


def test_activation_formula_korthikanti():
    s, b, h, a = 2048, 1, 4096, 32
    sbh = s * b * h
    assert activation_bytes_per_layer(s, b, h, a, 1, False, "none") == pytest.approx(sbh * (34 + 5 * a * s / h))
    # tensor parallel 4 without SP: sbh(10 + 24/t + 5as/(ht))
    assert activation_bytes_per_layer(s, b, h, a, 4, False, "none") == pytest.approx(sbh * (10 + 6 + 5 * a * s / h / 4))
    # with SP and selective recompute: sbh(34/t)
    assert activation_bytes_per_layer(s, b, h, a, 4, True, "selective") == pytest.approx(sbh * 34 / 4)
    assert activation_bytes_per_layer(s, b, h, a, 1, False, "full") == pytest.approx(2 * sbh)


def run(**kw):
    defaults = dict(seq_len=2048, global_batch=256, micro_batch=1, gpus=8)
    return estimate_training(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-2-7b"),
                             TrainingWorkload(**{**defaults, **kw}))


def test_step_time_follows_6nd_over_achievable_compute():
    est = run()
    gpu = CATALOG.resolve_gpu("h100")
    tokens = 256 * 2048
    ideal_s = 6 * 6.74e9 * tokens / 8 / (gpu.dense_tflops.bf16 * gpu.efficiency.gemm * 1e12)
    assert ideal_s < est.breakdown_s["compute_s"] < 1.4 * ideal_s   # attention FLOPs on top of 6N
    assert est.bound == "compute" and 0.3 < est.mfu < 0.81


def test_full_recompute_costs_a_forward_and_saves_memory():
    plain, full = run(), run(recompute="full")
    assert full.breakdown_s["compute_s"] == pytest.approx(plain.breakdown_s["compute_s"] * 4 / 3, rel=0.02)
    assert full.memory_gb["activations_gb"] < plain.memory_gb["activations_gb"] / 10
    assert full.model_tflops_per_gpu < full.hardware_tflops_per_gpu


def test_pipeline_adds_bubble_and_zero_bubble_removes_it():
    onef = run(pp=4, schedule="1f1b", global_batch=16)
    zb = run(pp=4, schedule="zero-bubble", global_batch=16)
    assert onef.bubble_fraction == pytest.approx(3 / (8 + 3))
    assert zb.bubble_fraction == 0 and zb.step_time_s < onef.step_time_s
    assert any("zero-bubble" in a for a in zb.assumptions)


def test_data_parallel_across_nodes_is_slower_per_gpu():
    local = run(gpus=8, global_batch=64)
    spread = run(gpus=64, global_batch=512)
    assert spread.breakdown_s["dp_comm_s"] > local.breakdown_s["dp_comm_s"]


@pytest.mark.parametrize("kw", [{"gpus": 8, "tp": 3}, {"zero_stage": 4}, {"recompute": "some"},
                                {"schedule": "pipedream"}, {"global_batch": 7}])
def test_bad_training_configs_are_user_errors(kw):
    with pytest.raises(AccelsageError):
        TrainingWorkload(**{"gpus": 8, "global_batch": 64, **kw})


def test_to_dict_shape():
    d = run().to_dict()
    assert set(d["memory"]) >= {"params_gb", "grads_gb", "optimizer_gb", "activations_gb", "total_gb", "fits"}
    assert d["step_time_s"] > 0 and d["assumptions"]
