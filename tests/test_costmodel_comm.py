"""Ring all-reduce volume and time, all-to-all and point-to-point costs."""

import pytest

from agent.costmodel import comm


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
