"""The approximate (HNSW, IVF) vector index: chosen above a size threshold, close to exact, recorded in the meta."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from index.index_plan import IndexLayout, IndexPlan, build_faiss_index
from index.state import StateDir
from index.store import Store
from index.vectors import VectorIndex, build_from_store, load_checked, load_matching
from index_helpers import drafts

MODEL = "test-model"
DIM = 16


def _clustered(n: int, seed: int) -> np.ndarray:
    """Unit vectors around 20 centres, the shape real embeddings have (a neighbour shares a centre)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, DIM))
    rows = centres[rng.integers(20, size=n)] + 0.4 * rng.standard_normal((n, DIM))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def state(tmp_path):
    return StateDir(tmp_path / "state").ensure()


@pytest.fixture
def store(state):
    """A store of 600 chunks in 6 papers with clustered 16-d vectors."""
    vectors = _clustered(600, seed=1)
    with Store(state.db_path) as s:
        for p in range(6):
            s.upsert_paper({"paper_id": f"p{p}", "title": f"Paper {p}", "source": "card"})
            chunks = drafts([f"paper {p} chunk {i}" for i in range(100)])
            rows = vectors[p * 100:(p + 1) * 100]
            s.replace_chunks(f"p{p}", "card", None, chunks, dict(zip([c.content_hash for c in chunks], rows)), MODEL)
        yield s


@pytest.mark.parametrize(("threshold", "ann_kind", "kind"), [
    (600, "hnsw", "flat"),  # at the threshold: still exact
    (599, "hnsw", "hnsw"),
    (599, "ivf", "ivf"),
    (0, "ivf", "ivf"),
])
def test_index_kind_switches_at_the_threshold(store, threshold, ann_kind, kind):
    plan = IndexPlan(exact_max_vectors=threshold, ann_kind=ann_kind)
    index = build_from_store(store, MODEL, plan=plan)
    assert (index.kind, index.count) == (kind, 600)
    inner = faiss.downcast_index(index.index.index)
    assert isinstance(inner, {"flat": faiss.IndexFlatIP, "hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVFFlat}[kind])


@pytest.mark.parametrize("ann_kind", ["hnsw", "ivf"])
def test_ann_results_agree_with_exact(store, ann_kind):
    exact = build_from_store(store, MODEL)
    ann = build_from_store(store, MODEL, plan=IndexPlan(exact_max_vectors=10, ann_kind=ann_kind))
    queries = _clustered(50, seed=2)
    found = [len({i for i, _ in ann.search(q, 10)} & {i for i, _ in exact.search(q, 10)}) / 10 for q in queries]
    assert np.mean(found) >= 0.9
    # the scores are cosines either way
    top_id, top_score = ann.search(queries[0], 1)[0]
    assert top_score == pytest.approx(dict(exact.search(queries[0], 10))[top_id], abs=1e-5)


@pytest.mark.parametrize(("ann_kind", "params"), [
    ("hnsw", {"m": 8, "ef_construction": 20, "ef_search": 64}),
    ("ivf", {"lists": 15, "nprobe": 4}),  # 600 rows hold 15 lists of >= 39 training points
])
def test_meta_records_kind_and_parameters(state, store, ann_kind, params):
    plan = IndexPlan(exact_max_vectors=100, ann_kind=ann_kind, hnsw_m=8, hnsw_ef_construction=20,
                     hnsw_ef_search=64, ivf_lists=64, ivf_nprobe=4)
    build_from_store(store, MODEL, plan=plan).save_atomic(state)
    meta = json.loads(state.index_meta_path.read_text())
    assert (meta["kind"], meta["params"], meta["count"]) == (ann_kind, params, 600)
    loaded, reason = load_checked(state, store, MODEL, plan=plan)
    assert reason is None and loaded.layout == IndexLayout(ann_kind, params)


def test_exact_index_meta_says_flat(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    meta = json.loads(state.index_meta_path.read_text())
    assert (meta["kind"], meta["params"]) == ("flat", {})


def test_a_plan_that_wants_another_kind_rebuilds_atomically(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    old_bytes = state.index_path.read_bytes()
    plan = IndexPlan(exact_max_vectors=100, ann_kind="hnsw")
    assert "plan wants hnsw" in load_matching(state, store, MODEL, plan)[1]
    index, reason = load_checked(state, store, MODEL, plan=plan)
    assert index.kind == "hnsw" and "index is flat (exact), the plan wants hnsw" in reason
    assert state.index_path.read_bytes() != old_bytes
    assert load_checked(state, store, MODEL, plan=plan)[1] is None  # the rebuilt one was saved
    # no temp files are left beside the pair
    assert sorted(p.name for p in state.root.iterdir() if p.name.startswith(".")) == []


def test_a_new_search_parameter_needs_no_rebuild(state, store):
    build_from_store(store, MODEL, plan=IndexPlan(exact_max_vectors=100, ann_kind="hnsw")).save_atomic(state)
    wider = IndexPlan(exact_max_vectors=100, ann_kind="hnsw", hnsw_ef_search=512)
    loaded, reason = load_checked(state, store, MODEL, plan=wider)
    assert reason is None and loaded.layout.params["ef_search"] == 512
    other_build = IndexPlan(exact_max_vectors=100, ann_kind="hnsw", hnsw_m=16)
    assert "m=32" in load_matching(state, store, MODEL, other_build)[1]
    assert "lists=15" in load_matching(state, store, MODEL, IndexPlan(exact_max_vectors=100))[1]  # ivf by default


def test_meta_kind_must_match_the_file(state, store):
    build_from_store(store, MODEL, plan=IndexPlan(exact_max_vectors=100, ann_kind="hnsw")).save_atomic(state)
    meta = json.loads(state.index_meta_path.read_text())
    meta["kind"], meta["params"] = "flat", {}
    state.index_meta_path.write_text(json.dumps(meta))
    loaded, reason = load_matching(state, store, MODEL)
    assert loaded is None and reason == "index file holds a hnsw index, its meta says flat"


def test_a_format_1_meta_reads_as_an_exact_index(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    meta = json.loads(state.index_meta_path.read_text())
    meta["format"] = 1
    del meta["kind"], meta["params"]
    state.index_meta_path.write_text(json.dumps(meta))
    loaded, reason = load_checked(state, store, MODEL)
    assert reason is None and loaded.kind == "flat"


def test_ivf_lists_shrink_to_what_the_rows_can_train():
    assert IndexPlan(exact_max_vectors=0, ann_kind="ivf").layout_for(400).params == {"lists": 10, "nprobe": 10}
    assert IndexPlan(exact_max_vectors=0, ann_kind="ivf").layout_for(10).params == {"lists": 1, "nprobe": 1}


@pytest.mark.parametrize("bad", [{"ann_kind": "lsh"}, {"hnsw_m": 0}, {"exact_max_vectors": -1}, {"ivf_nprobe": 0}])
def test_a_bad_plan_is_refused(bad):
    with pytest.raises(ValueError):
        IndexPlan(**bad)


def test_an_ann_index_takes_later_additions():
    layout = IndexPlan(exact_max_vectors=0, ann_kind="hnsw").layout_for(200)
    rows = _clustered(300, seed=3)
    index = VectorIndex(faiss.IndexIDMap2(build_faiss_index(layout, rows[:200])), layout=layout)
    index.add(np.arange(200), rows[:200])
    index.add(np.arange(1000, 1100), rows[200:])
    assert index.count == 300 and index.search(rows[250], 1)[0][0] == 1050
