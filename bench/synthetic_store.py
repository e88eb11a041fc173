"""Build a synthetic store of N chunks (real SQLite file + FAISS index) in a state directory, fast.

Rows go in with bulk ``executemany`` while the FTS insert trigger is dropped; the FTS5 table is
filled in one ``INSERT ... SELECT`` after the load and the trigger is put back, so the file has the
same schema a refresh writes. The text is pseudo-text with a Zipf word distribution (a few very
common words, a long tail, the bench queries' jargon at technical-term rates). Vectors are either
``clustered`` (topic -> paper -> chunk, the shape real embeddings have: neighbours share a paper or
topic) or ``uniform`` random unit vectors (the worst case for an ANN index: no structure at all).

    .venv/bin/python bench/synthetic_store.py --home /tmp/synth-1m --chunks 1000000 [--vectors clustered]
    .venv/bin/python bench/synthetic_store.py --home /tmp/synth-1m --chunks 1000000 --reuse --recall-queries 200

The second form reuses the store, builds the default index and measures recall@10 of HNSW and IVF
against exact search, with per-query latency, at several search widths.

Generated files stay under the given ``--home`` (keep it under /tmp; never commit them).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.chunking import content_hash  # noqa: E402
from index.state import StateDir  # noqa: E402
from index.store import Store  # noqa: E402
from index.index_plan import IndexLayout, IndexPlan, build_faiss_index  # noqa: E402
from index.vectors import IndexFileError, VectorIndex, build_from_store  # noqa: E402

MODEL_ID = "synthetic-384"
DIM = 384
WORDS_PER_CHUNK = 150
CHUNKS_PER_PAPER = 100
VOCAB_WORDS = 50_000
ZIPF_EXPONENT = 1.0  # word frequency ~ 1 / rank, as in English text
# Words people type into the bench queries, placed at ranks where technical terms sit in an ML corpus
# (rank 200 ~ 0.1% of tokens; rank 5000 ~ 0.002%).
JARGON = ("eagle-2 fp8 kv cache quantization w4a8kv4 pagedattention tensor parallel all-reduce flashattention-2 "
          "batching gptq awq sparsity experts routing prefix prefill decode zero recomputation latency "
          "attention memory throughput gpu kernel speculative decoding draft token").split()
STOPWORDS = "the of and a to in is for that with on as by we this are be from an it at which".split()
_INSERT_FTS = ("INSERT INTO chunks_fts(rowid, text, section, title) SELECT c.id, c.text, coalesce(c.section, ''),"
               " coalesce(p.title, '') FROM chunks c LEFT JOIN papers p ON p.paper_id = c.paper_id")


def vocabulary(rng: np.random.Generator) -> np.ndarray:
    """Words by frequency rank: stopwords first, jargon spread over ranks 50..5000, pseudo-words elsewhere."""
    words = [f"w{rank}" for rank in range(VOCAB_WORDS)]
    words[: len(STOPWORDS)] = STOPWORDS
    ranks = np.unique(np.geomspace(50, 5000, len(JARGON)).astype(int))
    for rank, word in zip(ranks, rng.permutation(JARGON)):
        words[rank] = word
    return np.array(words)


def word_sampler(rng: np.random.Generator):
    """A function drawing ``n`` word indices with Zipf frequencies."""
    weights = 1.0 / np.arange(1, VOCAB_WORDS + 1) ** ZIPF_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    return lambda n: np.minimum(np.searchsorted(cdf, rng.random(n)), VOCAB_WORDS - 1)


class VectorMaker:
    """Unit vectors for chunks: ``clustered`` (topic + paper + chunk parts) or ``uniform``.

    Clustered: chunk = topic centre + 0.7 x the paper's own direction + 0.5 x a point in the paper's
    own 32-d subspace. Real sentence embeddings vary along few directions inside a paper rather
    than in all 384 at once; isotropic chunk noise would make every chunk of a paper a near-tie.
    A paper's parts come from a generator seeded by its number, so queries can revisit papers.
    """

    SUBSPACE_DIM = 32

    def __init__(self, kind: str, seed: int, topics: int = 1000) -> None:
        if kind not in ("clustered", "uniform"):
            raise ValueError(f"unknown vector kind {kind!r}")
        self.kind, self.seed = kind, seed
        self.topics = _unit(np.random.default_rng(seed).standard_normal((topics, DIM)).astype(np.float32))

    def paper(self, paper_number: int, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``n`` chunk vectors of paper ``paper_number`` (fresh chunk draws from ``rng`` when given)."""
        own = np.random.default_rng((self.seed, paper_number))
        draws = rng or own
        if self.kind == "uniform":
            return _unit(draws.standard_normal((n, DIM)).astype(np.float32))
        topic = self.topics[own.integers(len(self.topics))]
        direction = _unit(own.standard_normal(DIM).astype(np.float32))
        basis = own.standard_normal((self.SUBSPACE_DIM, DIM)).astype(np.float32)
        within = _unit(draws.standard_normal((n, self.SUBSPACE_DIM)).astype(np.float32) @ basis)
        return _unit(topic + 0.7 * direction + 0.5 * within)

    def queries(self, n: int, papers: int, seed: int = 7) -> np.ndarray:
        """``n`` query vectors: new chunk draws from random papers among the first ``papers``."""
        rng = np.random.default_rng(seed)
        return np.vstack([self.paper(int(rng.integers(papers)), 1, rng) for _ in range(n)])


