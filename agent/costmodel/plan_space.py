"""The configurations `accelsage plan` searches: GPU splits, dtypes, engine presets, batch caps, P:D splits.

Stage 1 of the plan pipeline (:mod:`agent.costmodel.plan` orchestrates): :func:`layouts` lists the TP/PP/EP
splits of the GPUs, :func:`dtype_pairs` the weight and KV formats the GPU runs, and :func:`expand` crosses a
layout that fits with the engines, the batch caps and aggregated vs disaggregated serving. Memory fit is
checked by the caller (it needs the cost model); this module only enumerates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agent.costmodel.specs import Hardware, ModelShape
from agent.costmodel.workload import GPUS_PER_NODE

# the engines a plan compares, by catalog framework id (data/frameworks/<id>.yaml holds each one's defaults)
ENGINES = ("vllm", "sglang", "tensorrt-llm")
ENGINE_ALIASES = {"vllm": "vllm", "sglang": "sglang", "trtllm": "tensorrt-llm", "tensorrt-llm": "tensorrt-llm",
                  "trt-llm": "tensorrt-llm"}

# a few caps on the sequences one instance runs (vLLM --max-num-seqs, SGLang --max-running-requests,
# TensorRT-LLM --max_batch_size): small caps trade throughput for per-user speed
MAX_BATCHES = (8, 32, 128, 256)

# disaggregated serving: at most this many prefill:decode splits per layout (share of instances prefilling)
PREFILL_SHARES = (0.25, 0.5, 0.75)


@dataclass(frozen=True, order=True)
class Layout:
    """How one model instance is split (tp x pp GPUs, ep expert shards) and how many instances there are."""

    tp: int
    pp: int
    ep: int
    instances: int

    @property
    def gpus_per_instance(self) -> int:
        return self.tp * self.pp


@dataclass(frozen=True, order=True)
class Candidate:
    """One configuration of the search.

    Args:
        prefill_instances: 0 for aggregated serving; else instances in the prefill pool (the rest decode).
        max_batch: most sequences one (decode) instance runs at once.
    """

    engine: str
    tp: int
    pp: int
    ep: int
    instances: int
    dtype: str
    kv_dtype: str
    max_batch: int
    prefill_instances: int = 0

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.instances

    @property
    def decode_instances(self) -> int:
        return self.instances - self.prefill_instances

    @property
    def mode(self) -> str:
        return f"disagg {self.prefill_instances}P:{self.decode_instances}D" if self.prefill_instances else "agg"

    def to_dict(self) -> dict:
        return {"engine": self.engine, "mode": "disaggregated" if self.prefill_instances else "aggregated",
                "tp": self.tp, "pp": self.pp, "ep": self.ep, "dp": self.instances, "dtype": self.dtype,
                "kv_dtype": self.kv_dtype, "max_batch": self.max_batch,
                "prefill_instances": self.prefill_instances, "decode_instances": self.decode_instances,
                "label": self.label()}

    def label(self) -> str:
        """Short text for tables: 'vllm tp2 pp1 dp1 fp8/kv-fp8 mb64 agg'."""
        ep = f" ep{self.ep}" if self.ep > 1 else ""
        return (f"{self.engine} tp{self.tp} pp{self.pp}{ep} dp{self.instances} {self.dtype}/kv-{self.kv_dtype} "
                f"mb{self.max_batch} {self.mode}")


def _powers_of_two(limit: int) -> list[int]:
    return [1 << i for i in range(int(math.log2(max(limit, 1))) + 1)]


def tensor_sizes(hw: Hardware, shape: ModelShape, gpus: int) -> list[int]:
    """TP sizes: powers of two within one node that divide the GPUs and the attention heads."""
    if gpus > 1 and not hw.has_gpu_link:
        return [1]
    heads = shape.num_attention_heads or 1
    return [t for t in _powers_of_two(min(gpus, GPUS_PER_NODE)) if gpus % t == 0 and heads % t == 0]


def pipeline_sizes(hw: Hardware, shape: ModelShape, gpus: int, tp: int) -> list[int]:
    """PP sizes for a TP size, smallest first: the caller keeps the smallest that fits."""
    if gpus > 1 and not hw.has_gpu_link:
        return [1]
    layers = shape.num_hidden_layers or 1
    return [p for p in _powers_of_two(gpus // tp) if gpus % (tp * p) == 0 and p <= layers]


def expert_sizes(shape: ModelShape, tp: int, instances: int) -> list[int]:
    """EP sizes for an MoE model: none (experts split by TP), across the instance's TP group, across all GPUs."""
    if not shape.n_experts:
        return [1]
    return sorted({1, tp, tp * instances} - {0})


def dtype_pairs(hw: Hardware) -> list[tuple[str, str]]:
    """(weights, KV) formats the GPU runs: FP8 weights need FP8 tensor cores; INT4 weight-only kernels
    (AWQ/Marlin) and FP8 KV storage need compute capability 8.0 on NVIDIA (AMD GPUs carry no capability)."""
    modern = hw.compute_capability is None or hw.compute_capability >= 8.0
    weights = ["bf16"] + (["fp8"] if hw.has_fp8() else []) + (["int4"] if modern else [])
    kvs = ["bf16"] + (["fp8"] if modern else [])
    return [(w, k) for w in weights for k in kvs]


def batch_caps(per_instance_load: int | None) -> list[int]:
    """The batch caps worth trying: caps at or above the load an instance can see act alike, so keep one."""
    if per_instance_load is None:
        return list(MAX_BATCHES)
    below = [b for b in MAX_BATCHES if b < per_instance_load]
    at_or_above = [b for b in MAX_BATCHES if b >= per_instance_load]
    return below + at_or_above[:1] if at_or_above else below


def prefill_splits(instances: int) -> list[int]:
    """Prefill instances for disaggregated serving (both pools need at least one instance)."""
    if instances < 2:
        return []
    return sorted({min(max(round(instances * share), 1), instances - 1) for share in PREFILL_SHARES})


def expand(layout: Layout, dtype: str, kv_dtype: str, engines: tuple[str, ...],
           concurrency: int | None) -> list[Candidate]:
    """Every engine, batch cap and serving mode for one layout and dtype pair that fits."""
    out = []
    modes = [0] + (prefill_splits(layout.instances) if layout.ep <= layout.tp else [])
    for engine in engines:
        for prefill in modes:
            decoders = layout.instances - prefill
            load = math.ceil(concurrency / decoders) if concurrency else None
            for cap in batch_caps(load):
                out.append(Candidate(engine, layout.tp, layout.pp, layout.ep, layout.instances, dtype, kv_dtype,
                                     cap, prefill))
    return out
