"""estimate_training: step time and per-GPU memory of a data/tensor/pipeline/context-parallel training run.

The step is timed as: tensor-core work (training_compute: linear GEMMs at the training dtype and their shapes,
attention at BF16), the memory-bound
kernels around it (training_traffic), the extra work of the busiest pipeline stage (training_pipeline), the
pipeline bubble, and communication (training_comm) less what hides behind the backward pass. Memory per GPU
comes from training_memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.costmodel.calibration import Calibration
from agent.costmodel.roofline import Rates, rates_for
from agent.costmodel.specs import Hardware, ModelShape, field_of, hardware_from_spec, shape_from_spec
from agent.costmodel.efficiency_data import attention_shape_factor
from agent.costmodel.training_compute import StepFlops, compute_s, lm_head_s, step_flops  # noqa: F401
from agent.costmodel.training_comm import comm_times_s, hidden_grad_reduce_s
from agent.costmodel.training_kernels import kernel_boundary_s
from agent.costmodel.training_memory import activation_note, training_memory_gb
from agent.costmodel.training_pipeline import stage_imbalance_s, stage_layout
from agent.costmodel.training_traffic import memory_bound_times_s
from agent.costmodel.workload import InvalidWorkload, TrainingWorkload

# Per-GPU inter-node bandwidth per direction: one 200 Gb/s HDR InfiniBand port per GPU (DGX A100) or one
# 400 Gb/s NDR port per GPU (DGX H100/B200), as in those systems' reference designs.
INTERNODE_GB_S = {"hopper": 50.0, "blackwell": 50.0}
INTERNODE_DEFAULT_GB_S = 25.0
# Memory-bound terms of the breakdown (timed as bytes over HBM bandwidth, see training_traffic).
MEMORY_BOUND_TERMS = ("norm_s", "residual_s", "activation_s", "rotary_s", "softmax_dropout_s", "fp8_cast_s",
                      "loss_s", "grad_accumulation_s", "grad_clip_s", "optimizer_s", "kernel_boundary_s")
# memory-bound terms that run once per step, after the last micro-batch, rather than inside every micro-batch
PER_STEP_TERMS = ("grad_clip_s", "optimizer_s")


def bubble_fraction(schedule: str, pp: int, micro_batches: int, interleave: int = 2) -> float:
    """Idle fraction of a pipeline step: (p-1)/(m+p-1); interleaved (p-1)/(V m+p-1); ~0 for zero-bubble.

    The interleaved form is Narayanan et al. (arXiv:2104.04473, section 2.2.2): the bubble lasts (p-1)/(V m)
    of the ideal step, V being the model chunks per stage.
    """
    if pp <= 1 or schedule == "zero-bubble":
        return 0.0
    chunks = interleave if schedule == "interleaved" else 1
    return (pp - 1) / (chunks * micro_batches + pp - 1)


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


def internode_gb_s(architecture: str) -> float:
    """Per-GPU inter-node bandwidth per direction assumed for this GPU generation."""
    return INTERNODE_GB_S.get(architecture.lower(), INTERNODE_DEFAULT_GB_S)


def _check_layout(shape: ModelShape, w: TrainingWorkload) -> None:
    """Refuse an interleave depth the layers of one stage cannot be cut into."""
    layers = shape.num_hidden_layers / w.pp
    if w.schedule == "interleaved" and w.pp > 1 and w.interleave > layers:
        raise InvalidWorkload(f"interleave ({w.interleave}) cannot exceed the {layers:g} layers of one pipeline "
                              f"stage of {shape.id}")


def _step_breakdown(shape: ModelShape, w: TrainingWorkload, hw: Hardware, rates: Rates, arch: str,
                    fp8: bool) -> tuple[dict[str, float], StepFlops]:
    """Seconds per step by term; the overlapped part of the data-parallel reduction is a negative term."""
    flops = step_flops(shape, w)
    head_dim = shape.head_dim or shape.hidden_size / max(shape.num_attention_heads, 1)
    attention_shape = attention_shape_factor(arch, head_dim, causal=True) if w.flash_attention else 1.0
    tensor_s = compute_s(flops, shape, w, rates, "fp8" if fp8 else "bf16", attention_shape)
    memory_bound = memory_bound_times_s(shape, w, rates.memory_gb_s, fp8, arch)
    if not rates.peak_only:  # the plain roofline has no per-kernel costs
        memory_bound["kernel_boundary_s"] = kernel_boundary_s(shape, w, fp8, rates.kernel_boundary_us)
    kernels_s = tensor_s + sum(v for k, v in memory_bound.items() if k not in PER_STEP_TERMS)
    comms, grad_reduce_s = comm_times_s(shape, w, hw, rates, internode_gb_s(arch))
    # a stage idles for whole micro-batch slots: its kernels plus the tensor- and context-parallel traffic in them,
    # at the pace of the busiest stage (the last one runs the LM head and the loss on top of its layers)
    stage_work_s = kernels_s + comms["tp_comm_s"] + comms.get("cp_comm_s", 0.0)
    head_s, loss_s = lm_head_s(flops, w, rates), memory_bound["loss_s"]
    imbalance_s = stage_imbalance_s(stage_layout(shape.num_hidden_layers, w), w, shape.num_hidden_layers,
                                    stage_work_s - head_s - loss_s, head_s, loss_s)
    stage_work_s += imbalance_s
    bubble = bubble_fraction(w.schedule, w.pp, w.micro_batches, w.interleave)
    bubble_s = stage_work_s * bubble / (1 - bubble) if bubble < 1 else 0.0
    breakdown = {"compute_s": tensor_s, **memory_bound, "stage_imbalance_s": imbalance_s, "bubble_s": bubble_s,
                 **comms}
    # the reduction can hide behind the last micro-batch's backward: 2/3 of its work (3/4 with full recompute)
    backward_share = 3 / 4 if w.recompute == "full" else 2 / 3
    window_s = kernels_s / w.micro_batches * backward_share
    hidden = hidden_grad_reduce_s(shape, w, grad_reduce_s, window_s)
    if hidden > 0:
        breakdown["dp_overlapped_s"] = -hidden
    return breakdown, flops


def _assumptions(w: TrainingWorkload, rates: Rates, fp8: bool, internode: float, domain_gpus: int) -> list[str]:
    linear_dtype = "fp8" if fp8 else "bf16"
    linear_fraction = rates.compute_tflops(linear_dtype) / rates.peak_for(linear_dtype)
    out = list(rates.notes) + [
        f"linear GEMMs at {linear_fraction:.2f} of {linear_dtype} peak at the reference shape, scaled by tile "
        "padding and waves at their forward, data- and weight-gradient shapes; attention "
        + ("fused (FlashAttention) at the attention efficiency, bf16, its backward 2.5 forwards of work at 0.865 "
           "of the forward rate" if w.flash_attention
           else "unfused: bf16 batched GEMMs over the full S x S square (each bound by its score traffic or its "
                "FLOPs) plus softmax and dropout over the scores in memory"),
        "norms, activations, residual adds, rotary, the vocabulary cross-entropy (unfused, fp32), the gradient-norm "
        "pass of clipping and the Adam step timed as bytes over achievable HBM bandwidth (every attention model "
        "taken to use rotary embeddings; embedding lookup not timed)",
        f"{rates.kernel_boundary_us:g} us lost at each kernel boundary, per kernel of every layer's forward, "
        "recomputed forward and backward (no CUDA graphs in training; the CPU launches ahead of the GPU)",
        "overlap: data-parallel gradient reduction hidden behind the last micro-batch's backward except its "
        "last bucket" if w.overlap_grad_reduce else "no overlap: data-parallel gradient reduction after backward",
        "tensor-parallel collectives (RS + AG under sequence parallel), pipeline sends and ZeRO-3 gathers not "
        "overlapped; activations 16-bit (Korthikanti et al. formula, MHA heads)",
        "collectives inside a node: fixed cost plus bytes over bus bandwidth per algorithm (data/efficiencies/"
        "links.yaml), the fastest at each message size, a reduce-scatter or all-gather as half a ring all-reduce; "
        "groups across nodes or over a named data-parallel link: rings at that bandwidth",
        "Adam mixed precision: 2 B params + 2 B grads + 12 B optimizer states per parameter",
    ]
    if fp8:
        out.append("FP8 only in the transformer blocks' linear GEMMs (attention, norms and LM head stay bf16, as "
                   "in Transformer Engine recipes); bf16->FP8 casts of their inputs, output gradients and "
                   f"weights timed as HBM traffic, {w.fp8_scaling} scaling"
                   + (" (amax taken in the cast pass)" if w.fp8_scaling == "delayed"
                      else " (one more read for the amax)"))
    if w.gpus > domain_gpus:
        out.append(f"groups wider than an NVLink domain ({domain_gpus} GPUs) cross it at {internode:g} GB/s per GPU "
                   "per direction (one InfiniBand port per GPU)")
    if w.grad_compression > 1:
        out.append(f"data-parallel gradients compressed {w.grad_compression:g}x; compression compute "
                   "and any accuracy cost not modelled")
    if w.cp > 1:
        out.append(f"context parallel {w.cp}: each GPU holds seq/{w.cp} tokens of activations and attention "
                   "work (causal load balanced); K/V passes counted without overlap")
    if w.teacher_params:
        out.append(f"distillation: a frozen {w.teacher_params / 1e9:.1f}B teacher runs forward each step")
    if w.schedule == "zero-bubble" and w.pp > 1:
        out.append("zero-bubble schedule taken as a bubble of ~0 (needs enough micro-batches)")
    return out


def _shape_notes(shape: ModelShape, w: TrainingWorkload, arch: str) -> list[str]:
    """Assumptions that depend on the model's shape: attention rate, pipeline split, gradient accumulation."""
    out = []
    head_dim = shape.head_dim or shape.hidden_size / max(shape.num_attention_heads, 1)
    factor = attention_shape_factor(arch, head_dim, causal=True) if w.flash_attention else 1.0
    if factor != 1.0:
        out.append(f"fused attention at {factor:.2f} of its figure's rate: causal, head dim {head_dim:g} "
                   "(data/efficiencies forward_by_shape)")
    if w.pp > 1:
        out.append(stage_layout(shape.num_hidden_layers, w).note(w.pp))
    out.append("weight gradients accumulated inside the weight-gradient GEMMs (fused)" if w.grad_accumulation_fusion
               else "weight gradients added into the accumulation buffer after every micro-batch (no fusion: one "
                    "16-bit read of the new gradient, a read and a write of the buffer per parameter)")
    if w.recompute == "full":
        out.append("full recomputation reruns the transformer layers, not the LM head or the loss")
    return out


