"""The refresh lock: one refresh at a time per store, never blocking.

With the SQLite store it is an ``fcntl.flock`` on a file in the state directory: the kernel drops
it when its holder dies, even after ``kill -9``, so a crashed run never leaves a stale lock
behind; the pid written into the file is only there for the error message. With a shared
PostgreSQL store (``database_url``) it is a session advisory lock (``pg_try_advisory_lock``) held
on a connection of its own for the whole refresh, so one refresh runs at a time across every
machine; the server drops it when that connection closes, a killed holder included, and the
connection's ``application_name`` says who holds it. :func:`probe_lock` tells whether anyone
holds the lock (a run recorded as running whose lock is free was killed).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import Busy

# A status listing holds the lock for a moment to probe it; a refresh starting in that moment
# waits this long for it instead of reporting a refresh that is not running.
ACQUIRE_PATIENCE_S = 0.5
_RETRY_EVERY_S = 0.02


def _try_lock(handle, patience_s: float) -> bool:  # noqa: ANN001 - an open file
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_RETRY_EVERY_S)


@contextmanager
def refresh_lock(lock_path: str | Path, database_url: str | None = None) -> Iterator[None]:
    """Hold the refresh lock for the duration of the ``with`` block.

    Args:
        lock_path: the lock file (created if missing, never deleted: deleting it would let two
            runs lock two different files); unused with ``database_url``.
        database_url: a shared PostgreSQL store: lock there (for every machine) instead of the file.

    Raises:
        Busy: another process (or another open of the file, or another machine) holds the lock.
    """
    if database_url:
        with _advisory_lock(database_url):
            yield
        return
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+", encoding="utf-8")
    try:
        if not _try_lock(handle, ACQUIRE_PATIENCE_S):
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise Busy(f"a refresh is already running (pid {holder})")
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@contextmanager
def probe_lock(lock_path: str | Path, database_url: str | None = None) -> Iterator[bool]:
    """Whether the refresh lock is free: yields True while holding it (nobody else can start), else False.

    Holding it for the ``with`` block lets the caller act on "no refresh is running" (mark runs
    left ``running`` as interrupted) without a refresh starting in between. The pid in the file
    is left alone. A lock file that cannot be opened counts as held (nothing is concluded).
    """
    if database_url:
        with _advisory_probe(database_url) as free:
            yield free
        return
    try:
        handle = open(lock_path, "a+", encoding="utf-8")
    except OSError:
        yield False
        return
    try:
        free = _try_lock(handle, 0.0)
        try:
            yield free
        finally:
            if free:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def lock_holder(lock_path: str | Path, database_url: str | None = None) -> str | None:
    """The pid written by the refresh holding the lock (with the host in PostgreSQL), or None when it is free."""
    if database_url:
        conn = connect(database_url)
        try:
            return _advisory_holder(conn)
        finally:
            conn.close()
    with probe_lock(lock_path) as free:
        if free:
            return None
    try:
        return Path(lock_path).read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


# --- PostgreSQL advisory lock -----------------------------------------------------------------

# The advisory lock key of the refresh: "acrefrsh" as 8 ASCII bytes, a number no other user of the
# database is likely to pick. pg_locks shows a bigint key as classid (high half) and objid (low half).
ADVISORY_KEY = int.from_bytes(b"acrefrsh", "big")
_KEY_HIGH, _KEY_LOW = ADVISORY_KEY >> 32, ADVISORY_KEY & 0xFFFF_FFFF
HOLDER_PREFIX = "accelsage refresh pid"


def connect(database_url: str):  # noqa: ANN201 - a psycopg connection
    from index.store_postgres import connect as connect_postgres

    return connect_postgres(database_url)


def _try_advisory(conn, patience_s: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + patience_s
    while True:
        if conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY]).fetchone()[0]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_RETRY_EVERY_S)


def _advisory_holder(conn) -> str | None:  # noqa: ANN001
    """Who holds the refresh's advisory lock ("N on HOST": its pid and host), or None when nobody does."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s AND l.objsubid = 1 AND l.granted",
        [_KEY_HIGH, _KEY_LOW],
    ).fetchone()
    if row is None:
        return None
    name = row[0] or ""
    return name[len(HOLDER_PREFIX):].strip() if name.startswith(HOLDER_PREFIX) else "unknown"


@contextmanager
def _advisory_lock(database_url: str) -> Iterator[None]:
    conn = connect(database_url)
    try:
        # named so that a refused refresh on another machine can say who holds the lock
        conn.execute("SELECT set_config('application_name', %s, false)",
                     [f"{HOLDER_PREFIX} {os.getpid()} on {socket.gethostname()}"[:63]])
        if not _try_advisory(conn, ACQUIRE_PATIENCE_S):
            raise Busy(f"a refresh is already running (pid {_advisory_holder(conn) or 'unknown'})")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
    finally:
        conn.close()


@contextmanager
def _advisory_probe(database_url: str) -> Iterator[bool]:
    try:
        conn = connect(database_url)
    except Exception:  # an unreachable server: nothing is concluded
        yield False
        return
    try:
        free = _try_advisory(conn, 0.0)
        try:
            yield free
        finally:
            if free:
                conn.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
    finally:
        conn.close()
