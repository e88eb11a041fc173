"""Accuracy of the cost model against published measurements (data/validation/published.yaml).

Prints every case with the published figure, the model's estimate and the plain peak roofline (spec
peaks, no efficiencies, no overheads), their relative errors, and the median absolute error of each.
Run: .venv/bin/python bench/costmodel_accuracy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.costmodel.validation import median_abs_error, run_all  # noqa: E402
from agent.knowledge.catalog import Catalog  # noqa: E402


def _fmt(value: float | tuple) -> str:
    if isinstance(value, tuple):
        return f"{value[0]:g}-{value[1]:g}"
    return f"{value:.4g}"


def main() -> int:
    results = run_all(ROOT / "data" / "validation" / "published.yaml", Catalog.load(ROOT / "data"))
    headers = ["case", "metric", "published", "model", "err", "peak roofline", "err", "tol", "within"]
    rows = [[r.id, r.metric, _fmt(r.published), _fmt(r.model), f"{r.error:+.1%}", _fmt(r.peak_roofline),
             f"{r.peak_error:+.1%}", f"{r.tolerance:.0%}",
             "yes" if r.within else ("known gap" if r.known_gap else "NO")] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(row: list[str]) -> str:
        return "  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print()
    gaps = [r for r in results if r.known_gap]
    print(f"cases: {len(results)}, within tolerance: {sum(r.within for r in results)}, known gaps: {len(gaps)}")
    for r in gaps:
        print(f"  known gap {r.id}: {r.known_gap}")
    print(f"median |error|: model {median_abs_error(results):.1%}, plain peak roofline "
          f"{median_abs_error(results, peak=True):.1%}")
    for kind in sorted({r.kind for r in results}):
        subset = [r for r in results if r.kind == kind]
        print(f"  {kind:16s} n={len(subset):2d}  model {median_abs_error(subset):.1%}  "
              f"peak {median_abs_error(subset, peak=True):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
