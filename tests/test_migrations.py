"""Schema migrations: fresh databases, old databases brought forward, failed steps rolled back."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from index import schema
from index.errors import AccelsageError
from index.store import Store
from index_helpers import add_paper


def _raw(path) -> sqlite_utils.Database:
    return sqlite_utils.Database(sqlite3.connect(str(path)), execute_plugins=False)


def test_fresh_database_is_at_latest_version(tmp_path):
    store = Store(tmp_path / "a.db")
    assert store.schema_version == schema.LATEST_VERSION
    assert schema.schema_version(store.db) == schema.LATEST_VERSION
    assert {"papers", "chunks", "embeddings", "refresh_runs", "chunks_fts"} <= set(store.db.table_names())


@pytest.mark.parametrize("old_version", range(0, schema.LATEST_VERSION))
def test_old_database_is_migrated_on_open(tmp_path, old_version):
    path = tmp_path / "old.db"
    db = _raw(path)
    schema.migrate(db, target=old_version)
    assert schema.schema_version(db) == old_version
    db.close()
    store = Store(path)
    assert schema.schema_version(store.db) == schema.LATEST_VERSION


def test_v1_data_is_indexed_for_full_text_after_migration(tmp_path):
    path = tmp_path / "v1.db"
    db = _raw(path)
    schema.migrate(db, target=1)
    with db.atomic():
        db.execute("INSERT INTO papers (paper_id, title) VALUES ('p1', 'Medusa heads')")
        db.execute(
            "INSERT INTO chunks (paper_id, source, ord, text, content_hash) "
            "VALUES ('p1', 'card', 0, 'Several decoding heads predict future tokens', 'h1')"
        )
    db.close()

    store = Store(path)
    assert store.lexical_search("decoding heads", 5)[0][0] == 1
    assert store.lexical_search("medusa", 5)[0][0] == 1  # the title, joined in during migration
    # Triggers made by the migration keep later writes in sync too.
    new_ids = add_paper(store, "p2", "Lookahead", ["Jacobi iteration guesses several tokens at once"])
    assert [cid for cid, _ in store.lexical_search("jacobi", 5)] == new_ids


def test_failed_migration_step_leaves_previous_version(tmp_path, monkeypatch):
    def broken(db):
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("disk on fire")

    Store(tmp_path / "a.db").close()
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    db = _raw(tmp_path / "a.db")
    with pytest.raises(RuntimeError):
        schema.migrate(db, target=len(schema.MIGRATIONS))
    assert schema.schema_version(db) == schema.LATEST_VERSION
    assert "half_done" not in db.table_names()


def test_reopening_keeps_data_and_version(tmp_path):
    store = Store(tmp_path / "a.db")
    ids = add_paper(store, "p1", "Title", ["some text about kernels"])
    store.close()
    again = Store(tmp_path / "a.db")
    assert again.schema_version == schema.LATEST_VERSION
    assert [c["id"] for c in again.get_chunks(ids)] == ids


def test_newer_database_is_refused(tmp_path):
    Store(tmp_path / "a.db").close()
    db = _raw(tmp_path / "a.db")
    with db.conn:
        db.execute("UPDATE schema_version SET version = ?", [schema.LATEST_VERSION + 1])
    db.close()
    with pytest.raises(AccelsageError, match="newer"):
        Store(tmp_path / "a.db")


def test_second_connection_finds_schema_already_migrated(tmp_path):
    path = tmp_path / "race.db"
    first, second = _raw(path), _raw(path)
    assert schema.migrate(first) == schema.migrate(second) == schema.LATEST_VERSION
