"""Calibration file: stored per device, CPU entries never apply, GPU entries change estimates and say so."""

import json
from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, estimate_inference
from agent.costmodel.calibration import Calibration, CalibrationEntry, load_calibration, save_entry
from agent.costmodel.roofline import rates_for
from agent.costmodel.specs import hardware_from_spec
from agent.knowledge.catalog import Catalog
from index.errors import AccelsageError

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)


def test_missing_file_is_empty(tmp_path):
    assert load_calibration(tmp_path / "calibration.json").entries == ()


def test_entries_round_trip_and_replace(tmp_path):
    path = tmp_path / "calibration.json"
    save_entry(path, CalibrationEntry("cpu: x86_64", "cpu", measured={"copy_gb_s": 10.0}))
    save_entry(path, CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", gpu_id="h100-sxm", gemm_efficiency=0.5))
    save_entry(path, CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", gpu_id="h100-sxm", gemm_efficiency=0.6))
    cal = load_calibration(path)
    assert {e.device_name for e in cal.entries} == {"cpu: x86_64", "NVIDIA H100 80GB HBM3"}
    assert cal.for_gpu("h100-sxm").gemm_efficiency == 0.6
    assert set(json.loads(path.read_text())["devices"]) == {"cpu: x86_64", "NVIDIA H100 80GB HBM3"}


def test_cpu_entry_never_applies_to_a_gpu():
    cal = Calibration((CalibrationEntry("cpu: NVIDIA H100 lookalike", "cpu", gpu_id="h100-sxm", gemm_efficiency=0.1),))
    assert cal.for_gpu("h100-sxm", ("NVIDIA H100 SXM5 80GB", "h100")) is None


def test_device_name_matches_an_alias():
    cal = Calibration((CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", memory_efficiency=0.5),))
    gpu = CATALOG.resolve_gpu("h100")
    assert cal.for_gpu(gpu.id, (gpu.name, *gpu.aliases)) is not None
    assert cal.for_gpu("a100-80gb", ("NVIDIA A100 80GB",)) is None


def test_broken_file_is_a_user_error(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text("{not json")
    with pytest.raises(AccelsageError):
        load_calibration(path)


def test_calibrated_estimate_uses_it_and_says_so():
    gpu, model = CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-3.1-8b")
    workload = InferenceWorkload(batch=1, prompt_len=256, output_len=32)
    cal = Calibration((CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", gpu_id="h100-sxm",
                                        gemm_efficiency=0.4, memory_efficiency=0.45),))
    plain = estimate_inference(gpu, model, workload)
    slow = estimate_inference(gpu, model, workload, calibration=cal)
    assert slow.tpot_ms > 1.5 * plain.tpot_ms
    assert any("calibrated" in a for a in slow.assumptions)
    assert not any("calibrated" in a for a in plain.assumptions)


def test_per_op_tables_round_trip(tmp_path):
    path = tmp_path / "calibration.json"
    entry = CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", gpu_id="h100-sxm", gemm_efficiency=0.8,
                             gemm_efficiency_by_dtype={"fp8": 0.65}, attention_efficiency_by_dtype={"fp8": 0.5},
                             allreduce={"latency_us": 25.0, "busbw_gb_s": 400.0, "ranks": 8})
    save_entry(path, entry)
    back = load_calibration(path).for_gpu("h100-sxm")
    assert back == entry


def test_calibrated_fp8_and_allreduce_reach_the_rates():
    hw = hardware_from_spec(CATALOG.resolve_gpu("h100"))
    entry = CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", gpu_id="h100-sxm",
                             gemm_efficiency_by_dtype={"fp8": 0.65}, allreduce={"busbw_gb_s": 300.0})
    rates = rates_for(hw, entry)
    assert rates.gemm_by_dtype["fp8"] == 0.65 and rates.allreduce_calibrated == {"busbw_gb_s": 300.0}


def test_measured_fp8_tflops_fill_the_fp8_efficiency():
    hw = hardware_from_spec(CATALOG.resolve_gpu("h100"))
    entry = CalibrationEntry("NVIDIA H100 80GB HBM3", "cuda", gpu_id="h100-sxm", gemm_efficiency=0.8,
                             measured={"gemm_bf16_tflops": 790.0, "gemm_fp8_tflops": 1187.34})
    rates = rates_for(hw, entry)
    assert rates.gemm_by_dtype["fp8"] == pytest.approx(1187.34 / 1978.9)
    assert rates.gemm_by_dtype["bf16"] == 0.8


def test_a_table_that_is_not_a_mapping_is_an_error(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"version": 1, "devices": {"x": {"device_kind": "cuda", "allreduce": [1, 2]}}}))
    with pytest.raises(AccelsageError):
        load_calibration(path)
