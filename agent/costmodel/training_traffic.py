"""Memory-bound work of a training step that a FLOP count misses: element-wise kernels, FP8 casts, the loss,
gradient clipping and the optimizer step.

Each term is bytes moved through HBM (reads + writes), timed at the GPU's achievable memory bandwidth.
Per layer and token, tensors are of two kinds under tensor parallelism (TP): hidden-sized ones (norms,
residual adds, the input of QKV and of the first MLP GEMM) that every TP rank holds whole unless sequence
parallelism splits them, and ones already split over the TP ranks (attention heads, MLP width).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.costmodel.shapes import moe_active_width, param_split
from agent.costmodel.specs import ModelShape
from agent.costmodel.training_loss import cross_entropy_bytes_per_gpu, grad_clip_bytes_per_gpu
from agent.costmodel.training_memory import GRAD_BYTES
from agent.costmodel.workload import TrainingWorkload

ACT_BYTES = 2          # bf16 activations and activation gradients
MASK_BYTES = 1         # a dropout mask as PyTorch stores it (torch.bool, one byte per element)
FP8_BYTES = 1
# Adam in mixed precision, per parameter and step: read fp32 master weight, both fp32 moments and the 16-bit
# gradient; write the master weight, both moments and the 16-bit working copy. 4+4+4+2 read, 4+4+4+2 written.
ADAM_STEP_BYTES_PER_PARAM = 4 * 3 + GRAD_BYTES + 4 * 3 + 2
# FP8 GEMMs on Hopper and Ada take only the "TN" layout (cuBLASLt cublasLtMatmul FP8 requirements: A
# transposed, B not), so Transformer Engine writes every FP8 operand a second time, transposed, for the
# backward GEMMs; Blackwell takes any layout (Transformer Engine cublaslt_gemm.cu, non-TN FP8 GEMM support).
FP8_TRANSPOSED_COPY_ARCHS = ("hopper", "ada")
# Without gradient-accumulation fusion each micro-batch's weight gradients land in a fresh 16-bit tensor that a
# hook then adds into the accumulation buffer (Megatron-LM DistributedDataParallel param hook,
# `param.main_grad.add_(param.grad.data)`): read the new gradient, read and write the buffer. With fusion the
# weight-gradient GEMM accumulates into the buffer in its epilogue (Megatron-Core gradient_accumulation_fusion),
# at no extra pass.
GRAD_ACCUMULATION_BYTES_PER_PARAM = 3 * GRAD_BYTES


@dataclass(frozen=True)
class Traffic:
    """Bytes one token moves in one layer, by how tensor parallelism shares them."""

    hidden_bytes: float = 0.0   # hidden-sized tensors: whole on every TP rank unless sequence parallel
    sharded_bytes: float = 0.0  # tensors split over the TP ranks

    def per_gpu(self, tp: int, sequence_parallel: bool) -> float:
        """Bytes one GPU of a TP group moves for this token."""
        return self.hidden_bytes / (tp if sequence_parallel else 1) + self.sharded_bytes / tp


@dataclass(frozen=True)
class Term:
    """One kind of memory-bound kernel: forward and backward traffic and which recompute modes redo the forward."""

    forward: Traffic
    backward: Traffic
    redone_by: tuple[str, ...] = ("full",)


def _widths(shape: ModelShape) -> tuple[int, int, int, int]:
    """(hidden, query width, key/value width, MLP width one token runs through) of one layer."""
    q = shape.num_attention_heads * shape.head_dim or shape.hidden_size
    kv = shape.num_key_value_heads * shape.head_dim or q
    mlp = moe_active_width(shape) if shape.n_experts else shape.intermediate_size
    return shape.hidden_size, q, kv, mlp


def elementwise_terms(shape: ModelShape, seq_len: int, flash_attention: bool) -> dict[str, Term]:
    """Bytes per token per layer of the element-wise kernels around the GEMMs, forward and backward.

    norm: two norms, each reads and writes h (backward reads the gradient and the input, writes one).
    residual: two adds, each reads 2h and writes h, forward and backward.
    activation: SwiGLU reads gate and up (2f) and writes f; backward reads the gradient, gate and up and
        writes two gradients (5f). GELU: 2f forward, 3f backward.
    rotary: rotates Q and K in place (read + write), the same backward.
    softmax_dropout: only without a fused attention kernel: scale-mask-softmax reads and writes a x s per
        token, dropout reads it, writes it and a one-byte mask; backward the same kernels in reverse.
    """
    h, q, kv, f = _widths(shape)
    a = ACT_BYTES
    gated = shape.gated_mlp
    terms = {
        "norm": Term(Traffic(hidden_bytes=2 * 2 * h * a), Traffic(hidden_bytes=2 * 3 * h * a)),
        "residual": Term(Traffic(hidden_bytes=2 * 3 * h * a), Traffic(hidden_bytes=2 * 3 * h * a)),
        "activation": Term(Traffic(sharded_bytes=(3 if gated else 2) * f * a),
                           Traffic(sharded_bytes=(5 if gated else 3) * f * a)),
    }
    if shape.num_attention_heads:
        terms["rotary"] = Term(Traffic(sharded_bytes=2 * (q + kv) * a), Traffic(sharded_bytes=2 * (q + kv) * a))
    if not flash_attention and shape.num_attention_heads:
        row = shape.num_attention_heads * seq_len  # score elements per token, all heads
        softmax_fwd, dropout_fwd = 2 * a, 2 * a + MASK_BYTES
        softmax_bwd, dropout_bwd = 3 * a, 2 * a + MASK_BYTES
        terms["softmax_dropout"] = Term(Traffic(sharded_bytes=row * (softmax_fwd + dropout_fwd)),
                                        Traffic(sharded_bytes=row * (softmax_bwd + dropout_bwd)),
                                        redone_by=("selective", "full"))
    return terms


def fp8_cast_bytes(elements: float, transposed_copy: bool, current_scaling: bool = False) -> float:
    """HBM bytes to quantise a bf16 tensor of `elements` to FP8: read 2 B, write 1 B (and 1 B transposed).

    Delayed scaling takes the scale from the amax history and records this tensor's amax in the cast pass
    itself; current scaling first reads the tensor once more to find its amax (Transformer Engine docs,
    "FP8 Delayed Scaling": one tensor read per quantisation instead of two). Scales and amaxes are one fp32
    per tensor: no traffic worth counting.
    """
    reads = 2 if current_scaling else 1
    return elements * (reads * ACT_BYTES + FP8_BYTES * (2 if transposed_copy else 1))


def fp8_cast_term(shape: ModelShape, transposed_copy: bool, current_scaling: bool = False) -> Term:
    """Per token per layer: quantising the inputs of the four linear layers (forward) and their output
    gradients (backward) from bf16 to FP8 (bytes per element from ``fp8_cast_bytes``)."""
    h, q, kv, f = _widths(shape)
    per_element = fp8_cast_bytes(1, transposed_copy, current_scaling)
    up = 2 * f if shape.gated_mlp else f
    # forward inputs: QKV and first MLP GEMM take the hidden state; out-proj takes q, the last MLP GEMM f
    forward = Traffic(hidden_bytes=2 * h * per_element, sharded_bytes=(q + f) * per_element)
    # backward output gradients: out-proj and last MLP GEMM give h; QKV gives q + 2 kv, the first MLP GEMM up
    backward = Traffic(hidden_bytes=2 * h * per_element, sharded_bytes=(q + 2 * kv + up) * per_element)
    return Term(forward, backward)


def transformer_linear_params(shape: ModelShape) -> float:
    """Weights of the transformer blocks' linear layers (all experts), i.e. what FP8 training quantises."""
    split = param_split(shape)
    return max(split.total - split.embedding - split.lm_head, 0.0)


