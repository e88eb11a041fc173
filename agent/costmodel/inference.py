"""estimate_inference: serving metrics for a model on a GPU, with techniques applied one step at a time."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable

from agent.costmodel import comm
from agent.costmodel.calibration import Calibration
from agent.costmodel.dtypes import compute_dtype_for, dtype_bytes, normalize_dtype, weight_bytes_per_param
from agent.costmodel.efficiency_data import link_kind
from agent.costmodel.forward import Setup, offload_gb_s
from agent.costmodel.knobs import Knobs
from agent.costmodel.memo import remembered
from agent.costmodel.memory import NCCL_BUFFER_GB, RUNTIME_OVERHEAD_GB, memory_breakdown
from agent.costmodel.roofline import rates_for
from agent.costmodel.serving import Metrics, evaluate
from agent.costmodel.shapes import kv_bytes_per_token, layer_counts, param_split, student_shape
from agent.costmodel.specs import Hardware, ModelShape, hardware_from_spec, shape_from_spec
from agent.costmodel.transforms import apply_transform, choice_from
from agent.costmodel.workload import GPUS_PER_NODE, InferenceWorkload, ParallelConfig


@dataclass
class InferenceEstimate:
    """The result: final metrics, per-technique steps, and the assumptions behind them.

    The steps' and assumptions' text is written when first read: the agent runs dozens of estimates per
    answer and reads only the final metrics (:meth:`summary_dict`).
    """

    gpu: Hardware
    model: ModelShape
    workload: InferenceWorkload
    parallel: ParallelConfig
    metrics: Metrics
    baseline: Metrics
    applied: list[tuple] = field(default_factory=list)  # (choice, warnings, before, after) per technique
    setup: Setup | None = None  # the final configuration, for the assumptions
    warnings: list[str] = field(default_factory=list)
    kv_bytes_per_token: float = 0.0
    peak_only: bool = False
    context: dict = field(default_factory=dict)  # tokens a request spans, the usable limit, whether it is usable

    def __getattr__(self, name: str) -> Any:
        # ttft_ms, tpot_ms, memory, ... read through to the final metrics
        if name.startswith("__") or name in ("metrics", "applied", "setup"):
            raise AttributeError(name)
        return getattr(self.metrics, name)

    @cached_property
    def steps(self) -> list[dict]:
        """One dict per technique: its metrics before and after, speedups, memory change and warnings."""
        return [_step(*applied) for applied in self.applied]

    @cached_property
    def assumptions(self) -> list[str]:
        """What the numbers assume, in words."""
        return _assumptions(self.setup, self.workload, self.peak_only) if self.setup else []

    def summary_dict(self) -> dict:
        """The final metrics and warnings only (no steps, baseline or assumptions)."""
        out = self.metrics.to_dict()
        out["warnings"] = list(self.warnings)
        out["context"] = dict(self.context)
        return out

    def to_dict(self) -> dict:
        """The JSON the CLI and the API return."""
        out = self.metrics.to_dict()
        out.update({
            "gpu": self.gpu.id, "gpu_name": self.gpu.name, "model": self.model.id,
            "workload": self.workload.to_dict(), "parallel": self.parallel.to_dict(),
            "kv_bytes_per_token": self.kv_bytes_per_token, "baseline": self.baseline.to_dict(),
            "steps": self.steps, "assumptions": list(self.assumptions), "warnings": list(self.warnings),
            "context": dict(self.context),
        })
        return out


def base_knobs(hw: Hardware, workload: InferenceWorkload) -> tuple[Knobs, list[str]]:
    """The naive baseline for the workload's dtypes; FP8 on a GPU without FP8 tensor cores computes in bf16."""
    warnings = []
    gemm = compute_dtype_for(workload.dtype)
    if gemm == "fp8" and not hw.has_fp8():
        warnings.append(f"{hw.name} has no FP8 tensor cores: FP8 weights are upcast, GEMMs run in bf16")
        gemm = "bf16"
    if normalize_dtype(workload.dtype) == "fp4" and hw.has_fp4():
        # NVFP4 checkpoints quantise activations too (W4A4) where FP4 tensor cores exist; below SM100 engines
        # run them weight-only, dequantising to 16 bits (llm-compressor docs, "fp4 Quantization with NVFP4":
        # https://docs.vllm.ai/projects/llm-compressor/en/stable/examples/quantization_w4a4_fp4/)
        gemm = "fp4"
    if gemm == "int8" and not hw.dense_tflops.get("int8"):
        warnings.append(f"{hw.name} lists no INT8 tensor rate: GEMMs run in bf16")
        gemm = "bf16"
    act = 4.0 if workload.dtype == "fp32" else 2.0
    kv = dtype_bytes(workload.kv_dtype) if workload.kv_dtype else act
    return Knobs(weight_bytes_per_param=weight_bytes_per_param(workload.dtype), gemm_dtype=gemm,
                 kv_bytes=kv, act_bytes=act), warnings


