"""The SQLite store: papers, chunk replacement, vectors, full-text search, runs, fingerprints."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from index.errors import AccelsageError, DatabaseDamaged, NotFound
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


def test_upsert_paper_updates_only_given_fields(store):
    store.upsert_paper({"paper_id": "2401.15077", "title": "EAGLE", "year": 2024, "venue": "ICML", "bogus": 1})
    store.upsert_paper({"paper_id": "2401.15077", "version": "v3"})
    paper = store.get_paper("2401.15077")
    assert (paper["title"], paper["year"], paper["venue"], paper["version"]) == ("EAGLE", 2024, "ICML", "v3")
    assert store.get_paper("nope") is None
    assert [p["paper_id"] for p in store.list_papers()] == ["2401.15077"]


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


def test_replace_chunks_needs_the_paper_and_every_vector(store):
    chunks = drafts(TEXTS)
    with pytest.raises(NotFound):
        store.replace_chunks("ghost", "card", None, chunks, random_vectors(chunks), "m")
    store.upsert_paper({"paper_id": "p1", "title": "T"})
    with pytest.raises(ValueError, match="no vector"):
        store.replace_chunks("p1", "card", None, chunks, random_vectors(chunks[:2]), "m")
    store.replace_chunks("p1", "card", None, chunks[:1], random_vectors(chunks[:1], dim=8), "m")
    with pytest.raises(ValueError, match="dimensions"):
        store.replace_chunks("p1", "card", None, chunks[1:2], random_vectors(chunks[1:2], dim=16), "m")
    store.delete_paper("p1")
    assert store.chunk_count() == 0


def test_failure_midway_rolls_back_to_old_chunks(store):
    add_paper(store, "p1", "Title", TEXTS)
    before, fts_before = _chunk_rows(store), _fts_rowids(store)
    good = drafts(["fresh text one", "fresh text two"])
    bad = good[0].__class__(text=None, page=1, section="S", ord=2, content_hash="deadbeef", token_count=1)
    vectors = random_vectors(good) | {"deadbeef": np.ones(8, dtype=np.float32)}
    with pytest.raises(Exception):
        store.replace_chunks("p1", "card", None, [*good, bad], vectors, "test-model")
    assert _chunk_rows(store) == before
    assert _fts_rowids(store) == fts_before


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


def test_get_chunks_keeps_order_and_joins_paper(store):
    store.upsert_paper({"paper_id": "2406.16858", "arxiv_id": "2406.16858", "title": "EAGLE-2"})
    chunks = drafts(TEXTS)
    ids = store.replace_chunks("2406.16858", "arxiv", "v1", chunks, random_vectors(chunks), "m").chunk_ids
    rows = store.get_chunks([ids[2], 999_999, ids[0]])
    assert [r["id"] for r in rows] == [ids[2], ids[0]]
    assert {(r["title"], r["arxiv_id"], r["source"], r["version"]) for r in rows} == {
        ("EAGLE-2", "2406.16858", "arxiv", "v1")
    }


@pytest.mark.parametrize(
    "query",
    ['"', '""', "'", "-", "--x", "*", "a*", "NEAR", "NEAR(a b)", "AND", "OR NOT", "(", ")", ":", "title:x",
     "^", "{}", "\x00", "💥", "", "   ", "a" * 10_000, "word " * 2_000, 'EAGLE-2" OR "x', "\\", "%_"],
)
def test_lexical_search_never_raises(store, query):
    add_paper(store, "p1", "Title", TEXTS)
    result = store.lexical_search(query, 5)
    assert isinstance(result, list)
    assert len(result) <= 5


@pytest.mark.parametrize(
    ("query", "expected_text"),
    [("EAGLE-2", 0), ("eagle-2", 0), ("FP8", 1), ("fp8 weights", 1), ("W4A8KV4", 2), ("PagedAttention", 3),
     ("how does PagedAttention avoid fragmentation?", 3)],
)
def test_lexical_search_finds_exact_names(store, query, expected_text):
    ids = add_paper(store, "p1", "Title", TEXTS)
    hits = store.lexical_search(query, 5)
    assert hits[0][0] == ids[expected_text]
    assert all(a[1] >= b[1] for a, b in zip(hits, hits[1:]))  # best first


def test_title_is_searchable_and_follows_updates(store):
    ids = add_paper(store, "p1", "Medusa multiple decoding heads", TEXTS[:1])
    assert [cid for cid, _ in store.lexical_search("medusa", 5)] == ids
    store.upsert_paper({"paper_id": "p1", "title": "Hydra sequential heads"})
    assert store.lexical_search("medusa", 5) == []
    assert [cid for cid, _ in store.lexical_search("hydra", 5)] == ids


def test_delete_paper_cascades_to_chunks_and_fts(store):
    add_paper(store, "p1", "Title", TEXTS)
    store.delete_paper("p1")
    assert store.chunk_count() == 0
    assert _fts_rowids(store) == []


def test_refresh_runs(store):
    first = store.start_run()
    second = store.start_run()
    store.finish_run(first, {"status": "ok", "added": 3, "unchanged": 2, "failures": [{"id": "x", "error": "404"}],
                             "notes": {"watch": 1}, "duration_s": 1.5})
    run = store.get_run(first)
    assert (run["status"], run["added"], run["updated"], run["unchanged"], run["failed"]) == ("ok", 3, 0, 2, 0)
    assert run["failures"] == [{"id": "x", "error": "404"}]
    assert run["notes"] == {"watch": 1, "duration_s": 1.5}
    assert run["finished_at"] is not None
    assert [r["id"] for r in store.list_runs(10)] == [second, first]
    assert store.get_run(second)["status"] == "running"
    with pytest.raises(NotFound):
        store.get_run(12345)
    with pytest.raises(NotFound):
        store.finish_run(12345, {})


def test_fingerprint_tracks_chunks_and_model(store):
    empty = store.fingerprint("m")
    ids = add_paper(store, "p1", "Title", TEXTS, model_id="m")
    full = store.fingerprint("m")
    assert full != empty
    assert store.fingerprint("m") == full
    assert store.fingerprint("other") != full
    add_paper(store, "p1", "Title", TEXTS, model_id="m")  # unchanged re-ingest
    assert store.fingerprint("m") == full
    add_paper(store, "p1", "Title", TEXTS[:3], model_id="m")
    assert store.fingerprint("m") != full
    assert len(store.chunk_vectors("m")[0]) == 3 and ids


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


def test_prune_embeddings_keeps_vectors_still_used_by_a_chunk(store):
    add_paper(store, "p1", "One", TEXTS[:3])
    add_paper(store, "p2", "Two", [TEXTS[0], TEXTS[3]])  # shares TEXTS[0] with p1
    assert store.embedding_count() == 4
    store.replace_chunks("p1", "card", None, drafts(["a new first passage"]),
                         random_vectors(drafts(["a new first passage"])), "test-model")
    assert store.embedding_count() == 5  # the old ones linger until pruned
    assert store.prune_embeddings() == 2  # TEXTS[1], TEXTS[2]; TEXTS[0] is still p2's
    used = {row[0] for row in store.db.execute("SELECT DISTINCT content_hash FROM chunks")}
    stored = {row[0] for row in store.db.execute("SELECT content_hash FROM embeddings")}
    assert stored == used and store.prune_embeddings() == 0


def test_interrupt_running_runs_marks_only_running_ones(store):
    killed, done, current = store.start_run(), store.start_run(), store.start_run()
    store.finish_run(done, {"status": "ok"})
    assert store.interrupt_running_runs({"noticed_by": "test"}, except_run=current) == [killed]
    statuses = {run["id"]: (run["status"], run["notes"]) for run in store.list_runs()}
    assert statuses[killed] == ("interrupted", {"noticed_by": "test"})
    assert statuses[done][0] == "ok" and statuses[current][0] == "running"
