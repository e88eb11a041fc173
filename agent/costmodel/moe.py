"""Mixture-of-experts layers on one GPU: expert grouped GEMMs, routing, token permutation and EP imbalance.

Per MoE layer a token goes through the router (a hidden x n_experts GEMM and a top-k), is copied to the slots of
its experts_per_tok experts (permutation), each expert multiplies the rows it received (a grouped GEMM of
tokens x top_k / n_experts rows per expert: small M), and the results are scattered back and summed
(unpermutation). Under expert parallelism a step waits for the rank whose experts got the most tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agent.costmodel.efficiency import Tiles, weighted_shape_factor
from agent.costmodel.specs import ModelShape
from agent.costmodel.workload import ParallelConfig

KERNELS_PER_MOE_LAYER = 4  # router GEMM, top-k, permute, unpermute (the expert GEMMs are the gemm op's kernels)


@dataclass(frozen=True)
class ExpertWork:
    """One GPU's share of the MoE layers of one forward (all MoE layers of its pipeline stage)."""

    flops: float            # expert and router GEMM FLOPs of the busiest rank
    compute_scale: float    # time-equivalent shape factor of those GEMMs (padding, waves)
    permute_bytes: float    # gather to expert slots and scatter back, read and written
    kernels: float
    imbalance: float        # busiest rank's tokens / the mean (1 without EP)


def tokens_per_expert(shape: ModelShape, tokens_in_group: float) -> float:
    """Mean rows an expert multiplies: tokens x top_k / n_experts (tokens_in_group share one set of experts)."""
    if not shape.n_experts:
        return 0.0
    return tokens_in_group * shape.experts_per_tok / shape.n_experts


def ep_imbalance(shape: ModelShape, tokens_in_group: float, ep: int) -> float:
    """Busiest EP rank's routed tokens over the mean, for uniform routing.

    Each of tokens x top_k assignments lands on one of ep ranks (multinomial); the largest of ep roughly normal
    counts sits about sqrt(2 ln ep) standard deviations above the mean. Real routers are skewed, so this is
    a floor on the imbalance, not a measurement.
    """
    if ep <= 1 or not shape.n_experts:
        return 1.0
    mean = tokens_in_group * shape.experts_per_tok / ep
    if mean <= 0:
        return 1.0
    sigma = math.sqrt(mean * (1 - 1 / ep))
    return 1 + math.sqrt(2 * math.log(ep)) * sigma / mean


def _expert_widths(shape: ModelShape, par: ParallelConfig) -> tuple[list[tuple[float, float]], float]:
    """((N, K) of an expert's GEMMs on this GPU, experts held locally)."""
    h, inter = shape.hidden_size, shape.moe_intermediate_size
    if par.ep > 1:  # whole experts, n_experts / ep of them, sliced further only when tp exceeds ep
        inter_local, local = inter / max(par.tp // par.ep, 1), shape.n_experts / par.ep
    else:           # every expert sliced tp ways along its intermediate width
        inter_local, local = inter / par.tp, float(shape.n_experts)
    up = (2 * inter_local, h) if shape.gated_mlp else (inter_local, h)
    return [up, (h, inter_local)], local


def expert_work(shape: ModelShape, par: ParallelConfig, moe_layers: float, expert_flops: float, tokens: float,
                tokens_in_group: float, act_bytes: float, tiles: Tiles, sm_count: int) -> ExpertWork:
    """Expert GEMMs, router and permutation of one forward on one GPU.

    Args:
        shape: the model.
        par: the layout (tp slices experts, ep spreads them).
        moe_layers: MoE layers this GPU runs in this forward (pipeline share and early exit applied).
        expert_flops: expert GEMM FLOPs of this GPU at even routing (2 x tokens x active expert weights / tp).
        tokens: tokens this GPU holds activations for.
        tokens_in_group: tokens routed over one copy of the experts (sets rows per expert and EP imbalance).
        act_bytes: bytes per activation element.
        tiles: GEMM tile geometry of the GPU family.
        sm_count: SMs (compute units) of the GPU.
    """
    widths, local = _expert_widths(shape, par)
    rows = tokens_per_expert(shape, tokens_in_group)
    expert_scale = weighted_shape_factor(rows, widths, tiles, sm_count, groups=local)
    imbalance = ep_imbalance(shape, tokens_in_group, par.ep)
    router_flops = 2 * tokens * shape.hidden_size * shape.n_experts * moe_layers
    router_scale = weighted_shape_factor(tokens, [(shape.n_experts, shape.hidden_size)], tiles, sm_count)
    busiest = expert_flops * imbalance
    flops = busiest + router_flops
    time_equiv = busiest / expert_scale + router_flops / router_scale
    permute = 4 * tokens * shape.experts_per_tok * shape.hidden_size * act_bytes * moe_layers
    return ExpertWork(flops=flops, compute_scale=flops / time_equiv if time_equiv else 1.0, permute_bytes=permute,
                      kernels=KERNELS_PER_MOE_LAYER * moe_layers, imbalance=imbalance)
