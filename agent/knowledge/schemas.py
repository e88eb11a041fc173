"""Pydantic schemas for the bundled knowledge in ``data/``: techniques, papers, card front matter.

GPU and model schemas live in ``hardware.py`` and ``model_shape.py`` and are re-exported here.
Field names follow docs/ARCHITECTURE.md. Every schema forbids unknown keys so a typo in a data file
fails the data test instead of silently dropping a value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from agent.knowledge.fields import DTYPES, Strict, as_str, as_str_list, normalize_dtype
from agent.knowledge.hardware import DtypeTflops, Efficiency, GpuSpec, Interconnect
from agent.knowledge.model_shape import ModelSpec
from index.errors import AccelsageError

__all__ = [
    "BOTTLENECKS", "DTYPES", "FAMILIES", "PHASES", "ROLES", "TRANSFORM_PARAMS", "CardMeta", "CostModelSpec",
    "DtypeTflops", "Efficiency", "Framework", "GpuSpec", "Instance", "Interconnect", "ModelSpec", "PaperEntry", "PaperFacts", "Quality",
    "Relations", "Requirements", "Technique", "normalize_dtype", "PARAM_RANGES", "ParamRange", "InvalidParam",
    "check_param",
]

FAMILIES = (
    "attention-kernel", "kv-cache", "scheduling", "quantization", "pruning-distillation",
    "speculative-decoding", "early-exit-sparsity", "long-context", "ssm-linear", "parallelism",
    "communication", "compiler-fusion", "moe", "checkpointing", "offload-edge", "training-precision",
)
PHASES = ("training", "prefill", "decode", "serving")
BOTTLENECKS = ("compute", "memory-bandwidth", "memory-capacity", "communication", "launch-overhead")
# Cost-model transform -> the params it accepts (docs/ARCHITECTURE.md, cost-model transforms table).
TRANSFORM_PARAMS: dict[str, frozenset[str]] = {
    "weight_quant": frozenset({"weight_bits", "group_size"}),
    "kv_quant": frozenset({"kv_bits"}),
    "fp8_compute": frozenset({"compute_dtype"}),
    "int8_compute": frozenset(),
    "attention_io": frozenset(),
    "split_kv_decode": frozenset(),
    "paged_kv": frozenset({"block_tokens"}),
    "prefix_cache": frozenset({"hit_rate"}),
    "chunked_prefill": frozenset({"chunk_tokens"}),
    "disaggregation": frozenset({"prefill_fraction"}),
    "continuous_batching": frozenset(),
    "speculative": frozenset({"acceptance_rate", "draft_tokens", "draft_cost_ratio", "verify_tokens"}),
    "kv_eviction": frozenset({"kv_budget_tokens"}),
    "contextual_sparsity": frozenset({"active_fraction"}),
    "early_exit": frozenset({"layer_fraction"}),
    "pruning": frozenset({"sparsity", "structured"}),
    "comm_overlap": frozenset({"hidden_fraction"}),
    "launch_overhead": frozenset({"overhead_reduction"}),
    "kernel_fusion": frozenset({"memory_traffic_reduction"}),
    "tensor_parallel": frozenset(),
    "pipeline_parallel": frozenset(),
    "expert_parallel": frozenset(),
    "sequence_parallel": frozenset(),
    "context_parallel": frozenset({"cp"}),
    "zero": frozenset({"stage"}),
    "offload": frozenset({"target"}),
    "recompute": frozenset({"selective"}),
    "pipeline_schedule": frozenset({"schedule"}),
    "mixed_precision": frozenset({"dtype"}),
    "linear_attention": frozenset(),
    "context_extension": frozenset({"trained_context", "extension_factor", "needs_training"}),
    "grad_compression": frozenset({"compression_ratio"}),
    "distillation": frozenset({"student_fraction"}),
    "adapter": frozenset({"rank", "frozen_weight_bits"}),
    "none": frozenset(),
}
ROLES = ("core", "supporting", "background", "off-topic")


@dataclass(frozen=True)
class ParamRange:
    """The type and range of one transform param: kind int/float (low..high inclusive), bool, or choice."""

    kind: Literal["int", "float", "bool", "choice"]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False  # null means "the transform's default" (e.g. weight_quant.group_size: per-channel)

    def describe(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        what = "a whole number" if self.kind == "int" else "a number"
        return f"{what} from {self.low:g} to {self.high:g}"


def _i(low: float, high: float, nullable: bool = False) -> ParamRange:
    return ParamRange("int", low, high, nullable=nullable)


def _f(low: float, high: float) -> ParamRange:
    return ParamRange("float", low, high)


_BOOL = ParamRange("bool")

# Transform -> param -> type and range. Every name in TRANSFORM_PARAMS has an entry (tests check it);
# split_kv_decode.kv_group_shared is an optional knob the transform reads (data/validation uses it).
PARAM_RANGES: dict[str, dict[str, ParamRange]] = {
    "weight_quant": {"weight_bits": _f(1, 16), "group_size": _i(16, 1024, nullable=True)},
    "kv_quant": {"kv_bits": _f(2, 16)},
    "fp8_compute": {"compute_dtype": ParamRange("choice", choices=("fp8",))},
    "split_kv_decode": {"kv_group_shared": _BOOL},
    "paged_kv": {"block_tokens": _i(1, 1024)},
    "prefix_cache": {"hit_rate": _f(0, 1)},
    "chunked_prefill": {"chunk_tokens": _i(16, 65536)},
    "disaggregation": {"prefill_fraction": _f(0.05, 0.95)},
    "speculative": {"acceptance_rate": _f(0, 0.99), "draft_tokens": _i(1, 16), "draft_cost_ratio": _f(0, 1),
                    "verify_tokens": _i(2, 256)},
    "kv_eviction": {"kv_budget_tokens": _i(16, 10_000_000)},
    "contextual_sparsity": {"active_fraction": _f(0.01, 1)},
    "early_exit": {"layer_fraction": _f(0.05, 1)},
    "pruning": {"sparsity": _f(0, 0.95), "structured": _BOOL},
    "comm_overlap": {"hidden_fraction": _f(0, 1)},
    "launch_overhead": {"overhead_reduction": _f(0, 1)},
    "kernel_fusion": {"memory_traffic_reduction": _f(0, 1)},
    "context_parallel": {"cp": _i(1, 64)},
    "zero": {"stage": _i(0, 3)},
    "offload": {"target": ParamRange("choice", choices=("cpu", "nvme"))},
    "recompute": {"selective": _BOOL},
    "pipeline_schedule": {"schedule": ParamRange("choice", choices=("gpipe", "1f1b", "interleaved", "zero-bubble"))},
    "mixed_precision": {"dtype": ParamRange("choice", choices=("bf16", "fp16", "fp8"))},
    "context_extension": {"trained_context": _i(128, 10_000_000), "extension_factor": _f(1, 1024),
                          "needs_training": _BOOL},
    "grad_compression": {"compression_ratio": _f(1, 1000)},
    "distillation": {"student_fraction": _f(0.01, 1)},
    "adapter": {"rank": _i(1, 1024), "frozen_weight_bits": _f(1, 16)},
}


class InvalidParam(AccelsageError):
    """A technique param (or workload value) outside its type or range: an input problem, answered 422."""

    http_status = 422


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def check_param(transform: str, name: str, raw: Any, label: str | None = None) -> Any:
    """``raw`` (a JSON value or the text after ``=``) checked against ``PARAM_RANGES`` and converted.

    ``label`` names the technique in the message (default: the transform). Raises ``InvalidParam`` with one line.
    """
    label = label or transform
    known = PARAM_RANGES.get(transform, {})
    spec = known.get(name)
    if spec is None:
        takes = f"takes: {', '.join(sorted(known))}" if known else "takes no params"
        raise InvalidParam(f"{label} has no param {name!r}; it {takes}")
    bad = InvalidParam(f"{label}.{name} must be {spec.describe()}, got {raw!r}")
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("null", "none")):
        if spec.nullable:
            return None
        raise bad
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise bad
    if spec.kind == "choice":
        text = str(raw).strip().lower() if isinstance(raw, str) else None
        if text not in spec.choices:
            raise bad
        return text
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise bad
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise bad from None
    if not math.isfinite(value) or not spec.low <= value <= spec.high:
        raise bad
    if spec.kind == "int":
        if value != int(value):
            raise bad
        return int(value)
    return value




# ---------------------------------------------------------------- techniques

class Quality(Strict):
    lossless: bool
    impact: str
    source: str


class Requirements(Strict):
    min_compute_capability: str | None = None
    gpu_features: list[str] = []
    multi_gpu: bool = False
    retraining: bool = False
    calibration_data: bool = False
    notes: str = ""

    _cc = field_validator("min_compute_capability", mode="before")(as_str)


class CostModelSpec(Strict):
    transform: Literal[tuple(TRANSFORM_PARAMS)]  # type: ignore[valid-type]
    params: dict[str, Any] = {}
    param_sources: dict[str, str] = {}

    @model_validator(mode="after")
    def _known_params(self) -> "CostModelSpec":
        unknown = set(self.params) - TRANSFORM_PARAMS[self.transform]
        if unknown:
            raise ValueError(f"transform {self.transform} takes no params {sorted(unknown)}")
        return self


class Relations(Strict):
    composes_with: list[str] = []
    conflicts_with: list[str] = []
    supersedes: list[str] = []
    requires: list[str] = []  # techniques it runs on top of (chunked prefill needs an iteration-level scheduler)


class Technique(Strict):
    """One acceleration technique from data/techniques/<id>.yaml."""

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    aliases: list[str] = []
    family: Literal[FAMILIES]  # type: ignore[valid-type]
    summary: str
    phases: list[Literal[PHASES]]  # type: ignore[valid-type]
    bottlenecks: list[Literal[BOTTLENECKS]]  # type: ignore[valid-type]
    quality: Quality
    requires: Requirements = Requirements()
    cost_model: CostModelSpec
    frameworks: dict[str, str] = {}
    relations: Relations = Relations()
    papers: list[str] = Field(min_length=1)
    solves: list[str] = Field(default_factory=list, description="Problems it solves, each a short phrase in the words "
                              "an engineer would use to describe the symptom (matched against questions).")
    when: str = Field("", description="When to reach for it, and when not, in one or two sentences.")
    runs_on: list[Literal["nvidia", "amd", "apple"]] = Field(
        default_factory=lambda: ["nvidia", "amd", "apple"],
        description="GPU vendors with a usable kernel or framework implementation today.")
    vendor_notes: str = Field("", description="Where the vendor support comes from (framework, kernel library, version).")

    _lists = field_validator("aliases", "papers", mode="before")(as_str_list)


# ---------------------------------------------------------------- frameworks

class FrameworkRelease(Strict):
    """Older releases of a framework whose defaults differ from the listed version's."""

    before: str = Field(description="Releases below this version (e.g. '0.8') run these defaults.")
    version: str = Field(description="How to name those releases ('0.4 to 0.7 (V0 engine)').")
    defaults: list[str]
    source: str

    _lists = field_validator("defaults", mode="before")(as_str_list)

    def covers(self, version: str) -> bool:
        """Whether a release written as ``version`` ("0.5.4") is older than ``before``."""
        return _version_key(version) < _version_key(self.before)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