def _collectives_note(setup: Setup, peak_only: bool) -> str:
    """How the tensor-parallel all-reduce, expert all-to-all and pipeline sends are timed, in one sentence."""
    hw, par, rates = setup.hw, setup.parallel, setup.rates
    raw_gb_s = comm.group_link_gb_s(hw, par.tp, hw.link_gb_s)
    kind = link_kind(hw.link_kind)
    group = f"the {par.tp}-GPU TP group's datasheet link is {raw_gb_s:.0f} GB/s per direction over {hw.link_kind}"
    if kind is not None:
        group += f" ({kind.topology} topology)"
    rest = (f"pipeline sends at {rates.link_gb_s:.0f} GB/s per direction and expert all-to-all at the EP group's "
            f"share of it, each plus {comm.STEP_LATENCY_US:g} us per step (assumed)")
    if peak_only:
        return (f"collectives as rings at datasheet bandwidth, {comm.STEP_LATENCY_US:g} us per ring step; {group}; "
                f"{rest}")
    measured = rates.allreduce_calibrated
    if measured.get("busbw_gb_s"):
        return (f"TP all-reduce from the calibration's measured all-reduce ({measured.get('latency_us', 0.0):g} us "
                f"fixed cost at {int(measured.get('ranks') or par.tp)} ranks, scaled by ring steps, and "
                f"{measured['busbw_gb_s']:g} GB/s bus bandwidth); {rest}")
    if kind is None:
        return (f"TP all-reduce as a ring at {comm.group_link_gb_s(hw, par.tp, rates.link_gb_s):.0f} GB/s "
                f"(achievable), {comm.STEP_LATENCY_US:g} us per ring step (assumed: {hw.link_kind} has no entry "
                f"in data/efficiencies/links.yaml); {rest}")
    return (f"TP all-reduce as a fixed cost plus bytes over bus bandwidth, both per algorithm "
            f"({', '.join(kind.allreduce)}) from data/efficiencies/links.yaml, the fastest at each message size; "
            f"the bus bandwidth is the file's fraction of the group's link, and {group}; {rest}")


