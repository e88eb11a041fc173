"""Ring all-reduce volume and time, all-to-all and point-to-point costs, link topology, alpha-beta all-reduce."""

from pathlib import Path

import pytest

from agent.costmodel import comm
from agent.costmodel.specs import hardware_from_spec
from agent.knowledge.catalog import Catalog


@pytest.mark.parametrize("ranks, expected", [(1, 0.0), (2, 1.0), (4, 1.5), (8, 1.75)])
def test_ring_allreduce_volume_is_2_p_minus_1_over_p(ranks, expected):
    assert comm.ring_allreduce_bytes_on_wire(1e9, ranks) == pytest.approx(expected * 1e9)


def test_ring_allreduce_time_adds_step_latency():
    # 8 ranks, 1 GB over 100 GB/s: 1.75 GB / 100 GB/s = 17.5 ms + 14 steps x 2 us
    assert comm.ring_allreduce_s(1e9, 8, 100.0, 2.0) == pytest.approx(17.5e-3 + 14 * 2e-6)


def test_small_messages_are_latency_bound():
    small = comm.ring_allreduce_s(8192, 8, 450.0, 2.0)
    assert small == pytest.approx(14 * 2e-6, rel=0.01)


def test_allgather_is_half_an_allreduce_in_bandwidth():
    assert comm.ring_allgather_s(1e9, 4, 100.0, 0.0) * 2 == pytest.approx(comm.ring_allreduce_s(1e9, 4, 100.0, 0.0))


def test_single_rank_costs_nothing():
    assert comm.ring_allreduce_s(1e9, 1, 100.0) == 0.0
    assert comm.all_to_all_s(1e9, 1, 100.0) == 0.0


# --- link topology and the alpha-beta all-reduce (data/efficiencies/links.yaml) ---------------------------

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")


def _hw(gpu_id):
    return hardware_from_spec(CATALOG.resolve_gpu(gpu_id))


@pytest.mark.parametrize("gpu_id, ranks, expected_gb_s", [
    ("h100", 8, 450),          # NVSwitch: every rank drives its full NVLink bandwidth
    ("h100-pcie", 2, 300),     # the NVLink bridge joins the pair
    ("h100-pcie", 4, 64),      # four cards: two bridged pairs, the ring crosses PCIe Gen5
    ("rtx-3090", 4, 32),       # same rule on a consumer bridge: PCIe Gen4
    ("mi300x", 2, 448 / 7),    # one Infinity Fabric link of seven per GPU pair: 64 GB/s
    ("mi300x", 4, 3 * 448 / 7),
    ("mi300x", 8, 448),        # the full mesh
    ("l40s", 4, 32),           # PCIe only
])
def test_group_link_bandwidth_follows_the_topology(gpu_id, ranks, expected_gb_s):
    hw = _hw(gpu_id)
    assert comm.group_link_gb_s(hw, ranks, hw.link_gb_s) == pytest.approx(expected_gb_s)


def test_group_link_keeps_the_efficiency_it_was_given():
    hw = _hw("h100-pcie")
    assert comm.group_link_gb_s(hw, 4, hw.link_gb_s * 0.5) == pytest.approx(32)


@pytest.mark.parametrize("algorithm, ranks, steps", [("ring", 8, 14), ("ring", 2, 2), ("tree", 8, 6), ("nvls", 8, 2)])
def test_algorithm_steps(algorithm, ranks, steps):
    assert comm.algorithm_steps(algorithm, ranks) == steps


def test_small_allreduce_is_the_ring_latency_on_h200():
    # 32 KiB over 8 H200s: 39.8 us fixed cost + 57344 B / (0.817 x 450 GB/s)
    t = comm.allreduce_s(32768, 8, _hw("h200"), 450 * 0.8)
    assert t == pytest.approx(39.8e-6 + 32768 * 1.75 / (0.817 * 450e9))


def test_large_allreduce_takes_nvls_on_an_nvswitch():
    t = comm.allreduce_s(2**30, 8, _hw("h200"), 450 * 0.8)
    assert t == pytest.approx(49.3e-6 + 2**30 * 1.75 / (1.072 * 450e9))


def test_ring_latency_scales_with_its_steps():
    hw = _hw("a100-80gb")   # ring only
    two = comm.allreduce_s(1024, 2, hw, 300 * 0.8)
    assert two == pytest.approx(39.8e-6 * 2 / 14 + 1024 * 1.0 / (0.8 * 300e9))


def test_calibrated_allreduce_replaces_the_table():
    cal = {"latency_us": 20.0, "busbw_gb_s": 100.0, "ranks": 8}
    t = comm.allreduce_s(1e9, 8, _hw("h100"), 360.0, calibrated=cal)
    assert t == pytest.approx(20e-6 + 1.75e9 / 100e9)


def test_peak_only_is_the_plain_ring_over_the_group_link():
    hw = _hw("h100-pcie")
    assert comm.allreduce_s(1e9, 4, hw, hw.link_gb_s, peak_only=True) == pytest.approx(
        comm.ring_allreduce_s(1e9, 4, 64.0))
