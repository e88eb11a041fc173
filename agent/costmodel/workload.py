"""What is being estimated: an inference request mix, a parallel layout, a training run."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

from agent.costmodel.dtypes import normalize_dtype
from index.errors import AccelsageError

# GPUs joined by the fast link (NVLink/Infinity Fabric); larger groups cross nodes
GPUS_PER_NODE = 8


@dataclass(frozen=True)
class InferenceWorkload:
    """A uniform request mix served at a fixed concurrency.

    Args:
        batch: concurrent requests across the whole deployment.
        prompt_len: prompt tokens per request.
        output_len: generated tokens per request (mean).
        dtype: weight (and GEMM) format: bf16, fp16, fp8 (W8A8), int8 (W8A8), int4 (weight-only, groups of 128).
        kv_dtype: KV-cache format; None means the activation format (bf16).
        max_seq_len: tokens a contiguous KV cache reserves per request; None -> prompt + 2 x output.
        uniform_lengths: every request has exactly these lengths (benchmarks); otherwise outputs are
            taken to spread uniformly up to twice the mean.
    """

    batch: int = 1
    prompt_len: int = 1024
    output_len: int = 256
    dtype: str = "bf16"
    kv_dtype: str | None = None
    max_seq_len: int | None = None
    uniform_lengths: bool = False

    def __post_init__(self) -> None:
        if self.batch < 1 or self.prompt_len < 1 or self.output_len < 1:
            raise AccelsageError("batch, prompt and output lengths must be at least 1")
        object.__setattr__(self, "dtype", normalize_dtype(self.dtype))
        if self.kv_dtype is not None:
            object.__setattr__(self, "kv_dtype", normalize_dtype(self.kv_dtype))

    @property
    def reserve_len(self) -> int:
        """Tokens a contiguous cache reserves: outputs are assumed spread up to twice their mean."""
        spread = 1 if self.uniform_lengths else 2
        return self.max_seq_len or self.prompt_len + spread * self.output_len

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ParallelConfig:
    """How GPUs are split: tensor (tp), pipeline (pp), expert (ep) parallel; data-parallel replicas fill the rest."""

    gpus: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1

    def __post_init__(self) -> None:
        if min(self.gpus, self.tp, self.pp, self.ep) < 1:
            raise AccelsageError("gpus, tp, pp and ep must be at least 1")
        if self.gpus % (self.tp * self.pp):
            raise AccelsageError(f"gpus ({self.gpus}) must be a multiple of tp x pp ({self.tp * self.pp})")
        if (self.tp * self.dp) % self.ep:
            raise AccelsageError(f"ep ({self.ep}) must divide tp x dp ({self.tp * self.dp})")

    @property
    def dp(self) -> int:
        """Data-parallel replicas."""
        return self.gpus // (self.tp * self.pp)

    @property
    def expert_shards(self) -> int:
        """Ways each MoE layer's expert weights are split."""
        return max(self.tp, self.ep)

    def to_dict(self) -> dict:
        return {"gpus": self.gpus, "tp": self.tp, "pp": self.pp, "ep": self.ep, "dp": self.dp}


SCHEDULES = ("gpipe", "1f1b", "interleaved", "zero-bubble")
RECOMPUTE = ("none", "selective", "full")
FP8_SCALINGS = ("delayed", "current")


