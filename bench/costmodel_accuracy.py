"""Accuracy of the cost model against published measurements (data/validation/published.yaml).

Prints every case with the published figure, the model's estimate and the plain peak roofline (spec
peaks, no efficiencies, no overheads), their relative errors, and the median absolute error of each.
Then the serving cases (those that state a concurrency or QPS, in published.yaml and in the optional
serving file): the analytical (isolated) estimate next to the serving simulator's steady state, with
the median |error| of TTFT, ITL/TPOT and throughput before and after.
Run: .venv/bin/python bench/costmodel_accuracy.py [--serving-cases FILE] [--requests N] [--prefill-first]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.costmodel.validation import (  # noqa: E402
    load_published,
    median_abs_error,
    run_all,
    run_serving_cases,
    stated_load,
)
from agent.knowledge.catalog import Catalog  # noqa: E402

PUBLISHED = ROOT / "data" / "validation" / "published.yaml"
SERVING = ROOT / "data" / "validation" / "serving.yaml"
METRIC_GROUPS = {"ttft_ms": "TTFT", "tpot_ms": "ITL/TPOT", "throughput_tokens_per_s": "throughput",
                 "throughput_per_gpu": "throughput"}


def _fmt(value: float | tuple) -> str:
    if isinstance(value, tuple):
        return f"{value[0]:g}-{value[1]:g}"
    return f"{value:.4g}"


def _table(headers: list[str], rows: list[list[str]], left: int = 2) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(row: list[str]) -> str:
        return "  ".join(v.ljust(w) if i < left else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def _serving(cases: list[dict], data: dict, catalog: Catalog, requests: int, label: str,
             prefill_first: bool) -> None:
    """Isolated (analytical) against simulated for the cases that state a load; median |error| per metric group."""
    results = run_serving_cases(cases, data, catalog, requests=requests, prefill_first=prefill_first)
    if prefill_first:
        label += ", prefill-first iterations"
    if not results:
        print(f"\nserving cases ({label}): none state a concurrency or QPS")
        return
    print(f"\nserving cases ({label}): analytical (isolated) vs simulated steady state; TTFT and ITL are the "
          "simulated means, throughput the output tokens/s")
    _table(["case", "metric", "load", "published", "isolated", "err", "simulated", "err"],
           [[r.id + (" (fitted)" if r.fitted else ""), r.metric, r.load, f"{r.published:.4g}", f"{r.isolated:.4g}",
             f"{r.isolated_error:+.1%}", f"{r.simulated:.4g}", f"{r.simulated_error:+.1%}"] for r in results], left=3)
    for title, subset in (("not fitted", [r for r in results if not r.fitted]),
                          ("fitted", [r for r in results if r.fitted])):
        if not subset:
            continue
        print(f"median |error| ({label}, {title}, {len(subset)} figures): isolated -> simulated")
        for group in dict.fromkeys(METRIC_GROUPS.values()):
            rows = [r for r in subset if METRIC_GROUPS[r.metric] == group]
            if rows:
                before = statistics.median(abs(r.isolated_error) for r in rows)
                after = statistics.median(abs(r.simulated_error) for r in rows)
                print(f"  {group:12s} n={len(rows):2d}  {before:6.1%} -> {after:6.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving-cases", type=Path, default=SERVING if SERVING.exists() else None,
                        help="more serving cases (published.yaml's case schema plus `load`); default "
                             "data/validation/serving.yaml when present")
    parser.add_argument("--requests", type=int, default=500, help="requests each simulation measures")
    parser.add_argument("--prefill-first", action="store_true",
                        help="simulate continuous batching as vLLM before V1 (prompts in iterations of their own) "
                             "instead of in-flight batching (prompts ride in the decoders' iteration)")
    args = parser.parse_args(argv)
    catalog = Catalog.load(ROOT / "data")
    results = run_all(PUBLISHED, catalog)
    headers = ["case", "metric", "published", "model", "err", "peak roofline", "err", "tol", "within"]
    _table(headers, [[r.id, r.metric, _fmt(r.published), _fmt(r.model), f"{r.error:+.1%}", _fmt(r.peak_roofline),
                      f"{r.peak_error:+.1%}", f"{r.tolerance:.0%}",
                      "yes" if r.within else ("known gap" if r.known_gap else "NO")] for r in results])
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
    data = load_published(PUBLISHED)
    _serving(data["cases"], data, catalog, args.requests, "published.yaml", args.prefill_first)
    if args.serving_cases:
        extra = load_published(args.serving_cases)
        merged = {**data, "models": {**data.get("models", {}), **extra.get("models", {})},
                  "stacks": {**data.get("stacks", {}), **extra.get("stacks", {})}}
        stating = [c for c in extra["cases"] if stated_load(c)]
        _serving(stating, merged, catalog, args.requests, args.serving_cases.name, args.prefill_first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
