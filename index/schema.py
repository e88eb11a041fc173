"""Versioned schema migrations for the SQLite store: ordered functions, one per version.

The database records the version it is at in the one-row ``schema_version`` table. Opening a
store runs every migration above that version, in order, each inside its own transaction, so an
old database is brought forward and a new one is built from nothing the same way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error).

    Taking the write lock up front means the busy timeout applies; a deferred transaction that
    reads first and writes later can fail at once when another process wrote in between.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    """Run several statements inside the caller's transaction.

    ``executescript`` would commit first, breaking the one-transaction-per-step rule, so the
    script is cut into complete statements (triggers included) and run one by one.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            db.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]}")


def _v1_core_tables(db: sqlite_utils.Database) -> None:
    """Papers, chunks, embeddings and refresh runs (the first released layout)."""
    _run_script(
        db,
        """
        CREATE TABLE papers (
            paper_id TEXT PRIMARY KEY,
            arxiv_id TEXT,
            title TEXT NOT NULL DEFAULT '',
            first_author TEXT,
            year INTEGER,
            venue TEXT,
            topic TEXT,
            kind TEXT,
            version TEXT,
            source TEXT,
            pdf_sha256 TEXT,
            updated_at TEXT
        );
        -- AUTOINCREMENT: a deleted chunk's id is never handed out again, so a stale FAISS id
        -- can never point at different text.
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            paper_id TEXT NOT NULL REFERENCES papers(paper_id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            version TEXT,
            ord INTEGER NOT NULL,
            page INTEGER,
            section TEXT,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            token_count INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE embeddings (
            content_hash TEXT NOT NULL,
            model_id TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (content_hash, model_id)
        );
        CREATE TABLE refresh_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            added INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            failures TEXT NOT NULL DEFAULT '[]',
            notes TEXT NOT NULL DEFAULT '{}'
        );
        """
    )


def _v2_chunk_lookup_indexes(db: sqlite_utils.Database) -> None:
    """Indexes for the per-paper replace and the hash lookups."""
    _run_script(
        db,
        """
        CREATE INDEX IF NOT EXISTS idx_chunks_paper_source ON chunks(paper_id, source, ord);
        CREATE INDEX IF NOT EXISTS idx_chunks_hash ON chunks(content_hash);
        """
    )


def _v3_full_text(db: sqlite_utils.Database) -> None:
    """FTS5 over chunk text, section and paper title, kept in sync by triggers.

    A standalone FTS table (rowid = chunk id) rather than external content, because the
    paper title lives in another table. Existing chunks are indexed here.
    """
    _run_script(
        db,
        """
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, section, title, tokenize = 'porter unicode61 remove_diacritics 2'
        );
        INSERT INTO chunks_fts(rowid, text, section, title)
            SELECT c.id, c.text, coalesce(c.section, ''), coalesce(p.title, '')
            FROM chunks c LEFT JOIN papers p ON p.paper_id = c.paper_id;
        CREATE TRIGGER chunks_fts_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text, section, title) VALUES (
                new.id, new.text, coalesce(new.section, ''),
                coalesce((SELECT title FROM papers WHERE paper_id = new.paper_id), ''));
        END;
        CREATE TRIGGER chunks_fts_ad AFTER DELETE ON chunks BEGIN
            DELETE FROM chunks_fts WHERE rowid = old.id;
        END;
        CREATE TRIGGER chunks_fts_au AFTER UPDATE OF text, section, paper_id ON chunks BEGIN
            DELETE FROM chunks_fts WHERE rowid = old.id;
            INSERT INTO chunks_fts(rowid, text, section, title) VALUES (
                new.id, new.text, coalesce(new.section, ''),
                coalesce((SELECT title FROM papers WHERE paper_id = new.paper_id), ''));
        END;
        CREATE TRIGGER papers_fts_title AFTER UPDATE OF title ON papers
        WHEN coalesce(old.title, '') <> coalesce(new.title, '') BEGIN
            UPDATE chunks_fts SET title = coalesce(new.title, '')
            WHERE rowid IN (SELECT id FROM chunks WHERE paper_id = new.paper_id);
        END;
        """
    )


def _v4_paper_role(db: sqlite_utils.Database) -> None:
    """A paper's role in the corpus (core, supporting, background, off-topic) from its card; null until a refresh."""
    db.execute("ALTER TABLE papers ADD COLUMN role TEXT")


# Ordered: index i holds the migration that brings the schema to version i + 1. Append only.
MIGRATIONS: list[Migration] = [_v1_core_tables, _v2_chunk_lookup_indexes, _v3_full_text, _v4_paper_role]
LATEST_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite_utils.Database) -> int:
    """The version the database is at; 0 for a fresh file."""
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite_utils.Database, target: int = LATEST_VERSION) -> int:
    """Apply the migrations above the current version up to ``target``; return the new version.

    Args:
        db: the open database (foreign keys may be on; migrations only add).
        target: stop at this version (tests use it to build an old database).
    """
    with write_transaction(db):
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        if db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
            db.execute("INSERT INTO schema_version (version) VALUES (0)")
    for version in range(1, target + 1):
        # One transaction per step: a failed step leaves the database at the previous version.
        # The version is re-read under the write lock, so two processes opening a new database
        # at once do not both run the same step.
        with write_transaction(db):
            if schema_version(db) >= version:
                continue
            MIGRATIONS[version - 1](db)
            db.execute("UPDATE schema_version SET version = ?", [version])
    return schema_version(db)
