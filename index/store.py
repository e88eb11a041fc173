"""The SQLite store: papers, chunks, embeddings and refresh runs, the source of truth for the index.

One connection per :class:`Store`, usable from several threads (calls are serialised by a lock),
WAL mode so readers in other processes never block on a refresh, foreign keys on, and the schema
brought to the latest version on open (:mod:`index.schema`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlite_utils

from index.chunking import ChunkDraft
from index.errors import AccelsageError, DatabaseDamaged, NotFound
from index.fts_query import MAX_SCORED_ROWS, SAMPLE_ROWS, plan_query
from index.schema import LATEST_VERSION, migrate, write_transaction

PAPER_COLUMNS = (
    "paper_id", "arxiv_id", "title", "first_author", "year", "venue", "topic", "kind",
    "version", "source", "pdf_sha256", "updated_at", "role",
)
OFF_TOPIC = "off-topic"  # the role of papers listed in the corpus but outside LLM acceleration
RUN_COUNTERS = ("added", "updated", "unchanged", "failed")
# bm25 column weights for (text, section, title): a title hit counts as much as a text hit.
_BM25_WEIGHTS = (1.0, 0.5, 1.0)
_SQL_BATCH = 500  # bound on "?" placeholders per IN (...) query


_DAMAGE_WORDS = ("malformed", "not a database", "corrupt")


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether a sqlite3 error says the database file is damaged (as opposed to locked, full, read-only)."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    return code.startswith("SQLITE_CORRUPT") or code == "SQLITE_NOTADB" or any(
        word in str(exc).lower() for word in _DAMAGE_WORDS)


def utc_now() -> str:
    """ISO-8601 UTC timestamp, second precision."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class ChangeSummary:
    """What :meth:`Store.replace_chunks` did to one paper+source."""

    kept: int = 0
    updated: int = 0
    added: int = 0
    removed: int = 0
    chunk_ids: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.updated or self.added or self.removed)


def _batches(items: Sequence, size: int = _SQL_BATCH) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _vector_blob(vector: np.ndarray) -> tuple[bytes, int]:
    array = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).ravel())
    return array.tobytes(), int(array.shape[0])


