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


def test_fp8_gemm_reaches_its_own_fraction_of_the_doubled_peak():
    bf16 = roofline_gemm(H100, 8192, 8192, 8192, "bf16")
    fp8 = roofline_gemm(H100, 8192, 8192, 8192, "fp8")
    assert bf16.compute_tflops == pytest.approx(989.4 * 0.807)
    assert fp8.compute_tflops == pytest.approx(1978.9 * 0.709)   # MAMF H100 FP8, data/efficiencies/nvidia-hopper.yaml


def test_gemm_shape_factor_pads_a_skinny_m():
    # m = 200 runs as two 128-row tiles: 200 / 256 of the tensor-core work is useful. Its best tile width
    # fills 256 tiles into 2 waves of 132 SMs; the 8192 x 8192 reference, 8192 64-wide tiles into 63 waves
    factor = 200 / 256 * (256 / 264) / (8192 / (63 * 132))
    skinny = roofline_gemm(H100, 200, 8192, 8192)
    assert skinny.shape_factor == pytest.approx(factor)
    assert skinny.compute_tflops == pytest.approx(989.4 * 0.807 * factor)
    assert roofline_gemm(H100, 8192, 8192, 8192).shape_factor == 1.0
    assert roofline_gemm(H100, 200, 8192, 8192, peak_only=True).shape_factor == 1.0


def test_gemm_shape_factor_never_beats_the_best_shape_figure():
    assert all(roofline_gemm(H100, m, 8192, 8192).shape_factor <= 1.0 for m in (64, 1000, 8320, 16384))


def _alpha_beta_s(algo, nbytes, link_gb_s):
    """One algorithm at 8 ranks, where links.yaml quotes its latency: alpha + 2 x 7/8 x bytes / bus bandwidth."""
    return algo.latency_us * 1e-6 + 2 * 7 / 8 * nbytes / (algo.busbw_fraction * link_gb_s * 1e9)


def test_allreduce_has_a_fixed_cost_and_picks_the_faster_algorithm():
    from agent.costmodel.efficiency_data import link_kind

    h200 = Catalog.load(DATA).resolve_gpu("h200")
    algos = link_kind("nvlink-4").allreduce
    ring, nvls = algos["ring"], algos["nvls"]
    for nbytes in (2 ** 15, 2 ** 20, 2 ** 24, 2 ** 30):
        r = roofline_allreduce(h200, nbytes, 8, "nvlink")
        expected = min(_alpha_beta_s(ring, nbytes, 450), _alpha_beta_s(nvls, nbytes, 450))
        assert r.time_us == pytest.approx(expected * 1e6)
    assert roofline_allreduce(h200, 2 ** 15, 8).bound == "overhead"
    assert roofline_allreduce(h200, 2 ** 30, 8).bound == "communication"
    assert roofline_allreduce(h200, 2 ** 30, 8).memory_gb_s == pytest.approx(nvls.busbw_fraction * 450, rel=1e-5)


def test_allreduce_over_pcie_uses_the_pcie_table():
    from agent.costmodel.efficiency_data import link_kind

    ring = link_kind("pcie").allreduce["ring"]
    r = roofline_allreduce(H100, 1e9, 8, "pcie")
    assert r.time_us == pytest.approx(_alpha_beta_s(ring, 1e9, 64) * 1e6)


def test_allreduce_uses_a_measured_calibration():
    from agent.costmodel.calibration import CalibrationEntry

    entry = CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", gpu_id="h100-sxm",
                             allreduce={"latency_us": 20.0, "busbw_gb_s": 350.0, "ranks": 8})
    r = roofline_allreduce(H100, 1e9, 8, calibration=entry)
    assert r.time_us == pytest.approx(20.0 + 1.75e9 / 350e9 * 1e6)
    # the measurement is of NVLink: over PCIe the table applies
    assert roofline_allreduce(H100, 1e9, 8, "pcie", calibration=entry).time_us > 5 * r.time_us


# what run_all returns on an H100 (figures made up, shapes as the benchmarks report them)
H100_RUN = {
    "device": "NVIDIA H100 80GB HBM3", "device_kind": "cuda",
    "gemm": [{"dtype": "fp32", "tflops": 50.0}, {"dtype": "bf16", "tflops": 791.52},
             {"dtype": "fp16", "tflops": 771.732}, {"dtype": "fp8", "tflops": 1385.23},
             {"dtype": "int4", "skipped": "no such kernel"}],
    "attention": [{"backend": "flash_attention", "tflops": 500.0}, {"backend": "math", "skipped": "slow"}],
    "copy": {"gb_s": 3015.0},
}


def test_calibration_fills_the_gemm_efficiency_of_every_measured_dtype(tmp_path):
    from agent.costmodel.calibration import load_calibration, save_entry
    from agent.costmodel.roofline import rates_for
    from agent.costmodel.specs import hardware_from_spec
    from agent.kernels.microbench import entry_from

    entry = entry_from(H100_RUN, "h100-sxm", H100, measured_at="2026-12-03T13:00:00Z")
    assert entry.gemm_efficiency_by_dtype == {"fp32": round(50.0 / 66.9, 4), "bf16": 0.8, "fp16": 0.78,
                                              "fp8": 0.7}
    assert entry.gemm_efficiency == 0.8 and entry.memory_efficiency == 0.9
    assert entry.attention_efficiency == round(500.0 / 989.4, 4)
    assert entry.measured["gemm_fp8_tflops"] == 1385.23 and "gemm_int4_tflops" not in entry.measured
    save_entry(tmp_path / "calibration.json", entry)
    back = load_calibration(tmp_path / "calibration.json").for_gpu("h100-sxm")
    assert back == entry
    rates = rates_for(hardware_from_spec(H100), back)
    assert (rates.gemm_by_dtype["fp8"], rates.gemm_by_dtype["fp16"], rates.gemm_by_dtype["bf16"]) == (0.7, 0.78, 0.8)


def test_quick_or_cpu_runs_leave_the_dtype_table_empty():
    from agent.kernels.microbench import entry_from

    quick = entry_from(H100_RUN, "h100-sxm", H100, quick=True)
    assert quick.gemm_efficiency_by_dtype == {} and quick.measured["quick"] == 1
    cpu = entry_from({**H100_RUN, "device_kind": "cpu", "device": "cpu: x86_64"}, "h100-sxm", H100)
    assert cpu.gemm_efficiency_by_dtype == {} and cpu.gemm_efficiency is None and cpu.gpu_id is None
