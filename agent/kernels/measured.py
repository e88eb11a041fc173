"""Measured kernel and model-step times beside the cost model's, for one GPU (see bench/gpu_kernels.py).

A measurement file holds a GEMM sweep (linear-layer shapes, bf16 and fp8) and the prefill and decode steps of
a Llama-shaped model, all timed on a real GPU. Each measured time is paired with the cost model's time for the
same work on that GPU's spec, so the model's error on real hardware can be read per group of shapes.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from agent.costmodel import InferenceWorkload, estimate_inference
from agent.costmodel.iteration import CostModelIterations
from agent.costmodel.roofline import rates_for
from agent.costmodel.specs import hardware_from_spec
from agent.kernels.roofline import roofline_gemm


@dataclass(frozen=True)
class Pair:
    """One measured time and the model's time for the same work."""

    group: str        # e.g. "gemm bf16 M<=16", "prefill", "decode (graph)"
    label: str
    measured: float
    model: float
    unit: str         # "us" or "ms"

    @property
    def error(self) -> float:
        """Signed relative error of the model (+ too slow, - too fast)."""
        return self.model / self.measured - 1.0


def _gemm_group(row: dict) -> str:
    m = row["m"]
    return f"gemm {row['dtype']} " + ("M<=16" if m <= 16 else ("M<=256" if m <= 256 else "M>=1024"))


def gemm_pairs(rows: list[dict], hw: Any) -> list[Pair]:
    """Each timed GEMM beside :func:`roofline_gemm`. A GEMM timed back to back inside a CUDA graph pays a kernel
    boundary stall instead of a launch, so the model's launch overhead is swapped for its boundary cost."""
    rates = rates_for(hw, None)
    out = []
    for r in rows:
        if "time_us" not in r:
            continue
        model_us = roofline_gemm(hw, r["m"], r["n"], r["k"], r["dtype"]).time_us
        if r.get("timing") == "cuda-graph":
            model_us += rates.kernel_boundary_us - rates.kernel_overhead_us
        label = f"{r['model']} {r['layer']} {r['dtype']} M={r['m']}"
        out.append(Pair(_gemm_group(r), label, r["time_us"], model_us, "us"))
    return out


def step_pairs(catalog: Any, gpu_id: str, llama: dict) -> list[Pair]:
    """Prefill (eager, FlashAttention-2 through SDPA, and cuDNN SDPA when timed) and decode steps (CUDA graphs)
    beside the serving simulator's iteration cost for the same model, GPU and dtype."""
    def cost(techniques: list[str]) -> CostModelIterations:
        workload = InferenceWorkload(batch=1, prompt_len=1024, output_len=256, dtype=llama["dtype"])
        estimate = estimate_inference(catalog.gpus[gpu_id], catalog.models[llama["model"]], workload,
                                      techniques=[catalog.techniques[t] for t in techniques])
        return CostModelIterations(estimate.setup)

    eager, graphed = cost(["flash-attention-2"]), cost(["flash-attention-2", "cuda-graphs"])
    out = []
    for p in llama.get("prefill", []):
        tokens = p["prompt_tokens"]
        model_ms = eager.time_s(0, 0.0, tokens, 1, float(tokens)) * 1e3
        for key, name in (("flash_attention_ms", "flash"), ("cudnn_attention_ms", "cudnn")):
            if p.get(key):
                out.append(Pair("prefill", f"prefill {tokens} tokens ({name} SDPA)", p[key], model_ms, "ms"))
    for d in llama.get("decode", []):
        if "time_ms" in d:
            model_ms = graphed.time_s(d["batch"], float(d["context"])) * 1e3
            out.append(Pair("decode (graph)", f"decode batch {d['batch']} context {d['context']}", d["time_ms"],
                            model_ms, "ms"))
    return out


def compare(data: dict, catalog: Any, gpu_id: str) -> list[Pair]:
    """Every measured GEMM and model step of a measurement file beside the model, for the GPU spec `gpu_id`."""
    hw = hardware_from_spec(catalog.gpus[gpu_id])
    return gemm_pairs(data.get("gemm", []), hw) + step_pairs(catalog, gpu_id, data.get("llama", {}))


def by_group(pairs: list[Pair]) -> dict[str, tuple[int, float, float]]:
    """Per group: (count, median |error|, median signed error)."""
    groups: dict[str, list[float]] = {}
    for p in pairs:
        groups.setdefault(p.group, []).append(p.error)
    return {g: (len(e), statistics.median(abs(x) for x in e), statistics.median(e)) for g, e in groups.items()}
