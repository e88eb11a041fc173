"""The cost model against kernel and model-step times measured on a real H200 (bench/gpu_kernels.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.costmodel.roofline import rates_for
from agent.costmodel.specs import hardware_from_spec
from agent.kernels.measured import by_group, compare, gemm_pairs
from agent.kernels.roofline import roofline_gemm
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"
MEASURED = DATA / "validation" / "measured" / "h200-kernels-2026-12-04.json"


@pytest.fixture(scope="module")
def groups() -> dict:
    data = json.loads(MEASURED.read_text())
    return by_group(compare(data, Catalog.load(DATA), "h200"))


def test_measurement_file_names_its_device_and_source():
    data = json.loads(MEASURED.read_text())
    assert data["device"] == "NVIDIA H200" and data["sm_count"] == 132
    assert "bench/gpu_kernels.py" in data["source"]


@pytest.mark.parametrize("group, limit", [
    ("decode (graph)", 0.10),      # whole decode steps of Llama-3.1-8B under CUDA graphs
    ("gemm bf16 M>=1024", 0.10),   # prefill-sized GEMMs
    ("gemm fp8 M>=1024", 0.10),
    ("gemm bf16 M<=16", 0.20),     # decode-sized GEMMs: bandwidth and kernel boundaries
    ("prefill", 0.20),
])
def test_model_stays_near_h200_measurements(groups, group, limit):
    n, median_abs, _ = groups[group]
    assert n >= 4
    assert median_abs <= limit, f"{group}: median |error| {median_abs:.1%} > {limit:.0%}"


def test_graph_timed_gemm_pays_a_boundary_not_a_launch():
    hw = hardware_from_spec(Catalog.load(DATA).gpus["h200"])
    rates = rates_for(hw, None)
    row = {"model": "m", "layer": "o", "dtype": "bf16", "m": 16, "n": 4096, "k": 4096, "time_us": 10.0}
    eager = gemm_pairs([row], hw)[0]
    graphed = gemm_pairs([{**row, "timing": "cuda-graph"}], hw)[0]
    assert eager.model == pytest.approx(roofline_gemm(hw, 16, 4096, 4096).time_us)
    assert graphed.model - eager.model == pytest.approx(rates.kernel_boundary_us - rates.kernel_overhead_us)
    assert eager.group == "gemm bf16 M<=16"
