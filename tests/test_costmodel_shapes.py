"""Hand-computed shapes: weight bytes, KV bytes per token, layer kinds, parameter split, dtypes."""

from pathlib import Path

import pytest

from agent.costmodel.dtypes import normalize_dtype, quantized_bytes_per_param, weight_bytes_per_param
from agent.costmodel.knobs import Knobs
from agent.costmodel.memory import weight_bytes_model
from agent.costmodel.shapes import (
    attention_flops,
    causal_pairs,
    kv_bytes_per_token,
    layer_counts,
    param_split,
    ssm_state_bytes_per_seq,
)
from agent.costmodel.specs import shape_from_spec
from agent.knowledge.catalog import Catalog
from index.errors import AccelsageError

DATA = Path(__file__).resolve().parents[1] / "data"


def model(name: str):
    return shape_from_spec(Catalog.load(DATA).resolve_model(name))


def test_7b_bf16_weights_are_14e9_bytes():
    spec = {"id": "toy-7b", "params_total": 7e9, "hidden_size": 4096, "num_hidden_layers": 32,
            "num_attention_heads": 32, "vocab_size": 32000}
    assert weight_bytes_model(param_split(shape_from_spec(spec)), Knobs()) == pytest.approx(14e9)


@pytest.mark.parametrize("dtype, group, expected", [
    ("bf16", None, 2.0), ("fp16", None, 2.0), ("fp8", None, 1.0), ("int8", None, 1.0),
    ("int4", None, 0.5 + 2 / 128), ("int4", 64, 0.5 + 2 / 64), ("fp32", None, 4.0),
])
def test_weight_bytes_per_param(dtype, group, expected):
    assert weight_bytes_per_param(dtype, group) == pytest.approx(expected)


def test_group_scales_add_two_bytes_per_group():
    assert quantized_bytes_per_param(4, 128) * 128 == pytest.approx(64 + 2)
    assert quantized_bytes_per_param(4, None) == 0.5


@pytest.mark.parametrize("name, expected", [("bfloat16", "bf16"), ("FP8", "fp8"), ("float16", "fp16"), ("int4", "int4")])
def test_dtype_names(name, expected):
    assert normalize_dtype(name) == expected


def test_unknown_dtype_is_a_user_error():
    with pytest.raises(AccelsageError):
        normalize_dtype("int3")


@pytest.mark.parametrize("name, kv_bytes, expected", [
    ("llama-3.1-8b", 2, 131072),                 # 32 layers x 2 x 8 heads x 128 x 2 B = 128 KiB
    ("llama-3.1-70b", 2, 327680),                # 80 layers -> 320 KiB
    ("deepseek-v3", 2, (512 + 64) * 61 * 2),     # MLA latent + rope key
    ("llama-3.1-8b", 1, 65536),                  # fp8 KV halves it
    ("mamba-2.8b", 2, 0),                        # no attention, no KV cache
])
def test_kv_bytes_per_token(name, kv_bytes, expected):
    assert kv_bytes_per_token(model(name), kv_bytes) == expected


def test_ssm_state_is_constant_per_sequence():
    shape = model("mamba-2.8b")
    # 64 layers x (2 x 2560) x (16 state + 4 conv) x 2 B
    assert ssm_state_bytes_per_seq(shape, 2) == 64 * 5120 * 20 * 2


@pytest.mark.parametrize("name, attention, ssm, dense, moe", [
    ("llama-3.1-8b", 32, 0, 32, 0),
    ("mixtral-8x7b", 32, 0, 0, 32),
    ("deepseek-v3", 61, 0, 3, 58),
    ("jamba-v0.1", 4, 28, 16, 16),
    ("mamba-2.8b", 0, 64, 0, 0),
])
def test_layer_counts(name, attention, ssm, dense, moe):
    counts = layer_counts(model(name))
    assert (counts.attention, counts.ssm, counts.dense_ffn, counts.moe_ffn) == (attention, ssm, dense, moe)


def test_moe_split_counts_routed_experts_from_config():
    split = param_split(model("mixtral-8x7b"))
    # 32 layers x 8 experts x 3 x 4096 x 14336
    assert split.routed_total == 32 * 8 * 3 * 4096 * 14336
    assert split.routed_active == split.routed_total / 4
    assert split.dense < split.total


def test_causal_pairs_and_attention_flops():
    assert causal_pairs(4, 4) == 10
    assert causal_pairs(1, 100) == 100
    shape = model("llama-3.1-8b")
    # decode: 2 x heads x (128 + 128) per cached token
    assert attention_flops(shape, 1, 1000, decode=True) == 2 * 32 * 256 * 1000