def estimate_training(gpu: Any, model: Any, workload: TrainingWorkload, calibration: Calibration | None = None,
                      peak_only: bool = False) -> TrainingEstimate:
    """Estimate one training step: tensor-core work, memory-bound kernels, pipeline bubble, communication less
    overlap; memory per GPU.

    Args:
        gpu, model: GpuSpec / ModelSpec (or dicts with the data files' keys).
        workload: the training layout and batch.
        calibration: measured efficiencies, used when an entry matches this GPU.
        peak_only: plain roofline (spec peaks, no efficiencies), for comparison.
    """
    hw = gpu if isinstance(gpu, Hardware) else hardware_from_spec(gpu)
    arch = hw.architecture or str(field_of(gpu, "architecture", "") if not isinstance(gpu, Hardware) else "")
    shape = model if isinstance(model, ModelShape) else shape_from_spec(model)
    w = workload
    if w.gpus > 1:
        hw.require_gpu_link(f"cannot train on {w.gpus} of them")
    _check_layout(shape, w)
    entry = calibration.for_gpu(hw.id, (hw.name, *hw.aliases)) if calibration else None
    rates = rates_for(hw, entry, peak_only=peak_only)
    fp8 = w.dtype == "fp8" and hw.has_fp8()
    breakdown, flops = _step_breakdown(shape, w, hw, rates, arch, fp8)
    step = sum(breakdown.values())
    memory = training_memory_gb(shape, w, hw.capacity_gb)
    peak = rates.peak_for("fp8" if fp8 else "bf16")  # MFU against the rate the GEMMs run at
    bound_key = max(breakdown, key=breakdown.get)
    named = {"compute_s": "compute", "bubble_s": "pipeline-bubble", "stage_imbalance_s": "pipeline-imbalance",
             "offload_s": "pcie"}
    bound = "memory-bandwidth" if bound_key in MEMORY_BOUND_TERMS else named.get(bound_key, "communication")
    return TrainingEstimate(
        gpu=hw, model=shape, workload=w, step_time_s=step,
        tokens_per_s=w.global_batch * w.seq_len / step,
        model_tflops_per_gpu=flops.model / w.gpus / step / 1e12,
        hardware_tflops_per_gpu=flops.hardware / w.gpus / step / 1e12,
        mfu=flops.model / w.gpus / step / (peak * 1e12),
        bubble_fraction=bubble_fraction(w.schedule, w.pp, w.micro_batches, w.interleave),
        breakdown_s=breakdown, memory_gb=memory,
        fits=memory["total_gb"] <= memory["capacity_gb"], bound=bound,
        assumptions=_assumptions(w, rates, fp8, internode_gb_s(arch), hw.domain_gpus) + _shape_notes(shape, w, arch)
        + [activation_note(shape, w)],
    )