def _assumptions(setup: Setup, workload: InferenceWorkload, peak_only: bool) -> list[str]:
    out = list(setup.rates.notes)
    hw, par = setup.hw, setup.parallel
    if not peak_only:
        out.append(f"achievable = spec x efficiency (gemm {setup.rates.gemm_efficiency:.2f}, fused attention "
                   f"{setup.rates.attention_efficiency:.2f}, memory "
                   f"{setup.rates.memory_gb_s / hw.memory_bandwidth_gb_s:.2f}); kernel overhead "
                   f"{setup.rates.kernel_overhead_us:g} us per launch")
    out += [
        "baseline stack: unfused attention (S x S scores in memory), contiguous KV reserved at max length, "
        "static batching, no CUDA graphs; techniques change this step by step",
        ("all requests have the same lengths" if workload.uniform_lengths else
         "output lengths spread uniformly up to 2x the mean: static batches run until their longest request")
        + f"; contiguous KV reserves {workload.reserve_len} tokens per request",
        f"runtime overhead {RUNTIME_OVERHEAD_GB} GB per GPU (+{NCCL_BUFFER_GB} GB NCCL buffers when multi-GPU): "
        "assumed, not measured",
        "decode metrics at the mean context (prompt + output/2); MLP is gated (3 matrices); embeddings and LM "
        "head stay 16-bit under weight quantisation",
    ]
    if not setup.knobs.kv_group_shared and setup.shape.num_key_value_heads < setup.shape.num_attention_heads:
        out.append("decode attention streams each KV head once per query head of its group (no GQA sharing)")
    if par.tp > 1 or par.ep > 1 or par.pp > 1:
        out.append(_collectives_note(setup, peak_only))
    if par.tp * par.pp > GPUS_PER_NODE:
        out.append(f"tp x pp = {par.tp * par.pp} spans nodes: the intra-node link rate is used anyway (optimistic)")
    if setup.shape.n_experts:
        out.append("MoE routing uniform and independent: a step touches n_experts x (1 - (1 - k/n)^tokens) experts")
    return out


def build_setup(hw: Hardware, shape: ModelShape, parallel: ParallelConfig, knobs: Knobs,
                calibration: Calibration | None, peak_only: bool = False) -> Setup:
    """Bundle the fixed inputs of one estimate."""
    split, counts, rates = _fixed_inputs(hw, shape, calibration, peak_only)
    return Setup(hw=hw, shape=shape, split=split, counts=counts, parallel=parallel, rates=rates, knobs=knobs)


def _fixed_inputs(hw: Hardware, shape: ModelShape, calibration: Calibration | None, peak_only: bool) -> tuple:
    """(param split, layer counts, rates): the same for every step of an estimate, and shared within a memo scope."""
    def compute() -> tuple:
        entry = calibration.for_gpu(hw.id, (hw.name, *hw.aliases)) if calibration else None
        return param_split(shape), layer_counts(shape), rates_for(hw, entry, peak_only=peak_only)

    return remembered(("fixed", id(hw), id(shape), id(calibration), peak_only), compute, (hw, shape, calibration))


def _evaluate(setup: Setup, workload: InferenceWorkload, calibration: Calibration | None, peak_only: bool) -> Metrics:
    """``evaluate`` shared within a memo scope: equal hardware, model, layout, knobs and workload give one result."""
    values = dict(setup.knobs.__dict__)
    values.pop("notes", None)  # notes never change a number
    key = ("evaluate", id(setup.hw), id(setup.shape), id(calibration), peak_only, setup.parallel, workload,
           tuple(values.values()))
    # a knob value that cannot be a key (unhashable) is computed afresh by remembered
    return remembered(key, lambda: _evaluate_offloaded(setup, workload), (setup.hw, setup.shape, calibration))


def _evaluate_offloaded(setup: Setup, workload: InferenceWorkload) -> Metrics:
    """``evaluate``, with the weights that offload leaves off the GPU streamed over PCIe every forward."""
    if setup.knobs.offload_target:
        memory = memory_breakdown(setup.shape, setup.split, setup.counts, setup.knobs, workload, setup.parallel,
                                  setup.hw.capacity_gb)
        setup = replace(setup, offload_bytes=memory.offloaded_gb * 1e9)
    return evaluate(setup, workload)


