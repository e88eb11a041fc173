"""Hand-computed checks of the physical corrections behind the published-number accuracy.

GQA decode K/V re-reads per query head, the fused-attention efficiency default, and the static batch's
decode step count.
"""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.forward import Setup, attention_op, decode_kv_reread
from agent.costmodel.knobs import Knobs
from agent.costmodel.roofline import attention_efficiency, rates_for
from agent.costmodel.shapes import layer_counts, param_split
from agent.costmodel.specs import hardware_from_spec, shape_from_spec
from agent.costmodel.transforms import TechniqueChoice, apply_transform
from agent.kernels import roofline_attention
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)
H100 = hardware_from_spec(CATALOG.resolve_gpu("h100"))
A100 = hardware_from_spec(CATALOG.resolve_gpu("a100-80gb"))
LLAMA2_70B = shape_from_spec(CATALOG.resolve_model("llama-2-70b"))   # 64 query heads, 8 KV heads, 80 layers


def _setup(knobs: Knobs, shape=LLAMA2_70B, parallel=None) -> Setup:
    parallel = parallel or ParallelConfig()
    return Setup(hw=H100, shape=shape, split=param_split(shape), counts=layer_counts(shape), parallel=parallel,
                 rates=rates_for(H100), knobs=knobs)


@pytest.mark.parametrize("shared, decode, expected", [
    (True, True, 1.0),    # XQA / FlashInfer: one K/V read serves the 8 query heads of a group
    (False, True, 8.0),   # one block per query head: 64 / 8 reads of each KV head
    (False, False, 1.0),  # prefill reuses K/V across query blocks either way
])
def test_decode_kv_reread_is_the_query_group_size(shared, decode, expected):
    assert decode_kv_reread(LLAMA2_70B, Knobs(kv_group_shared=shared), decode) == expected


def test_mha_and_mla_are_never_re_read():
    mha = shape_from_spec(CATALOG.resolve_model("llama-2-7b"))
    assert decode_kv_reread(mha, Knobs(kv_group_shared=False), True) == 1.0
    mla = shape_from_spec(CATALOG.resolve_model("deepseek-v3"))
    assert decode_kv_reread(mla, Knobs(kv_group_shared=False), True) == 1.0


def test_unshared_decode_attention_bytes_by_hand():
    # one sequence, 1000 cached tokens + 1 new, fp8 KV: per token per layer 2 x 8 heads x 128 x 1 B = 2048 B
    knobs = Knobs(kv_bytes=1.0, act_bytes=2.0, attention_fused=True, split_kv=True)
    q_o = 1 * 2 * 64 * 128 * 2.0 * 80                      # query in + output out, 16-bit, 80 layers
    kv_shared = 1 * (1000 + 1) * 2048 * 80
    shared = attention_op(_setup(knobs), 1, 1, 1000, decode=True)
    assert shared.bytes == pytest.approx(kv_shared + q_o)
    knobs.kv_group_shared = False
    unshared = attention_op(_setup(knobs), 1, 1, 1000, decode=True)
    assert unshared.bytes == pytest.approx(8 * kv_shared + q_o)


def test_split_kv_transform_reads_the_group_param():
    plain, _ = apply_transform(Knobs(), TechniqueChoice("d", "split_kv_decode"), H100, LLAMA2_70B, ParallelConfig())
    assert plain.split_kv and plain.kv_group_shared
    old, _ = apply_transform(Knobs(), TechniqueChoice("d", "split_kv_decode", {"kv_group_shared": False}), H100,
                             LLAMA2_70B, ParallelConfig())
    assert old.split_kv and not old.kv_group_shared


def test_unshared_gqa_decode_is_slower_at_long_context():
    def tpot(shared):
        stack = [TechniqueChoice("a", "attention_io"),
                 TechniqueChoice("d", "split_kv_decode", {"kv_group_shared": shared})]
        w = InferenceWorkload(batch=64, prompt_len=2048, output_len=2048, dtype="fp8", kv_dtype="fp8")
        return estimate_inference(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-2-70b"), w,
                                  ParallelConfig(gpus=2, tp=2), stack).tpot_ms
    assert tpot(False) > 2 * tpot(True)


@pytest.mark.parametrize("hw, expected", [
    (A100, (0.50 + 0.73) / 2),   # FlashAttention-2 abstract: 50-73% of A100 peak, below the 0.807 GEMM figure
    (H100, 0.75),                # FlashAttention-3 abstract: up to 75% of H100 FP16 peak
])
def test_attention_efficiency_default_by_architecture(hw, expected):
    assert attention_efficiency(hw) == pytest.approx(expected)


def test_attention_efficiency_from_the_spec_and_fallback():
    spec = {"id": "x", "memory_gib": 16, "memory_bandwidth_gb_s": 1000, "dense_tflops": {"bf16": 100},
            "architecture": "ampere", "efficiency": {"gemm": 0.7, "attention": 0.4}}
    assert attention_efficiency(hardware_from_spec(spec)) == 0.4
    spec["efficiency"] = {"gemm": 0.7}
    spec["architecture"] = "unknown-arch"
    assert attention_efficiency(hardware_from_spec(spec)) == 0.7   # no published figure: GEMM efficiency
    spec["architecture"] = "hopper"
    assert attention_efficiency(hardware_from_spec(spec)) == 0.7   # capped at the GEMM efficiency


def test_attention_kernel_uses_the_attention_rate():
    r = roofline_attention(A100, 2, 16, 16, 8192, 8192, 128, causal=False, fused=True)
    assert r.compute_tflops == pytest.approx(312 * 0.615)
    assert r.bound == "compute"


def test_static_batch_decodes_output_minus_one_steps():
    gpu, model = CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-2-7b")
    one = estimate_inference(gpu, model, InferenceWorkload(batch=8, prompt_len=512, output_len=1,
                                                           uniform_lengths=True))
    # the prefill forward yields the only token: throughput = batch / TTFT
    assert one.throughput_tokens_per_s == pytest.approx(8 / (one.ttft_ms / 1e3))
    many = estimate_inference(gpu, model, InferenceWorkload(batch=8, prompt_len=512, output_len=100,
                                                            uniform_lengths=True))
    cycle_s = (many.ttft_ms + 99 * many.tpot_ms) / 1e3
    assert many.throughput_tokens_per_s == pytest.approx(8 * 100 / cycle_s)
