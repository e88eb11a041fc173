"""GPUs joined in one NVLink domain beyond a node (GB200 NVL72): training collectives stay on NVLink."""

from __future__ import annotations

from pathlib import Path

from agent.costmodel import estimate_training
from agent.costmodel.specs import hardware_from_spec
from agent.costmodel.workload import TrainingWorkload
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"


def test_the_rack_is_one_domain_and_a_node_is_eight():
    catalog = Catalog.load(DATA)
    assert hardware_from_spec(catalog.gpus["gb200"]).domain_gpus == 72
    assert hardware_from_spec(catalog.gpus["b200"]).domain_gpus == 8


def test_data_parallel_traffic_inside_the_domain_is_faster_than_across_nodes():
    catalog = Catalog.load(DATA)
    model = catalog.resolve_model("llama-3.1-70b")
    w = TrainingWorkload(seq_len=4096, global_batch=64, micro_batch=1, gpus=64, tp=1, zero_stage=3)
    rack = estimate_training(catalog.gpus["gb200"], model, w)
    nodes = estimate_training(catalog.gpus["b200"], model, w)
    # same GPU generation; the rack keeps all 64 GPUs on NVLink, HGX B200 nodes cross InfiniBand
    assert rack.breakdown_s["dp_comm_s"] < nodes.breakdown_s["dp_comm_s"] / 4
    assert not any("cross it at" in a for a in rack.assumptions)
