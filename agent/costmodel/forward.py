"""Operations of one forward step on one GPU (one pipeline stage), ready for the roofline."""

from __future__ import annotations

from dataclasses import dataclass

from agent.costmodel import comm
from agent.costmodel.efficiency import weighted_shape_factor
from agent.costmodel.knobs import Knobs
from agent.costmodel.moe import expert_work
from agent.costmodel.memory import (
    kv_bytes_per_token_gpu,
    linear_bytes_per_param,
    state_bytes_per_seq_gpu,
    vocab_bytes_per_param,
)
from agent.costmodel.roofline import Op, PhaseTime, Rates, time_ops
from agent.costmodel.shapes import (
    LayerCounts,
    ModelShape,
    ParamSplit,
    attention_flops,
    causal_pairs,
    moe_active_width,
    ssm_scan_flops_per_token,
)
from agent.costmodel.specs import Hardware
from agent.costmodel.workload import ParallelConfig

KERNELS_GEMM = 4       # qkv, output, gate/up, down projections per layer
KERNELS_ELEMENTWISE = 6  # two norms, rotary embedding, activation, two residual adds
# Sequential read of a PCIe 4.0 x4 NVMe SSD (Samsung 990 PRO datasheet: up to 7,450 MB/s); offload to NVMe
# streams weights at the lower of this and the GPU's PCIe rate.
NVME_READ_GB_S = 7.45


@dataclass(frozen=True)
class Setup:
    """Everything fixed for one estimate: hardware, model, layout, rates and technique knobs."""

    hw: Hardware
    shape: ModelShape
    split: ParamSplit
    counts: LayerCounts
    parallel: ParallelConfig
    rates: Rates
    knobs: Knobs
    offload_bytes: float = 0.0  # weights streamed from host RAM / NVMe every forward (inference offload)


def offload_gb_s(s: Setup) -> float:
    """Host-to-GPU rate for offloaded weights: the GPU's PCIe rate per direction (NVMe caps it lower)."""
    pcie = max(s.hw.pcie_gb_s, 1e-3)
    return min(pcie, NVME_READ_GB_S) if s.knobs.offload_target == "nvme" else pcie


def with_offload(s: Setup, phase: PhaseTime) -> PhaseTime:
    """A forward that also streams the offloaded weights: transfers overlap compute (FlexGen), so the step takes
    the longer of the two; the excess is counted as communication."""
    if s.offload_bytes <= 0:
        return phase
    transfer_s = s.offload_bytes / (offload_gb_s(s) * 1e9)
    phase.by_op["offload"] = transfer_s
    extra = max(transfer_s - phase.total_s, 0.0)
    phase.by_term["communication"] += extra
    phase.total_s += extra
    return phase


def _distinct_experts(shape: ModelShape, tokens: float) -> float:
    """Expected distinct experts a layer touches when `tokens` each pick experts_per_tok of n_experts uniformly."""
    e, k = shape.n_experts, shape.experts_per_tok
    if not e:
        return 0.0
    return e * (1 - (1 - k / e) ** max(tokens, 0.0))


def _layer_fraction(knobs: Knobs, decode: bool, seqs: float) -> float:
    """Layers run per step: early exit helps one sequence; a batch runs until its deepest token exits."""
    if not decode or knobs.layer_fraction >= 1:
        return 1.0
    lf = knobs.layer_fraction
    return lf + (1 - lf) * (1 - 1 / max(seqs, 1.0))


def _mlp_fraction(knobs: Knobs, decode: bool, tokens: float) -> tuple[float, float]:
    """(compute share, weight-read share) of MLP weights under contextual sparsity; the union grows with tokens."""
    f = knobs.active_fraction
    if not decode or f >= 1:
        return 1.0, 1.0
    return f, 1 - (1 - f) ** max(tokens, 1.0)


def dense_widths(sh: ModelShape, tp: int) -> list[tuple[float, float]]:
    """(N, K) of one layer's dense projections on one GPU: QKV, output, MLP up (gate+up) and down."""
    h, d = sh.hidden_size, sh.head_dim
    q, kv = sh.num_attention_heads * d, 2 * sh.num_key_value_heads * d
    inter = sh.intermediate_size / tp
    up = 2 * inter if sh.gated_mlp else inter
    return [((q + kv) / tp, h), (h, q / tp), (up, h), (h, inter)]


