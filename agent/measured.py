"""Set the user's own measurements beside the cost model's figures for their stack, and say why they may differ."""

from __future__ import annotations

from typing import Any

from agent.answer import MeasuredComparison
from agent.effects import lookup

# measured key -> (the baseline estimate's key, words, higher is better)
_KEYS = {
    "ttft_ms": ("ttft_ms", "time to first token (ms)", False),
    "tpot_ms": ("tpot_ms", "time per output token (ms)", False),
    "latency_ms": ("latency_ms", "end-to-end latency (ms)", False),
    "throughput_tok_s": ("throughput_tokens_per_s", "throughput (tokens/s)", True),
    "mfu": ("mfu", "model FLOPs utilisation", True),
    "memory_gb": ("memory.total_gb", "memory per GPU (GB)", False),
}
# beyond this factor either way the gap is worth explaining
GAP = 1.5
# why a measurement is worse than the model, by metric (the model assumes a tuned stack at steady state)
_WORSE = {
    "ttft_ms": "requests queue behind other prefills at load, which a single-request estimate leaves out",
    "tpot_ms": "other requests' prefills interrupt decoding, or CPU and launch overhead dominate at small batch",
    "latency_ms": "queueing at load, or a stack without continuous batching, stretches each request",
    "throughput_tok_s": "the batch the server reaches is smaller than modelled, or kernels run below the assumed efficiency",
    "mfu": "communication, pipeline bubbles or data loading take time the model overlaps or leaves out",
    "memory_gb": "the engine reserves memory up front (e.g. vLLM's gpu_memory_utilization) or keeps fragmentation",
}


def compare_measured(workload: Any, baseline: dict | None) -> list[MeasuredComparison]:
    """One comparison per figure the user measured; the ratio is measured / modelled."""
    out = []
    for key, value in workload.measured.items():
        if key not in _KEYS:
            continue
        est_key, words, higher_better = _KEYS[key]
        modelled = lookup(baseline or {}, est_key)
        if not isinstance(modelled, (int, float)) or modelled <= 0:
            out.append(MeasuredComparison(metric=words, key=key, measured=value, note="the cost model gives no figure for this"))
            continue
        ratio = value / modelled
        note = ""
        worse = ratio < 1 / GAP if higher_better else ratio > GAP
        better = ratio > GAP if higher_better else ratio < 1 / GAP
        if worse:
            note = f"{ratio:.2f}× the model's figure, worse than modelled: likely {_WORSE[key]}"
        elif better:
            note = (f"{ratio:.2f}× the model's figure, better than modelled: your stack likely runs something the "
                    "question did not name (e.g. quantised weights, speculative decoding or a smaller effective batch)")
        out.append(MeasuredComparison(metric=words, key=key, measured=value, modelled=round(modelled, 3),
                                      ratio=round(ratio, 3), note=note))
    return out
