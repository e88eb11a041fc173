"""Median |error| of the validation cases grouped by metric, engine, GPU and kind, fitted and unfitted apart.

Beside each median |error| sits the median signed error (the bias): a group whose errors share a sign points at
a missing mechanism (a fixed cost, an efficiency carried over from another GPU), one whose signs mix does not.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Callable

from agent.costmodel.validation import CaseResult

# how cases are grouped in the report, in the order printed
GROUPINGS: dict[str, Callable[[CaseResult], str]] = {
    "metric": lambda r: r.metric,
    "engine": lambda r: r.engine,
    "gpu": lambda r: r.gpu,
    "kind": lambda r: r.kind,
    "kind/gpu": lambda r: f"{r.kind}/{r.gpu}",
}


@dataclass(frozen=True)
class GroupError:
    """Median |relative error| of one group of cases for each estimator (None where it has no value)."""

    grouping: str
    group: str
    fitted: bool
    n: int
    model: float
    peak_roofline: float
    baseline: float | None = None
    baseline_n: int = 0
    bias: float | None = None  # median signed error of the model: > 0 too high, < 0 too low

    def to_dict(self) -> dict:
        return asdict(self)


def _median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def group_errors(results: list[CaseResult], baseline: dict[str, float | None] | None = None) -> list[GroupError]:
    """One row per (grouping, group, fitted): the model's, the plain roofline's and the baseline's median |error|.

    Args:
        results: the evaluated cases.
        baseline: case id -> the older model's value (None or missing where the older code could not run it);
            its median is over the cases it could run, counted in `baseline_n`.
    """
    rows = []
    for grouping, key in GROUPINGS.items():
        for fitted in (False, True):
            subset = [r for r in results if r.fitted == fitted]
            for group in sorted({key(r) for r in subset}):
                members = [r for r in subset if key(r) == group]
                old = [abs(r.error_of(baseline[r.id])) for r in members
                       if baseline is not None and baseline.get(r.id) is not None]
                rows.append(GroupError(
                    grouping=grouping, group=group, fitted=fitted, n=len(members),
                    model=statistics.median(abs(r.error) for r in members),
                    peak_roofline=statistics.median(abs(r.peak_error) for r in members),
                    baseline=_median_or_none(old) if baseline is not None else None, baseline_n=len(old),
                    bias=statistics.median(r.error for r in members)))
    return rows


def overall_errors(results: list[CaseResult], baseline: dict[str, float | None] | None = None) -> list[GroupError]:
    """The same medians over all unfitted cases and over all fitted ones."""
    rows = []
    for fitted in (False, True):
        members = [r for r in results if r.fitted == fitted]
        if not members:
            continue
        old = [abs(r.error_of(baseline[r.id])) for r in members
               if baseline is not None and baseline.get(r.id) is not None]
        rows.append(GroupError(grouping="all", group="all", fitted=fitted, n=len(members),
                               model=statistics.median(abs(r.error) for r in members),
                               peak_roofline=statistics.median(abs(r.peak_error) for r in members),
                               baseline=_median_or_none(old) if baseline is not None else None,
                               baseline_n=len(old), bias=statistics.median(r.error for r in members)))
    return rows


def case_dict(r: CaseResult, baseline: dict[str, float | None] | None = None) -> dict:
    """One case as JSON: published figure, each estimate and its signed error, tolerance and status."""
    old = baseline.get(r.id) if baseline is not None else None
    return {
        "id": r.id, "kind": r.kind, "gpu": r.gpu, "engine": r.engine, "metric": r.metric,
        "published": list(r.published) if isinstance(r.published, tuple) else r.published,
        "model": r.model, "model_error": r.error, "peak_roofline": r.peak_roofline, "peak_error": r.peak_error,
        "baseline": old, "baseline_error": r.error_of(old) if old is not None else None,
        "tolerance": r.tolerance, "status": status(r), "fitted": r.fitted, "fitted_for": r.fitted_for,
    }


def status(r: CaseResult) -> str:
    """within, known gap, or miss (outside its tolerance with no recorded gap)."""
    if r.within:
        return "within" if not r.known_gap else "gap closed"
    return "known gap" if r.known_gap else "miss"