def context_check(shape: ModelShape, knobs: Knobs, workload: InferenceWorkload) -> tuple[dict, list[str]]:
    """Whether a request (prompt + output) fits the context the model handles, and warnings when not.

    Beyond its trained context (max_position_embeddings) a RoPE model's outputs degrade: the workload is marked
    not usable (a quality problem, not a speed one) until a context-extension technique widens the limit.
    """
    tokens = workload.prompt_len + workload.output_len
    trained = shape.max_position_embeddings
    limit = max(knobs.context_limit or 0, trained)
    usable = tokens <= limit
    info = {"tokens": tokens, "trained": trained, "limit": limit, "usable": usable,
            "needs_training": bool(knobs.context_limit and knobs.context_needs_training)}
    warnings = []
    if not usable:
        what = "extended" if knobs.context_limit else "trained"
        warnings.append(f"quality: prompt + output ({tokens} tokens) exceed {shape.name}'s {what} context "
                        f"({limit} tokens); outputs degrade beyond it")
    elif tokens > trained:
        warnings.append(f"context extended to {limit} tokens (trained {trained}): KV cache and attention costed "
                        f"at {tokens} tokens" + ("; needs fine-tuning on long sequences first"
                                                 if knobs.context_needs_training else "; no fine-tuning needed"))
    return info, warnings


def _speedup(before: float, after: float, higher_is_better: bool = False) -> float | None:
    if not before or not after:
        return None
    return round(after / before if higher_is_better else before / after, 4)


def _step(choice, warnings: list[str], before: Metrics, after: Metrics) -> dict:
    return {
        "technique": choice.id, "transform": choice.transform, "params": dict(choice.params),
        "warnings": warnings, "before": before.to_dict(), "after": after.to_dict(),
        "speedup": {"ttft": _speedup(before.ttft_ms, after.ttft_ms), "tpot": _speedup(before.tpot_ms, after.tpot_ms),
                    "throughput": _speedup(before.throughput_tokens_per_s, after.throughput_tokens_per_s, True)},
        "memory_delta_gb": round(after.memory.total_gb - before.memory.total_gb, 4),
    }


def estimate_inference(gpu: Any, model: Any, workload: InferenceWorkload, parallel: ParallelConfig | None = None,
                       techniques: Iterable[Any] = (), calibration: Calibration | None = None,
                       peak_only: bool = False) -> InferenceEstimate:
    """Estimate serving a model on a GPU layout, then apply techniques one after another.

    Args:
        gpu: a GpuSpec (or dict with the GPU file's keys).
        model: a ModelSpec (or dict with the model file's keys).
        workload: request mix and dtypes.
        parallel: GPU layout; default one GPU.
        techniques: catalog Techniques, or (Technique, param_overrides) pairs, applied in order.
        calibration: measured efficiencies; used when an entry matches this GPU.
        peak_only: plain roofline (spec peaks, no efficiencies, no overheads), for comparison.
    Returns:
        InferenceEstimate with final metrics, the baseline, one step per technique and the assumptions.
    """
    # within a memo scope the same spec objects give the same (immutable) Hardware and ModelShape
    hw = gpu if isinstance(gpu, Hardware) else remembered(("hw", id(gpu)), lambda: hardware_from_spec(gpu), (gpu,))
    shape = model if isinstance(model, ModelShape) else remembered(("shape", id(model)),
                                                                   lambda: shape_from_spec(model), (model,))
    parallel = parallel or ParallelConfig()
    if parallel.tp > 1 or parallel.pp > 1 or parallel.ep > 1:
        hw.require_gpu_link(f"tp, pp and ep must be 1, only independent replicas (got tp {parallel.tp}, "
                            f"pp {parallel.pp}, ep {parallel.ep})")
    state = _start(hw, shape, parallel, workload, calibration, peak_only)
    warnings = list(state.warnings)
    baseline = current = state.metrics
    applied = []
    for item in techniques:
        state = _next(state, item, hw, shape, parallel, workload, calibration, peak_only)
        applied.append((state.choice, list(state.warnings), current, state.metrics))
        current = state.metrics
    knobs, setup = state.knobs, state.setup
    if not current.memory.fits:
        # capacity is binary (GiB) in text for people; the JSON fields stay decimal GB
        warnings.append(f"does not fit: {current.memory.total_gb * 1e9 / 2**30:.1f} GiB needed per GPU, "
                        f"{current.memory.capacity_gb * 1e9 / 2**30:.1f} GiB available")
    warnings += _technique_caveats(setup, current)
    context, context_warnings = context_check(shape, knobs, workload)
    return InferenceEstimate(
        gpu=hw, model=shape, workload=workload, parallel=parallel, metrics=current, baseline=baseline,
        applied=applied, setup=setup, warnings=warnings + context_warnings,
        kv_bytes_per_token=kv_bytes_per_token(setup.shape, knobs.kv_bytes), peak_only=peak_only, context=context,
    )


