"""The simulated latency-throughput curve: inter-token latency and TTFT (p50, p90) against tokens/s per GPU.

Two panels share the throughput axis: inter-token latency on top (the TPOT SLO is a horizontal line there),
time to first token below (with the TTFT SLO). Each median point is labelled with its concurrency; labels
are placed once the layout is final, each where it overlaps no other label and stays inside its panel.
"""

from __future__ import annotations

import textwrap
from typing import Any

from agent.costmodel.curve import LatencyCurve

# where a point's concurrency label may go, in typographic points from the marker, tried in this order:
# (dx, dy, horizontal alignment, vertical alignment). Below and to the right first: the p90 line runs above the
# median and the median rises to the right, so that corner is most often free.
_LABEL_OFFSETS = (
    (4, -4, "left", "top"), (4, 4, "left", "bottom"), (-4, -4, "right", "top"), (-4, 4, "right", "bottom"),
    (0, -7, "center", "top"), (0, 7, "center", "bottom"), (7, 0, "left", "center"), (-7, 0, "right", "center"),
    (10, -10, "left", "top"), (10, 10, "left", "bottom"), (-10, -10, "right", "top"), (-10, 10, "right", "bottom"),
)

# half the side of the square a marker covers, in pixels at the figure's dpi (markers are 5 points wide)
_MARKER_HALF_PX = 4.0

# lines are checked at points this many pixels apart
_LINE_STEP_PX = 2.0

_LABEL_FONT_SIZE = 7
_CAPTION_CHARS = 95


def _caption(curve: LatencyCurve) -> str:
    lines = textwrap.wrap(f"{curve.policy} on {curve.gpus} GPU(s); lengths {curve.lengths}; "
                          f"{curve.requests_per_point} requests per point; {curve.stopped}", _CAPTION_CHARS)
    return "\n".join(["simulated latency-throughput curve (closed loop)", *lines])