class Framework(Strict):
    """A serving or training framework (data/frameworks/<id>.yaml) and the techniques it runs by default."""

    id: str
    name: str
    aliases: list[str] = []
    signatures: list[str] = Field(default=[], description="What only this framework's users write: its commands, "
                                  "flags, config keys and log names. They identify the framework in a pasted config "
                                  "or log; they are not names to show.")
    kind: Literal["serving", "training", "both"]
    version: str = Field(description="The version whose defaults are listed.")
    defaults: list[str] = Field(description="Technique ids this version runs without being asked.")
    older: list[FrameworkRelease] = Field(default=[], description="Older releases with other defaults, newest first.")
    sources: dict[str, str]
    notes: str = ""

    def release(self, version: str) -> tuple[str, list[str]]:
        """(the version named, its defaults) for a release the user wrote; the listed version when none or newer."""
        if version:
            for older in self.older:
                if older.covers(version):
                    return older.version, older.defaults
        return self.version, self.defaults

    _lists = field_validator("aliases", "signatures", "defaults", mode="before")(as_str_list)


class Instance(Strict):
    """A machine type people name instead of its GPUs (a cloud instance, a DGX): which GPU and how many."""

    names: list[str] = Field(min_length=1)
    gpu: str
    count: int = Field(gt=0)
    source: str

    _names = field_validator("names", mode="before")(as_str_list)


# ---------------------------------------------------------------- papers and cards

class PaperFacts(Strict):
    """What both data/papers.yaml and a card's front matter say about a paper."""

    id: str
    arxiv_id: str | None = None
    title: str
    first_author: str | None = None
    year: int | None = None
    venue: str | None = None
    topic: str
    kind: str

    _ids = field_validator("id", "arxiv_id", mode="before")(as_str)


class PaperEntry(PaperFacts):
    """One entry of data/papers.yaml."""

    verified: bool = False
    listed_in: list[str] = []
    card: str | None = None
    no_arxiv_reason: str | None = None


class CardMeta(PaperFacts):
    """YAML front matter of a bundled card, data/cards/<id>.md."""

    model_config = ConfigDict(extra="allow", frozen=True)

    role: Literal[ROLES]  # type: ignore[valid-type]
    techniques: list[str] = []
