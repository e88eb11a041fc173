"""Kernel tools: analytical GEMM/attention/all-reduce rooflines and the CPU microbenchmark path."""

from pathlib import Path

import pytest

from agent.kernels import roofline_allreduce, roofline_attention, roofline_gemm
from agent.knowledge.catalog import Catalog
from index.errors import AccelsageError

DATA = Path(__file__).resolve().parents[1] / "data"
H100 = Catalog.load(DATA).resolve_gpu("h100")


def test_gemm_counts():
    r = roofline_gemm(H100, 4096, 4096, 4096, "bf16", peak_only=True)
    assert r.flops == 2 * 4096 ** 3
    assert r.bytes == 3 * 4096 * 4096 * 2
    assert r.arithmetic_intensity == pytest.approx(4096 / 3)
    assert r.ridge_point == pytest.approx(989.4e12 / 3350e9)
    assert r.time_us == pytest.approx(r.flops / 989.4e12 * 1e6)


@pytest.mark.parametrize("m, bound", [(1, "memory"), (16, "memory"), (128, "memory"), (1024, "compute"), (8192, "compute")])
def test_gemm_bound_switches_at_the_ridge(m, bound):
    # a 8192 x 8192 weight: intensity ~ m FLOP/byte for small m; ridge ~295 FLOP/byte at peak
    assert roofline_gemm(H100, m, 8192, 8192, peak_only=True).bound == bound


def test_tiny_kernel_is_overhead_bound():
    assert roofline_gemm(H100, 1, 64, 64).bound == "overhead"


def test_fp8_halves_bytes_and_doubles_the_roof():
    bf16 = roofline_gemm(H100, 8192, 8192, 8192, "bf16", peak_only=True)
    fp8 = roofline_gemm(H100, 8192, 8192, 8192, "fp8", peak_only=True)
    assert fp8.compute_tflops == pytest.approx(2 * bf16.compute_tflops, rel=1e-3)
    assert fp8.time_us == pytest.approx(bf16.time_us / 2, rel=1e-3)


def test_missing_dtype_is_a_user_error():
    v100 = Catalog.load(DATA).resolve_gpu("v100")
    with pytest.raises(AccelsageError):
        roofline_gemm(v100, 128, 128, 128, "fp8")


def test_attention_unfused_moves_the_scores_through_memory():
    fused = roofline_attention(H100, 1, 32, 8, 4096, 4096, 128, causal=False, fused=True, peak_only=True)
    naive = roofline_attention(H100, 1, 32, 8, 4096, 4096, 128, causal=False, fused=False, peak_only=True)
    assert naive.flops == fused.flops == 4 * 32 * 128 * 4096 * 4096
    assert naive.bytes - fused.bytes == 4 * 32 * 4096 * 4096 * 2
    assert fused.bound == "compute" and naive.bound == "memory"


def test_causal_attention_halves_the_pairs():
    full = roofline_attention(H100, 1, 8, 8, 1024, 1024, causal=False, peak_only=True)
    causal = roofline_attention(H100, 1, 8, 8, 1024, 1024, causal=True, peak_only=True)
    assert causal.flops == pytest.approx(full.flops * (1024 * 1025 / 2) / 1024 ** 2)


def test_decode_attention_is_memory_bound():
    assert roofline_attention(H100, 1, 32, 8, 1, 8192).bound == "memory"


def test_allreduce_bus_bandwidth():
    r = roofline_allreduce(H100, 1e9, 8, "nvlink", peak_only=True)
    assert r.bytes == pytest.approx(1.75e9)
    assert r.time_us == pytest.approx(1.75e9 / 450e9 * 1e6)
    assert r.achieved_gb_s == pytest.approx(450)
    assert roofline_allreduce(H100, 1e9, 8, "pcie", peak_only=True).time_us == pytest.approx(1.75e9 / 64e9 * 1e6)
    assert roofline_allreduce(H100, 1e9, 8, 100, peak_only=True).time_us == pytest.approx(1.75e9 / 100e9 * 1e6)


@pytest.mark.parametrize("args", [(1e9, 1, "nvlink"), (1e9, 8, "infiniband")])
def test_allreduce_bad_inputs(args):
    with pytest.raises(AccelsageError):
        roofline_allreduce(H100, *args)


def test_microbench_on_cpu_is_labelled_and_calibration_never_applies(tmp_path):
    pytest.importorskip("torch")
    from agent.costmodel.calibration import load_calibration
    from agent.kernels.microbench import calibrate, device_info

    kind, name = device_info()
    if kind != "cpu":
        pytest.skip("this check is for CPU-only machines")
    entry = calibrate(tmp_path, "h100-sxm", gpu=H100, quick=True)
    assert entry.device_kind == "cpu" and entry.device_name.startswith("cpu")
    assert entry.gemm_efficiency is None and entry.measured["gemm_fp32_tflops"] > 0
    assert entry.measured["copy_gb_s"] > 0
    cal = load_calibration(tmp_path / "calibration.json")
    assert cal.for_gpu(H100.id, (H100.name, *H100.aliases)) is None


def test_kernel_module_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, agent.kernels, agent.costmodel; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