@dataclass(frozen=True)
class _State:
    """Where an estimate stands after its baseline and each technique: knobs, setup and metrics (shared in a scope)."""

    knobs: Knobs
    setup: Setup
    metrics: Metrics
    warnings: tuple[str, ...]  # the baseline's warnings, then each step's own
    choice: Any = None  # the technique of the step that led here (None for the baseline)


def _start(hw: Hardware, shape: ModelShape, parallel: ParallelConfig, workload: InferenceWorkload,
           calibration: Calibration | None, peak_only: bool) -> _State:
    """The naive baseline of an estimate; one per hardware, model, layout, workload and calibration in a scope."""
    def compute() -> _State:
        knobs, warnings = base_knobs(hw, workload)
        setup = build_setup(hw, shape, parallel, knobs, calibration, peak_only)
        return _State(knobs, setup, _evaluate(setup, workload, calibration, peak_only), tuple(warnings))

    key = ("start", id(hw), id(shape), id(calibration), peak_only, parallel, workload)
    return remembered(key, compute, (hw, shape, calibration))


def _next(state: _State, item: Any, hw: Hardware, shape: ModelShape, parallel: ParallelConfig,
          workload: InferenceWorkload, calibration: Calibration | None, peak_only: bool) -> _State:
    """The state after applying one technique to ``state``.

    Estimates of one answer walk the same reference stack before the technique under test: within a scope a
    step from a given state with a given catalog technique is taken once. ``state`` stands for everything the
    step depends on (it descends from one :func:`_start`), so its identity and the technique's make the key.
    Only immutable catalog techniques are keyed by identity; pairs with overrides, dicts and choices are
    stepped afresh every time.
    """
    def compute() -> _State:
        choice = choice_from(item)
        knobs, step_warnings = apply_transform(state.knobs, choice, hw, shape, parallel)
        if knobs is state.knobs:  # nothing changed: the numbers stay
            return _State(knobs, state.setup, state.metrics, tuple(step_warnings), choice)
        run_shape = student_shape(shape, knobs.student_fraction)  # distillation runs the student
        setup = build_setup(hw, run_shape, parallel, knobs, calibration, peak_only)
        return _State(knobs, setup, _evaluate(setup, workload, calibration, peak_only), tuple(step_warnings), choice)

    if not getattr(type(item), "model_config", {}).get("frozen"):
        return compute()
    return remembered(("step", id(state), id(item)), compute, (state, item))


def _technique_caveats(setup: Setup, metrics: Metrics) -> list[str]:
    """What the final configuration asks of the user beyond the numbers (a student to train, host memory)."""
    out = []
    if setup.knobs.student_fraction < 1:
        out.append(f"runs a distilled student ({setup.shape.params_total / 1e9:.2f}B params): "
                   "it must be trained first")
    offloaded = metrics.memory.offloaded_gb
    if offloaded > 0:
        where = "NVMe" if setup.knobs.offload_target == "nvme" else "host RAM"
        out.append(f"{offloaded:.1f} GB of weights per GPU stay in {where} and stream over PCIe every step "
                   f"(about {offloaded / offload_gb_s(setup):.2f} s per forward at {offload_gb_s(setup):g} GB/s)")
    return out
