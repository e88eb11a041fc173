"""The FAISS index file: build, atomic save, and rebuild whenever it cannot be trusted."""

from __future__ import annotations

import json
import os

import faiss
import numpy as np
import pytest

from index import vectors as vectors_module
from index.state import StateDir
from index.store import Store
from index.vectors import DEFAULT_DIM, VectorIndex, build_from_store, file_checksum, load_checked, verify_file
from index_helpers import add_paper

MODEL = "test-model"


@pytest.fixture
def state(tmp_path):
    return StateDir(tmp_path / "state").ensure()


@pytest.fixture
def store(state):
    with Store(state.db_path) as s:
        add_paper(s, "p1", "One", ["alpha text", "beta text", "gamma text"], model_id=MODEL)
        add_paper(s, "p2", "Two", ["delta text", "epsilon text"], model_id=MODEL)
        yield s


def _files(state):
    files = [p for p in state.root.iterdir() if p.is_file() and not p.name.startswith("accelsage.db")]
    return {p.name: p.read_bytes() for p in files}


def test_build_holds_every_chunk_vector(store):
    index = build_from_store(store, MODEL)
    ids, vectors = store.chunk_vectors(MODEL)
    assert index.count == 5 and index.dim == 8
    assert sorted(index.ids()) == sorted(ids)
    # A stored vector finds its own chunk first, with cosine 1.
    top_id, top_score = index.search(vectors[3], 2)[0]
    assert top_id == ids[3] and top_score == pytest.approx(1.0, abs=1e-5)
    assert index.fingerprint == store.fingerprint(MODEL) and index.model_id == MODEL


def test_save_then_load_checked_uses_the_file(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    meta = json.loads(state.index_meta_path.read_text())
    assert (meta["model_id"], meta["dim"], meta["count"]) == (MODEL, 8, 5)
    assert meta["fingerprint"] == store.fingerprint(MODEL)
    loaded, reason = load_checked(state, store, MODEL)
    assert reason is None
    assert sorted(loaded.ids()) == sorted(store.chunk_vectors(MODEL)[0])


def _corrupt_index(state):
    state.index_path.write_bytes(b"not a faiss file" * 10)


def _truncate_index(state):
    data = state.index_path.read_bytes()
    state.index_path.write_bytes(data[: len(data) // 2])


def _garbage_meta(state):
    state.index_meta_path.write_text("{oops")


def _drop_meta(state):
    state.index_meta_path.unlink()


def _drop_index(state):
    state.index_path.unlink()


def _new_index_old_meta(state):
    # What a crash between the two renames would leave: a new index beside the previous meta.
    other = VectorIndex.empty(8, MODEL, "x")
    other.add(np.array([1, 2]), np.eye(8, dtype=np.float32)[:2])
    meta = state.index_meta_path.read_text()
    other.save_atomic(state)
    state.index_meta_path.write_text(meta)


@pytest.mark.parametrize(
    ("damage", "reason_part"),
    [
        (_drop_index, "missing"),
        (_corrupt_index, "size"),
        (_truncate_index, "size"),
        (_garbage_meta, "meta"),
        (_drop_meta, "meta"),
        (_new_index_old_meta, "match"),
    ],
)
def test_damaged_index_is_rebuilt_and_saved(state, store, damage, reason_part):
    build_from_store(store, MODEL).save_atomic(state)
    damage(state)
    index, reason = load_checked(state, store, MODEL)
    assert reason is not None and reason_part in reason
    assert index.count == 5
    assert load_checked(state, store, MODEL)[1] is None  # the rebuilt one was saved


def test_corrupt_bytes_with_matching_size_are_caught(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    size = state.index_path.stat().st_size
    state.index_path.write_bytes(b"\x00" * size)
    index, reason = load_checked(state, store, MODEL)
    assert "checksum" in reason and index.count == 5


def _overwrite_vector_bytes(state) -> None:
    """Flip bytes inside the stored vectors, in place: the file keeps its size and still parses."""
    with open(state.index_path, "r+b") as handle:
        handle.seek(200)
        original = handle.read(16)
        handle.seek(200)
        handle.write(bytes(b ^ 0x5A for b in original))


def test_vectors_overwritten_in_place_are_rebuilt_from_the_store(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    _overwrite_vector_bytes(state)
    damaged = faiss.read_index(str(state.index_path))  # FAISS itself reads the damaged file without complaint
    assert damaged.ntotal == 5
    assert verify_file(state) == "index file checksum does not match its meta (file damaged)"
    index, reason = load_checked(state, store, MODEL)
    assert reason == "index file checksum does not match its meta (file damaged)"
    ids, vectors = store.chunk_vectors(MODEL)
    assert np.array_equal(np.vstack([index.index.reconstruct(int(i)) for i in ids]), vectors)
    assert verify_file(state) is None and load_checked(state, store, MODEL)[1] is None  # the rebuilt one was saved


def test_meta_records_the_checksum_of_the_file(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    meta = json.loads(state.index_meta_path.read_text())
    assert meta["checksum"] == {"algorithm": "xxh3_64", "value": file_checksum(state.index_path)}
    del meta["checksum"]  # a meta written before checksums existed
    state.index_meta_path.write_text(json.dumps(meta))
    assert "no checksum" in load_checked(state, store, MODEL)[1]


def test_store_change_triggers_rebuild(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    add_paper(store, "p3", "Three", ["zeta text"], model_id=MODEL)
    index, reason = load_checked(state, store, MODEL)
    assert "fingerprint" in reason and index.count == 6


def test_model_change_triggers_rebuild(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    index, reason = load_checked(state, store, "another-model", dim=16)
    assert "model changed" in reason
    assert (index.count, index.dim, index.model_id) == (0, 16, "another-model")


def test_interrupted_save_leaves_old_files(state, store, monkeypatch):
    build_from_store(store, MODEL).save_atomic(state)
    before = _files(state)
    add_paper(store, "p3", "Three", ["zeta text"], model_id=MODEL)

    def fail_replace(src, dst):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(vectors_module.os, "replace", fail_replace)
    with pytest.raises(OSError):
        build_from_store(store, MODEL).save_atomic(state)
    assert _files(state) == before  # old index and meta intact, no temp files left
    monkeypatch.undo()
    index, reason = load_checked(state, store, MODEL)
    assert "fingerprint" in reason and index.count == 6


def test_unsavable_rebuild_still_serves(state, store, monkeypatch):
    def fail(self, state):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(VectorIndex, "save_atomic", fail)
    index, reason = load_checked(state, store, MODEL)
    assert index.count == 5
    assert "missing" in reason and "could not save" in reason


def test_empty_store_gives_empty_index(tmp_path):
    state = StateDir(tmp_path / "s").ensure()
    store = Store(state.db_path)
    index, reason = load_checked(state, store, MODEL)
    assert (index.count, index.dim) == (0, DEFAULT_DIM) and reason == "index file missing"
    assert index.search(np.ones(DEFAULT_DIM, dtype=np.float32), 5) == []
    assert load_checked(state, store, MODEL)[1] is None


def test_search_rejects_wrong_dimension(store):
    index = build_from_store(store, MODEL)
    with pytest.raises(ValueError):
        index.search(np.ones(5, dtype=np.float32), 3)
    assert len(index.search(np.ones(8, dtype=np.float32), 50)) == 5


def test_saved_files_are_complete_on_disk(state, store):
    build_from_store(store, MODEL).save_atomic(state)
    leftovers = [name for name in os.listdir(state.root) if name.endswith(".tmp")]
    assert leftovers == []
    assert json.loads(state.index_meta_path.read_text())["index_bytes"] == state.index_path.stat().st_size
