"""The PostgreSQL store: the same tables and methods as the SQLite :class:`~index.store.Store`, shared by replicas.

:class:`PostgresStore` inherits the SQLite store's query methods: they are written in SQL both
databases accept, apart from a few dialect spellings that :class:`_Connection` rewrites on the
way to the server (placeholders, ``BEGIN IMMEDIATE``, ``IS NOT ?``, ``INSERT OR IGNORE`` and the
new row's id). Only what really differs is written here: opening and migrating, the health
check, full-text search (a ``tsvector`` side table with a GIN index, ranked by ``ts_rank``) and
the fingerprint (computed by the server, so a replica polling it reads 64 bytes, not every chunk).
Vectors are ``bytea``; each replica builds its own FAISS index from them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from index.errors import AccelsageError
from index.fts_query import query_terms
from index.schema_postgres import LATEST_VERSION, migrate
from index.store import Store

# Rank weights for the labels {D, C, B, A}: text and title are A, section B (see schema_postgres).
_RANK_WEIGHTS = "{0, 0, 0.5, 1.0}"
# ts_rank (term frequency) rather than ts_rank_cd (cover density): on the 28 queries of
# data/eval/search_queries.yaml over the bundled cards, lexical recall@5 was 0.911 with ts_rank and 0.893 with
# ts_rank_cd, and hybrid 0.917 (the SQLite store's bm25 figure) against 0.899. An OR of single terms gives
# cover density little to work with. No length normalisation: each variant tried scored lower.
_RANK_FUNCTION = "ts_rank"
_RANK_NORMALIZATION = 0
# Tables whose inserts report the new row's id (SQLite's ``cursor.lastrowid``).
_TABLES_WITH_ID = ("chunks", "refresh_runs")
_INSERT_WITH_ID = re.compile(r"^\s*INSERT INTO (%s)\b" % "|".join(_TABLES_WITH_ID), re.IGNORECASE)
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO\b", re.IGNORECASE)
_CONNECT_TIMEOUT_S = 10


def redact_url(database_url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def to_postgres_sql(sql: str) -> str:
    """Rewrite SQL written for SQLite into PostgreSQL's spelling of the same statement."""
    if sql.strip().upper() == "BEGIN IMMEDIATE":  # PostgreSQL takes row locks as it writes
        return "BEGIN"
    sql = sql.replace(" IS NOT ?", " IS DISTINCT FROM ?").replace("?", "%s")
    if _INSERT_OR_IGNORE.match(sql):
        sql = _INSERT_OR_IGNORE.sub("INSERT INTO", sql, count=1) + " ON CONFLICT DO NOTHING"
    if _INSERT_WITH_ID.match(sql) and "RETURNING" not in sql.upper():
        sql += " RETURNING id"
    return sql


class _Cursor:
    """A psycopg cursor that also answers ``lastrowid`` for inserts into tables with an id."""

    def __init__(self, cursor: Any, returns_id: bool) -> None:
        self._cursor = cursor
        self.lastrowid = cursor.fetchone()[0] if returns_id else None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list:
        return self._cursor.fetchall()

    def __iter__(self):  # noqa: ANN204
        return iter(self._cursor)


class _Connection:
    """The part of ``sqlite_utils.Database`` (and of its ``conn``) that the shared store methods use.

    A connection the server dropped (a restart, a failover) is replaced on the next statement outside a
    transaction: the statement that found it broken fails, the ones after it work again.
    """

    def __init__(self, conn: Any, database_url: str) -> None:
        self._conn = conn
        self._database_url = database_url
        self._closed = False

    def _live(self) -> Any:
        if self._conn.broken and not self._closed:
            self._conn.close()
            self._conn = connect(self._database_url)
        return self._conn

    @property
    def conn(self) -> "_Connection":
        return self  # ``db.conn.executemany`` and ``db.conn.in_transaction`` land here too

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self._conn.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence | None = None) -> _Cursor:
        statement = to_postgres_sql(sql)
        cursor = self._live().execute(statement, list(params) if params else None)
        return _Cursor(cursor, statement.endswith(" RETURNING id"))

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        if rows:
            self._live().cursor().executemany(to_postgres_sql(sql), rows)

    def run(self, sql: str, params: Sequence) -> Any:
        """Run SQL already in PostgreSQL's spelling (``%s`` placeholders); returns the psycopg cursor."""
        return self._live().execute(sql, list(params))

    def close(self) -> None:
        self._closed = True
        self._conn.close()


