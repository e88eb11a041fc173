"""estimate_inference end to end: phases, bounds, memory, parallel layouts, architectures."""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.roofline import Op, Rates, op_time
from agent.knowledge.catalog import Catalog
from index.errors import AccelsageError

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)


def run(gpu="h100", model="llama-3.1-8b", parallel=None, techniques=(), **workload):
    return estimate_inference(CATALOG.resolve_gpu(gpu), CATALOG.resolve_model(model),
                              InferenceWorkload(**workload), parallel or ParallelConfig(), techniques)


def test_to_dict_has_the_contract_keys():
    d = run(batch=4, prompt_len=512, output_len=64).to_dict()
    for key in ("ttft_ms", "tpot_ms", "latency_ms", "throughput_tokens_per_s", "memory", "max_batch", "bound",
                "assumptions", "steps", "gpu", "model", "workload"):
        assert key in d
    assert set(d["memory"]) >= {"weights_gb", "kv_cache_gb", "activations_gb", "overhead_gb", "total_gb",
                                "capacity_gb", "fits"}
    assert set(d["bound"]) == {"prefill", "decode"}
    assert d["assumptions"] and all(isinstance(a, str) for a in d["assumptions"])


def test_batch_one_decode_is_memory_bound_and_prefill_compute_bound():
    est = run(batch=1, prompt_len=2048, output_len=128)
    assert est.bound == {"prefill": "compute", "decode": "memory"}


def test_decode_time_at_batch_one_is_about_weights_over_bandwidth():
    est = run(batch=1, prompt_len=128, output_len=128)
    gpu = CATALOG.resolve_gpu("h100")
    floor_ms = 16.06e9 / (gpu.memory_bandwidth_gb_s * 1e9) * 1e3   # 8.03B params x 2 B at spec peak
    assert floor_ms < est.tpot_ms < 2.5 * floor_ms


def test_llama_8b_weights_and_capacity():
    est = run(batch=1, prompt_len=128, output_len=16)
    assert est.memory.weights_gb == pytest.approx(8.03e9 * 2 / 1e9, rel=0.01)
    assert est.memory.capacity_gb == pytest.approx(80 * 2**30 / 1e9)
    assert est.memory.fits


def test_70b_bf16_does_not_fit_one_h100_but_fits_tp4():
    alone = run(model="llama-3.1-70b", batch=1, prompt_len=128, output_len=16)
    split = run(model="llama-3.1-70b", parallel=ParallelConfig(gpus=4, tp=4), batch=1, prompt_len=128, output_len=16)
    assert not alone.memory.fits and alone.max_batch == 0
    assert any("does not fit" in w for w in alone.warnings)
    assert split.memory.fits
    assert split.memory.weights_gb == pytest.approx(alone.memory.weights_gb / 4, rel=0.01)


def test_tensor_parallel_adds_communication_and_cuts_tpot():
    one = run(model="llama-3.1-70b", dtype="fp8", batch=1, prompt_len=256, output_len=64)
    four = run(model="llama-3.1-70b", dtype="fp8", parallel=ParallelConfig(gpus=4, tp=4), batch=1,
               prompt_len=256, output_len=64)
    assert four.tpot_ms < one.tpot_ms
    assert four.metrics.breakdown["decode_step"]["communication_ms"] > 0
    assert one.metrics.breakdown["decode_step"]["communication_ms"] == 0


def test_kv_heads_fewer_than_tp_are_replicated():
    # Llama-3.1-8B has 8 KV heads: at tp 16 each GPU still holds one head per layer
    eight = run(parallel=ParallelConfig(gpus=8, tp=8), batch=8, prompt_len=1024, output_len=64)
    sixteen = run(parallel=ParallelConfig(gpus=16, tp=16), batch=8, prompt_len=1024, output_len=64)
    assert sixteen.memory.kv_cache_gb == pytest.approx(eight.memory.kv_cache_gb)


def test_data_parallel_replicas_multiply_throughput():
    one = run(batch=8, prompt_len=256, output_len=64)
    two = run(parallel=ParallelConfig(gpus=2), batch=16, prompt_len=256, output_len=64)
    assert two.throughput_tokens_per_s == pytest.approx(2 * one.throughput_tokens_per_s)


def test_pipeline_prefill_of_one_request_pays_the_bubble():
    one = run(model="llama-3.1-70b", dtype="fp8", parallel=ParallelConfig(gpus=2, tp=2), batch=1, prompt_len=2048, output_len=8)
    pp = run(model="llama-3.1-70b", dtype="fp8", parallel=ParallelConfig(gpus=2, pp=2), batch=1, prompt_len=2048, output_len=8)
    pp8 = run(model="llama-3.1-70b", dtype="fp8", parallel=ParallelConfig(gpus=2, pp=2), batch=8, prompt_len=2048, output_len=8)
    # one micro-batch runs the two stages one after the other: the second GPU idles half the time
    assert pp.ttft_ms > 1.5 * one.ttft_ms
    # eight prompts fill the pipeline: (m + p - 1) = 9 stage slots instead of 2
    assert pp8.ttft_ms / pp.ttft_ms == pytest.approx(9 / 2, rel=0.05)


def test_moe_decode_reads_more_experts_as_batch_grows():
    small = run(model="mixtral-8x7b", dtype="fp8", batch=1, prompt_len=256, output_len=64)
    big = run(model="mixtral-8x7b", dtype="fp8", batch=64, prompt_len=256, output_len=64)
    per_token_small = small.metrics.breakdown["decode_step"]["bytes"]
    per_token_big = big.metrics.breakdown["decode_step"]["bytes"]
    assert per_token_big > 2 * per_token_small    # from 2 of 8 experts towards all 8


def test_expert_parallel_uses_all_to_all():
    est = run(model="mixtral-8x7b", parallel=ParallelConfig(gpus=4, tp=1, ep=4), batch=16, prompt_len=256, output_len=32)
    assert est.metrics.breakdown["decode_step"]["communication_ms"] > 0
    assert est.memory.weights_gb < run(model="mixtral-8x7b", batch=1, prompt_len=256, output_len=8).memory.weights_gb


def test_ssm_memory_does_not_grow_with_context():
    short = run(model="mamba-2.8b", batch=8, prompt_len=512, output_len=64)
    long = run(model="mamba-2.8b", batch=8, prompt_len=8192, output_len=64)
    assert short.memory.kv_cache_gb == pytest.approx(long.memory.kv_cache_gb)
    assert long.kv_bytes_per_token == 0


@pytest.mark.parametrize("kwargs", [{"gpus": 3, "tp": 2}, {"gpus": 4, "tp": 2, "ep": 3}, {"gpus": 0}])
def test_bad_layouts_are_user_errors(kwargs):
    with pytest.raises(AccelsageError):
        ParallelConfig(**kwargs)


def test_roofline_bound_switches_with_intensity():
    rates = Rates(peak_tflops={"bf16": 1000.0}, gemm_efficiency=1.0, attention_efficiency=1.0, memory_gb_s=1000.0,
                  link_gb_s=100.0, kernel_overhead_us=0.0)
    # ridge at 1000 FLOP/byte
    assert op_time(Op("gemm", flops=1e12, bytes=1e8), rates)[1] == "compute"
    assert op_time(Op("gemm", flops=1e10, bytes=1e9), rates)[1] == "memory"
    assert op_time(Op("gemm", flops=1e12, bytes=1e9), rates)[0] == pytest.approx(1e-3)
