"""Score the workload reader on data/eval/workloads*.yaml: field accuracy and questions with every field right.

Each phrasing lists only the fields a careful reader can tell from its text. Numbers match within 3% (an "8k"
prompt may be 8000 or 8192 tokens); ``stack`` matches when every listed technique is read as running;
``measured`` scores each figure; ``gpu: unknown`` matches when the reader flags a GPU it has no specs for;
``model_params_b`` matches the size of the shape used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.workload import Workload, build_indexes, plan_workload

TOLERANCE = 0.03


@dataclass
class ReadingReport:
    """Scores over one file of phrasings, plus the misses for inspection."""

    phrasings: int = 0
    fields: int = 0
    fields_right: int = 0
    all_right: int = 0
    per_field: dict[str, list[int]] = field(default_factory=dict)
    misses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def field_accuracy(self) -> float:
        return self.fields_right / self.fields if self.fields else 1.0

    @property
    def all_right_fraction(self) -> float:
        return self.all_right / self.phrasings if self.phrasings else 1.0

    def summary(self) -> str:
        return (f"{self.phrasings} phrasings: field accuracy {self.field_accuracy:.3f} "
                f"({self.fields_right}/{self.fields}), every field right {self.all_right_fraction:.3f}")


def _close(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or want is None or isinstance(want, str):
        return got == want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return abs(got - want) <= TOLERANCE * abs(want) + 1e-9
    return False


def read_field(w: Workload, catalog: Any, name: str) -> Any:
    """What the reader made of one scored field."""
    if name == "gpu":
        return "unknown" if w.unknown_gpu and w.origin("gpu") != "understood" else w.gpu
    if name == "model_params_b":
        shape = w.model_shape(catalog)
        return shape.params_total / 1e9 if shape is not None else None
    if name == "stack":
        return sorted(w.stack)
    return getattr(w, name, None)


def score_phrasing(w: Workload, catalog: Any, expect: dict[str, Any]) -> dict[str, tuple[Any, Any, bool]]:
    """Per expected field (``measured.<key>`` for figures): (expected, read, right)."""
    out: dict[str, tuple[Any, Any, bool]] = {}
    for name, want in expect.items():
        if name == "measured":
            for key, value in (want or {}).items():
                got = w.measured.get(key)
                out[f"measured.{key}"] = (value, got, _close(got, value))
        elif name == "stack":
            got = read_field(w, catalog, name)
            out[name] = (want, got, set(want) <= set(got))
        elif name == "model_params_b":
            got = read_field(w, catalog, name)
            out[name] = (want, got, got is not None and abs(got - want) <= 0.1 * want)
        else:
            got = read_field(w, catalog, name)
            out[name] = (want, got, _close(got, want))
    return out


def evaluate_reading(path: str | Path, catalog: Any) -> ReadingReport:
    """Read every phrasing of one file and score it."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    indexes = build_indexes(catalog)
    report = ReadingReport()
    for item in data["phrasings"]:
        w = plan_workload(item["text"], catalog, indexes=indexes)
        scores = score_phrasing(w, catalog, item["expect"])
        report.phrasings += 1
        wrong = {k: (want, got) for k, (want, got, ok) in scores.items() if not ok}
        for name, (_, _, ok) in scores.items():
            tally = report.per_field.setdefault(name.split(".")[0], [0, 0])
            tally[0] += ok
            tally[1] += 1
        report.fields += len(scores)
        report.fields_right += len(scores) - len(wrong)
        report.all_right += not wrong
        if wrong:
            report.misses.append({"id": item["id"], "text": item["text"], "wrong": wrong})
    return report