def gemm_op(s: Setup, seqs: float, q_len: float, decode: bool, tokens_in_group: float) -> Op:
    """Linear layers (and LM head for the last position of each sequence) on one GPU.

    Dense projections run at a shape factor for `tokens` rows; routed experts are costed by
    :func:`agent.costmodel.moe.expert_work` (small-M grouped GEMM, router, permutation, EP imbalance).
    """
    k, sp, par, sh = s.knobs, s.split, s.parallel, s.shape
    tokens = seqs * q_len
    lf = _layer_fraction(k, decode, seqs)
    mlp_c, mlp_r = _mlp_fraction(k, decode, tokens)
    body_active = sp.gemm_active - sp.lm_head
    body_flops = body_active - sp.mlp_active * (1 - mlp_c)
    flop_scale = max(1 - k.prune_sparsity, 0.5) if k.prune_structured else 1.0
    routed_flops = sp.routed_active * mlp_c
    scale = 2 * flop_scale / par.tp / par.pp
    dense_flops = scale * tokens * (body_flops - routed_flops) * lf
    head_flops = scale * seqs * sp.lm_head
    expert_flops = scale * tokens * routed_flops * lf
    lin = linear_bytes_per_param(k)
    dense_body = sp.dense - sp.embedding - sp.lm_head
    dense_mlp_total = sp.mlp_active - sp.routed_active
    dense_read = (dense_body - dense_mlp_total * (1 - mlp_r)) * lin / par.tp
    experts_read = (s.counts.moe_ffn * _distinct_experts(sh, tokens_in_group) * sp.expert_one * lin * mlp_r
                    / par.expert_shards)
    weights = (dense_read + experts_read) * lf / par.pp + sp.lm_head * vocab_bytes_per_param(k) / par.tp / par.pp
    inter = sh.intermediate_size if not s.counts.moe_ffn else moe_active_width(sh)
    io_per_token = (5 * sh.hidden_size + 3 * inter + 3 * sh.num_attention_heads * sh.head_dim) / par.tp
    acts = tokens * io_per_token * sh.num_hidden_layers * lf / par.pp * k.act_bytes
    kernels = KERNELS_GEMM * sh.num_hidden_layers * lf / par.pp + 1
    tiles, sms = s.rates.tiles, s.rates.sm_count
    parts = [(dense_flops, weighted_shape_factor(tokens, dense_widths(sh, par.tp), tiles, sms)),
             (head_flops, weighted_shape_factor(seqs, [(sh.vocab_size / par.tp, sh.hidden_size)], tiles, sms))]
    extra_bytes = 0.0
    if s.counts.moe_ffn and sh.n_experts:
        work = expert_work(sh, par, s.counts.moe_ffn * lf / par.pp, expert_flops, tokens, tokens_in_group,
                           k.act_bytes, tiles, sms)
        parts.append((work.flops, work.compute_scale))
        extra_bytes, kernels = work.permute_bytes, kernels + work.kernels
    else:
        parts.append((expert_flops, 1.0))
    flops = sum(f for f, _ in parts)
    time_equiv = sum(f / scale for f, scale in parts if f)
    return Op("gemm", flops=flops, bytes=weights + acts + extra_bytes, kernels=kernels, dtype=k.gemm_dtype,
              compute_scale=flops / time_equiv if time_equiv > 0 else 1.0)


def decode_kv_reread(shape: ModelShape, knobs: Knobs, decode: bool) -> float:
    """Times each cached K/V head is streamed from memory per decode step.

    A decode kernel that gives every query head its own thread block (TensorRT-LLM's masked MHA before the
    XQA kernel of v0.8) reads a GQA/MQA KV head once per query head of its group: GQA then shrinks the cache
    but not the decode traffic. Kernels that pack the group into one block (XQA, FlashInfer, FlashAttention's
    KV-cache path) read it once. MLA's latent is shared by construction; prefill reuses K/V across query
    blocks of a head, so only decode is affected.
    """
    if not decode or knobs.kv_group_shared or shape.attention == "mla" or not shape.num_key_value_heads:
        return 1.0
    return max(shape.num_attention_heads / shape.num_key_value_heads, 1.0)


