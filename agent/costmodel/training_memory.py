"""Per-GPU memory of a training run: weights, gradients, Adam states (ZeRO-sharded) and stored activations.

With adapters (LoRA, QLoRA) only the trained share of the parameters has gradients and Adam states; the frozen base
is stored at its own width (4 bits for QLoRA's NF4)."""

from __future__ import annotations

from agent.costmodel.memory import NCCL_BUFFER_GB, RUNTIME_OVERHEAD_GB
from agent.costmodel.specs import ModelShape
from agent.costmodel.workload import TrainingWorkload

ADAM_BYTES_PER_PARAM = 12  # fp32 master weights + two fp32 moments
PARAM_BYTES, GRAD_BYTES = 2, 2
# A fused attention kernel keeps no S x S tensor for its backward pass: it recomputes the scores block by
# block and saves one fp32 softmax statistic per query row and head (the logsumexp of FlashAttention-2,
# Dao, arXiv:2307.08691). Q, K, V and the output it also needs are already in Korthikanti's 34 sbh.
LOGSUMEXP_BYTES = 4


def activation_bytes_per_layer(seq: int, micro: int, hidden: int, heads: int, tp: int, sp: bool,
                               recompute: str, flash_attention: bool = False) -> float:
    """Korthikanti et al. (arXiv:2205.05198) activation bytes of one layer for one micro-batch (16-bit).

    sbh(34 + 5as/h) without parallelism: 34sbh of hidden-sized tensors and 5as^2b of attention scores,
    softmax output and dropout mask. Tensor parallel splits 24 of the 34 (all of it with sequence parallel)
    and the score term; selective recompute drops the score term; full keeps only the layer input (2sbh).
    With ``flash_attention`` the S x S tensors are never stored: the score term becomes the kernel's fp32
    logsumexp, 4 bytes per head and token (4as b).
    """
    sbh = seq * micro * hidden
    scores = (LOGSUMEXP_BYTES if flash_attention else 5 * seq) * heads / hidden
    if recompute == "full":
        return 2 * sbh / (tp if sp else 1)
    score_term = 0.0 if recompute == "selective" else scores / tp
    base = 34 / tp if sp else 10 + 24 / tp
    return sbh * (base + score_term)


def inflight_micro_batches(w: TrainingWorkload) -> float:
    """Micro-batches whose activations the first pipeline stage holds at once.

    GPipe holds all m; 1F1B holds min(m, p); the interleaved schedule holds p micro-batches plus
    (p - 1)/(p V) more (Korthikanti et al. 2022, section 4.2.3), V being the model chunks per stage.
    """
    m, p = w.micro_batches, w.pp
    if w.schedule == "gpipe":
        return m
    held = min(m, p)
    return held * (1 + (p - 1) / (p * w.interleave)) if w.schedule == "interleaved" and p > 1 else held


def training_memory_gb(shape: ModelShape, w: TrainingWorkload, capacity_gb: float) -> dict[str, float]:
    """Per-GPU memory: params, grads, Adam states (ZeRO-sharded, optionally offloaded), activations, overhead."""
    n_gpu = shape.params_total / (w.tp * w.pp)
    dp = (w.dp or 1) * w.cp  # context-parallel ranks hold the same weights: ZeRO shards over dp x cp (Megatron)
    # adapters: the frozen base keeps its own width and has no gradients or optimizer states
    trained = w.trainable_fraction
    weight_bytes = PARAM_BYTES * trained + w.frozen_weight_bits / 8 * (1 - trained)
    params = weight_bytes * n_gpu / (dp if w.zero_stage >= 3 else 1)
    grads = GRAD_BYTES * trained * n_gpu / (dp if w.zero_stage >= 2 else 1)
    optim = ADAM_BYTES_PER_PARAM * trained * n_gpu / (dp if w.zero_stage >= 1 else 1)
    if w.offload:
        grads, optim = 0.0, 0.0  # ZeRO-Offload keeps gradients and optimizer states in CPU memory
    layers = shape.num_hidden_layers / w.pp
    # context parallel: each GPU keeps the activations of seq/cp tokens (ring attention walks the other
    # blocks of keys and values one at a time and never stores scores against the whole sequence)
    per_layer = activation_bytes_per_layer(w.seq_len / w.cp, w.micro_batch, shape.hidden_size,
                                           shape.num_attention_heads or 1, w.tp, w.sequence_parallel, w.recompute,
                                           w.flash_attention)
    acts = per_layer * layers * inflight_micro_batches(w)
    out = {"params_gb": params / 1e9, "grads_gb": grads / 1e9, "optimizer_gb": optim / 1e9,
           "activations_gb": acts / 1e9,
           "overhead_gb": RUNTIME_OVERHEAD_GB + (NCCL_BUFFER_GB if w.gpus > 1 else 0.0)}
    if w.teacher_params:
        out["teacher_gb"] = PARAM_BYTES * w.teacher_params / (w.tp * w.pp) / 1e9  # frozen bf16 teacher
    out["total_gb"] = sum(out.values())
    out["capacity_gb"] = capacity_gb
    return out


def activation_note(shape: ModelShape, w: TrainingWorkload) -> str:
    """One line that explains the activation figure: bytes per layer x layers per stage x micro-batches held."""
    per_layer = activation_bytes_per_layer(w.seq_len / w.cp, w.micro_batch, shape.hidden_size,
                                           shape.num_attention_heads or 1, w.tp, w.sequence_parallel, w.recompute,
                                           w.flash_attention)
    layers, held = shape.num_hidden_layers / w.pp, inflight_micro_batches(w)
    scores = ("no S x S scores stored (fused attention keeps a logsumexp per head and token)" if w.flash_attention
              else "S x S scores, softmax and dropout mask stored (unfused attention)")
    split = ("all of it split over tp (sequence parallel)" if w.sequence_parallel or w.tp == 1
             else "10 sbh of the 34 sbh held whole by every tp rank (no sequence parallel)")
    return (f"activations: {per_layer / 1e9:.3g} GB per layer per micro-batch x {layers:g} layers per stage x "
            f"{held:.3g} micro-batches in flight ({w.schedule}); {scores}; {split}")