def connect(database_url: str) -> Any:
    """An autocommit psycopg connection; a clear :class:`AccelsageError` for another scheme or an unreachable server."""
    from index.store_factory import check_database_url

    check_database_url(database_url)
    try:
        import psycopg
    except ImportError as exc:
        raise AccelsageError(
            "a postgresql:// database URL needs psycopg: pip install 'accelsage[postgres]'") from exc
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise AccelsageError(f"cannot connect to the database {redact_url(database_url)}: {detail}") from exc


class PostgresStore(Store):
    """The store in the PostgreSQL database at ``database_url`` (migrated on open)."""

    def __init__(self, database_url: str) -> None:  # noqa: D107 - no call to Store.__init__: no file to open
        self.database_url = database_url
        self.db_path = None
        self._lock = threading.RLock()
        conn = connect(database_url)
        try:
            self.schema_version = migrate(conn)
        except Exception as exc:
            conn.close()
            raise AccelsageError(f"cannot prepare the database {self.location}: {exc}") from exc
        if self.schema_version > LATEST_VERSION:
            conn.close()
            raise AccelsageError(
                f"{self.location} has schema version {self.schema_version}, newer than this accelsage "
                f"({LATEST_VERSION}); upgrade accelsage or use another database"
            )
        self.db = _Connection(conn, database_url)

    @property
    def location(self) -> str:
        return redact_url(self.database_url)

    def reopen(self) -> "PostgresStore":
        return PostgresStore(self.database_url)

    def quick_check(self) -> list[str]:
        """Whether the server answers; PostgreSQL guards its own pages, so there is no file check to run."""
        try:
            with self._lock:
                self.db.execute("SELECT 1").fetchone()
        except Exception as exc:  # a dropped connection, a server going down
            return [f"the server does not answer: {exc}"]
        return []

    def check_sound(self) -> None:
        """Raise :class:`AccelsageError` when the server does not answer (there is no file to call damaged)."""
        problems = self.quick_check()
        if problems:
            raise AccelsageError(f"the database {self.location} is not usable: {problems[0]}")

    def lexical_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top ``k`` chunk ids by ``ts_rank`` over an OR of the query's terms, higher better; never raises.

        The terms are those the SQLite store's FTS5 expression uses (:func:`index.fts_query.query_terms`);
        each becomes a ``phraseto_tsquery`` so a compound like ``EAGLE-2`` matches as a phrase.
        """
        terms = query_terms(query if isinstance(query, str) else "")
        if not terms or k <= 0:
            return []
        disjunction = " || ".join(["phraseto_tsquery('english', %s)"] * len(terms))
        sql = (
            f"SELECT chunk_id, {_RANK_FUNCTION}(%s, document, q, {_RANK_NORMALIZATION}) AS rank"
            f" FROM chunks_fts, ({'SELECT ' + disjunction}) AS t(q)"
            " WHERE document @@ q ORDER BY rank DESC, chunk_id LIMIT %s"
        )
        try:
            with self._lock:
                rows = self.db.run(sql, [_RANK_WEIGHTS, *terms, int(k)]).fetchall()
        except Exception:  # the terms are plain words; this guards the promise never to raise
            return []
        return [(int(chunk_id), float(rank)) for chunk_id, rank in rows]

    def fingerprint(self, model_id: str) -> str:
        """The SQLite store's sha256 (same input, same digest), computed by the server."""
        with self._lock:
            row = self.db.run(
                "SELECT encode(sha256(convert_to(%s || coalesce(string_agg("
                "  E'\\n' || c.id::text || ':' || c.content_hash, '' ORDER BY c.id), ''), 'UTF8')), 'hex')"
                " FROM chunks c JOIN embeddings e ON e.content_hash = c.content_hash AND e.model_id = %s",
                [model_id, model_id],
            ).fetchone()
        return str(row[0])
