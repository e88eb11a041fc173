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


# ---------------------------------------------------------------- context extension, offload, training transforms

def test_context_extension_makes_a_long_prompt_usable():
    # Llama 2 7B was trained on 4,096 tokens: 32,000 + 256 is beyond it until the window is extended 8x
    base = run([], model="llama-2-7b", gpu="a100-80gb", batch=1, prompt_len=32000, output_len=256)
    assert base.context == {"tokens": 32256, "trained": 4096, "limit": 4096, "usable": False, "needs_training": False}
    assert any(w.startswith("quality:") for w in base.warnings)
    ext = run([tech("context_extension", extension_factor=8, needs_training=False)], model="llama-2-7b",
              gpu="a100-80gb", batch=1, prompt_len=32000, output_len=256)
    assert ext.context["limit"] == 8 * 4096 and ext.context["usable"] is True
    assert not any(w.startswith("quality:") for w in ext.warnings)
    # no speed-up: the KV cache and attention are costed at the target length either way
    assert ext.tpot_ms == pytest.approx(base.tpot_ms)
    assert ext.memory.kv_cache_gb == pytest.approx(base.memory.kv_cache_gb)
    short = run([tech("context_extension", extension_factor=4)], model="llama-2-7b", gpu="a100-80gb", batch=1,
                prompt_len=32000, output_len=256)
    assert short.context["usable"] is False  # 4 x 4,096 is still too short


def test_grad_compression_divides_data_parallel_traffic():
    from agent.costmodel import comm
    from agent.costmodel.training import estimate_training
    from agent.costmodel.workload import TrainingWorkload

    gpu, model = CATALOG.resolve_gpu("a100-80gb"), CATALOG.resolve_model("llama-2-7b")
    # 16 GPUs over a 100 Gb Ethernet data-parallel link (12.5 GB/s per direction)
    kw = {"gpus": 16, "global_batch": 16, "seq_len": 2048, "dp_link_gb_s": 12.5}
    plain = estimate_training(gpu, model, TrainingWorkload(**kw))
    packed = estimate_training(gpu, model, TrainingWorkload(**kw, grad_compression=10))
    grad_bytes = 2 * plain.model.params_total
    link = 12.5  # taken as achievable, like the inter-node rate
    assert plain.breakdown_s["dp_comm_s"] == pytest.approx(comm.ring_allreduce_s(grad_bytes, 16, link))
    assert packed.breakdown_s["dp_comm_s"] == pytest.approx(comm.ring_allreduce_s(grad_bytes / 10, 16, link))
    assert packed.breakdown_s["dp_comm_s"] == pytest.approx(plain.breakdown_s["dp_comm_s"] / 10, rel=0.01)
    assert packed.step_time_s < plain.step_time_s


def test_offload_fits_70b_on_one_24gb_gpu_at_pcie_speed():
    w = {"batch": 1, "prompt_len": 128, "output_len": 128}
    base = run([], gpu="rtx-4090", model="llama-2-70b", **w)
    assert not base.memory.fits  # ~139 GB of bf16 weights on a 24 GiB card
    est = run([tech("offload", target="cpu")], gpu="rtx-4090", model="llama-2-70b", **w)
    mem = est.memory
    assert mem.fits and mem.total_gb == pytest.approx(mem.capacity_gb, abs=1e-6)
    assert mem.weights_gb + mem.offloaded_gb == pytest.approx(base.memory.weights_gb)
    # each decode step streams the offloaded bytes over PCIe 4.0 x16 (32 GB/s): that bounds the step
    pcie = CATALOG.resolve_gpu("rtx-4090").pcie_bandwidth_gb_s_per_direction
    assert est.tpot_ms == pytest.approx(mem.offloaded_gb / pcie * 1e3, rel=1e-6)
    assert any("stream over PCIe" in w for w in est.warnings)
    nvme = run([tech("offload", target="nvme")], gpu="rtx-4090", model="llama-2-70b", **w)
    assert nvme.tpot_ms == pytest.approx(nvme.memory.offloaded_gb / 7.45 * 1e3, rel=1e-6)


def test_offload_changes_nothing_when_the_model_fits():
    plain = run([], model="llama-3.1-8b", gpu="h100")
    est = run([tech("offload", target="cpu")], model="llama-3.1-8b", gpu="h100")
    assert est.memory.offloaded_gb == 0 and est.tpot_ms == pytest.approx(plain.tpot_ms)


def test_context_parallel_halves_activation_memory():
    from agent.costmodel.training import training_memory_gb
    from agent.costmodel.workload import TrainingWorkload

    shape = estimate_inference(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-2-7b"),
                               InferenceWorkload()).model
    # selective recomputation drops the S x S score term, leaving sbh x 34 per layer: linear in the sequence
    kw = {"gpus": 8, "global_batch": 8, "seq_len": 32768, "recompute": "selective"}
    plain = training_memory_gb(shape, TrainingWorkload(**kw), 80.0)
    cp2 = training_memory_gb(shape, TrainingWorkload(**kw, cp=2), 80.0)
    assert TrainingWorkload(**kw, cp=2).dp == 4
    assert cp2["activations_gb"] == pytest.approx(plain["activations_gb"] / 2)


def test_distillation_runs_the_student():
    from agent.costmodel.shapes import param_split

    base = run([], model="llama-2-7b", gpu="a100-80gb")
    est = run([tech("distillation", student_fraction=0.5)], model="llama-2-7b", gpu="a100-80gb")
    split = param_split(base.model)
    vocab = split.embedding + split.lm_head
    # 32 layers -> 16: the body halves, embedding and LM head stay (bf16: 2 bytes per parameter)
    assert est.memory.weights_gb == pytest.approx(2 * (vocab + (split.total - vocab) / 2) / 1e9)
    assert est.memory.kv_cache_gb == pytest.approx(base.memory.kv_cache_gb / 2)
    assert est.tpot_ms < base.tpot_ms
    assert any("must be trained first" in w for w in est.warnings)