def fresh_queries(n: int, seed: int) -> list[str]:
    """``n`` distinct queries of 2-6 words (jargon, tail words, some stopwords), new for each seed.

    Each round of a latency bench takes a new seed, so no query repeats and no cache answers.
    """
    rng = np.random.default_rng((seed, 99))
    vocab = vocabulary(np.random.default_rng(0))
    jargon_ranks = [rank for rank, word in enumerate(vocab) if word in JARGON]
    out: dict[str, None] = {}
    while len(out) < n:
        words = list(vocab[rng.choice(jargon_ranks, rng.integers(1, 3))])
        tail = np.exp(rng.uniform(np.log(20), np.log(VOCAB_WORDS), rng.integers(1, 3))).astype(int)
        words += list(vocab[np.minimum(tail, VOCAB_WORDS - 1)])
        words += list(rng.choice(STOPWORDS, rng.integers(0, 3)))
        out[" ".join(rng.permutation(words))] = None
    return list(out)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def generate_papers(n_chunks: int, vectors: VectorMaker, seed: int) -> Iterator[tuple[str, str, list[tuple]]]:
    """``(paper_id, title, [(ord, text, hash, vector bytes), ...])`` per paper."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    draw = word_sampler(rng)
    for start in range(0, n_chunks, CHUNKS_PER_PAPER):
        n = min(CHUNKS_PER_PAPER, n_chunks - start)
        paper_id = f"synthetic-{start // CHUNKS_PER_PAPER:06d}"
        words = vocab[draw(n * WORDS_PER_CHUNK + 8)]
        title = " ".join(words[-8:])
        rows = []
        for i, vector in enumerate(vectors.paper(start // CHUNKS_PER_PAPER, n)):
            text = f"{paper_id} {i} " + " ".join(words[i * WORDS_PER_CHUNK:(i + 1) * WORDS_PER_CHUNK])
            rows.append((i, text, content_hash(text), vector.tobytes()))
        yield paper_id, title, rows


def build_store(state: StateDir, n_chunks: int, vector_kind: str = "clustered", seed: int = 0,
                optimize: bool = True) -> dict[str, float]:
    """Write ``n_chunks`` synthetic chunks into ``state``'s database; returns seconds per phase."""
    Store(state.db_path).close()  # creates the file at the latest schema
    timings: dict[str, float] = {}
    conn = sqlite3.connect(str(state.db_path))
    conn.execute("PRAGMA synchronous = OFF")
    trigger_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'chunks_fts_ai'"
                               ).fetchone()[0]
    start = time.perf_counter()
    with conn:
        conn.execute("DROP TRIGGER chunks_fts_ai")
        vector_maker = VectorMaker(vector_kind, seed + 1)
        for paper_id, title, rows in generate_papers(n_chunks, vector_maker, seed):
            conn.execute("INSERT INTO papers (paper_id, title, source, role) VALUES (?, ?, 'card', 'core')",
                         [paper_id, title])
            conn.executemany(
                "INSERT INTO chunks (paper_id, source, ord, page, section, text, content_hash, token_count)"
                " VALUES (?, 'card', ?, 1, 'Body', ?, ?, ?)",
                [(paper_id, i, text, digest, WORDS_PER_CHUNK) for i, text, digest, _ in rows])
            conn.executemany("INSERT OR IGNORE INTO embeddings (content_hash, model_id, dim, vector)"
                             " VALUES (?, ?, ?, ?)", [(digest, MODEL_ID, DIM, blob) for _, _, digest, blob in rows])
    timings["rows_s"] = time.perf_counter() - start
    start = time.perf_counter()
    with conn:
        conn.execute(_INSERT_FTS)
        conn.execute(trigger_sql)
    timings["fts_s"] = time.perf_counter() - start
    if optimize:
        start = time.perf_counter()
        with conn:
            conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
        timings["fts_optimize_s"] = time.perf_counter() - start
    conn.close()
    return timings


