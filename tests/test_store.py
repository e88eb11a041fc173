"""The SQLite store beyond the contract both backends share (tests/test_store_contract.py): chunk replacement
details, a killed writer, vectors, cascades, damage and quick_check, interrupted runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from index.errors import AccelsageError, DatabaseDamaged
from index.store import Store
from index_helpers import add_paper, drafts, random_vectors

TEXTS = [
    "EAGLE-2 builds a dynamic draft tree from the draft model's confidence scores.",
    "FP8 weights and activations halve memory traffic compared with BF16 on Hopper GPUs.",
    "QServe serves W4A8KV4 models: 4-bit weights, 8-bit activations and a 4-bit KV cache.",
    "PagedAttention stores the KV cache in fixed-size blocks to avoid fragmentation.",
]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "state" / "accelsage.db") as s:
        yield s


def _chunk_rows(store, paper_id="p1"):
    return [(c["id"], c["ord"], c["text"]) for c in store.paper_chunks(paper_id)]


def _fts_rowids(store):
    return sorted(r[0] for r in store.db.execute("SELECT rowid FROM chunks_fts"))


def test_pragmas_wal_and_foreign_keys(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_replace_chunks_twice_is_idempotent(store):
    first = add_paper(store, "p1", "Title", TEXTS)
    before = _chunk_rows(store)
    chunks = drafts(TEXTS)
    summary = store.replace_chunks("p1", "card", None, chunks, {}, "test-model")
    assert (summary.kept, summary.added, summary.removed, summary.updated) == (4, 0, 0, 0)
    assert summary.chunk_ids == first
    assert _chunk_rows(store) == before
    assert store.chunk_count() == 4
    assert _fts_rowids(store) == sorted(first)


def test_changed_text_keeps_ids_of_unchanged_chunks(store):
    ids = add_paper(store, "p1", "Title", TEXTS)
    new_texts = [TEXTS[0], "A brand new paragraph about tensor parallelism.", TEXTS[2], TEXTS[3]]
    chunks = drafts(new_texts)
    summary = store.replace_chunks("p1", "card", None, chunks, random_vectors(chunks), "test-model")
    assert (summary.kept, summary.added, summary.removed) == (3, 1, 1)
    new_ids = summary.chunk_ids
    assert [new_ids[0], new_ids[2], new_ids[3]] == [ids[0], ids[2], ids[3]]
    assert new_ids[1] > max(ids)  # never a reused id
    assert store.get_chunks([ids[1]]) == []
    assert _fts_rowids(store) == sorted(new_ids)


def test_moved_chunk_is_updated_in_place(store):
    ids = add_paper(store, "p1", "Title", TEXTS)
    summary = store.replace_chunks("p1", "card", "v2", drafts(list(reversed(TEXTS))), {}, "test-model")
    assert (summary.updated, summary.added, summary.removed) == (4, 0, 0)
    assert sorted(summary.chunk_ids) == sorted(ids)
    assert {c["version"] for c in store.paper_chunks("p1")} == {"v2"}


def test_repeated_text_within_a_paper_gives_two_chunks(store):
    ids = add_paper(store, "p1", "Title", [TEXTS[0], TEXTS[0]])
    assert len(set(ids)) == 2
    assert add_paper(store, "p1", "Title", [TEXTS[0], TEXTS[0]]) == ids


def test_sources_of_one_paper_are_replaced_separately(store):
    card_ids = add_paper(store, "p1", "Title", TEXTS[:2], source="card")
    arxiv_ids = add_paper(store, "p1", "Title", TEXTS[2:], source="arxiv")
    add_paper(store, "p1", "Title", [], source="arxiv")
    assert [c["id"] for c in store.paper_chunks("p1")] == card_ids
    assert not set(arxiv_ids) & set(_fts_rowids(store))


def test_process_killed_inside_replace_leaves_old_chunks(tmp_path):
    db_path = tmp_path / "crash.db"
    store = Store(db_path)
    add_paper(store, "p1", "Title", TEXTS)
    before = _chunk_rows(store)
    store.close()
    # The child dies (os._exit, no cleanup) just as it starts deleting, after inserting new rows.
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]
        from index.store import Store
        from index_helpers import drafts, random_vectors
        store = Store({str(db_path)!r})
        store.db.conn.set_trace_callback(lambda sql: os._exit(7) if sql.startswith("DELETE FROM chunks") else None)
        chunks = drafts(["replacement one", "replacement two"])
        store.replace_chunks("p1", "card", None, chunks, random_vectors(chunks), "test-model")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 7, result.stderr
    again = Store(db_path)
    assert _chunk_rows(again) == before
    assert _fts_rowids(again) == sorted(cid for cid, _, _ in before)


def test_known_vectors_round_trip_float32(store):
    chunks = drafts(TEXTS)
    vectors = random_vectors(chunks)
    store.upsert_paper({"paper_id": "p1", "title": "T"})
    store.replace_chunks("p1", "card", None, chunks, vectors, "m1")
    known = store.known_vectors([c.content_hash for c in chunks] + ["unknown"], "m1")
    assert set(known) == set(vectors)
    for content_hash, vector in known.items():
        assert vector.dtype == np.float32
        np.testing.assert_array_equal(vector, vectors[content_hash])
    assert store.known_vectors([chunks[0].content_hash], "other-model") == {}


def test_delete_paper_cascades_to_chunks_and_fts(store):
    add_paper(store, "p1", "Title", TEXTS)
    store.delete_paper("p1")
    assert store.chunk_count() == 0
    assert _fts_rowids(store) == []


# --- damaged files, unused vectors, runs left running ----------------------------------------


def _filled_db(path: Path) -> Path:
    """A store with enough rows to span many pages, checkpointed so everything is in the main file."""
    with Store(path) as s:
        for i in range(30):
            add_paper(s, f"p{i}", f"Title {i}", [f"passage {i}.{j} " * 40 for j in range(5)])
        s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path):
    db = _filled_db(tmp_path / "accelsage.db")
    _overwrite(db, 0, b"this is no sqlite header at all!" * 3)
    with pytest.raises(DatabaseDamaged) as caught:
        Store(db)
    message = str(caught.value)
    assert "\n" not in message and "is damaged (file is not a database)" in message
    assert "accelsage doctor --repair" in message and "accelsage refresh" in message
    assert isinstance(caught.value, AccelsageError)


def test_damaged_pages_are_found_by_quick_check(tmp_path):
    db = _filled_db(tmp_path / "accelsage.db")
    page = 4096
    for number in range(3, 12):  # garble cell contents, keep each page header
        _overwrite(db, number * page + 8, bytes(range(256)) * 3)
    with Store(db) as store:  # the schema page is intact: opening works
        problems = store.quick_check()
        assert problems and all("\n" not in p for p in problems)
        with pytest.raises(DatabaseDamaged, match=r"is damaged \(quick_check: "):
            store.check_sound()


def test_a_sound_database_passes_quick_check(store):
    add_paper(store, "p1", "Title", TEXTS)
    assert store.quick_check() == []
    store.check_sound()


def test_interrupt_running_runs_marks_only_running_ones(store):
    killed, done, current = store.start_run(), store.start_run(), store.start_run()
    store.finish_run(done, {"status": "ok"})
    assert store.interrupt_running_runs({"noticed_by": "test"}, except_run=current) == [killed]
    statuses = {run["id"]: (run["status"], run["notes"]) for run in store.list_runs()}
    assert statuses[killed] == ("interrupted", {"noticed_by": "test"})
    assert statuses[done][0] == "ok" and statuses[current][0] == "running"
