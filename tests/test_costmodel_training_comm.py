"""Training communication: in-node collectives by the link table's latency + bandwidth model, hops by topology."""

from pathlib import Path

import pytest

from agent.costmodel import TrainingWorkload, estimate_training
from agent.costmodel.efficiency_data import link_kind
from agent.costmodel.specs import hardware_from_spec
from agent.costmodel.training_comm import neighbour_link_gb_s
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)


def _fastest_allreduce_s(nbytes: float, ranks: int, link_gb_s: float, kind: str = "nvlink-4") -> float:
    """Hand model of links.yaml at 8 ranks, where each algorithm's latency is quoted: alpha + wire / busbw."""
    wire = 2 * (ranks - 1) / ranks * nbytes
    return min(a.latency_us * 1e-6 + wire / (a.busbw_fraction * link_gb_s * 1e9)
               for a in link_kind(kind).allreduce.values())


def test_tensor_parallel_allreduce_pays_the_tables_fixed_cost():
    # llama-2-7b, seq 2048, micro-batch 1: each all-reduce moves 2048 x 4096 x 2 B = 16.8 MB per rank;
    # 8 micro-batches x 32 layers x 2 passes x 2 all-reduces = 1024 of them per step over 8 H100s
    est = estimate_training(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-2-7b"),
                            TrainingWorkload(gpus=8, tp=8, global_batch=8, seq_len=2048))
    one = _fastest_allreduce_s(2048 * 4096 * 2, 8, 450)
    assert est.breakdown_s["tp_comm_s"] == pytest.approx(1024 * one)
    assert any("links.yaml" in a for a in est.assumptions)


def test_sequence_parallel_reduce_scatter_and_all_gather_run_at_the_ring_figures():
    # RS + AG: together the bytes and steps of one ring all-reduce; in-switch reduction (NVLS), which makes the
    # plain all-reduce of 16.8 MB faster here, does not apply to them
    kw = {"gpus": 8, "tp": 8, "global_batch": 8, "seq_len": 2048}
    gpu, model = CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-2-7b")
    plain = estimate_training(gpu, model, TrainingWorkload(**kw))
    sp = estimate_training(gpu, model, TrainingWorkload(**kw, sequence_parallel=True))
    ring = link_kind("nvlink-4").allreduce["ring"]
    one = ring.latency_us * 1e-6 + 2 * 7 / 8 * 2048 * 4096 * 2 / (ring.busbw_fraction * 450e9)
    assert sp.breakdown_s["tp_comm_s"] == pytest.approx(1024 * one)
    assert sp.breakdown_s["tp_comm_s"] > plain.breakdown_s["tp_comm_s"]


def test_in_node_gradient_allreduce_uses_the_table_and_across_nodes_a_ring():
    gpu, model = CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-2-7b")
    local = estimate_training(gpu, model, TrainingWorkload(gpus=8, global_batch=8, seq_len=2048))
    grads = 2 * local.model.params_total
    assert local.breakdown_s["dp_comm_s"] == pytest.approx(_fastest_allreduce_s(grads, 8, 450))
    spread = estimate_training(gpu, model, TrainingWorkload(gpus=16, global_batch=16, seq_len=2048))
    # 16 ranks over one 400 Gb/s port per GPU: 2 x 15/16 x bytes / 50 GB/s + 30 ring steps of 2 us
    assert spread.breakdown_s["dp_comm_s"] == pytest.approx(2 * 15 / 16 * grads / 50e9 + 30 * 2e-6)


@pytest.mark.parametrize("gpu, span, expected", [
    ("h100", 4, 450 * 0.8),        # NVSwitch: every hop at the full link
    ("mi300x", 4, 448 * 0.8 / 7),  # full mesh: a hop to one peer has one of the seven links
    ("h100-pcie", 2, None),        # NVLink bridge: a pair keeps the bridge
    ("h100-pcie", 4, "pcie"),      # a wider group crosses PCIe
    ("h100", 16, 50.0),            # across nodes: the inter-node port
])
def test_point_to_point_hop_follows_the_topology(gpu, span, expected):
    hw = hardware_from_spec(CATALOG.resolve_gpu(gpu))
    link = hw.link_gb_s * hw.efficiency["comm"]
    if expected is None:
        expected = link
    elif expected == "pcie":
        expected = hw.pcie_gb_s * hw.efficiency["comm"]
    assert neighbour_link_gb_s(hw, span, link, 50.0) == pytest.approx(expected)
