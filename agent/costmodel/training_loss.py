"""Memory-bound work at the two ends of a training step: the loss over the vocabulary and gradient clipping.

Both are element-wise passes a FLOP count misses. The loss runs once per micro-batch on the last pipeline stage
(whose extra work sets the pace of every stage in a steady pipeline); gradient clipping runs once per step over
the gradients this GPU holds.
"""

from __future__ import annotations

from agent.costmodel.specs import ModelShape
from agent.costmodel.training_memory import GRAD_BYTES
from agent.costmodel.workload import TrainingWorkload

# Bytes per vocabulary element per token of Megatron-LM's vocab-parallel cross-entropy, counted from its passes
# (megatron/core/tensor_parallel/cross_entropy.py, VocabParallelCrossEntropy, read at 00611e6): forward casts
# the bf16 logits to fp32 (2 read + 4 written), takes the max (4), subtracts it in place (4 + 4), exponentiates
# in place (4 + 4), sums (4) and divides in place to keep the softmax for backward (4 + 4); backward multiplies
# the saved softmax by the output gradient in place (4 + 4) and autograd casts it back to bf16 for the output
# layer (4 + 2). A fused loss kernel moves less; this is the unfused path both Megatron papers ran.
CROSS_ENTROPY_FORWARD_BYTES = (2 + 4) + 4 + (4 + 4) + (4 + 4) + 4 + (4 + 4)
CROSS_ENTROPY_BACKWARD_BYTES = (4 + 4) + (4 + 2)
# kernels those passes launch per micro-batch: six forward, two backward
CROSS_ENTROPY_KERNELS = 8
# Gradient clipping takes the global norm of the gradients (one read of each; Megatron-LM
# clip_grads.py get_grad_norm_fp32, multi_tensor_l2norm) before the optimizer step; the rescale that follows
# only when the norm exceeds the threshold is not counted.
CLIP_NORM_READS = 1


def cross_entropy_bytes_per_gpu(shape: ModelShape, w: TrainingWorkload) -> float:
    """Bytes one GPU of the last pipeline stage moves per step for the loss: every token it sees, times its
    share of the vocabulary (the logits are split over the tensor-parallel ranks)."""
    tokens = w.global_batch * w.seq_len / (w.dp * w.cp)
    vocab_per_gpu = shape.vocab_size / w.tp
    return tokens * vocab_per_gpu * (CROSS_ENTROPY_FORWARD_BYTES + CROSS_ENTROPY_BACKWARD_BYTES)


def grad_clip_bytes_per_gpu(shape: ModelShape, w: TrainingWorkload) -> float:
    """Bytes one GPU reads per step to take the gradient norm over the gradients it holds (its ZeRO shard from
    stage 2 on, since the reduce-scatter leaves it only that)."""
    shard = shape.params_total / (w.tp * w.pp) / (w.dp * w.cp if w.zero_stage >= 2 else 1)
    return shard * GRAD_BYTES * CLIP_NORM_READS
