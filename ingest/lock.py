"""The refresh lock: one refresh at a time per state directory (``fcntl.flock``, non-blocking).

The kernel drops a flock when its holder dies, even after ``kill -9``, so a crashed run never
leaves a stale lock behind; the pid written into the file is only there for the error message.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import Busy


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
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise Busy(f"a refresh is already running (pid {holder})") from None
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