class Store:
    """SQLite store at ``db_path`` (created and migrated on open)."""

    database_url: str | None = None  # the file in the state directory, not a shared database (PostgresStore sets it)

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        conn = None
        try:
            conn = sqlite3.connect(str(self.db_path), timeout=30.0, check_same_thread=False)
            self.db = sqlite_utils.Database(conn, execute_plugins=False)
            self.db.enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.schema_version = migrate(self.db)
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            if is_damage(exc):
                raise DatabaseDamaged(self.db_path, str(exc)) from exc
            raise AccelsageError(f"cannot open the database {self.db_path}: {exc}") from exc
        if self.schema_version > LATEST_VERSION:
            conn.close()
            raise AccelsageError(
                f"{self.db_path} has schema version {self.schema_version}, newer than this accelsage "
                f"({LATEST_VERSION}); upgrade accelsage or use another state directory"
            )

    def quick_check(self) -> list[str]:
        """``PRAGMA quick_check``: the problems SQLite finds in the file (empty when it is sound)."""
        try:
            with self._lock:
                rows = [str(row[0]) for row in self.db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            return [str(exc)]
        if rows == ["ok"]:
            return []
        # one row may hold many lines, under a "*** in database main ***" banner
        return [line for row in rows for line in row.splitlines() if line.strip() and not line.startswith("***")]

    def check_sound(self) -> None:
        """Raise :class:`DatabaseDamaged` when ``quick_check`` finds problems."""
        problems = self.quick_check()
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise DatabaseDamaged(self.db_path, f"quick_check: {problems[0]}{more}")

    @property
    def location(self) -> str:
        """Where the store lives, for messages: the database file here, a URL without password in PostgreSQL."""
        return str(self.db_path)

    def reopen(self) -> "Store":
        """A new store on the same database (its own connection); this one stays open."""
        return Store(self.db_path)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: Sequence = ()) -> list[dict]:
        cursor = self.db.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # --- papers -------------------------------------------------------------------------------

    def upsert_paper(self, record: dict) -> None:
        """Insert a paper or update the given fields of an existing one (other fields are kept)."""
        if not record.get("paper_id"):
            raise ValueError("paper record needs a paper_id")
        row = {k: v for k, v in record.items() if k in PAPER_COLUMNS}
        row.setdefault("updated_at", utc_now())
        if "title" in row and row["title"] is None:
            row["title"] = ""
        cols = list(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "paper_id")
        sql = f"INSERT INTO papers ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        sql += f" ON CONFLICT(paper_id) DO UPDATE SET {updates}" if updates else " ON CONFLICT DO NOTHING"
        with self._lock, write_transaction(self.db):
            self.db.execute(sql, [row[c] for c in cols])

    def get_paper(self, paper_id: str) -> dict | None:
        with self._lock:
            rows = self._rows("SELECT * FROM papers WHERE paper_id = ?", [paper_id])
        return rows[0] if rows else None

    def list_papers(self) -> list[dict]:
        with self._lock:
            return self._rows("SELECT * FROM papers ORDER BY paper_id")

    def delete_paper(self, paper_id: str) -> None:
        """Remove a paper and (by cascade) its chunks."""
        with self._lock, write_transaction(self.db):
            self.db.execute("DELETE FROM papers WHERE paper_id = ?", [paper_id])

    # --- chunks and vectors -------------------------------------------------------------------

    def replace_chunks(
        self,
        paper_id: str,
        source: str,
        version: str | None,
        chunks: list[ChunkDraft],
        vectors: dict[str, np.ndarray],
        model_id: str,
    ) -> ChangeSummary:
        """Make ``chunks`` the paper+source's chunks, in one transaction.

        A chunk whose content hash matches an old chunk keeps that chunk's id (updated in place
        if only its position or metadata moved), so re-ingesting unchanged text churns nothing.

        Args:
            vectors: content_hash -> vector for hashes not already stored under ``model_id``;
                every chunk must end up with a vector.

        Returns:
            Counts of kept/updated/added/removed chunks and the final ids in ``ord`` order.
        """
        with self._lock, write_transaction(self.db):
            if not self.db.execute("SELECT 1 FROM papers WHERE paper_id = ?", [paper_id]).fetchone():
                raise NotFound(f"paper {paper_id!r} is not in the store; add it before its chunks")
            self._store_vectors(chunks, vectors, model_id)
            by_hash: dict[str, list[dict]] = {}
            for row in self._rows(
                "SELECT id, content_hash, ord, page, section, text, token_count, version FROM chunks"
                " WHERE paper_id = ? AND source = ? ORDER BY ord, id",
                [paper_id, source],
            ):
                by_hash.setdefault(row["content_hash"], []).append(row)
            counts = {"kept": 0, "updated": 0, "added": 0}
            ids = [self._place_chunk(paper_id, source, version, draft, by_hash, counts) for draft in chunks]
            stale = [row["id"] for rows in by_hash.values() for row in rows]
            for batch in _batches(stale):
                self.db.execute(f"DELETE FROM chunks WHERE id IN ({', '.join('?' * len(batch))})", list(batch))
        return ChangeSummary(**counts, removed=len(stale), chunk_ids=ids)

    def _place_chunk(
        self, paper_id: str, source: str, version: str | None, draft: ChunkDraft,
        by_hash: dict[str, list[dict]], counts: dict[str, int],
    ) -> int:
        """Keep, update or insert one chunk (inside the caller's transaction); return its id.

        An old chunk with the same content hash is claimed (same ``ord`` preferred) and removed
        from ``by_hash``, so what is left there afterwards is stale.
        """
        new = {
            "ord": draft.ord, "page": draft.page, "section": draft.section, "text": draft.text,
            "token_count": draft.token_count, "version": version,
        }
        candidates = by_hash.get(draft.content_hash)
        if candidates:
            match = next((r for r in candidates if r["ord"] == draft.ord), candidates[0])
            candidates.remove(match)
            if all(match[key] == value for key, value in new.items()):
                counts["kept"] += 1
            else:
                sets = ", ".join(f"{key} = ?" for key in new)
                self.db.execute(f"UPDATE chunks SET {sets} WHERE id = ?", [*new.values(), match["id"]])
                counts["updated"] += 1
            return int(match["id"])
        cursor = self.db.execute(
            "INSERT INTO chunks (paper_id, source, version, ord, page, section, text, content_hash, token_count)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [paper_id, source, version, draft.ord, draft.page, draft.section, draft.text, draft.content_hash,
             draft.token_count],
        )
        counts["added"] += 1
        return int(cursor.lastrowid)

    def _store_vectors(self, chunks: list[ChunkDraft], vectors: dict[str, np.ndarray], model_id: str) -> None:
        """Insert new vectors; fail (before any chunk changes) if a chunk would have none."""
        rows = []
        for content_hash, vector in vectors.items():
            blob, dim = _vector_blob(vector)
            rows.append((content_hash, model_id, dim, blob))
        stored = self.db.execute("SELECT dim FROM embeddings WHERE model_id = ? LIMIT 1", [model_id]).fetchone()
        dims = {row[2] for row in rows} | ({stored[0]} if stored else set())
        if len(dims) > 1:
            # One model, one width: the FAISS index cannot hold mixed dimensions.
            raise ValueError(f"vectors for model {model_id} have differing dimensions {sorted(dims)}")
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO embeddings (content_hash, model_id, dim, vector) VALUES (?, ?, ?, ?)", rows
        )
        needed = sorted({c.content_hash for c in chunks} - set(vectors))
        missing = set(needed) - set(self._known_hashes(needed, model_id))
        if missing:
            raise ValueError(f"{len(missing)} chunk(s) have no vector for model {model_id}")

    def _known_hashes(self, hashes: Sequence[str], model_id: str) -> list[str]:
        found: list[str] = []
        for batch in _batches(list(hashes)):
            marks = ", ".join("?" * len(batch))
            found += [r[0] for r in self.db.execute(
                f"SELECT content_hash FROM embeddings WHERE model_id = ? AND content_hash IN ({marks})",
                [model_id, *batch],
            )]
        return found

    def known_vectors(self, hashes: list[str], model_id: str) -> dict[str, np.ndarray]:
        """Stored vectors for those of ``hashes`` already embedded with ``model_id``."""
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for batch in _batches(sorted(set(hashes))):
                marks = ", ".join("?" * len(batch))
                for content_hash, blob in self.db.execute(
                    f"SELECT content_hash, vector FROM embeddings WHERE model_id = ? AND content_hash IN ({marks})",
                    [model_id, *batch],
                ):
                    out[content_hash] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    def get_chunks(self, ids: list[int]) -> list[dict]:
        """Chunks by id, in the order asked, with the paper's title and arxiv_id; unknown ids skipped."""
        found: dict[int, dict] = {}
        with self._lock:
            for batch in _batches([int(i) for i in ids]):
                marks = ", ".join("?" * len(batch))
                for row in self._rows(
                    "SELECT c.*, p.title AS title, p.arxiv_id AS arxiv_id FROM chunks c"
                    f" JOIN papers p ON p.paper_id = c.paper_id WHERE c.id IN ({marks})",
                    batch,
                ):
                    found[row["id"]] = row
        return [found[int(i)] for i in ids if int(i) in found]

    def off_topic_chunk_ids(self) -> frozenset[int]:
        """Ids of the chunks of papers whose role is off-topic (kept in the corpus, left out of search)."""
        with self._lock:
            rows = self.db.execute("SELECT c.id FROM chunks c JOIN papers p ON p.paper_id = c.paper_id"
                                   " WHERE p.role = ?", [OFF_TOPIC]).fetchall()
        return frozenset(int(row[0]) for row in rows)

    def paper_chunks(self, paper_id: str, source: str | None = None) -> list[dict]:
        """All chunks of one paper (optionally one source), in ``ord`` order."""
        sql = "SELECT * FROM chunks WHERE paper_id = ?" + (" AND source = ?" if source else "")
        with self._lock:
            return self._rows(sql + " ORDER BY source, ord", [paper_id, source] if source else [paper_id])

    def chunk_count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def chunk_vectors(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, vectors float32 rows) of every chunk that has a ``model_id`` vector, by id."""
        with self._lock:
            rows = self.db.execute(
                "SELECT c.id, e.vector FROM chunks c JOIN embeddings e"
                " ON e.content_hash = c.content_hash AND e.model_id = ? ORDER BY c.id",
                [model_id],
            ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32)
        return ids, np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def fingerprint(self, model_id: str) -> str:
        """sha256 over model_id and the (id, content hash) of every chunk that has a vector for it."""
        digest = hashlib.sha256(model_id.encode("utf-8"))
        with self._lock:
            cursor = self.db.execute(
                "SELECT c.id, c.content_hash FROM chunks c JOIN embeddings e"
                " ON e.content_hash = c.content_hash AND e.model_id = ? ORDER BY c.id",
                [model_id],
            )
            for chunk_id, content_hash in cursor:
                digest.update(f"\n{chunk_id}:{content_hash}".encode("ascii"))
        return digest.hexdigest()

    def prune_embeddings(self) -> int:
        """Delete stored vectors whose content hash no chunk uses any more (every model); return how many."""
        with self._lock, write_transaction(self.db):
            cursor = self.db.execute(
                "DELETE FROM embeddings WHERE NOT EXISTS"
                " (SELECT 1 FROM chunks c WHERE c.content_hash = embeddings.content_hash)")
            return int(cursor.rowcount)

    def embedding_count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM embeddings").fetchone()[0])

    # --- lexical search -----------------------------------------------------------------------

    def lexical_search(self, query: str, k: int, max_scored_rows: int = MAX_SCORED_ROWS) -> list[tuple[int, float]]:
        """Top ``k`` chunk ids by FTS5 bm25 as ``(id, score)``, higher score better; never raises.

        The expression comes from :func:`index.fts_query.plan_query`, which keeps bm25 from scoring
        more than ``max_scored_rows`` rows (on a store that small, every term is kept).
        """
        if not isinstance(query, str) or k <= 0:
            return []

        def count_matches(expression: str, cap: int) -> int:
            return int(self.db.execute("SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ?"
                                       " LIMIT ?)", [expression, cap + 1]).fetchone()[0])

        def sample_share(term: str) -> float:
            # the newest ids: appended last, so the range is dense and counting it needs no scan
            newest = self.db.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0
            held = self.db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid > ?",
                                   [f'"{term}"', newest - SAMPLE_ROWS]).fetchone()[0]
            return held / max(1, min(newest, SAMPLE_ROWS))

        weights = ", ".join(map(str, _BM25_WEIGHTS))
        scored = (f"SELECT rowid, bm25(chunks_fts, {weights}) AS rank FROM chunks_fts WHERE chunks_fts MATCH ?")
        found: dict[int, float] = {}
        try:
            with self._lock:
                # FTS rowids are chunk ids (1, 2, ...): the largest bounds the row count, read from the
                # index's end at no cost, and on a store within the budget it spares counting the matches
                rows_at_most = self.db.execute("SELECT max(rowid) FROM chunks_fts").fetchone()[0] or 0
                plan = plan_query(query, int(k), count_matches, sample_share, max_scored_rows, rows_at_most)
                for stage in plan.stages if plan else ():
                    if stage.window_rows is None:
                        rows = self.db.execute(f"{scored} ORDER BY rank LIMIT ?", [stage.expression, int(k)])
                    else:
                        rows = self.db.execute(f"SELECT rowid, rank FROM ({scored} ORDER BY rowid DESC LIMIT ?)"
                                               " ORDER BY rank LIMIT ?", [stage.expression, stage.window_rows, int(k)])
                    floor = min(found.values(), default=float("inf"))
                    for rowid, rank in rows.fetchall():
                        # a later stage's rows rank below the earlier ones whatever their bm25
                        found.setdefault(int(rowid), min(-float(rank), floor))
                    if len(found) >= k:
                        break
        except sqlite3.Error:
            # The expressions are built to be valid; this guards the promise never to raise.
            return []
        return list(found.items())[: int(k)]

    # --- refresh runs -------------------------------------------------------------------------

    def start_run(self) -> int:
        """Record a refresh run as started; return its id."""
        with self._lock, write_transaction(self.db):
            cursor = self.db.execute(
                "INSERT INTO refresh_runs (started_at, status) VALUES (?, 'running')", [utc_now()]
            )
            return int(cursor.lastrowid)

    def finish_run(self, run_id: int, report: dict) -> None:
        """Store a run's outcome: status, counters, failures (list), notes (dict; other keys join it)."""
        known = {"status", "finished_at", "failures", "notes", *RUN_COUNTERS}
        notes = dict(report.get("notes") or {})
        notes.update({k: v for k, v in report.items() if k not in known and k not in ("id", "started_at")})
        values = {
            "finished_at": report.get("finished_at") or utc_now(),
            "status": report.get("status") or "ok",
            **{name: int(report.get(name) or 0) for name in RUN_COUNTERS},
            "failures": json.dumps(list(report.get("failures") or []), default=str),
            "notes": json.dumps(notes, default=str),
        }
        with self._lock, write_transaction(self.db):
            cursor = self.db.execute(
                f"UPDATE refresh_runs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                [*values.values(), run_id],
            )
            if cursor.rowcount == 0:
                raise NotFound(f"refresh run {run_id} does not exist")

    def interrupt_running_runs(self, notes: dict, except_run: int | None = None) -> list[int]:
        """Mark every run still recorded as ``running`` (but ``except_run``) as ``interrupted``; return their ids.

        Only call this while holding the refresh lock: then no such run is really running.
        """
        with self._lock, write_transaction(self.db):
            ids = [int(row[0]) for row in self.db.execute(
                "SELECT id FROM refresh_runs WHERE status = 'running' AND id IS NOT ? ORDER BY id", [except_run])]
            for batch in _batches(ids):
                self.db.execute(
                    f"UPDATE refresh_runs SET status = 'interrupted', finished_at = ?, notes = ?"
                    f" WHERE id IN ({', '.join('?' * len(batch))})",
                    [utc_now(), json.dumps(notes, default=str), *batch],
                )
        return ids

    def list_runs(self, limit: int = 20) -> list[dict]:
        """Most recent runs first."""
        with self._lock:
            rows = self._rows("SELECT * FROM refresh_runs ORDER BY id DESC LIMIT ?", [int(limit)])
        return [self._decode_run(row) for row in rows]

    def get_run(self, run_id: int) -> dict:
        with self._lock:
            rows = self._rows("SELECT * FROM refresh_runs WHERE id = ?", [run_id])
        if not rows:
            raise NotFound(f"refresh run {run_id} does not exist")
        return self._decode_run(rows[0])

    @staticmethod
    def _decode_run(row: dict) -> dict:
        row["failures"] = json.loads(row["failures"] or "[]")
        row["notes"] = json.loads(row["notes"] or "{}")
        return row
