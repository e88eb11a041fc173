"""How many kernels one training step launches per GPU, and the GPU time lost at their boundaries.

At each kernel boundary the next kernel waits for the last blocks of the one before and then starts its loads
from cold; the per-boundary cost is the sourced figure in data/efficiencies (``Rates.kernel_boundary_us``).
Training steps are not captured in CUDA graphs, but the CPU issues kernels ahead of a busy GPU, so only the
boundary cost (not the launch itself) is counted.
"""

from __future__ import annotations

from agent.costmodel.forward import KERNELS_ELEMENTWISE, KERNELS_GEMM
from agent.costmodel.specs import ModelShape
from agent.costmodel.training_loss import CROSS_ENTROPY_KERNELS
from agent.costmodel.workload import TrainingWorkload

# attention: one fused kernel forward, one backward (FlashAttention); unfused: scores GEMM, softmax, dropout and
# the weighted-sum GEMM forward, and their backward kernels
ATTENTION_KERNELS_FUSED = 1
ATTENTION_KERNELS_UNFUSED = 4
# FP8 training quantises the input of each of the four linear layers forward and their output gradients backward
FP8_CASTS_PER_LAYER = 4


def kernels_per_micro_batch(shape: ModelShape, w: TrainingWorkload, fp8: bool) -> float:
    """Kernels one GPU runs for one micro-batch: per layer of its stage the forward (twice under full
    recompute) and the backward (each linear layer's data and weight gradient), plus the loss."""
    attention = ATTENTION_KERNELS_FUSED if w.flash_attention else ATTENTION_KERNELS_UNFUSED
    casts = FP8_CASTS_PER_LAYER if fp8 else 0
    forward = KERNELS_GEMM + attention + KERNELS_ELEMENTWISE + casts
    backward = 2 * KERNELS_GEMM + attention + KERNELS_ELEMENTWISE + casts
    forwards = 2 if w.recompute == "full" else 1
    layers = shape.num_hidden_layers / w.pp
    return layers * (forwards * forward + backward) + CROSS_ENTROPY_KERNELS


def kernel_boundary_s(shape: ModelShape, w: TrainingWorkload, fp8: bool, boundary_us: float) -> float:
    """Seconds per step one GPU loses at kernel boundaries over all its micro-batches."""
    return kernels_per_micro_batch(shape, w, fp8) * w.micro_batches * boundary_us * 1e-6
