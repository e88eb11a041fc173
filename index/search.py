"""Hybrid retrieval: FTS5 bm25 and dense FAISS ranks fused with reciprocal rank fusion.

A :class:`Searcher` answers from an immutable snapshot (store + vector index). :meth:`Searcher.reload`
builds or takes a new snapshot and swaps it in under a lock; a search already running keeps the
snapshot it started with, so it finishes on consistent data.

Papers whose card's role is ``off-topic`` (listed because they cite an acceleration paper, e.g. a
particle-physics classifier citing FlashAttention) stay in the store but are left out of every search
unless a caller asks for them (``include_off_topic``), so neither retrieval nor answers surface them.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.embedding import Embedder, load_query_embedder, resolve_model_path
from index.errors import AccelsageError
from index.state import StateDir
from index.store import Store
from index.store_factory import open_store
from index.index_plan import IndexPlan
from index.vectors import VectorIndex, load_checked

RRF_K = 60  # the usual RRF constant: damps the weight of the very top ranks
CANDIDATES = 50  # ranks taken from each retriever before fusion
MODES = ("hybrid", "dense", "lexical")
MAX_K = 200  # the most hits a caller in the code may ask for
MAX_HITS = 50  # the most hits a person may ask for: `accelsage search -k` and `GET /v1/search?k=` agree on it
QUERY_VECTORS_CACHED = 64  # recent query texts whose embedding is kept (an embedding costs ~20 ms of CPU)
# hits kept per snapshot, over all cached (query, k, mode) results: every answer cites techniques with
# the same name queries (a lexical one costs ~1-4 ms of SQLite), and a new snapshot starts with none.
# A hit holds its chunk's text (at most 230 tokens, ~1.2 kB), so this bounds the cache near 15 MB a worker.
RESULTS_CACHED_HITS = 10_000
# lexical searches that may run beside the dense half of hybrid searches at once (each holds its store's
# lock, so more threads only queue); the server's own request threads are the real concurrency.
RETRIEVER_THREADS = 4


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with its paper and how each retriever ranked it (1-based, None = absent)."""

    chunk_id: int
    paper_id: str
    arxiv_id: str | None
    title: str
    text: str
    page: int | None
    section: str | None
    source: str
    score: float
    lexical_rank: int | None
    dense_rank: int | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Snapshot:
    """What one search reads: a store and the vector index built from it, and recent results on them."""

    store: Store
    vectors: VectorIndex
    off_topic: frozenset[int] = frozenset()  # chunk ids of off-topic papers, read from the store once per snapshot
    results: "ResultCache" = field(default_factory=lambda: ResultCache(RESULTS_CACHED_HITS), compare=False,
                                   repr=False)


class ResultCache:
    """A thread-safe LRU of search results (tuples of frozen hits) for one snapshot, bounded by total hits."""

    def __init__(self, max_hits: int) -> None:
        self.max_hits = max_hits
        self.hits = 0
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, tuple[Hit, ...]] = OrderedDict()

    def get(self, key: tuple) -> tuple[Hit, ...] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, found: tuple[Hit, ...]) -> None:
        with self._lock:
            if key in self._items or len(found) > self.max_hits:
                return
            self._items[key] = found
            self.hits += len(found)
            while self.hits > self.max_hits:
                self.hits -= len(self._items.popitem(last=False)[1])


