"""The `--plot` PNG: the roofline (every point named once in a legend) beside the simulated latency-throughput
curve (every point labelled with its concurrency), and no text on either overlapping other text."""

from __future__ import annotations

import itertools
import struct

import pytest

import agent.costmodel.plot as plot
import agent.costmodel.plot_curve as plot_curve
from agent.costmodel.curve import CurvePoint, LatencyCurve
from agent.costmodel.serving_stats import Slo
from api.cli import main

TECHNIQUES = ["flash-attention-2", "awq", "eagle-2", "cuda-graphs"]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The estimate and curve `accelsage estimate --plot` draws, for several techniques (real data dir)."""
    tmp_path = tmp_path_factory.mktemp("plot")
    seen = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACCELSAGE_HOME", str(tmp_path / "state"))
        patch.setattr(plot, "plot_estimate",
                      lambda result, curve, path, missing="": seen.append((result, curve)) or path)
        args = ["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--slo-ttft-ms", "500", "--slo-tpot-ms", "20"]
        for technique in TECHNIQUES:
            args += ["--technique", technique]
        assert main(args + ["--plot", str(tmp_path / "plot.png")]) == 0
    return seen[0]


@pytest.fixture()
def estimate(drawn):
    return drawn[0]


@pytest.fixture()
def curve(drawn):
    return drawn[1]


def _crowded_curve() -> LatencyCurve:
    """A saturated sweep: the last points sit almost on top of each other."""
    points = [CurvePoint(2 ** i, 1000 * min(2 ** i, 40) ** 0.5 + i, 50.0, 20.0 + i, 30.0 + i, 10.0 + 0.01 * i,
                         11.0 + 0.01 * i, 1000.0, 0.1, 0, 0, None) for i in range(12)]
    return LatencyCurve(points=points, policy="continuous batching", lengths="fixed 1024/256", requests_per_point=50,
                        seed=0, gpus=1, slo=Slo(25.0, 10.5), stopped="ends at concurrency 2048")


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


def _visible_texts(fig) -> list:
    """Every text matplotlib draws on ``fig`` (tick labels of ticks outside the view are left out: not drawn)."""
    import matplotlib.pyplot as plt

    hidden = set()
    for ax in fig.axes:
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low <= tick.get_loc() <= high:
                    hidden.update({tick.label1, tick.label2})
    return [t for t in dict.fromkeys(fig.findobj(plt.Text))
            if t.get_visible() and t.get_text().strip() and t not in hidden]


FIGURES = {
    "roofline": lambda estimate, curve: plot.roofline_figure(estimate),
    "roofline beside curve": lambda estimate, curve: plot.estimate_figure(estimate, curve),
    "curve alone": lambda estimate, curve: plot_curve.curve_figure(curve),
    "crowded curve": lambda estimate, curve: plot_curve.curve_figure(_crowded_curve()),
    "no curve": lambda estimate, curve: plot.estimate_figure(estimate, None, "the weights leave no memory"),
}


@pytest.mark.parametrize("name", FIGURES)
def test_no_two_texts_overlap(estimate, curve, name: str) -> None:
    import matplotlib.pyplot as plt

    fig = FIGURES[name](estimate, curve)
    try:
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        texts = _visible_texts(fig)
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


def test_each_curve_point_is_labelled_with_its_concurrency(curve) -> None:
    import matplotlib.pyplot as plt

    fig = plot_curve.curve_figure(curve)
    try:
        assert len(fig.axes) == 2
        expected = [str(p.concurrency) for p in curve.points]
        assert len(expected) >= 4
        for ax in fig.axes:
            assert [t.get_text() for t in ax.texts] == expected
            frame = ax.get_window_extent()
            assert all(plot_curve._inside(t.get_window_extent(), frame) for t in ax.texts)
        legend = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
        assert legend == ["median (numbers: concurrency)", "p90", "TPOT SLO 20 ms", "TTFT SLO 500 ms"]
        itl, ttft = fig.axes
        assert itl.get_ylabel() == "inter-token latency (ms)" and ttft.get_ylabel() == "time to first token (ms)"
        assert ttft.get_xlabel() == "output tokens/s per GPU"
        median = itl.get_lines()[0]
        assert list(median.get_xdata()) == [p.tokens_per_s_per_gpu for p in curve.points]
        assert list(median.get_ydata()) == [p.itl_p50_ms for p in curve.points]
    finally:
        plt.close(fig)


def test_plot_file_holds_both_panels(estimate, curve, tmp_path) -> None:
    import matplotlib.pyplot as plt

    fig = plot.estimate_figure(estimate, curve)
    try:
        left, right = fig.subfigs
        assert [ax.get_xlabel() for ax in left.axes] == ["arithmetic intensity (FLOP/byte)"]
        assert [ax.get_ylabel() for ax in right.axes] == ["inter-token latency (ms)", "time to first token (ms)"]
        assert "latency-throughput curve" in right._suptitle.get_text()
    finally:
        plt.close(fig)
    png = plot.plot_estimate(estimate, curve, tmp_path / "both.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert width > 1.8 * height  # two panels side by side (a roofline alone is 4:3)
