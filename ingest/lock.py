"""The refresh lock: one refresh at a time per state directory (``fcntl.flock``, non-blocking).

The kernel drops a flock when its holder dies, even after ``kill -9``, so a crashed run never
leaves a stale lock behind; the pid written into the file is only there for the error message.
:func:`probe_lock` tells whether anyone holds it (a run recorded as running whose lock is free
was killed).
"""

from __future__ import annotations

import fcntl
import os
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
def refresh_lock(lock_path: str | Path) -> Iterator[None]:
    """Hold the refresh lock for the duration of the ``with`` block.

    Args:
        lock_path: the lock file (created if missing, never deleted: deleting it would let two
            runs lock two different files).

    Raises:
        Busy: another process (or another open of the file) holds the lock.
    """
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
def probe_lock(lock_path: str | Path) -> Iterator[bool]:
    """Whether the refresh lock is free: yields True while holding it (nobody else can start), else False.

    Holding it for the ``with`` block lets the caller act on "no refresh is running" (mark runs
    left ``running`` as interrupted) without a refresh starting in between. The pid in the file
    is left alone. A lock file that cannot be opened counts as held (nothing is concluded).
    """
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


def lock_holder(lock_path: str | Path) -> str | None:
    """The pid written by the refresh holding the lock, or None when the lock is free."""
    with probe_lock(lock_path) as free:
        if free:
            return None
    try:
        return Path(lock_path).read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"
