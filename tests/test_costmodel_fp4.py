"""FP4 weights: W4A4 at the FP4 tensor rate where the GPU has FP4 tensor cores, weight-only (16-bit GEMMs) elsewhere."""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)


def prefill(gpu: str, dtype: str):
    """The prefill phase of one long prompt (compute-bound) for Llama-3.1-8B in `dtype` on one `gpu`."""
    est = estimate_inference(CATALOG.resolve_gpu(gpu), CATALOG.resolve_model("llama-3.1-8b"),
                             InferenceWorkload(batch=1, prompt_len=8192, output_len=16, dtype=dtype),
                             ParallelConfig())
    return est.metrics.breakdown["prefill"], est.setup.knobs


def test_fp4_gemms_run_at_the_fp4_rate_on_blackwell():
    fp4, knobs = prefill("b200", "fp4")
    fp8, _ = prefill("b200", "fp8")
    assert knobs.gemm_dtype == "fp4"
    # the same FLOPs at twice the tensor rate (B200: 9000 vs 4500 dense TFLOP/s); attention stays 16-bit
    assert fp4["flops"] == pytest.approx(fp8["flops"])
    assert fp4["compute_ms"] < 0.75 * fp8["compute_ms"]


@pytest.mark.parametrize("gpu", ["h100", "a100-80gb"])
def test_fp4_is_weight_only_without_fp4_tensor_cores(gpu):
    fp4, knobs = prefill(gpu, "fp4")
    bf16, _ = prefill(gpu, "bf16")
    assert knobs.gemm_dtype == "bf16"
    assert fp4["compute_ms"] == pytest.approx(bf16["compute_ms"])


def test_int4_stays_weight_only_on_blackwell():
    # GPTQ/AWQ int4 dequantises to 16 bits whatever the GPU: only FP4 checkpoints quantise activations
    _, knobs = prefill("b200", "int4")
    assert knobs.gemm_dtype == "bf16"
