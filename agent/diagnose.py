"""Diagnose before prescribing: name what limits this workload, with the numbers behind it.

The diagnosis comes from the cost model run on the user's own stack (what bounds each phase, what fills memory,
where a step's time goes), from the user's own measurements set against the model, and from the problem the
question describes (the techniques whose profiles it matches best). The answer opens with it, and ranking favours
techniques that relieve it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.workload import TRAINING_PHASES, Workload

# what each diagnosis is called in text, and the catalog bottleneck tags (data/techniques: bottlenecks) that relieve it
KINDS: dict[str, tuple[str, frozenset[str]]] = {
    "memory-weights": ("the weights do not fit in GPU memory", frozenset({"memory-capacity"})),
    "memory-kv": ("the KV cache fills GPU memory", frozenset({"memory-capacity", "memory-bandwidth"})),
    "memory-training": ("training state (weights, gradients, optimizer, activations) does not fit",
                        frozenset({"memory-capacity"})),
    "prefill-compute": ("prefill is compute-bound", frozenset({"compute"})),
    "decode-bandwidth": ("decode is memory-bandwidth-bound: every token re-reads the weights and KV cache",
                         frozenset({"memory-bandwidth"})),
    "decode-compute": ("decode is compute-bound at this batch", frozenset({"compute"})),
    "launch-overhead": ("kernel launch and CPU overhead dominate each step", frozenset({"launch-overhead"})),
    "communication": ("communication between GPUs takes a large share of each step", frozenset({"communication"})),
    "queueing": ("requests wait behind other requests' prefills (queueing and interference)",
                 frozenset({"compute", "memory-bandwidth"})),
    "training-compute": ("training is compute-bound", frozenset({"compute"})),
    "pipeline-bubbles": ("pipeline stages sit idle (bubbles)", frozenset({"communication", "compute"})),
}
# a phase whose overhead or communication passes these shares of its time is diagnosed as such
OVERHEAD_SHARE = 0.3
COMM_SHARE = 0.25
BUBBLE_SHARE = 0.1
# a user's figure this much worse than the model's points at queueing or interference the model leaves out
MEASURED_GAP = 1.5


@dataclass
class Diagnosis:
    """What limits the workload: a kind from KINDS, one sentence with the numbers behind it, and the evidence."""

    kind: str
    headline: str
    evidence: list[str] = field(default_factory=list)

    @property
    def relieved_by(self) -> frozenset[str]:
        """Catalog bottleneck tags of techniques that address this diagnosis."""
        return KINDS[self.kind][1]


def _get(data: dict | None, *path: str) -> Any:
    cur: Any = data or {}
    for part in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _gib(gb: float) -> float:
    return gb * 1e9 / 2**30


def _memory(w: Workload, base: dict) -> Diagnosis | None:
    mem = base.get("memory") or {}
    if mem.get("fits") is not False:
        return None
    need, have = mem.get("total_gb"), mem.get("capacity_gb")
    numbers = f"{_gib(need):.0f} GiB needed per GPU, {_gib(have):.0f} GiB available" if need and have else ""
    if w.phase in TRAINING_PHASES:
        parts = {k: mem.get(k) or 0.0 for k in ("params_gb", "grads_gb", "optimizer_gb", "activations_gb")}
        largest = max(parts, key=parts.get)
        return Diagnosis("memory-training", f"Training state does not fit: {numbers}; the largest part is "
                         f"{largest.removesuffix('_gb')} at {_gib(parts[largest]):.0f} GiB.")
    weights, kv = mem.get("weights_gb") or 0.0, mem.get("kv_cache_gb") or 0.0
    if have and weights > have:
        return Diagnosis("memory-weights", f"The weights alone do not fit: {_gib(weights):.0f} GiB of weights per GPU, "
                         f"{_gib(have):.0f} GiB available.")
    return Diagnosis("memory-kv", f"It does not fit: {numbers}; the KV cache for {w.batch} × "
                     f"{w.prompt_tokens + w.output_tokens} tokens is {_gib(kv):.0f} GiB of it.")


_SHARE_WORDS = {"compute_ms": "matrix math", "memory_ms": "reading weights and KV cache from memory",
                "communication_ms": "communication between GPUs", "overhead_ms": "kernel launch and CPU overhead"}


def _inference(w: Workload, base: dict) -> Diagnosis:
    prefill = w.objective == "ttft"
    step = _get(base, "breakdown", "prefill" if prefill else "decode_step") or {}
    total = step.get("total_ms") or 0.0
    shares = {k: step.get(k) or 0.0 for k in _SHARE_WORDS}
    largest = max(shares, key=shares.get)
    what = "Time to first token" if prefill else "Each decode step"
    value = base.get("ttft_ms", total) if prefill else total
    headline = (f"{what} takes {value:.1f} ms at batch {w.batch}; the largest part is {_SHARE_WORDS[largest]} "
                f"({shares[largest]:.1f} ms).")
    if total > 0 and shares["overhead_ms"] / total >= OVERHEAD_SHARE:
        return Diagnosis("launch-overhead", headline)
    if total > 0 and shares["communication_ms"] / total >= COMM_SHARE:
        return Diagnosis("communication", headline)
    if largest == "compute_ms":
        return Diagnosis("prefill-compute" if prefill else "decode-compute", headline)
    return Diagnosis("decode-bandwidth", headline)


def _training(base: dict) -> Diagnosis:
    parts = base.get("breakdown_s") or {}
    step = base.get("step_time_s") or 0.0
    # exposed communication: the data-parallel reduction hidden behind backward comes back as a negative row
    comm = sum(parts.get(k) or 0.0 for k in ("tp_comm_s", "pp_comm_s", "dp_comm_s", "cp_comm_s", "dp_overlapped_s"))
    mfu = base.get("mfu")
    mfu_text = f" (MFU {mfu:.0%} by the model)" if isinstance(mfu, (int, float)) else ""
    if step and (parts.get("bubble_s") or 0.0) / step >= BUBBLE_SHARE:
        return Diagnosis("pipeline-bubbles", f"Pipeline bubbles are {parts['bubble_s']:.2f} s of a {step:.2f} s step{mfu_text}.")
    if step and comm / step >= COMM_SHARE:
        return Diagnosis("communication", f"Communication is {comm:.2f} s of a {step:.2f} s step{mfu_text}.")
    return Diagnosis("training-compute", f"A step takes {step:.2f} s, {parts.get('compute_s', 0):.2f} s of it compute{mfu_text}.")


def diagnose(w: Workload, base: dict | None, measured: list[Any] = ()) -> Diagnosis | None:
    """The diagnosis of a workload from its baseline estimate and the user's measurements (None without numbers)."""
    if not base:
        return None
    found = _memory(w, base) or (_training(base) if w.phase in TRAINING_PHASES else _inference(w, base))
    for m in measured:
        ratio = getattr(m, "ratio", None)
        if ratio and m.key in ("ttft_ms", "latency_ms") and ratio >= MEASURED_GAP and w.batch > 1 \
                and found.kind not in ("memory-weights", "memory-kv"):
            found = Diagnosis("queueing", f"Your {m.metric} is {ratio:.1f}× what one request alone takes by the cost "
                              f"model ({m.modelled:g}): requests queue and prefills interfere.", [found.headline])
            break
    return found