def build_index(state: StateDir, plan: IndexPlan) -> float:
    """Build the FAISS index from the store and save it atomically; returns seconds."""
    start = time.perf_counter()
    with Store(state.db_path) as store:
        build_from_store(store, MODEL_ID, plan=plan).save_atomic(state)
    return time.perf_counter() - start


def recall_at_10(index: VectorIndex, exact_ids: np.ndarray, queries: np.ndarray) -> float:
    """Mean share of the exact top 10 that ``index`` also returns in its top 10."""
    found = [len({i for i, _ in index.search(q, 10)} & set(truth)) / 10 for q, truth in zip(queries, exact_ids)]
    return float(np.mean(found))


def measure_ann(state: StateDir, n_queries: int, kinds: list[str]) -> None:
    """Recall@10 against exact search and per-query latency for HNSW and IVF at several search widths."""
    with Store(state.db_path) as store:
        ids, vectors = store.chunk_vectors(MODEL_ID)
    queries = VectorMaker(_vector_kind(state), 1).queries(n_queries, papers=len(ids) // CHUNKS_PER_PAPER)
    exact = VectorIndex(faiss.IndexIDMap2(faiss.IndexFlatIP(DIM)))
    exact.add(ids, vectors)
    truth = [[i for i, _ in exact.search(q, 10)] for q in queries]
    print(f"exact: {_latency_ms(exact, queries)}", flush=True)
    for ann_kind in kinds:
        layout = IndexPlan(exact_max_vectors=0, ann_kind=ann_kind).layout_for(len(ids))
        index = _saved_index(state, layout)
        if index is None:
            start = time.perf_counter()
            index = VectorIndex(faiss.IndexIDMap2(build_faiss_index(layout, vectors)), layout=layout)
            index.add(ids, vectors)
            print(f"{layout.describe()}: build {time.perf_counter() - start:.1f} s", flush=True)
        else:
            print(f"{layout.describe()}: the saved index", flush=True)
        key, widths = ("ef_search", (64, 128, 256, 512)) if ann_kind == "hnsw" else ("nprobe", (32, 64, 128, 256))
        for width in widths:
            tuned = VectorIndex(index.index, layout=IndexLayout(ann_kind, {**layout.params, key: width}))
            print(f"  {key}={width}: recall@10 {recall_at_10(tuned, truth, queries):.3f}, "
                  f"{_latency_ms(tuned, queries)}", flush=True)
        del index


def _saved_index(state: StateDir, layout: IndexLayout) -> VectorIndex | None:
    """The index saved in ``state`` when it was built like ``layout`` (saves building it twice)."""
    try:
        saved, _meta = VectorIndex.load(state)
    except IndexFileError:
        return None
    return saved if saved.layout.builds_like(layout) else None


def _latency_ms(index: VectorIndex, queries: np.ndarray) -> str:
    samples = []
    for q in queries:
        start = time.perf_counter()
        index.search(q, 50)
        samples.append(time.perf_counter() - start)
    values = np.array(samples) * 1000
    return f"k=50 p50 {np.percentile(values, 50):.2f} ms p95 {np.percentile(values, 95):.2f} ms"


def _vector_kind(state: StateDir) -> str:
    marker = state.root / "vectors.txt"
    return marker.read_text().strip() if marker.is_file() else "clustered"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="state directory to create (keep it under /tmp)")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--vectors", choices=("clustered", "uniform"), default="clustered")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-index", action="store_true", help="write the database only")
    parser.add_argument("--reuse", action="store_true", help="keep the database already in --home")
    parser.add_argument("--recall-queries", type=int, default=0,
                        help="then measure ANN recall@10 against exact search with this many queries")
    parser.add_argument("--ann", nargs="*", choices=("hnsw", "ivf"), default=["hnsw", "ivf"],
                        help="ANN kinds for --recall-queries")
    args = parser.parse_args()
    if args.chunks < 1 or args.recall_queries < 0:
        sys.exit("error: --chunks must be at least 1 and --recall-queries at least 0")
    state = StateDir(args.home)
    if state.db_path.exists() and not args.reuse:
        sys.exit(f"error: {state.db_path} exists; pick an empty --home (or pass --reuse)")
    state.ensure()
    if not state.db_path.exists():
        (state.root / "vectors.txt").write_text(args.vectors)
        timings = build_store(state, args.chunks, args.vectors, args.seed)
        print(" ".join(f"{name} {value:.1f}" for name, value in timings.items()), flush=True)
        print(f"database {state.db_path.stat().st_size / 1e9:.2f} GB", flush=True)
    if not args.no_index:
        print(f"index build+save ({IndexPlan().layout_for(args.chunks).describe()}): "
              f"{build_index(state, IndexPlan()):.1f} s", flush=True)
    if args.recall_queries:
        measure_ann(state, args.recall_queries, args.ann)


if __name__ == "__main__":
    main()
