"""Roofline chart of an estimate: the GPU's compute and bandwidth roofs with each phase before/after techniques.

`accelsage estimate --plot` writes it beside the simulated latency-throughput curve (:mod:`plot_curve`) as one
PNG with two panels; the API serves each panel on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.costmodel.inference import InferenceEstimate

if TYPE_CHECKING:
    from agent.costmodel.curve import LatencyCurve


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


_PHASE_MARKERS = {"prefill": "o", "decode": "s"}
_POINT_LEGEND_COLUMNS = 2


def draw_roofline(container: Any, estimate: InferenceEstimate) -> Any:
    """Draw the roofline into ``container`` (a matplotlib Figure or SubFigure laid out by constrained layout):
    roofs labelled in the axes, points named in a legend below. Returns the axes.

    Points carry no text of their own (labels next to close points overlapped): each stage (baseline,
    then each technique) has its colour, each phase its marker, and the legend under the axes names
    every point once.
    """
    import matplotlib.pyplot as plt

    hw = estimate.gpu
    bw = hw.memory_bandwidth_gb_s * hw.efficiency["memory"] * 1e9
    ax = container.subplots()
    xs = [10 ** (i / 20) for i in range(-20, 101)]
    roofs = []
    for dtype, style in (("bf16" if hw.dense_tflops.get("bf16") else "fp16", "-"), ("fp8", "--")):
        peak = hw.dense_tflops.get(dtype)
        if not peak:
            continue
        roof = peak * hw.efficiency["gemm"]
        (line,) = ax.plot(xs, [min(roof, x * bw / 1e12) for x in xs], style, color="0.35",
                          label=f"{dtype} roof ({roof:.0f} TFLOP/s achievable)")
        roofs.append(line)
    colours = plt.get_cmap("tab10").colors
    stage_colour: dict[str, tuple] = {}
    handles = []
    for label, intensity, tflops in _points(estimate):
        phase, stage = label.split(": ", 1)
        colour = stage_colour.setdefault(stage, colours[len(stage_colour) % len(colours)])
        # later stages a little smaller: a technique that leaves a point in place shows as a ring around it
        size = max(18, 80 - 12 * list(stage_colour).index(stage))
        handles.append(ax.scatter([intensity], [tflops], marker=_PHASE_MARKERS.get(phase, "^"), s=size,
                                  color=colour, edgecolors="black", linewidths=0.5, zorder=3, label=label))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved TFLOP/s per GPU")
    ax.set_title(f"{estimate.model.name} on {hw.name}\nprefill (circles) and decode (squares), baseline and after each technique",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if roofs:
        ax.legend(handles=roofs, fontsize=8, loc="lower right", framealpha=0.9)
    if handles:
        container.legend(handles=handles, fontsize=8, loc="outside lower center", ncol=_POINT_LEGEND_COLUMNS,
                         frameon=False, title="points (phase: stage)", title_fontsize=8, markerscale=0.8)
    return ax


def roofline_figure(estimate: InferenceEstimate) -> Any:
    """The roofline alone as a matplotlib figure (Agg)."""
    fig = new_figure((8, 6))
    draw_roofline(fig, estimate)
    return fig


def estimate_figure(estimate: InferenceEstimate, curve: LatencyCurve | None, missing: str = "") -> Any:
    """The roofline (left) beside the simulated latency-throughput curve (right), as one figure.

    Args:
        curve: the sweep of :func:`agent.costmodel.curve.simulate_curve`; None draws ``missing`` (why there is
            no curve) in its place.
    """
    from agent.costmodel.plot_curve import draw_curve, draw_missing_curve, freeze_and_label

    fig = new_figure((15, 6.6))
    left, right = fig.subfigures(1, 2, width_ratios=(1, 1))
    draw_roofline(left, estimate)
    if curve is None:
        draw_missing_curve(right, missing)
        return fig
    return freeze_and_label(fig, draw_curve(right, curve))


def new_figure(size_in: tuple[float, float]) -> Any:
    """An empty Agg figure (matplotlib imported here, not at start-up) laid out by constrained layout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=size_in, layout="constrained")


def save_figure(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG and release it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path


def plot_roofline(estimate: InferenceEstimate, path: Path) -> Path:
    """Draw the roofline with the workload's phases and write a PNG (matplotlib, Agg, imported here)."""
    return save_figure(roofline_figure(estimate), path)


def plot_estimate(estimate: InferenceEstimate, curve: LatencyCurve | None, path: Path, missing: str = "") -> Path:
    """Write the roofline beside the latency-throughput curve as one PNG (what `accelsage estimate --plot` writes)."""
    return save_figure(estimate_figure(estimate, curve, missing), path)
