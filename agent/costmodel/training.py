"""estimate_training: step time and per-GPU memory of a data/tensor/pipeline-parallel training run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.costmodel import comm
from agent.costmodel.calibration import Calibration
from agent.costmodel.memory import NCCL_BUFFER_GB, RUNTIME_OVERHEAD_GB
from agent.costmodel.roofline import rates_for
from agent.costmodel.shapes import attention_flops, layer_counts, param_split
from agent.costmodel.specs import Hardware, ModelShape, field_of, hardware_from_spec, shape_from_spec
from agent.costmodel.workload import GPUS_PER_NODE, TrainingWorkload

# Per-GPU inter-node bandwidth per direction: one 200 Gb/s HDR InfiniBand port per GPU (DGX A100) or one
# 400 Gb/s NDR port per GPU (DGX H100/B200), as in those systems' reference designs.
INTERNODE_GB_S = {"hopper": 50.0, "blackwell": 50.0}
INTERNODE_DEFAULT_GB_S = 25.0
ADAM_BYTES_PER_PARAM = 12  # fp32 master weights + two fp32 moments
PARAM_BYTES, GRAD_BYTES = 2, 2


def bubble_fraction(schedule: str, pp: int, micro_batches: int, interleave: int = 2) -> float:
    """Idle fraction of a pipeline step: (p-1)/(m+p-1), / interleave for interleaved, ~0 for zero-bubble."""
    if pp <= 1 or schedule == "zero-bubble":
        return 0.0
    frac = (pp - 1) / (micro_batches + pp - 1)
    return frac / interleave if schedule == "interleaved" else frac


def activation_bytes_per_layer(seq: int, micro: int, hidden: int, heads: int, tp: int, sp: bool,
                               recompute: str) -> float:
    """Korthikanti et al. (arXiv:2205.05198) activation bytes of one layer for one micro-batch (16-bit).

    sbh(34 + 5as/h) without parallelism; tensor parallel splits 24 of the 34 (all of it with sequence
    parallel) and the attention-score term; selective recompute drops the score term; full keeps 2sbh.
    """
    sbh = seq * micro * hidden
    scores = 5 * heads * seq / hidden
    if recompute == "full":
        return 2 * sbh / (tp if sp else 1)
    score_term = 0.0 if recompute == "selective" else scores / tp
    base = 34 / tp if sp else 10 + 24 / tp
    return sbh * (base + score_term)


def _inflight(w: TrainingWorkload) -> float:
    """Micro-batches whose activations the first stage holds at once."""
    m, p = w.micro_batches, w.pp
    if w.schedule == "gpipe":
        return m
    held = min(m, p)
    return held * (1 + (p - 1) / (p * w.interleave)) if w.schedule == "interleaved" and p > 1 else held


@dataclass
class TrainingEstimate:
    """Training step time, throughput and per-GPU memory with assumptions."""

    gpu: Hardware
    model: ModelShape
    workload: TrainingWorkload
    step_time_s: float
    tokens_per_s: float
    model_tflops_per_gpu: float
    hardware_tflops_per_gpu: float
    mfu: float
    bubble_fraction: float
    breakdown_s: dict[str, float]
    memory_gb: dict[str, float]
    fits: bool
    bound: str
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "gpu": self.gpu.id, "model": self.model.id, "workload": self.workload.to_dict(),
            "step_time_s": round(self.step_time_s, 5), "tokens_per_s": round(self.tokens_per_s, 2),
            "model_tflops_per_gpu": round(self.model_tflops_per_gpu, 2),
            "hardware_tflops_per_gpu": round(self.hardware_tflops_per_gpu, 2), "mfu": round(self.mfu, 4),
            "bubble_fraction": round(self.bubble_fraction, 4),
            "breakdown_s": {k: round(v, 5) for k, v in self.breakdown_s.items()},
            "memory": {**{k: round(v, 3) for k, v in self.memory_gb.items()}, "fits": self.fits},
            "bound": self.bound, "assumptions": list(self.assumptions),
        }


def training_memory_gb(shape: ModelShape, w: TrainingWorkload, capacity_gb: float) -> dict[str, float]:
    """Per-GPU memory: params, grads, Adam states (ZeRO-sharded, optionally offloaded), activations, overhead."""
    n_gpu = shape.params_total / (w.tp * w.pp)
    dp = (w.dp or 1) * w.cp  # context-parallel ranks hold the same weights: ZeRO shards over dp x cp (Megatron)
    params = PARAM_BYTES * n_gpu / (dp if w.zero_stage >= 3 else 1)
    grads = GRAD_BYTES * n_gpu / (dp if w.zero_stage >= 2 else 1)
    optim = ADAM_BYTES_PER_PARAM * n_gpu / (dp if w.zero_stage >= 1 else 1)
    if w.offload:
        grads, optim = 0.0, 0.0  # ZeRO-Offload keeps gradients and optimizer states in CPU memory
    layers = shape.num_hidden_layers / w.pp
    # context parallel: each GPU keeps the activations of seq/cp tokens (its scores against the whole sequence
    # are computed block by block, never stored whole)
    per_layer = activation_bytes_per_layer(w.seq_len / w.cp, w.micro_batch, shape.hidden_size,
                                           shape.num_attention_heads or 1, w.tp, w.sequence_parallel, w.recompute)
    acts = per_layer * layers * _inflight(w)
    out = {"params_gb": params / 1e9, "grads_gb": grads / 1e9, "optimizer_gb": optim / 1e9,
           "activations_gb": acts / 1e9,
           "overhead_gb": RUNTIME_OVERHEAD_GB + (NCCL_BUFFER_GB if w.gpus > 1 else 0.0)}
    if w.teacher_params:
        out["teacher_gb"] = PARAM_BYTES * w.teacher_params / (w.tp * w.pp) / 1e9  # frozen bf16 teacher
    out["total_gb"] = sum(out.values())
    out["capacity_gb"] = capacity_gb
    return out


def _flops_per_step(shape: ModelShape, w: TrainingWorkload) -> tuple[float, float]:
    """(model FLOPs, hardware FLOPs incl. recompute) of one step over all GPUs."""
    split = param_split(shape)
    tokens = w.global_batch * w.seq_len
    seqs = w.global_batch
    attn_fwd = attention_flops(shape, w.seq_len, w.seq_len, decode=False) * layer_counts(shape).attention * seqs
    dense_fwd = 2 * split.gemm_active * tokens
    model = 3 * (dense_fwd + attn_fwd)
    extra = {"none": 0.0, "selective": attn_fwd, "full": dense_fwd + attn_fwd}[w.recompute]
    teacher = 2 * w.teacher_params * tokens  # distillation: the teacher's forward pass, no backward
    return model + teacher, model + extra + teacher


def _comm_times(shape: ModelShape, w: TrainingWorkload, hw: Hardware, link_gb_s: float,
                internode: float) -> dict[str, float]:
    """Tensor-parallel, pipeline and data-parallel communication seconds per step (not overlapped)."""
    act_msg = w.seq_len / w.cp * w.micro_batch * shape.hidden_size * 2
    layers = shape.num_hidden_layers / w.pp
    per_layer = 4 + (2 if w.recompute == "full" else 0)  # fwd 2, bwd 2 all-reduces (or AG+RS under SP)
    tp_s = w.micro_batches * layers * per_layer * comm.ring_allreduce_s(act_msg, w.tp, link_gb_s)
    pp_link = link_gb_s if w.tp * w.pp <= GPUS_PER_NODE else internode
    pp_s = 2 * (w.micro_batches + w.pp - 1) * comm.p2p_s(act_msg / w.tp, pp_link) if w.pp > 1 else 0.0
    dp_link = w.dp_link_gb_s or (link_gb_s if w.gpus <= GPUS_PER_NODE else internode)
    grad_bytes = GRAD_BYTES * shape.params_total / (w.tp * w.pp)
    sent = grad_bytes / w.grad_compression  # compressed / sparsified gradients (QSGD, DGC, PowerSGD)
    dp = (w.dp or 1) * w.cp  # gradients are reduced over the data- and context-parallel ranks
    if w.zero_stage >= 3:
        # params gathered fwd + bwd (uncompressed), grads reduce-scattered
        dp_s = 2 * comm.ring_allgather_s(grad_bytes, dp, dp_link) + comm.ring_allgather_s(sent, dp, dp_link)
    else:
        dp_s = comm.ring_allreduce_s(sent, dp, dp_link)
    cp_s = 0.0
    if w.cp > 1:
        # ring attention: each layer passes K and V of the local seq/cp tokens cp-1 times forward, and K, V and
        # their gradients backward (3x the forward traffic); counted without overlap like the other collectives
        kv_chunk = 2 * w.seq_len / w.cp * w.micro_batch * shape.num_key_value_heads * shape.head_dim * 2 / w.tp
        cp_s = w.micro_batches * layers * 3 * (w.cp - 1) * comm.p2p_s(kv_chunk, link_gb_s)
    offload_s = 0.0
    if w.offload:
        shard = shape.params_total / (w.tp * w.pp) / (dp if w.zero_stage else 1)
        offload_s = 2 * 2 * shard / (max(hw.pcie_gb_s, 1.0) * 1e9)  # grads down, bf16 params up
    out = {"tp_comm_s": tp_s, "pp_comm_s": pp_s, "dp_comm_s": dp_s, "offload_s": offload_s}
    if w.cp > 1:
        out["cp_comm_s"] = cp_s
    return out


def internode_gb_s(architecture: str) -> float:
    """Per-GPU inter-node bandwidth per direction assumed for this GPU generation."""
    return INTERNODE_GB_S.get(architecture.lower(), INTERNODE_DEFAULT_GB_S)


def estimate_training(gpu: Any, model: Any, workload: TrainingWorkload, calibration: Calibration | None = None,
                      peak_only: bool = False) -> TrainingEstimate:
    """Estimate one training step: compute over achievable FLOP/s, pipeline bubble, collectives; memory per GPU.

    Args:
        gpu, model: GpuSpec / ModelSpec (or dicts with the data files' keys).
        workload: the training layout and batch.
        calibration: measured efficiencies, used when an entry matches this GPU.
        peak_only: plain roofline (spec peaks, no efficiencies), for comparison.
    """
    hw = gpu if isinstance(gpu, Hardware) else hardware_from_spec(gpu)
    arch = str(field_of(gpu, "architecture", "") if not isinstance(gpu, Hardware) else "")
    shape = model if isinstance(model, ModelShape) else shape_from_spec(model)
    w = workload
    if w.gpus > 1:
        hw.require_gpu_link(f"cannot train on {w.gpus} of them")
    entry = calibration.for_gpu(hw.id, (hw.name, *hw.aliases)) if calibration else None
    rates = rates_for(hw, entry, peak_only=peak_only)
    dtype = "fp8" if w.dtype == "fp8" and hw.has_fp8() else "bf16"
    model_flops, hw_flops = _flops_per_step(shape, w)
    compute_s = hw_flops / w.gpus / (rates.compute_tflops(dtype) * 1e12)
    bubble = bubble_fraction(w.schedule, w.pp, w.micro_batches, w.interleave)
    bubble_s = compute_s * bubble / (1 - bubble) if bubble < 1 else 0.0
    internode = internode_gb_s(arch)
    comms = _comm_times(shape, w, hw, rates.link_gb_s, internode)
    breakdown = {"compute_s": compute_s, "bubble_s": bubble_s, **comms}
    step = sum(breakdown.values())
    memory = training_memory_gb(shape, w, hw.capacity_gb)
    peak = rates.peak_for(dtype)  # MFU against the rate the GEMMs run at (fp16 where a GPU has no bf16)
    bound_key = max(breakdown, key=breakdown.get)
    bound = {"compute_s": "compute", "bubble_s": "pipeline-bubble", "offload_s": "pcie"}.get(bound_key, "communication")
    assumptions = list(rates.notes) + [
        f"GEMM-dominated: 6 x active params x tokens + attention FLOPs at {rates.gemm_efficiency:.2f} of {dtype} peak",
        "communication not overlapped with compute; ring collectives; activations 16-bit (Korthikanti et al. "
        "formula, MHA heads)",
        "Adam mixed precision: 2 B params + 2 B grads + 12 B optimizer states per parameter",
    ]
    if w.gpus > GPUS_PER_NODE:
        assumptions.append(f"data-parallel traffic crosses nodes at {internode:g} GB/s per GPU "
                           "per direction (one InfiniBand port per GPU)")
    if w.grad_compression > 1:
        assumptions.append(f"data-parallel gradients compressed {w.grad_compression:g}x; compression compute "
                           "and any accuracy cost not modelled")
    if w.cp > 1:
        assumptions.append(f"context parallel {w.cp}: each GPU holds seq/{w.cp} tokens of activations; ring "
                           "attention K/V passes counted without overlap")
    if w.teacher_params:
        assumptions.append(f"distillation: a frozen {w.teacher_params / 1e9:.1f}B teacher runs forward each step")
    if w.schedule == "zero-bubble" and w.pp > 1:
        assumptions.append("zero-bubble schedule taken as a bubble of ~0 (needs enough micro-batches)")
    return TrainingEstimate(
        gpu=hw, model=shape, workload=w, step_time_s=step,
        tokens_per_s=w.global_batch * w.seq_len / step,
        model_tflops_per_gpu=model_flops / w.gpus / step / 1e12,
        hardware_tflops_per_gpu=hw_flops / w.gpus / step / 1e12,
        mfu=model_flops / w.gpus / step / (peak * 1e12),
        bubble_fraction=bubble, breakdown_s=breakdown, memory_gb=memory,
        fits=memory["total_gb"] <= memory["capacity_gb"], bound=bound, assumptions=assumptions,
    )
