"""A cache of parsed catalog files, so a cold process does not re-parse every YAML file under data/.

One JSON file per (data directory, kind) in a cache folder inside the state directory. It is keyed by
every source file's path, size and mtime_ns; a stale, unreadable or foreign cache file is ignored and
rewritten. Only the parsed YAML is cached: schema validation still runs on every load, so a schema change
never serves stale objects and error messages still name the file. data/ itself is never written.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

# bump when what is stored (or how it is parsed) changes, so old cache files are ignored
CACHE_VERSION = 1


def file_stamps(paths: list[Path]) -> list[list[Any]]:
    """``[path, size, mtime_ns]`` for each file: what the cache is keyed by."""
    stamps = []
    for path in paths:
        st = path.stat()
        stamps.append([str(path), st.st_size, st.st_mtime_ns])
    return stamps


class ParsedCache:
    """Parsed data of the files of one data directory, cached per kind under ``folder``.

    Args:
        folder: where cache files go (created on first write); None disables caching.
        data_dir: the data directory the files come from (cache files are named after it).
    """

    def __init__(self, folder: Path | None, data_dir: Path) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.tag = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]

    def path_for(self, kind: str) -> Path | None:
        """The cache file of one kind, or None when caching is off."""
        return self.folder / f"catalog-{kind}-{self.tag}.json" if self.folder is not None else None

    def load(self, kind: str, paths: list[Path], parse: Callable[[Path], Any]) -> list[Any]:
        """``parse(path)`` for each path, from the cache when every file's size and mtime still match.

        Parse errors propagate (nothing is cached then); cache read/write problems are never errors.
        """
        target = self.path_for(kind)
        if target is None:
            return [parse(p) for p in paths]
        key = {"version": CACHE_VERSION, "kind": kind, "files": file_stamps(paths)}
        cached = _read(target)
        if cached is not None and cached.get("key") == key and isinstance(cached.get("items"), list):
            return cached["items"]
        items = [parse(p) for p in paths]
        _write_atomic(target, {"key": key, "items": items})
        return items


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_atomic(path: Path, payload: dict) -> None:
    """Write JSON through a temp file + rename; skipped when the data does not survive JSON unchanged."""
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return  # e.g. a YAML date or a non-string key: parse every time rather than cache a changed value
    if json.loads(text) != payload:
        return  # tuples, int keys...: the round trip would change what validation sees
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass  # a read-only or full state dir only costs speed
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