def rrf_fuse(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(id) = sum over rankings of 1 / (k + rank), rank from 1."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    # Ties keep first-seen order (the lexical ranking comes first), which sorted() preserves.
    return sorted(scores.items(), key=lambda item: -item[1])


class Searcher:
    """Searches one snapshot at a time; ``reload`` swaps snapshots atomically."""

    def __init__(
        self,
        store: Store,
        vectors: VectorIndex,
        query_embedder: Embedder,
        *,
        state: StateDir | None = None,
        rebuilt_reason: str | None = None,
        index_plan: IndexPlan | None = None,
    ) -> None:
        self.query_embedder = query_embedder
        self.state = state
        self.index_plan = index_plan  # exact vs ANN index and its parameters, used when reloading
        self.rebuilt_reason = rebuilt_reason
        self._lock = threading.Lock()
        self._snapshot = Snapshot(store, vectors, _off_topic(store))
        self._vectors_lock = threading.Lock()
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def reload(self, store: Store | None = None, vectors: VectorIndex | None = None) -> str | None:
        """Swap in a new snapshot; returns why the index was rebuilt, if it was.

        With no arguments (a searcher from :func:`open_searcher`), reopens the store and checks
        the saved index. Given a store and/or index, uses those (the other is kept).
        """
        reason = None
        if store is None and vectors is None:
            if self.state is None:
                raise AccelsageError("this searcher has no state directory to reload from")
            store = self.snapshot.store.reopen()  # the same database (file or shared server), a new connection
            vectors, reason = load_checked(self.state, store, self.query_embedder.model_id, dim=self.query_embedder.dim,
                                           plan=self.index_plan)
        current = self.snapshot
        store = store or current.store
        fresh = Snapshot(store, vectors or current.vectors, _off_topic(store))
        with self._lock:
            self._snapshot = fresh
            self.rebuilt_reason = reason
        return reason

    def search(self, query: str, k: int = 5, mode: str = "hybrid", *, include_off_topic: bool = False) -> list[Hit]:
        """Top ``k`` chunks for ``query``.

        Args:
            mode: "hybrid" (RRF of both), "dense" (FAISS cosine) or "lexical" (FTS5 bm25).
            include_off_topic: also rank chunks of papers whose role is off-topic (left out by default).

        Returns:
            Hits best first; empty when the corpus is empty.
        """
        if not isinstance(query, str) or not query.strip():
            raise AccelsageError("empty search query: give some words to search for")
        if mode not in MODES:
            raise AccelsageError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if not 1 <= int(k) <= MAX_K:
            raise AccelsageError(f"k must be between 1 and {MAX_K}")
        snap = self.snapshot  # read once: the whole query runs on this snapshot
        key = (query, int(k), mode, include_off_topic)
        cached = snap.results.get(key)
        if cached is None:
            excluded = frozenset() if include_off_topic else snap.off_topic
            cached = tuple(self._search(snap, query, int(k), mode, excluded))
            snap.results.put(key, cached)
        return list(cached)

    def _search(self, snap: Snapshot, query: str, k: int, mode: str, excluded: frozenset[int]) -> list[Hit]:
        # each retriever ranks as many more as could be left out, so ``pool`` remain after the cut
        pool = max(CANDIDATES, k) + len(excluded)
        if mode == "hybrid":
            # FTS5 on another thread while this one embeds and runs FAISS: SQLite, BLAS and FAISS all
            # release the GIL, so on 2 cores a query waits for the slower retriever, not for both.
            pending = _retriever_pool().submit(snap.store.lexical_search, query, pool)
            dense = self._dense(snap, query, pool)
            lexical = pending.result()
        else:
            lexical = snap.store.lexical_search(query, pool) if mode == "lexical" else []
            dense = self._dense(snap, query, pool) if mode == "dense" else []
        if excluded:
            lexical = [item for item in lexical if item[0] not in excluded]
            dense = [item for item in dense if item[0] not in excluded]
        lexical_rank = {cid: rank for rank, (cid, _) in enumerate(lexical, start=1)}
        dense_rank = {cid: rank for rank, (cid, _) in enumerate(dense, start=1)}
        if mode == "hybrid":
            ranked = rrf_fuse([[cid for cid, _ in lexical], [cid for cid, _ in dense]])
        else:
            ranked = lexical or dense
        top = ranked[:k]
        rows = {row["id"]: row for row in snap.store.get_chunks([cid for cid, _ in top])}
        hits = []
        for cid, score in top:
            row = rows.get(cid)
            if row is None:  # the index named a chunk the store no longer has
                continue
            hits.append(
                Hit(
                    chunk_id=cid, paper_id=row["paper_id"], arxiv_id=row["arxiv_id"], title=row["title"] or "",
                    text=row["text"], page=row["page"], section=row["section"], source=row["source"],
                    score=float(score), lexical_rank=lexical_rank.get(cid), dense_rank=dense_rank.get(cid),
                )
            )
        return hits

    def _dense(self, snap: Snapshot, query: str, pool: int) -> list[tuple[int, float]]:
        if snap.vectors.count == 0:
            return []
        vector = self._query_vector(query)
        if vector.shape[0] != snap.vectors.dim:
            raise AccelsageError(
                f"the index has {snap.vectors.dim}-d vectors but the query model gives {vector.shape[0]}; run reindex"
            )
        return snap.vectors.search(vector, pool)


    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding as search uses it (remembered: other stages reuse it without embedding again)."""
        return self._query_vector(query)

    def _query_vector(self, query: str) -> np.ndarray:
        """The query's embedding; the same text again (a repeated question) is not embedded twice."""
        with self._vectors_lock:
            vector = self._query_vectors.get(query)
            if vector is not None:
                self._query_vectors.move_to_end(query)
                return vector
        vector = self.query_embedder.embed([query])[0]
        vector.setflags(write=False)  # shared by later searches: nobody may change it
        with self._vectors_lock:
            self._query_vectors[query] = vector
            while len(self._query_vectors) > QUERY_VECTORS_CACHED:
                self._query_vectors.popitem(last=False)
        return vector


_POOL_LOCK = threading.Lock()
_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, pool): a forked child makes its own


def _retriever_pool() -> ThreadPoolExecutor:
    """Threads for the lexical half of hybrid searches, made on first use in each process."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=RETRIEVER_THREADS, thread_name_prefix="lexical"))
        return _POOL[1]


def _off_topic(store: Store) -> frozenset[int]:
    """The chunk ids search leaves out (a store without roles, e.g. a test double, leaves out none)."""
    read = getattr(store, "off_topic_chunk_ids", None)
    return read() if read is not None else frozenset()


def open_searcher(state: StateDir, model_path: str | Path, query_embedder: Embedder | None = None,
                  database_url: str | None = None, index_plan: IndexPlan | None = None) -> Searcher:
    """A searcher over the state directory's store, with the index checked (rebuilt if stale).

    Args:
        model_path: model name or folder (see :func:`index.embedding.resolve_model_path`).
        query_embedder: reuse an already-loaded embedder (tests, the server).
        index_plan: when the vector index switches from exact to ANN search, and its parameters
            (default :class:`index.index_plan.IndexPlan`).
    """
    embedder = query_embedder or load_query_embedder(resolve_model_path(model_path))
    state.ensure()
    store = open_store(state, database_url)  # database_url: a shared PostgreSQL store instead of the SQLite file
    vectors, reason = load_checked(state, store, embedder.model_id, dim=embedder.dim, plan=index_plan)
    return Searcher(store, vectors, embedder, state=state, rebuilt_reason=reason, index_plan=index_plan)
