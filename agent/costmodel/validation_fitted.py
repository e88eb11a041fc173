"""Which published measurements other data files were fitted on (their `fitted_from` ids)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml

# the folders whose files record, next to a fitted parameter, the measurement it was set from
FITTED_FOLDERS = ("efficiencies", "gpus")


def _fitted_values(node: Any) -> Iterator[str]:
    """Every value under a key that ends in `fitted_from` (a string or a list of strings), at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).endswith("fitted_from"):
                yield from ([value] if isinstance(value, str) else [str(v) for v in value or []])
            else:
                yield from _fitted_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _fitted_values(item)


def fitted_measurements(data_dir: Path) -> dict[str, list[str]]:
    """Measurement id -> the data files (relative to `data_dir`) that set a parameter from it."""
    out: dict[str, list[str]] = {}
    for folder in FITTED_FOLDERS:
        for path in sorted((Path(data_dir) / folder).glob("*.yaml")):
            for value in _fitted_values(yaml.safe_load(path.read_text()) or {}):
                out.setdefault(value, []).append(str(path.relative_to(data_dir)))
    return out


def case_measurement_ids(case: dict) -> set[str]:
    """The ids a case answers to: its own and the `measurement_ids` other files use for the same figure."""
    return {case["id"], *case.get("measurement_ids", [])}


def unmarked_fitted_cases(cases: list[dict], data_dir: Path) -> list[tuple[str, list[str]]]:
    """Cases some data file was fitted on but that are not marked `fitted: true`: (case id, files)."""
    fitted = fitted_measurements(data_dir)
    out = []
    for case in cases:
        files = sorted({f for mid in case_measurement_ids(case) for f in fitted.get(mid, [])})
        if files and not case.get("fitted"):
            out.append((case["id"], files))
    return out
