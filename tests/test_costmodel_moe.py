"""MoE layers: rows per expert, EP imbalance, grouped-GEMM padding, routing and permutation traffic."""

import math
from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.efficiency import Tiles
from agent.costmodel.forward import Setup, comm_op, gemm_op
from agent.costmodel.knobs import Knobs
from agent.costmodel.moe import KERNELS_PER_MOE_LAYER, ep_imbalance, expert_work, tokens_per_expert
from agent.costmodel.roofline import rates_for
from agent.costmodel.shapes import layer_counts, param_split
from agent.costmodel.specs import hardware_from_spec, shape_from_spec
from agent.knowledge.catalog import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)
MIXTRAL = shape_from_spec(CATALOG.resolve_model("mixtral-8x7b"))   # 8 experts, top-2, hidden 4096, 32 layers
H100 = hardware_from_spec(CATALOG.resolve_gpu("h100"))
HOPPER = Tiles()


def _setup(parallel: ParallelConfig | None = None, gpu=H100) -> Setup:
    return Setup(hw=gpu, shape=MIXTRAL, split=param_split(MIXTRAL), counts=layer_counts(MIXTRAL),
                 parallel=parallel or ParallelConfig(), rates=rates_for(gpu), knobs=Knobs())


def test_rows_per_expert_is_tokens_times_top_k_over_experts():
    assert tokens_per_expert(MIXTRAL, 2048) == pytest.approx(2048 * 2 / 8)
    assert tokens_per_expert(MIXTRAL, 32) == pytest.approx(8)


def test_no_expert_parallelism_has_no_imbalance():
    assert ep_imbalance(MIXTRAL, 4096, 1) == 1.0


def test_ep_imbalance_is_the_expected_busiest_rank():
    # 256 tokens x top-2 over 8 ranks: mean 64 per rank, sigma sqrt(64 x 7/8); busiest ~ sqrt(2 ln 8) sigma above
    sigma = math.sqrt(64 * 7 / 8)
    assert ep_imbalance(MIXTRAL, 256, 8) == pytest.approx(1 + math.sqrt(2 * math.log(8)) * sigma / 64)
    # more tokens average out
    assert ep_imbalance(MIXTRAL, 65536, 8) < ep_imbalance(MIXTRAL, 256, 8) < 1.6


def test_small_batch_experts_run_padded_tiles():
    decode = expert_work(MIXTRAL, ParallelConfig(), 32, 1e12, 32, 32, 2, HOPPER, 132)
    prefill = expert_work(MIXTRAL, ParallelConfig(), 32, 1e12, 8192, 8192, 2, HOPPER, 132)
    assert decode.compute_scale < 0.2       # 8 rows per expert padded to a 64-row tile
    assert prefill.compute_scale > 0.85


def test_router_and_permutation_are_counted():
    tokens, layers = 1000, 32
    work = expert_work(MIXTRAL, ParallelConfig(), layers, 0.0, tokens, tokens, 2, HOPPER, 132)
    assert work.flops == pytest.approx(2 * tokens * 4096 * 8 * layers)            # router GEMM only
    assert work.permute_bytes == pytest.approx(4 * tokens * 2 * 4096 * 2 * layers)  # gather + scatter, r+w
    assert work.kernels == KERNELS_PER_MOE_LAYER * layers


def test_expert_gemms_cost_more_than_dense_gemms_at_full_efficiency():
    s = _setup()
    op = gemm_op(s, 32, 1, True, 32)
    assert op.compute_scale < 0.3
    # the same FLOPs as before plus the router: the change is in the rate, not the work
    sp = s.split
    plain = 2 * 32 * (sp.gemm_active - sp.lm_head) + 2 * 32 * sp.lm_head
    assert op.flops == pytest.approx(plain + 2 * 32 * 4096 * 8 * 32, rel=1e-6)


def test_ep_all_to_all_uses_the_group_link_on_a_full_mesh():
    mi = hardware_from_spec(CATALOG.resolve_gpu("mi300x"))
    pair = comm_op(_setup(ParallelConfig(gpus=2, tp=1, ep=2), mi), 64, 1, True, 448.0).comm_s
    full = comm_op(_setup(ParallelConfig(gpus=8, tp=1, ep=8), mi), 64, 1, True, 448.0).comm_s
    # a pair shares one of seven links: its all-to-all moves 1/2 of the buffer at 64 GB/s; eight GPUs 7/8 at 448
    assert pair > full


def test_mixtral_decode_is_slower_with_moe_costs():
    w = InferenceWorkload(batch=64, prompt_len=512, output_len=128)
    est = estimate_inference(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("mixtral-8x7b"), w,
                             ParallelConfig(gpus=2, tp=2))
    peak = estimate_inference(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("mixtral-8x7b"), w,
                              ParallelConfig(gpus=2, tp=2), peak_only=True)
    assert est.tpot_ms > peak.tpot_ms
