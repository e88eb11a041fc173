"""Tensor-core work of a training step: what runs on the tensor cores, in which format, at which shapes.

Linear GEMMs run at the training dtype, each pass at its own shape (forward, data gradient, weight gradient),
scaled from the family's reference-shape efficiency by tile padding and wave quantization (efficiency.py).
Attention runs at BF16: fused (FlashAttention / cuDNN), whose backward does more work at a lower rate than its
forward, or unfused, as batched GEMMs that read and write the S x S scores in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.costmodel.efficiency import weighted_shape_factor
from agent.costmodel.forward import dense_widths
from agent.costmodel.roofline import Rates
from agent.costmodel.shapes import attention_flops, layer_counts, param_split
from agent.costmodel.specs import ModelShape
from agent.costmodel.workload import TrainingWorkload

# A fused attention backward recomputes the scores from Q and K and runs five matmuls against the forward's
# two: 2.5x the forward FLOPs (flash-attention benchmarks/benchmark_flash_attention.py, flops(): "bwd" = 2.5 x
# "fwd"; FlashAttention-2, arXiv:2307.08691, section 3.1.2). Counted FLOPs (MFU, hardware FLOPs) keep the usual
# 2x; the extra half forward is time only.
FUSED_BWD_FLOPS_PER_FWD = 2.5
# ... and it reaches a lower rate on them: FlashAttention-3 (arXiv:2407.08608), Figures 5 and 6, H100 SXM5, head
# dim 128, non-causal, sequence 8k: FlashAttention-3 646 TFLOP/s forward, 559 backward (0.865); cuDNN 600 and
# 518 (0.863). Taken for every GPU (measured on Hopper only).
FUSED_BWD_RATE_VS_FWD = 0.865
# Unfused attention: each batched GEMM of the scores (QK^T, PV forward; four in backward) writes or reads the
# S x S scores once in bf16, so it moves 2 bytes per score element against 2 x head_dim FLOPs.
SCORE_BYTES = 2


@dataclass(frozen=True)
class StepFlops:
    """FLOPs of one step over all GPUs, by where they run. Hardware FLOPs include recomputation."""

    linear: float       # transformer-block GEMMs (QKV, out-proj, MLP): FP8 under FP8 training
    lm_head: float      # output projection to the vocabulary: stays BF16
    attention: float    # scores and weighted sum: BF16 (FlashAttention), or batched GEMMs when unfused
    teacher: float      # distillation: the frozen teacher's forward pass
    model: float        # model FLOPs (no recompute), for MFU
    attention_forwards: float = 1.0  # forward passes of attention in `attention` (2 when recomputed)

    @property
    def hardware(self) -> float:
        return self.linear + self.lm_head + self.attention + self.teacher


def step_flops(shape: ModelShape, w: TrainingWorkload) -> StepFlops:
    """Forward x 3 (forward + backward) plus the recomputed forward, split by the format each part runs in; with
    adapters the frozen weights skip their weight-gradient GEMMs.

    Unfused attention computes every score of the S x S matrix and masks afterwards (Megatron-LM's fused
    scale-mask-softmax, arXiv:2104.04473 section 4.2), so its FLOPs are the full square; a fused kernel skips the
    masked blocks (causal pairs).
    """
    split = param_split(shape)
    tokens = w.global_batch * w.seq_len
    attn_layers = layer_counts(shape).attention
    causal_fwd = attention_flops(shape, w.seq_len, w.seq_len, decode=False) * attn_layers * w.global_batch
    run_fwd = causal_fwd if w.flash_attention else (
        attention_flops(shape, w.seq_len, w.seq_len, decode=False, causal=False) * attn_layers * w.global_batch)
    head_fwd = 2 * split.lm_head * tokens
    linear_fwd = 2 * split.gemm_active * tokens - head_fwd
    # full recomputation reruns the transformer layers only: the output layer and the loss run once forward
    # (Megatron-LM checkpoints the transformer blocks; arXiv:2104.04473 Eq. 3 counts the logit layer 3x, 6BshV)
    redo_dense = 1 if w.recompute == "full" else 0
    redo_attn = 1 if w.recompute in ("selective", "full") else 0
    teacher = 2 * w.teacher_params * tokens  # distillation: the teacher's forward pass, no backward
    # the backward pass is the input gradient (one forward's FLOPs) plus the weight gradient (another), and frozen
    # weights (adapter training) need no weight gradient; the small adapter GEMMs are left out
    passes = 2 + w.trainable_fraction
    return StepFlops(linear=(passes + redo_dense) * linear_fwd, lm_head=passes * head_fwd,
                     attention=(3 + redo_attn) * run_fwd, teacher=teacher,
                     model=passes * (linear_fwd + head_fwd) + 3 * causal_fwd + teacher,
                     attention_forwards=1 + redo_attn)


def linear_shape_factor(shape: ModelShape, w: TrainingWorkload, rates: Rates, trainable: float = 1.0) -> float:
    """Time-weighted shape factor of one layer's linear GEMMs over forward, data-gradient and weight-gradient
    passes, relative to the reference shape the efficiency was measured at.

    Forward: M = tokens of a micro-batch, (N, K) per projection; data gradient: (K, N) swapped; weight gradient:
    an N x K output reduced over the tokens. MoE layers (grouped GEMMs) and GPUs without an SM count: 1.
    """
    if shape.n_experts or not rates.sm_count:
        return 1.0
    m = w.micro_batch * w.seq_len / w.cp
    widths = dense_widths(shape, w.tp)
    tiles, sms = rates.tiles, rates.sm_count
    fwd = weighted_shape_factor(m, widths, tiles, sms)
    dgrad = weighted_shape_factor(m, [(k, n) for n, k in widths], tiles, sms)
    flops = sum(n * k for n, k in widths)
    wgrad_time = sum(n * k / weighted_shape_factor(n, [(k, m)], tiles, sms) for n, k in widths)
    wgrad = flops / wgrad_time
    return (2 + trainable) / (1 / fwd + 1 / dgrad + trainable / wgrad)


def attention_s(flops: StepFlops, shape: ModelShape, w: TrainingWorkload, rates: Rates,
                attention_shape: float = 1.0) -> float:
    """Seconds of attention over all GPUs' work (divide by GPUs): fused forward(s) and a costlier backward, or
    unfused batched GEMMs each bound by compute or by its score traffic, whichever is slower.

    `attention_shape` scales the fused kernel's figure to this model's head dimension and causal mask
    (efficiency_data.attention_shape_factor); 1.0 keeps the figure as it is.
    """
    forward = flops.attention / (flops.attention_forwards + 2)  # one forward pass's FLOPs
    if w.flash_attention:
        rate = rates.compute_tflops("bf16", "attention") * 1e12 * (1.0 if rates.peak_only else attention_shape)
        backward_s = 2 * forward * (FUSED_BWD_FLOPS_PER_FWD / 2) / (rate * FUSED_BWD_RATE_VS_FWD)
        return flops.attention_forwards * forward / rate + backward_s
    rate = rates.compute_tflops("bf16") * 1e12
    head_dim = shape.head_dim or shape.hidden_size / max(shape.num_attention_heads, 1)
    # per score element: 2 x head_dim FLOPs and 2 bytes in one GEMM; the GEMM takes the slower of the two
    per_flop_s = max(1 / rate, SCORE_BYTES / (2 * head_dim) / (rates.memory_gb_s * 1e9))
    if rates.peak_only:
        per_flop_s = 1 / rate
    return flops.attention * per_flop_s


def lm_head_s(flops: StepFlops, w: TrainingWorkload, rates: Rates) -> float:
    """Seconds of the output-layer GEMMs per GPU when spread over all GPUs (BF16, as in :func:`compute_s`); the
    last pipeline stage alone runs them, pp times this."""
    return flops.lm_head / (rates.compute_tflops("bf16") * 1e12) / w.gpus


def compute_s(flops: StepFlops, shape: ModelShape, w: TrainingWorkload, rates: Rates, linear_dtype: str,
              attention_shape: float = 1.0) -> float:
    """Tensor-core seconds per GPU: linear GEMMs at the training dtype and their shapes, LM head and teacher at
    BF16, attention as :func:`attention_s`.

    FP8 training quantises only the linear layers inside the transformer blocks; dot-product attention, norms
    and the other element-wise work stay in higher precision (Transformer Engine runs FP8 in its Linear /
    LayerNormLinear / LayerNormMLP modules; Megatron-Bridge docs/performance-guide.md, "Low Precision
    Training", says the default FP8 recipe applies to the linear layers of the Transformer block only).
    """
    gemm_bf16 = rates.compute_tflops("bf16") * 1e12
    shape_f = 1.0 if rates.peak_only else linear_shape_factor(shape, w, rates, w.trainable_fraction)
    linear_rate = rates.compute_tflops(linear_dtype) * 1e12 * shape_f
    seconds = (flops.linear / linear_rate + (flops.lm_head + flops.teacher) / gemm_bf16
               + attention_s(flops, shape, w, rates, attention_shape))
    return seconds / w.gpus
