"""The store contract, run against both backends: the SQLite file and a real PostgreSQL server.

Every test here takes ``store`` from a parametrized fixture, so one behaviour is checked once and
holds for both; the SQLite-only checks (WAL, file damage, kill -9 mid-write) stay in test_store.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from index.errors import AccelsageError, NotFound
from index.state import StateDir
from index.store import Store
from index.store_factory import check_database_url, is_postgres, open_store
from index.store_interface import CorpusStore
from index.store_postgres import redact_url, to_postgres_sql
from index_helpers import add_paper, drafts, random_vectors
from pg_helpers import pg_url, shared_server  # noqa: F401  (pg_url is a fixture)

TEXTS = [
    "EAGLE-2 builds a dynamic draft tree from the draft model's confidence scores.",
    "FP8 weights and activations halve memory traffic compared with BF16 on Hopper GPUs.",
    "QServe serves W4A8KV4 models: 4-bit weights, 8-bit activations and a 4-bit KV cache.",
    "PagedAttention stores the KV cache in fixed-size blocks to avoid fragmentation.",
]
BACKENDS = ("sqlite", "postgres")


def _open(backend: str, tmp_path) -> CorpusStore:
    state = StateDir(tmp_path / "state").ensure()
    url = shared_server().create_database() if backend == "postgres" else None
    return open_store(state, url)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    with _open(request.param, tmp_path) as opened:
        yield opened


def _chunk_rows(store, paper_id="p1"):
    return [(c["id"], c["ord"], c["text"]) for c in store.paper_chunks(paper_id)]


def _searchable_ids(store) -> list[int]:
    """Chunk ids the full-text side table holds (FTS5 rowid in SQLite, chunk_id in PostgreSQL)."""
    column = "chunk_id" if is_postgres(getattr(store, "database_url", None)) else "rowid"
    return sorted(int(row[0]) for row in store.db.execute(f"SELECT {column} FROM chunks_fts"))


def test_both_backends_satisfy_the_interface(store):
    assert isinstance(store, CorpusStore)
    assert store.schema_version == 4
    assert "***" not in store.location or "postgresql://" in store.location


def test_upsert_paper_updates_only_given_fields(store):
    store.upsert_paper({"paper_id": "2401.15077", "title": "EAGLE", "year": 2024, "venue": "ICML", "bogus": 1})
    store.upsert_paper({"paper_id": "2401.15077", "version": "v3"})
    paper = store.get_paper("2401.15077")
    assert (paper["title"], paper["year"], paper["venue"], paper["version"]) == ("EAGLE", 2024, "ICML", "v3")
    assert store.get_paper("nope") is None
    assert [p["paper_id"] for p in store.list_papers()] == ["2401.15077"]


def test_replace_chunks_keeps_ids_of_unchanged_chunks(store):
    ids = add_paper(store, "p1", "Title", TEXTS)
    again = store.replace_chunks("p1", "card", None, drafts(TEXTS), {}, "test-model")
    assert (again.kept, again.added, again.removed, again.chunk_ids) == (4, 0, 0, ids)
    new_texts = [TEXTS[0], "A brand new paragraph about tensor parallelism.", TEXTS[2], TEXTS[3]]
    chunks = drafts(new_texts)
    summary = store.replace_chunks("p1", "card", None, chunks, random_vectors(chunks), "test-model")
    assert (summary.kept, summary.added, summary.removed) == (3, 1, 1)
    assert [summary.chunk_ids[i] for i in (0, 2, 3)] == [ids[0], ids[2], ids[3]]
    assert summary.chunk_ids[1] > max(ids)  # never a reused id
    assert store.get_chunks([ids[1]]) == []
    assert _searchable_ids(store) == sorted(summary.chunk_ids)


def test_moved_chunks_are_updated_in_place(store):
    ids = add_paper(store, "p1", "Title", TEXTS)
    summary = store.replace_chunks("p1", "card", "v2", drafts(list(reversed(TEXTS))), {}, "test-model")
    assert (summary.updated, summary.added, summary.removed) == (4, 0, 0)
    assert sorted(summary.chunk_ids) == sorted(ids)
    assert {c["version"] for c in store.paper_chunks("p1")} == {"v2"}


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
    assert store.chunk_count() == 0 and _searchable_ids(store) == []


def test_failure_midway_rolls_back_to_old_chunks(store):
    add_paper(store, "p1", "Title", TEXTS)
    before, searchable = _chunk_rows(store), _searchable_ids(store)
    good = drafts(["fresh text one", "fresh text two"])
    bad = good[0].__class__(text=None, page=1, section="S", ord=2, content_hash="deadbeef", token_count=1)
    vectors = random_vectors(good) | {"deadbeef": np.ones(8, dtype=np.float32)}
    with pytest.raises(Exception):
        store.replace_chunks("p1", "card", None, [*good, bad], vectors, "test-model")
    assert _chunk_rows(store) == before
    assert _searchable_ids(store) == searchable
    add_paper(store, "p2", "Next", ["the store still takes writes after a rolled-back one"])


def test_vectors_round_trip_as_float32(store):
    chunks = drafts(TEXTS)
    vectors = random_vectors(chunks)
    store.upsert_paper({"paper_id": "p1", "title": "T"})
    ids = store.replace_chunks("p1", "card", None, chunks, vectors, "m1").chunk_ids
    known = store.known_vectors([c.content_hash for c in chunks] + ["unknown"], "m1")
    assert set(known) == set(vectors)
    for content_hash, vector in known.items():
        assert vector.dtype == np.float32
        np.testing.assert_array_equal(vector, vectors[content_hash])
    got_ids, rows = store.chunk_vectors("m1")
    assert got_ids.tolist() == sorted(ids)
    np.testing.assert_array_equal(rows[0], vectors[chunks[0].content_hash])
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
    ['"', "'", "-", "*", "NEAR(a b)", "OR NOT", "(", ":", "title:x", "\x00", "💥", "", "   ", "a" * 10_000,
     'EAGLE-2" OR "x', "\\", "%_", "%s", "?", "the of and", "!(a & b) | c:*"],
)
def test_lexical_search_never_raises(store, query):
    add_paper(store, "p1", "Title", TEXTS)
    result = store.lexical_search(query, 5)
    assert isinstance(result, list) and len(result) <= 5


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


def test_refresh_runs(store):
    killed, done, current = store.start_run(), store.start_run(), store.start_run()
    store.finish_run(done, {"status": "ok", "added": 3, "unchanged": 2, "failures": [{"id": "x", "error": "404"}],
                            "notes": {"watch": 1}, "duration_s": 1.5})
    run = store.get_run(done)
    assert (run["status"], run["added"], run["updated"], run["unchanged"], run["failed"]) == ("ok", 3, 0, 2, 0)
    assert run["failures"] == [{"id": "x", "error": "404"}]
    assert run["notes"] == {"watch": 1, "duration_s": 1.5}
    assert [r["id"] for r in store.list_runs(10)] == [current, done, killed]
    assert store.interrupt_running_runs({"noticed_by": "test"}, except_run=current) == [killed]
    assert store.get_run(killed)["status"] == "interrupted" and store.get_run(current)["status"] == "running"
    assert store.interrupt_running_runs({"noticed_by": "test"}) == [current]
    with pytest.raises(NotFound):
        store.get_run(12345)
    with pytest.raises(NotFound):
        store.finish_run(12345, {})


def test_fingerprint_tracks_chunks_and_model(store):
    empty = store.fingerprint("m")
    add_paper(store, "p1", "Title", TEXTS, model_id="m")
    full = store.fingerprint("m")
    assert full != empty and store.fingerprint("other") != full
    add_paper(store, "p1", "Title", TEXTS, model_id="m")  # unchanged re-ingest
    assert store.fingerprint("m") == full
    add_paper(store, "p1", "Title", TEXTS[:3], model_id="m")
    assert store.fingerprint("m") != full


def test_prune_embeddings_keeps_vectors_still_used_by_a_chunk(store):
    add_paper(store, "p1", "One", TEXTS[:3])
    add_paper(store, "p2", "Two", [TEXTS[0], TEXTS[3]])  # shares TEXTS[0] with p1
    assert store.embedding_count() == 4
    replacement = drafts(["a new first passage"])
    store.replace_chunks("p1", "card", None, replacement, random_vectors(replacement), "test-model")
    assert store.embedding_count() == 5
    assert store.prune_embeddings() == 2 and store.prune_embeddings() == 0


def test_a_reopened_store_sees_the_same_data(store):
    ids = add_paper(store, "p1", "Title", TEXTS)
    with store.reopen() as again:
        assert [c["id"] for c in again.paper_chunks("p1")] == ids
        assert again.quick_check() == []
        again.check_sound()


def test_both_backends_give_the_same_answers_for_the_same_corpus(tmp_path):
    """Same writes, same ids, same fingerprint (so the same FAISS index) and the same lexical top hits."""
    results = []
    for backend in BACKENDS:
        with _open(backend, tmp_path / backend) as opened:
            ids = add_paper(opened, "p1", "Speculative decoding", TEXTS, model_id="m")
            top = [opened.lexical_search(q, 1)[0][0] for q in ("EAGLE-2", "FP8", "W4A8KV4", "PagedAttention")]
            results.append((ids, opened.fingerprint("m"), opened.chunk_vectors("m")[0].tolist(), top))
    assert results[0] == results[1]


def test_an_unknown_database_scheme_is_one_clear_error(tmp_path):
    with pytest.raises(AccelsageError, match="unsupported database URL scheme 'mysql'"):
        check_database_url("mysql://u@h/db")
    assert isinstance(open_store(StateDir(tmp_path / "s").ensure(), None), Store)


def test_an_unreachable_server_is_one_clear_error_without_the_password(tmp_path):
    with pytest.raises(AccelsageError) as caught:
        open_store(StateDir(tmp_path / "s").ensure(), "postgresql://me:s3cret@127.0.0.1:1/nothing")
    message = str(caught.value)
    assert "cannot connect to the database postgresql://me:***@127.0.0.1:1/nothing" in message
    assert "s3cret" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("sqlite_sql", "postgres_sql"),
    [
        ("BEGIN IMMEDIATE", "BEGIN"),
        ("SELECT * FROM papers WHERE paper_id = ?", "SELECT * FROM papers WHERE paper_id = %s"),
        ("SELECT id FROM refresh_runs WHERE status = 'running' AND id IS NOT ? ORDER BY id",
         "SELECT id FROM refresh_runs WHERE status = 'running' AND id IS DISTINCT FROM %s ORDER BY id"),
        ("INSERT OR IGNORE INTO embeddings (a, b) VALUES (?, ?)",
         "INSERT INTO embeddings (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING"),
        ("INSERT INTO refresh_runs (started_at, status) VALUES (?, 'running')",
         "INSERT INTO refresh_runs (started_at, status) VALUES (%s, 'running') RETURNING id"),
        ("INSERT INTO papers (paper_id) VALUES (?)", "INSERT INTO papers (paper_id) VALUES (%s)"),
    ],
)
def test_sqlite_spellings_are_rewritten_for_postgres(sqlite_sql, postgres_sql):
    assert to_postgres_sql(sqlite_sql) == postgres_sql


def test_redacted_urls_keep_everything_but_the_password():
    assert redact_url("postgresql://u:pw@db.example:5433/corpus") == "postgresql://u:***@db.example:5433/corpus"
    assert redact_url("postgresql://u@db/corpus") == "postgresql://u@db/corpus"


def test_a_connection_the_server_dropped_is_replaced(tmp_path, pg_url) -> None:  # noqa: F811
    import psycopg

    with open_store(StateDir(tmp_path / "s").ensure(), pg_url) as opened:
        add_paper(opened, "p1", "Title", TEXTS)
        backend = opened.db.run("SELECT pg_backend_pid()", []).fetchone()[0]
        with psycopg.connect(pg_url, autocommit=True) as admin:  # as a server restart would
            admin.execute("SELECT pg_terminate_backend(%s)", [backend])
        with pytest.raises(psycopg.OperationalError):
            opened.chunk_count()  # the statement that finds the connection gone fails
        assert opened.chunk_count() == 4
