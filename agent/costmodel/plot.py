"""Roofline chart of an estimate: the GPU's compute and bandwidth roofs with each phase before/after techniques."""

from __future__ import annotations

from pathlib import Path

from agent.costmodel.inference import InferenceEstimate


def _points(estimate: InferenceEstimate) -> list[tuple[str, float, float]]:
    """(label, FLOP per byte, achieved TFLOP/s) for prefill and decode, baseline then after each step."""
    stages = [("baseline", estimate.baseline.breakdown)]
    stages += [(step["technique"], step["after"]["breakdown"]) for step in estimate.steps]
    out = []
    for label, breakdown in stages:
        for phase in ("prefill", "decode_step"):
            data = breakdown.get(phase, {})
            if data.get("bytes") and data.get("total_ms"):
                out.append((f"{phase.split('_')[0]}: {label}", data["flops"] / data["bytes"],
                            data["flops"] / (data["total_ms"] / 1e3) / 1e12))
    return out


def plot_roofline(estimate: InferenceEstimate, path: Path) -> Path:
    """Draw the roofline with the workload's phases and write a PNG (matplotlib, Agg, imported here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hw = estimate.gpu
    bw = hw.memory_bandwidth_gb_s * hw.efficiency["memory"] * 1e9
    fig, ax = plt.subplots(figsize=(8, 5))
    xs = [10 ** (i / 20) for i in range(-20, 101)]
    for dtype in ("bf16" if hw.dense_tflops.get("bf16") else "fp16", "fp8"):
        peak = hw.dense_tflops.get(dtype)
        if not peak:
            continue
        roof = peak * hw.efficiency["gemm"]
        ax.plot(xs, [min(roof, x * bw / 1e12) for x in xs], label=f"{dtype} roof ({roof:.0f} TFLOP/s achievable)")
    for label, intensity, tflops in _points(estimate):
        marker = "o" if label.startswith("prefill") else "s"
        ax.scatter([intensity], [tflops], marker=marker)
        ax.annotate(label, (intensity, tflops), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved TFLOP/s per GPU")
    ax.set_title(f"{estimate.model.name} on {hw.name}: prefill (o) and decode (s)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