def draw_curve(container: Any, curve: LatencyCurve) -> list[tuple[Any, list[tuple[float, float]], list[str]]]:
    """Draw the curve into ``container`` (a Figure or SubFigure with constrained layout), points unlabelled.

    Returns:
        For each panel: its axes, the (x, y) of its median points and their labels, for :func:`freeze_and_label`.
    """
    itl_ax, ttft_ax = container.subplots(2, 1, sharex=True)
    xs = [p.tokens_per_s_per_gpu for p in curve.points]
    handles = []
    panels = []
    for ax, name, p50, p90, target in (
        (itl_ax, "inter-token latency (ms)", [p.itl_p50_ms for p in curve.points],
         [p.itl_p90_ms for p in curve.points], curve.slo.tpot_ms if curve.slo else None),
        (ttft_ax, "time to first token (ms)", [p.ttft_p50_ms for p in curve.points],
         [p.ttft_p90_ms for p in curve.points], curve.slo.ttft_ms if curve.slo else None),
    ):
        (median,) = ax.plot(xs, p50, "o-", color="tab:blue", markersize=5, label="median (numbers: concurrency)")
        (tail,) = ax.plot(xs, p90, "s--", color="tab:orange", markersize=4, markerfacecolor="none", label="p90")
        if ax is itl_ax:
            handles += [median, tail]
        if target is not None:
            kind = "TPOT" if ax is itl_ax else "TTFT"
            handles.append(ax.axhline(target, color="tab:red", linestyle=":", label=f"{kind} SLO {target:g} ms"))
        ax.set_yscale("log")
        ax.set_ylabel(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.margins(x=0.12, y=0.18)
        panels.append((ax, list(zip(xs, p50)), [str(p.concurrency) for p in curve.points]))
    ttft_ax.set_xscale("log")
    for axis in (itl_ax.yaxis, ttft_ax.yaxis, ttft_ax.xaxis):
        _plain_log_labels(axis)
    ttft_ax.set_xlabel("output tokens/s per GPU")
    container.suptitle(_caption(curve), fontsize=9)
    container.legend(handles=handles, fontsize=8, loc="outside lower center", ncol=min(len(handles), 4),
                     frameon=False)
    return panels


def _plain_log_labels(axis: Any) -> None:
    """Tick labels of a log axis as plain numbers (200, not 2 x 10^2), on the same ticks matplotlib would label."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x: float, pos: Any = None) -> str:
            if not super().__call__(x, pos):
                return ""
            # four significant digits: a narrow axis puts ticks at 10.2, 10.4, ...
            return f"{x:,.0f}" if x >= 1000 and float(x).is_integer() else f"{x:.4g}"

    axis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))


def draw_missing_curve(container: Any, reason: str) -> Any:
    """An empty panel that says why there is no curve."""
    ax = container.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(f"no latency-throughput curve: {reason}", 60)), ha="center",
            va="center", fontsize=10, transform=ax.transAxes)
    return ax


def freeze_and_label(fig: Any, panels: list[tuple[Any, list[tuple[float, float]], list[str]]]) -> Any:
    """Run the layout once and keep it, then label each panel's points where the labels fit. Returns ``fig``."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")  # labels are placed in pixels: the axes must not move after this
    renderer = fig.canvas.get_renderer()
    for ax, points, labels in panels:
        label_points(ax, points, labels, renderer)
    return fig


def _obstacles(ax: Any) -> list[Any]:
    """Boxes a label should not cover: each marker, and small boxes along each drawn line (pixels)."""
    from matplotlib.transforms import Bbox

    boxes = []
    for line in ax.get_lines():
        if len(line.get_xydata()) < 2 and line.get_marker() in (None, "None", ""):
            continue
        xy = ax.transData.transform(line.get_xydata()) if line.get_transform() == ax.transData else \
            line.get_transform().transform(line.get_xydata())
        half = _MARKER_HALF_PX if line.get_marker() not in (None, "None", "") else _LINE_STEP_PX / 2
        for x, y in xy:
            boxes.append(Bbox.from_extents(x - half, y - half, x + half, y + half))
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            steps = int(max(abs(x1 - x0), abs(y1 - y0)) // _LINE_STEP_PX)
            for i in range(1, steps):
                x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
                boxes.append(Bbox.from_extents(x - 1, y - 1, x + 1, y + 1))
    return boxes


def _inside(inner: Any, outer: Any) -> bool:
    return outer.x0 <= inner.x0 and inner.x1 <= outer.x1 and outer.y0 <= inner.y0 and inner.y1 <= outer.y1


def label_points(ax: Any, points: list[tuple[float, float]], labels: list[str], renderer: Any) -> list[Any]:
    """Annotate each point with its label at the first offset that stays inside the axes and clear of other
    labels, preferring offsets clear of every marker and line too. A label with no such place is left out (the curve's
    JSON still lists every concurrency). Returns the annotations."""
    frame = ax.get_window_extent(renderer)
    markers = _obstacles(ax)
    placed: list[Any] = []
    placed_boxes: list[Any] = []
    for (x, y), text in zip(points, labels):
        fallback = None
        chosen = None
        for dx, dy, ha, va in _LABEL_OFFSETS:
            note = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                               fontsize=_LABEL_FONT_SIZE)
            box = note.get_window_extent(renderer)
            note.remove()
            if not _inside(box, frame) or any(box.overlaps(other) for other in placed_boxes):
                continue
            if not any(box.overlaps(m) for m in markers):
                chosen = (dx, dy, ha, va)
                break
            fallback = fallback or (dx, dy, ha, va)
        chosen = chosen or fallback
        if chosen is None:
            continue
        dx, dy, ha, va = chosen
        note = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                           fontsize=_LABEL_FONT_SIZE)
        placed.append(note)
        placed_boxes.append(note.get_window_extent(renderer))
    return placed


def curve_figure(curve: LatencyCurve) -> Any:
    """The curve alone as a matplotlib figure (Agg), its points labelled."""
    from agent.costmodel.plot import new_figure

    fig = new_figure((7.5, 6.6))
    return freeze_and_label(fig, draw_curve(fig, curve))


def plot_curve(curve: LatencyCurve, path: Any) -> Any:
    """Write the curve alone as a PNG (what ``GET /v1/estimate/curve.png`` serves)."""
    from agent.costmodel.plot import save_figure

    return save_figure(curve_figure(curve), path)
