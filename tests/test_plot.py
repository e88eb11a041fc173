"""The roofline PNG: every point named once in a legend, and no text on the figure overlapping other text."""

from __future__ import annotations

import itertools

import pytest

import agent.costmodel.plot as plot
from api.cli import main

TECHNIQUES = ["flash-attention-2", "awq", "eagle-2", "cuda-graphs"]


@pytest.fixture()
def estimate(tmp_path, monkeypatch):
    """The estimate `accelsage estimate --plot` draws, for several techniques (real data dir)."""
    monkeypatch.setenv("ACCELSAGE_HOME", str(tmp_path / "state"))
    seen = []
    monkeypatch.setattr(plot, "plot_roofline", lambda result, path: seen.append(result) or path)
    args = ["estimate", "--gpu", "h100", "--model", "llama-3.1-8b"]
    for technique in TECHNIQUES:
        args += ["--technique", technique]
    assert main(args + ["--plot", str(tmp_path / "roofline.png")]) == 0
    return seen[0]


def test_legend_names_each_point_once(estimate) -> None:
    import matplotlib.pyplot as plt

    fig = plot.roofline_figure(estimate)
    try:
        points = plot._points(estimate)
        assert len(points) == 2 * (1 + len(estimate.steps)) >= 4
        legend_labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
        assert sorted(legend_labels) == sorted(label for label, _, _ in points)
        ax = fig.axes[0]
        assert not [t for t in ax.texts if t.get_text()]  # no per-point annotations left
        assert len(ax.collections) == len(points)
        styles = {(c.get_paths()[0].vertices.tobytes(), tuple(c.get_facecolor()[0])) for c in ax.collections}
        assert len(styles) == len(points)  # each point its own marker/colour pair
    finally:
        plt.close(fig)


def test_no_two_texts_overlap(estimate) -> None:
    import matplotlib.pyplot as plt

    fig = plot.roofline_figure(estimate)
    try:
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        ax = fig.axes[0]
        hidden = set()  # tick labels of ticks outside the view: matplotlib does not draw them
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low <= tick.get_loc() <= high:
                    hidden.update({tick.label1, tick.label2})
        texts = [t for t in dict.fromkeys(fig.findobj(plt.Text))
                 if t.get_visible() and t.get_text().strip() and t not in hidden]
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
        assert len(boxes) > 2 * len(plot._points(estimate))
        overlapping = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]
        assert overlapping == []
        figure_box = fig.bbox
        outside = [name for name, box in boxes if box.x0 < 0 or box.y0 < 0 or box.x1 > figure_box.x1
                   or box.y1 > figure_box.y1]
        assert outside == []
    finally:
        plt.close(fig)