@dataclass(frozen=True)
class TrainingWorkload:
    """One training configuration (Megatron/DeepSpeed vocabulary)."""

    seq_len: int = 2048
    global_batch: int = 512
    micro_batch: int = 1
    gpus: int = 8
    tp: int = 1
    pp: int = 1
    dp: int | None = None
    zero_stage: int = 0
    offload: bool = False
    recompute: str = "none"
    schedule: str = "1f1b"
    sequence_parallel: bool = False
    dtype: str = "bf16"
    interleave: int = 2                 # model chunks per pipeline stage (V) under the interleaved schedule
    cp: int = 1                         # context parallel: each sequence split over cp GPUs (ring attention)
    grad_compression: float = 1.0       # data-parallel gradient bytes divided by this (compression / sparsification)
    dp_link_gb_s: float | None = None   # data-parallel link per GPU per direction (e.g. 12.5 for 100 GbE); None: default
    teacher_params: float = 0.0         # distillation: a frozen teacher run forward each step
    flash_attention: bool = True        # fused attention kernel: no S x S scores stored or written to memory
    overlap_grad_reduce: bool = True    # data-parallel gradient reduction runs during backward (Megatron default)
    grad_accumulation_fusion: bool = True  # weight-gradient GEMMs add into the accumulation buffer themselves
    fp8_scaling: str = "delayed"        # FP8 scale factors: delayed (from the amax history) or current (per tensor)
    trainable_fraction: float = 1.0     # adapters (LoRA, QLoRA): the share of parameters trained; the rest is frozen
    frozen_weight_bits: float = 16.0    # adapters: bits per frozen base weight (4 for QLoRA's NF4)

    def __post_init__(self) -> None:
        if min(self.gpus, self.tp, self.pp, self.cp, self.interleave, self.micro_batch, self.seq_len,
               1 if self.dp is None else self.dp) < 1:
            raise AccelsageError("gpus, tp, pp, cp, dp, interleave, micro_batch and seq_len must be at least 1")
        if self.grad_compression < 1:
            raise AccelsageError("grad_compression must be at least 1")
        if not 0 < self.trainable_fraction <= 1:
            raise AccelsageError("trainable_fraction must be above 0 and at most 1")
        model_parallel = self.tp * self.pp * self.cp
        if self.dp is None and self.gpus % model_parallel:
            raise AccelsageError(f"gpus ({self.gpus}) must be a multiple of tp x pp x cp "
                                 f"({self.tp}x{self.pp}x{self.cp} = {model_parallel})")
        dp = self.dp or self.gpus // model_parallel
        object.__setattr__(self, "dp", dp)
        if model_parallel * dp != self.gpus:
            raise AccelsageError(f"tp x pp x cp x dp ({self.tp}x{self.pp}x{self.cp}x{dp} = {model_parallel * dp}) "
                                 f"must equal gpus ({self.gpus})")
        if self.fp8_scaling not in FP8_SCALINGS:
            raise AccelsageError(f"fp8_scaling must be one of {', '.join(FP8_SCALINGS)}")
        if self.cp > 1 and not self.flash_attention:
            raise AccelsageError("context parallelism needs a fused attention kernel (ring attention); "
                                 "drop cp or use flash attention")
        if self.zero_stage not in (0, 1, 2, 3):
            raise AccelsageError("zero_stage must be 0, 1, 2 or 3")
        if self.recompute not in RECOMPUTE:
            raise AccelsageError(f"recompute must be one of {', '.join(RECOMPUTE)}")
        if self.schedule not in SCHEDULES:
            raise AccelsageError(f"schedule must be one of {', '.join(SCHEDULES)}")
        if self.global_batch % (self.micro_batch * dp):
            raise AccelsageError("global_batch must be a multiple of micro_batch x dp")
        object.__setattr__(self, "dtype", normalize_dtype(self.dtype))

    @property
    def micro_batches(self) -> int:
        """Micro-batches per step per pipeline (m)."""
        return self.global_batch // (self.micro_batch * self.dp)

    def to_dict(self) -> dict:
        # every field is a scalar, so a plain dict equals asdict's deep copy (at a fraction of its cost: each
        # training estimate of an answer writes one)
        return {name: getattr(self, name) for name in _TRAINING_FIELDS}


_TRAINING_FIELDS = tuple(f.name for f in fields(TrainingWorkload))


class InvalidWorkload(AccelsageError):
    """A workload value out of range or a layout the model cannot be split into (one line, answered 422)."""

    http_status = 422


# Workload field -> (low, high), inclusive; the CLI and the API check values against these.
WORKLOAD_RANGES: dict[str, tuple[int, int]] = {
    "gpus": (1, 4096), "prompt": (1, 10_000_000), "output": (1, 10_000_000), "batch": (1, 1_000_000),
}


def check_workload_value(name: str, value: object) -> int:
    """``value`` (an int, or text such as '8k' for token counts) as an int within ``WORKLOAD_RANGES[name]``."""
    low, high = WORKLOAD_RANGES[name]
    bad = InvalidWorkload(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int):
        number: int | None = value
    elif isinstance(value, float):
        number = int(value) if value.is_integer() else None
    else:
        text = str(value).strip()
        if name in ("prompt", "output"):
            from agent.reading.quantities import parse_count

            number = parse_count(text) if re.fullmatch(r"[\d.,]+\s*[kKmM]?", text) else None
        else:
            number = int(text) if re.fullmatch(r"[+-]?\d+", text) else None
    if number is None or not low <= number <= high:
        raise bad
    return number


def check_layout(model: object, gpus: int, tp: int, pp: int) -> None:
    """Refuse a tensor/pipeline split the model cannot take: tp must divide the attention heads (and the KV
    heads when there are at least tp of them) and fit in the GPUs; pp may not exceed the layers."""
    if tp > gpus:
        raise InvalidWorkload(f"tp ({tp}) cannot exceed gpus ({gpus})")
    if tp * pp > gpus:
        raise InvalidWorkload(f"tp x pp ({tp * pp}) cannot exceed gpus ({gpus})")
    name = getattr(model, "id", None) or getattr(model, "name", "the model")
    heads = int(getattr(model, "num_attention_heads", 0) or 0) if getattr(model, "attention", "") != "none" else 0
    kv_heads = int(getattr(model, "num_key_value_heads", 0) or 0) if heads else 0
    if tp > 1 and heads and heads % tp:
        raise InvalidWorkload(f"tp ({tp}) must divide {name}'s {heads} attention heads")
    if tp > 1 and kv_heads >= tp and kv_heads % tp:
        raise InvalidWorkload(f"tp ({tp}) must divide {name}'s {kv_heads} KV heads")
    layers = int(getattr(model, "num_hidden_layers", 0) or 0)
    if layers and pp > layers:
        raise InvalidWorkload(f"pp ({pp}) cannot exceed {name}'s {layers} layers")
