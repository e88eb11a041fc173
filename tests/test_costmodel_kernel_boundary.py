"""The kernel-boundary cost: GPU time each kernel boundary stalls the weight stream, which CUDA graphs leave.

Source: Hazy Research, "Look Ma, No Bubbles!" (2025): vLLM and SGLang reach at most 50% of H100 bandwidth
decoding one Llama-3.2-1B sequence; data/efficiencies/nvidia-hopper.yaml derives the per-kernel cost from it.
"""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.efficiency_data import kernel_boundary_us
from agent.costmodel.transforms import TechniqueChoice
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)
GRAPHS = TechniqueChoice(id="cuda-graphs", transform="launch_overhead", params={"overhead_reduction": 0.8})
SERVING_STACK = [TechniqueChoice(id="fused-attention", transform="attention_io"),
                 TechniqueChoice(id="decode-attention-kernel", transform="split_kv_decode"),
                 TechniqueChoice(id="paged-kv", transform="paged_kv", params={"block_tokens": 64}),
                 TechniqueChoice(id="inflight-batching", transform="continuous_batching"),
                 GRAPHS,
                 TechniqueChoice(id="engine-fusion", transform="kernel_fusion",
                                 params={"memory_traffic_reduction": 0.5})]


def estimate(model="llama-3.2-1b", gpu="h100", techniques=SERVING_STACK, peak_only=False, **workload):
    fields = {"batch": 1, "prompt_len": 32, "output_len": 128, "dtype": "bf16", **workload}
    return estimate_inference(CATALOG.resolve_gpu(gpu), CATALOG.resolve_model(model), InferenceWorkload(**fields),
                              ParallelConfig(), techniques, peak_only=peak_only)


def test_small_model_decode_reaches_about_half_the_bandwidth_with_cuda_graphs():
    # the published observation the figure comes from: a serving engine's Llama-1B batch-1 step on an H100
    step = estimate().metrics.breakdown["decode_step"]
    achieved_gb_s = step["bytes"] / (step["total_ms"] * 1e-3) / 1e9
    assert achieved_gb_s / CATALOG.resolve_gpu("h100").memory_bandwidth_gb_s == pytest.approx(0.50, abs=0.03)


def test_cuda_graphs_remove_launches_but_not_boundaries():
    eager = estimate(techniques=SERVING_STACK[:4]).metrics.breakdown["decode_step"]
    graphs = estimate().metrics.breakdown["decode_step"]
    boundary_us, _ = kernel_boundary_us("hopper")
    assert graphs["total_ms"] < eager["total_ms"]            # graphs still pay off
    assert graphs["overhead_ms"] > 0.5 * eager["overhead_ms"]  # but most of the per-kernel cost stays
    kernels = round(graphs["overhead_ms"] / ((4.0 * 0.2 + boundary_us) * 1e-3))
    assert kernels == 177                                    # 16 layers x 11 kernels + the LM head


def test_boundary_cost_fades_for_long_prompts():
    # the same few hundred microseconds against a compute-bound 8k-token prefill of an 8B model
    prefill = estimate(model="llama-3.1-8b", prompt_len=8192).metrics.breakdown["prefill"]
    assert prefill["overhead_ms"] / prefill["total_ms"] < 0.02


def test_short_prompt_ttft_pays_one_boundary_per_kernel():
    # a 128-token prompt is a weight read of a few hundred microseconds: the 177 boundaries show in its TTFT
    boundary_us, _ = kernel_boundary_us("hopper")
    assert boundary_us == pytest.approx(2.9)
    prefill = estimate(prompt_len=128, output_len=1).metrics.breakdown["prefill"]
    assert prefill["overhead_ms"] >= 177 * boundary_us * 1e-3
    assert prefill["overhead_ms"] / prefill["total_ms"] > 0.3
    peak = estimate(prompt_len=128, output_len=1, peak_only=True).metrics.breakdown["prefill"]
    assert peak["overhead_ms"] == 0   # the plain roofline has no overheads


@pytest.mark.parametrize("architecture", ["ampere", "cdna3", "ada", "blackwell"])
def test_other_families_borrow_the_hopper_figure_and_say_so(architecture):
    value, source = kernel_boundary_us(architecture)
    assert value == pytest.approx(2.9)
    assert source.startswith("assumed")


def test_the_figure_is_listed_in_the_assumptions():
    assert any("kernel boundary" in a for a in estimate().assumptions)