def attention_op(s: Setup, seqs: float, q_len: float, kv_len: float, decode: bool) -> Op:
    """Token mixing on one GPU: attention over the KV cache, or SSM / linear-attention state updates."""
    k, sh, par, c = s.knobs, s.shape, s.parallel, s.counts
    tokens = seqs * q_len
    lf = _layer_fraction(k, decode, seqs)
    heads_share = k.active_fraction if decode else 1.0
    attn_layers = c.attention * lf / par.pp
    flops = bytes_ = 0.0
    if k.linear_attention:
        flops += 4 * sh.num_attention_heads * sh.head_dim ** 2 * tokens * attn_layers / par.tp
    else:
        flops += attention_flops(sh, q_len, kv_len, decode) * seqs * attn_layers * heads_share / par.tp
        kv_tok = kv_bytes_per_token_gpu(sh, c, k, par) * par.pp / max(c.attention, 1)  # one layer
        kv_tok *= decode_kv_reread(sh, k, decode)
        # fused kernels re-read K/V once per query block, but concurrent blocks of a head share it in L2
        bytes_ += seqs * (kv_len + q_len) * kv_tok * attn_layers * heads_share
        q_o = tokens * 2 * sh.num_attention_heads * sh.head_dim / par.tp * k.act_bytes
        bytes_ += q_o * attn_layers
        if not k.attention_fused:
            pairs = causal_pairs(q_len, kv_len)
            # scores written, read by softmax, probabilities written, read by the PV product
            bytes_ += 4 * seqs * pairs * sh.num_attention_heads / par.tp * k.act_bytes * attn_layers
    state = state_bytes_per_seq_gpu(sh, k, par) * lf
    bytes_ += 2 * seqs * state  # read and write the recurrent state once per step
    flops += ssm_scan_flops_per_token(sh) * tokens * c.ssm * lf / par.pp / par.tp
    per_layer_kernels = 1 if k.attention_fused else 3
    kernels = per_layer_kernels * attn_layers + c.ssm * lf / par.pp
    scale = 1.0
    if decode and not k.split_kv and s.hw.sm_count:
        # one thread block per (sequence, head): small batches leave SMs idle
        scale = min(1.0, seqs * sh.num_attention_heads / par.tp / s.hw.sm_count)
    return Op("attention", flops=flops, bytes=bytes_, kernels=kernels, dtype="bf16", bandwidth_scale=scale)


def elementwise_op(s: Setup, seqs: float, q_len: float, decode: bool) -> Op:
    """Norms, rotary, activation and residual adds: pure memory traffic."""
    k, sh, par = s.knobs, s.shape, s.parallel
    tokens = seqs * q_len
    lf = _layer_fraction(k, decode, seqs)
    inter = sh.intermediate_size if not s.counts.moe_ffn else moe_active_width(sh)
    per_token = (10 * sh.hidden_size + 3 * inter / par.tp) * k.act_bytes
    layers = sh.num_hidden_layers * lf / par.pp
    bytes_ = tokens * per_token * layers * k.elementwise_traffic_factor
    return Op("elementwise", flops=tokens * 20 * sh.hidden_size * layers, bytes=bytes_,
              kernels=KERNELS_ELEMENTWISE * layers)


def comm_op(s: Setup, seqs: float, q_len: float, decode: bool, link_gb_s: float) -> Op:
    """Tensor-parallel all-reduces (two per layer) and expert-parallel all-to-all on one GPU."""
    k, sh, par, c = s.knobs, s.shape, s.parallel, s.counts
    tokens = seqs * q_len
    lf = _layer_fraction(k, decode, seqs)
    msg = tokens * sh.hidden_size * k.act_bytes
    layers = sh.num_hidden_layers * lf / par.pp
    moe_layers = c.moe_ffn * lf / par.pp
    allreduces = 2 * layers
    total_s = 0.0
    if par.ep > 1 and moe_layers:
        allreduces -= moe_layers
        # each token is dispatched to and combined from experts_per_tok experts
        ep_gb_s = comm.group_link_gb_s(s.hw, par.ep, link_gb_s)
        total_s += 2 * moe_layers * comm.all_to_all_s(msg * sh.experts_per_tok, par.ep, ep_gb_s)
    if par.tp > 1:
        total_s += allreduces * comm.allreduce_s(msg, par.tp, s.hw, link_gb_s, s.rates.peak_only,
                                                 s.rates.allreduce_calibrated)
    kernels = (allreduces if par.tp > 1 else 0) + (2 * moe_layers if par.ep > 1 else 0)
    return Op("communication", comm_s=total_s, kernels=kernels)


def forward_time(s: Setup, seqs: float, q_len: float, kv_len: float, decode: bool,
                 tokens_in_group: float | None = None) -> PhaseTime:
    """Roofline time of one forward step of one pipeline stage on one GPU.

    Args:
        s: the estimate setup.
        seqs: sequences in the step (one replica).
        q_len: new tokens per sequence (1 for decode).
        kv_len: tokens each sequence attends to, new ones included.
        decode: decode step (MLA absorbed, sparsity/early exit apply) or prefill.
        tokens_in_group: tokens sharing the expert weights (MoE); defaults to this step's tokens.
    """
    if tokens_in_group is None:
        tokens_in_group = seqs * q_len * max(s.parallel.ep // s.parallel.tp, 1)
    ops = [
        gemm_op(s, seqs, q_len, decode, tokens_in_group),
        attention_op(s, seqs, q_len, kv_len, decode),
        elementwise_op(s, seqs, q_len, decode),
    ]
    if s.parallel.tp > 1 or s.parallel.ep > 1:
        ops.append(comm_op(s, seqs, q_len, decode, s.rates.link_gb_s))
    return with_offload(s, time_ops(ops, s.rates, s.knobs.overhead_factor, s.knobs.comm_hidden_fraction))
