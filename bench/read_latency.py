"""Time reading the workload out of a question (agent/workload.plan_workload), with no LLM and no retrieval.

Reads every phrasing of the workload eval sets: the first pass starts with empty name-lookup caches (as a fresh
process does), the later passes are warm. Prints p50/p95/max per question for each.

    .venv/bin/python bench/read_latency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms, max {ordered[-1]:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="warm passes after the cold one")
    args = parser.parse_args()
    from agent.knowledge.catalog import Catalog
    from agent.workload import build_indexes, plan_workload

    catalog = Catalog.load(ROOT / "data")
    texts = [item["text"] for name in ("workloads.yaml", "workloads_heldout.yaml")
             for item in yaml.safe_load((ROOT / "data" / "eval" / name).read_text(encoding="utf-8"))["phrasings"]]
    started = time.perf_counter()
    indexes = build_indexes(catalog)
    print(f"building the name indexes: {(time.perf_counter() - started) * 1000:.1f} ms")
    for label, rounds in (("cold", 1), ("warm", args.rounds)):
        samples = []
        for _ in range(rounds):
            for text in texts:
                t0 = time.perf_counter()
                plan_workload(text, catalog, indexes=indexes)
                samples.append((time.perf_counter() - t0) * 1000)
        print(f"{label}: {len(samples)} reads, {_percentiles(samples)}")


if __name__ == "__main__":
    main()
