"""Technique transforms: each moves the metric it should, stacks report steps, unsupported combos warn."""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.phases import expected_tokens_per_step
from agent.costmodel.transforms import TRANSFORMS, TechniqueChoice, choice_from
from agent.knowledge.catalog import Catalog
from agent.knowledge.schemas import TRANSFORM_PARAMS

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)


def tech(transform, **params):
    return TechniqueChoice(id=transform.replace("_", "-"), transform=transform, params=params)


def run(techniques, gpu="h100", model="llama-3.1-8b", parallel=None, **workload):
    defaults = {"batch": 16, "prompt_len": 2048, "output_len": 256}
    return estimate_inference(CATALOG.resolve_gpu(gpu), CATALOG.resolve_model(model),
                              InferenceWorkload(**{**defaults, **workload}), parallel or ParallelConfig(), techniques)


@pytest.mark.parametrize("a, k, expected", [
    (0.0, 4, 1.0), (0.5, 1, 1.5), (0.5, 3, 1.875), (0.8, 4, (1 - 0.8 ** 5) / 0.2), (0.9, 0, 1.0),
])
def test_speculative_expected_tokens(a, k, expected):
    assert expected_tokens_per_step(a, k) == pytest.approx(expected)


def test_every_catalog_transform_is_handled():
    assert set(TRANSFORM_PARAMS) <= set(TRANSFORMS)


# transform, params, metric that must improve (lower is better except throughput/max_batch)
IMPROVES = [
    ("weight_quant", {"weight_bits": 4, "group_size": 128}, "tpot_ms"),
    ("kv_quant", {"kv_bits": 8}, "max_batch"),
    ("fp8_compute", {"compute_dtype": "fp8"}, "ttft_ms"),
    ("int8_compute", {}, "ttft_ms"),
    ("attention_io", {}, "ttft_ms"),
    ("paged_kv", {"block_tokens": 16}, "max_batch"),
    ("prefix_cache", {"hit_rate": 0.5}, "ttft_ms"),
    ("continuous_batching", {}, "throughput_tokens_per_s"),
    ("speculative", {"acceptance_rate": 0.8, "draft_tokens": 4, "draft_cost_ratio": 0.05}, "tpot_ms"),
    ("kv_eviction", {"kv_budget_tokens": 512}, "max_batch"),
    ("contextual_sparsity", {"active_fraction": 0.5}, "tpot_ms"),
    ("early_exit", {"layer_fraction": 0.6}, "tpot_ms"),
    ("pruning", {"sparsity": 0.5, "structured": True}, "tpot_ms"),
    ("launch_overhead", {"overhead_reduction": 0.9}, "tpot_ms"),
    ("kernel_fusion", {"memory_traffic_reduction": 0.5}, "ttft_ms"),
    ("linear_attention", {}, "max_batch"),
]


@pytest.mark.parametrize("transform, params, metric", IMPROVES)
def test_transform_improves_its_metric(transform, params, metric):
    step = run([tech(transform, **params)], batch=1 if metric == "tpot_ms" else 16).steps[0]
    before, after = step["before"][metric], step["after"][metric]
    better = after > before if metric in ("throughput_tokens_per_s", "max_batch") else after < before
    assert better, (transform, before, after)
    assert not step["warnings"]


def test_split_kv_helps_long_context_decode_at_batch_one():
    step = run([tech("split_kv_decode")], batch=1, prompt_len=32768, output_len=64).steps[0]
    assert step["speedup"]["tpot"] > 1.05


def test_comm_overlap_needs_communication():
    multi = run([tech("comm_overlap", hidden_fraction=0.8)], model="llama-3.1-70b", dtype="fp8",
                parallel=ParallelConfig(gpus=4, tp=4), batch=8).steps[0]
    single = run([tech("comm_overlap", hidden_fraction=0.8)], batch=8).steps[0]
    assert multi["speedup"]["tpot"] > 1.0
    assert single["speedup"]["tpot"] == 1.0 and single["warnings"]


def test_disaggregation_removes_prefill_stalls_from_tpot():
    base = [tech("continuous_batching")]
    step = run(base + [tech("disaggregation", prefill_fraction=0.3)], parallel=ParallelConfig(gpus=4),
               batch=64).steps[1]
    assert step["after"]["tpot_ms"] < step["before"]["tpot_ms"]


def test_chunked_prefill_bounds_the_decode_stall():
    base = [tech("continuous_batching")]
    step = run(base + [tech("chunked_prefill", chunk_tokens=512)], batch=32, prompt_len=4096).steps[1]
    assert step["after"]["tpot_ms"] < step["before"]["tpot_ms"]


def test_speculative_benefit_fades_as_batch_grows():
    spec = tech("speculative", acceptance_rate=0.7, draft_tokens=4, draft_cost_ratio=0.05)
    speedups = [run([spec], batch=b, prompt_len=512, output_len=256).steps[0]["speedup"]["tpot"]
                for b in (1, 16, 128, 512)]
    assert speedups[0] > 2.0
    assert speedups == sorted(speedups, reverse=True)
    assert speedups[-1] < 1.3


def test_fp8_on_a100_warns_and_gains_nothing():
    step = run([tech("fp8_compute")], gpu="a100-80gb").steps[0]
    assert step["after"] == step["before"]
    assert any("FP8" in w for w in step["warnings"])


def test_requirement_on_compute_capability_is_checked():
    choice = TechniqueChoice(id="hopper-only", transform="attention_io", min_compute_capability=9.0)
    step = run([choice], gpu="a100-80gb").steps[0]
    assert step["speedup"]["ttft"] == 1.0 and "compute capability" in step["warnings"][0]


def test_training_and_layout_transforms_only_warn():
    steps = run([tech("zero", stage=3), tech("tensor_parallel"), tech("none")]).steps
    assert all(s["speedup"]["tpot"] == 1.0 and s["warnings"] for s in steps)


def test_steps_chain_before_and_after():
    steps = run([tech("attention_io"), tech("paged_kv", block_tokens=16), tech("continuous_batching")]).steps
    assert [s["technique"] for s in steps] == ["attention-io", "paged-kv", "continuous-batching"]
    for prev, nxt in zip(steps, steps[1:]):
        assert prev["after"] == nxt["before"]
    for step in steps:
        assert set(step["speedup"]) == {"ttft", "tpot", "throughput"}
        assert step["memory_delta_gb"] == pytest.approx(
            step["after"]["memory"]["total_gb"] - step["before"]["memory"]["total_gb"], abs=1e-3)


def test_caller_overrides_catalog_params():
    catalog_like = {"id": "spec", "cost_model": {"transform": "speculative", "params": {"acceptance_rate": 0.6}},
                    "requires": {"min_compute_capability": "8.0"}}
    choice = choice_from(catalog_like, {"acceptance_rate": 0.9})
    assert choice.params["acceptance_rate"] == 0.9 and choice.min_compute_capability == 8.0
    low = run([catalog_like], batch=1).steps[0]["speedup"]["tpot"]
    high = run([(catalog_like, {"acceptance_rate": 0.9})], batch=1).steps[0]["speedup"]["tpot"]
    assert high > low
