"""Accuracy of the cost model against published measurements (data/validation/published.yaml).

Prints every case with the published figure, the model's estimate, the plain peak roofline (spec peaks, no
efficiencies, no overheads) and, with --baseline-ref, the model at an older git ref, each with its relative
error. Then the median |error| per metric, per engine, per GPU, per kind and per kind and GPU, each with its bias
(the median signed error: a group whose errors share a sign points at a missing mechanism), with cases that were
used to fit a parameter (fitted: true) reported apart from the others. Then the serving cases (those that state a
concurrency or QPS, in published.yaml and in the serving file): the analytical (isolated) estimate next to
the serving simulator's steady state, and the simulator's signed error per metric and load.
Run: .venv/bin/python bench/costmodel_accuracy.py [--baseline-ref d5989e4] [--serving-cases FILE] [--no-serving]
     [--requests N] [--prefill-first] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.costmodel.validation import (  # noqa: E402
    load_published,
    run_all,
    run_serving_cases,
    stated_load,
)
from agent.costmodel.validation_report import case_dict, group_errors, overall_errors, status  # noqa: E402
from agent.knowledge.catalog import Catalog  # noqa: E402
from index.errors import AccelsageError  # noqa: E402

PUBLISHED = ROOT / "data" / "validation" / "published.yaml"
SERVING = ROOT / "data" / "validation" / "serving.yaml"
METRIC_GROUPS = {"ttft_ms": "TTFT", "tpot_ms": "ITL/TPOT", "throughput_tokens_per_s": "throughput",
                 "throughput_per_gpu": "throughput"}


def _fmt(value: float | tuple | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, tuple):
        return f"{value[0]:g}-{value[1]:g}"
    return f"{value:.4g}"


def _pct(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _table(headers: list[str], rows: list[list[str]], left: int = 2) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(row: list[str]) -> str:
        return "  ".join(v.ljust(w) if i < left else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def _serving_results(cases: list[dict], data: dict, catalog: Catalog, requests: int, prefill_first: bool) -> list:
    return run_serving_cases(cases, data, catalog, requests=requests, prefill_first=prefill_first)


def _print_serving(results: list, label: str) -> None:
    """Isolated (analytical) against simulated for the cases that state a load; median |error| per metric group."""
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
            rows = [r for r in subset if METRIC_GROUPS.get(r.metric) == group]
            if rows:
                before = statistics.median(abs(r.isolated_error) for r in rows)
                after = statistics.median(abs(r.simulated_error) for r in rows)
                bias = statistics.median(r.simulated_error for r in rows)
                print(f"  {group:12s} n={len(rows):2d}  {before:6.1%} -> {after:6.1%}  (simulated bias {bias:+.1%})")
        _print_serving_bias(subset)


def _print_serving_bias(results: list) -> None:
    """Median signed simulated error per metric group and load: where the simulator leans one way."""
    keys = sorted({(METRIC_GROUPS.get(r.metric, r.metric), r.load) for r in results})
    if len(keys) < 2:
        return
    print("  by load (simulated, median signed error):")
    for group, load in keys:
        rows = [r.simulated_error for r in results if METRIC_GROUPS.get(r.metric, r.metric) == group and r.load == load]
        print(f"    {group:12s} {load:28s} n={len(rows):2d}  {statistics.median(rows):+7.1%}")


def _serving_dict(r) -> dict:
    return {"id": r.id, "metric": r.metric, "load": r.load, "published": r.published, "isolated": r.isolated,
            "isolated_error": r.isolated_error, "simulated": r.simulated, "simulated_error": r.simulated_error,
            "fitted": r.fitted}


def _print_cases(results: list, baseline: dict | None, ref: str | None) -> None:
    headers = ["case", "gpu", "engine", "metric", "published", "model", "err", "peak roofline", "err"]
    if baseline is not None:
        headers += [f"model@{ref}", "err"]
    headers += ["tol", "status"]
    rows = []
    for r in results:
        row = [r.id + (" (fitted)" if r.fitted else ""), r.gpu, r.engine, r.metric, _fmt(r.published),
               _fmt(r.model), _pct(r.error), _fmt(r.peak_roofline), _pct(r.peak_error)]
        if baseline is not None:
            old = baseline.get(r.id)
            row += [_fmt(old), _pct(r.error_of(old) if old is not None else None)]
        rows.append(row + [f"{r.tolerance:.0%}", status(r)])
    _table(headers, rows, left=4)


def _print_groups(results: list, baseline: dict | None, ref: str | None) -> None:
    headers = ["grouping", "group", "n", "model", "bias", "peak roofline"]
    headers += [f"model@{ref}"] if baseline is not None else []
    for fitted in (False, True):
        rows = [g for g in overall_errors(results, baseline) + group_errors(results, baseline) if g.fitted == fitted]
        if not rows:
            continue
        print(f"\nmedian |error|, {'fitted' if fitted else 'not fitted'} cases "
              f"({'used to set a parameter' if fitted else 'independent of the parameters'}); "
              "bias: the model's median signed error (+ too high, - too low):")
        _table(headers, [[g.grouping, g.group, str(g.n), _pct(g.model, False), _pct(g.bias),
                          _pct(g.peak_roofline, False)]
                         + ([_pct(g.baseline, False) + (f" (n={g.baseline_n})" if g.baseline_n != g.n else "")]
                            if baseline is not None else []) for g in rows])


def _print_report(results: list, baseline: dict | None, ref: str | None, serving: list[tuple[str, list]],
                  prefill_first: bool) -> None:
    """The tables: every case, the known gaps, the grouped medians, then the serving sections."""
    _print_cases(results, baseline, ref)
    print()
    gaps = [r for r in results if r.known_gap]
    print(f"cases: {len(results)} ({sum(r.fitted for r in results)} fitted), "
          f"within tolerance: {sum(r.within for r in results)}, known gaps: {len(gaps)}, "
          f"misses: {sum(status(r) == 'miss' for r in results)}")
    for r in gaps:
        print(f"  known gap {r.id}: {' '.join(r.known_gap.split())}")
    _print_groups(results, baseline, ref)
    prefill = ", prefill-first iterations" if prefill_first else ""
    for label, rows in serving:
        _print_serving(rows, label + prefill)


def _serving_sections(args: argparse.Namespace, catalog: Catalog) -> list[tuple[str, list]]:
    """The serving cases of published.yaml and of the serving file, each run through the simulator."""
    data = load_published(PUBLISHED)
    sections = [(PUBLISHED.name, _serving_results(data["cases"], data, catalog, args.requests, args.prefill_first))]
    extra = load_published(args.serving_cases) if args.serving_cases else None
    if extra and extra.get("cases"):
        merged = {**data, "models": {**data.get("models", {}), **(extra.get("models") or {})},
                  "stacks": {**data.get("stacks", {}), **(extra.get("stacks") or {})}}
        stating = [c for c in extra["cases"] if stated_load(c)]
        sections.append((args.serving_cases.name, _serving_results(stating, merged, catalog, args.requests,
                                                                   args.prefill_first)))
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving-cases", type=Path, default=SERVING if SERVING.exists() else None,
                        help="more serving cases (published.yaml's case schema plus `load`); default "
                             "data/validation/serving.yaml when present")
    parser.add_argument("--no-serving", action="store_true", help="skip the serving simulator section")
    parser.add_argument("--baseline-ref", metavar="GIT_REF",
                        help="also run the cases through the cost model at this git ref (e.g. d5989e4) in a "
                             "temporary worktree and print its column")
    parser.add_argument("--requests", type=int, default=500, help="requests each simulation measures")
    parser.add_argument("--prefill-first", action="store_true",
                        help="simulate continuous batching as vLLM before V1 (prompts in iterations of their own) "
                             "instead of in-flight batching (prompts ride in the decoders' iteration)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = parser.parse_args(argv)
    if args.serving_cases is not None and not args.serving_cases.is_file():
        parser.exit(2, f"error: no serving case file {args.serving_cases}\n")
    catalog = Catalog.load(ROOT / "data")
    results = run_all(PUBLISHED, catalog)
    baseline = None
    if args.baseline_ref:
        from agent.costmodel.validation_baseline import baseline_values

        try:
            baseline = baseline_values(args.baseline_ref, PUBLISHED, ROOT)["values"]
        except AccelsageError as exc:
            parser.exit(2, f"error: {exc}\n")

    serving = [] if args.no_serving else _serving_sections(args, catalog)
    if args.json:
        print(json.dumps({
            "baseline_ref": args.baseline_ref,
            "cases": [case_dict(r, baseline) for r in results],
            "overall": [g.to_dict() for g in overall_errors(results, baseline)],
            "groups": [g.to_dict() for g in group_errors(results, baseline)],
            "serving": {label: [_serving_dict(r) for r in rows] for label, rows in serving},
        }, indent=1))
        return 0

    _print_report(results, baseline, args.baseline_ref, serving, args.prefill_first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