def _tokens_layers_per_gpu(shape: ModelShape, w: TrainingWorkload) -> tuple[float, float]:
    """(tokens one GPU's model shard processes per step, layers it holds)."""
    return w.global_batch * w.seq_len / (w.dp * w.cp), shape.num_hidden_layers / w.pp


def term_bytes_per_gpu(term: Term, shape: ModelShape, w: TrainingWorkload) -> float:
    """Bytes one GPU moves for this term in one step, forward (plus recompute) and backward."""
    tokens, layers = _tokens_layers_per_gpu(shape, w)
    forwards = 1 + (1 if w.recompute in term.redone_by else 0)
    per_token = (forwards * term.forward.per_gpu(w.tp, w.sequence_parallel)
                 + term.backward.per_gpu(w.tp, w.sequence_parallel))
    return tokens * layers * per_token


def fp8_weight_cast_bytes_per_gpu(shape: ModelShape, w: TrainingWorkload, transposed_copy: bool) -> float:
    """Casting this GPU's linear weights to FP8 once per step (kept across micro-batches: TE's weight caching)."""
    return fp8_cast_bytes(transformer_linear_params(shape) / (w.tp * w.pp), transposed_copy,
                          w.fp8_scaling == "current")


def grad_accumulation_bytes_per_gpu(shape: ModelShape, w: TrainingWorkload) -> float:
    """Bytes one GPU moves per step adding every micro-batch's weight gradients into its accumulation buffer
    (0 when the weight-gradient GEMMs accumulate in place). The buffer holds this GPU's whole model shard: the
    distributed optimizer shards it only when it reduces."""
    if w.grad_accumulation_fusion:
        return 0.0
    params = shape.params_total / (w.tp * w.pp) * w.trainable_fraction
    return w.micro_batches * params * GRAD_ACCUMULATION_BYTES_PER_PARAM


def optimizer_bytes_per_gpu(shape: ModelShape, w: TrainingWorkload) -> float:
    """Adam step traffic of the parameters this GPU updates (its ZeRO shard from stage 1 on); 0 when offloaded."""
    if w.offload:
        return 0.0  # ZeRO-Offload runs the step on the CPU
    shard = shape.params_total / (w.tp * w.pp) / (w.dp * w.cp if w.zero_stage >= 1 else 1)
    return shard * w.trainable_fraction * ADAM_STEP_BYTES_PER_PARAM  # adapters: only the trained share steps


def memory_bound_times_s(shape: ModelShape, w: TrainingWorkload, memory_gb_s: float, fp8: bool,
                         architecture: str) -> dict[str, float]:
    """Seconds per step of each memory-bound term on one GPU, keyed '<term>_s'."""
    rate = memory_gb_s * 1e9
    out = {f"{name}_s": term_bytes_per_gpu(term, shape, w) / rate
           for name, term in elementwise_terms(shape, w.seq_len, w.flash_attention).items()}
    if fp8:
        transposed = architecture in FP8_TRANSPOSED_COPY_ARCHS
        cast = term_bytes_per_gpu(fp8_cast_term(shape, transposed, w.fp8_scaling == "current"), shape, w)
        cast += fp8_weight_cast_bytes_per_gpu(shape, w, transposed)
        out["fp8_cast_s"] = cast / rate
    out["loss_s"] = cross_entropy_bytes_per_gpu(shape, w) / rate
    out["grad_accumulation_s"] = grad_accumulation_bytes_per_gpu(shape, w) / rate
    out["grad_clip_s"] = grad_clip_bytes_per_gpu(shape, w) / rate
    out["optimizer_s"] = optimizer_bytes_per_gpu(shape, w) / rate
    return out
