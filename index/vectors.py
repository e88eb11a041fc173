"""The FAISS index: inner-product search over unit vectors, ids = SQLite chunk ids.

Up to a size threshold the index is exact (``IndexFlatIP``); above it approximate (HNSW or IVF),
as an :class:`IndexPlan` from the caller says. The index is derived data. It is saved atomically
next to a JSON meta file (fingerprint of the store it was built from, model id, dim, count, index
kind and parameters, and a checksum of the file's bytes), and
:func:`load_checked` rebuilds it from the store whenever the file is missing, unreadable, damaged
(checksum differs) or does not match the store and model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import faiss
import numpy as np
import xxhash

from index.index_plan import FLAT, IndexLayout, IndexPlan, build_faiss_index, layout_of, search_parameters
from index.state import StateDir
from index.store import Store, utc_now

DEFAULT_DIM = 384  # all-MiniLM-L6-v2; only used to shape an empty index
# 2 added the index kind and parameters; a format-1 meta (no kind) describes an exact flat index.
META_FORMAT = 2
_READABLE_FORMATS = (1, 2)
SEARCH_THREADS = 1
# xxh3-64 of the index file: it catches bytes changed in place (same size), which FAISS itself reads
# as fine. Measured on 154 MB (100k vectors): xxh3 11 ms, crc32 69 ms, sha256 106 ms next to a 140 ms
# faiss.read_index; the file is not a security boundary, so the fast non-cryptographic hash fits.
CHECKSUM_ALGORITHM = "xxh3_64"
_CHECKSUM_READ_BYTES = 1 << 20


class IndexFileError(Exception):
    """The index file or its meta cannot be used (missing, corrupt, inconsistent)."""


def file_checksum(path: Path) -> str:
    """xxh3-64 hex digest of a file's bytes, read in 1 MiB pieces."""
    digest = xxhash.xxh3_64()
    with open(path, "rb") as handle:
        while piece := handle.read(_CHECKSUM_READ_BYTES):
            digest.update(piece)
    return digest.hexdigest()


def _file_stamp(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _ids_digest(ids: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.sort(ids), dtype=np.int64).tobytes()).hexdigest()


class VectorIndex:
    """A ``faiss.IndexIDMap2`` over a flat, HNSW or IVF index, plus the identity of what it was built from."""

    def __init__(self, index: faiss.Index, model_id: str = "", fingerprint: str = "",
                 layout: IndexLayout | None = None) -> None:
        self.index = index
        self.model_id = model_id
        self.fingerprint = fingerprint
        self.layout = layout or IndexLayout(FLAT)
        self._search_parameters = search_parameters(self.layout)

    @classmethod
    def empty(cls, dim: int = DEFAULT_DIM, model_id: str = "", fingerprint: str = "") -> "VectorIndex":
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), model_id, fingerprint)

    @property
    def kind(self) -> str:
        """``flat`` (exact), ``hnsw`` or ``ivf``."""
        return self.layout.kind

    def describe(self) -> str:
        """One line for people: kind and parameters, e.g. ``hnsw (m=32, ef_construction=40, ef_search=256)``."""
        return self.layout.describe()

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """Chunk ids held, in insertion order."""
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit rows under the given chunk ids."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(ids):
            self.index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top ``k`` ``(chunk id, cosine)`` for one query vector; empty when the index is empty."""
        if self.count == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dim:
            raise ValueError(f"query has {query.shape[1]} dims, index has {self.dim}")
        previous = faiss.omp_get_max_threads()
        # Measured on a busy 2-core machine (load ~10, 100k vectors): one query took ~4x longer
        # with 2 OpenMP threads than with 1, and the spinning threads slowed the query embedder.
        faiss.omp_set_num_threads(SEARCH_THREADS)
        try:
            scores, ids = self.index.search(query, min(int(k), self.count), params=self._search_parameters)
        finally:
            faiss.omp_set_num_threads(previous)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def meta(self, index_bytes: int, checksum: str) -> dict:
        return {
            "format": META_FORMAT, "fingerprint": self.fingerprint, "model_id": self.model_id,
            "dim": self.dim, "count": self.count, "kind": self.kind, "params": dict(self.layout.params),
            "index_bytes": index_bytes,
            "checksum": {"algorithm": CHECKSUM_ALGORITHM, "value": checksum},
            "ids_sha256": _ids_digest(self.ids()), "written_at": utc_now(),
        }

    def save_atomic(self, state: StateDir) -> None:
        """Write index then meta, each to a temp file in the same folder, fsync, ``os.replace``.

        A crash at any point leaves either the old pair or the new files; a new index beside an
        old meta is caught by :func:`load_checked` (counts, sizes and id digests disagree).
        """
        state.root.mkdir(parents=True, exist_ok=True)
        index_tmp = _temp_path(state.index_path)
        meta_tmp = _temp_path(state.index_meta_path)
        try:
            faiss.write_index(self.index, str(index_tmp))
            _fsync_file(index_tmp)
            meta = self.meta(index_tmp.stat().st_size, file_checksum(index_tmp))
            meta_tmp.write_text(json.dumps(meta, indent=2))
            _fsync_file(meta_tmp)
            os.replace(index_tmp, state.index_path)
            os.replace(meta_tmp, state.index_meta_path)
            _fsync_dir(state.root)
        finally:
            for leftover in (index_tmp, meta_tmp):
                leftover.unlink(missing_ok=True)

    @classmethod
    def load(cls, state: StateDir) -> tuple["VectorIndex", dict]:
        """Read index and meta and check they agree with each other; raise :class:`IndexFileError`.

        The file's bytes must match the checksum in the meta: FAISS reads a file whose vector bytes
        were overwritten in place without complaint, and would serve the damaged vectors.
        """
        meta = read_meta(state)
        stamp = _file_stamp(state.index_path)
        problem = _file_problem(state.index_path, meta)
        if problem:
            raise IndexFileError(problem)
        try:
            index = faiss.read_index(str(state.index_path))
        except RuntimeError as exc:
            raise IndexFileError("index file unreadable") from exc
        if _file_stamp(state.index_path) != stamp:
            # replaced by another process between the checksum and the read: what we read is unverified
            raise IndexFileError("index file changed while it was read")
        if not isinstance(index, faiss.IndexIDMap2):
            raise IndexFileError(f"index file holds a {type(index).__name__}, expected IndexIDMap2")
        layout = IndexLayout(str(meta.get("kind", FLAT)), dict(meta.get("params") or {}))
        if layout_of(index).kind != layout.kind:
            raise IndexFileError(f"index file holds a {layout_of(index).kind} index, its meta says {layout.kind}")
        loaded = cls(index, str(meta.get("model_id", "")), str(meta.get("fingerprint", "")), layout)
        if (meta.get("dim"), meta.get("count")) != (loaded.dim, loaded.count):
            raise IndexFileError("index dim/count do not match its meta")
        if meta.get("ids_sha256") != _ids_digest(loaded.ids()):
            raise IndexFileError("index ids do not match its meta")
        return loaded, meta


def read_meta(state: StateDir) -> dict:
    """The index meta JSON; :class:`IndexFileError` when the index or its meta is missing or unreadable."""
    if not state.index_path.is_file():
        raise IndexFileError("index file missing")
    try:
        meta = json.loads(state.index_meta_path.read_text())
        if not isinstance(meta, dict) or meta.get("format") not in _READABLE_FORMATS:
            raise ValueError("unknown meta format")
    except (OSError, ValueError) as exc:
        raise IndexFileError(f"index meta missing or unreadable ({type(exc).__name__})") from exc
    return meta


def _file_problem(index_path: Path, meta: dict) -> str | None:
    """Why the index file's bytes cannot be trusted (size or checksum differ from the meta), or None."""
    try:
        if meta.get("index_bytes") != index_path.stat().st_size:
            return "index file size does not match its meta"
        recorded = meta.get("checksum") or {}
        if not isinstance(recorded, dict) or recorded.get("algorithm") != CHECKSUM_ALGORITHM:
            return "index meta has no checksum (written by an older accelsage)"
        if file_checksum(index_path) != recorded.get("value"):
            return "index file checksum does not match its meta (file damaged)"
    except OSError as exc:
        return f"index file unreadable ({exc.strerror or exc})"
    return None


def verify_file(state: StateDir) -> str | None:
    """Check the saved index file against its meta (size and checksum) without loading it.

    Returns:
        None when the bytes on disk are the ones that were saved, else the reason they are not.
    """
    try:
        return _file_problem(state.index_path, read_meta(state))
    except IndexFileError as exc:
        return str(exc)


def _temp_path(target: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    return Path(name)


def _fsync_file(path: Path) -> None:
    # mkstemp makes the file owner-only; the index is not secret, so give it normal file modes.
    os.chmod(path, 0o644)
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes the renames durable; not every platform lets a directory be opened.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_from_store(store: Store, model_id: str, dim: int | None = None,
                     plan: IndexPlan | None = None) -> VectorIndex:
    """A fresh index over every chunk that has a ``model_id`` vector in the store.

    Args:
        plan: when to switch from exact to approximate search and with which parameters
            (default :class:`IndexPlan()`).
    """
    fingerprint = store.fingerprint(model_id)
    ids, vectors = store.chunk_vectors(model_id)
    if len(ids) == 0:
        return VectorIndex.empty(dim or DEFAULT_DIM, model_id, fingerprint)
    layout = (plan or IndexPlan()).layout_for(len(ids))
    index = VectorIndex(faiss.IndexIDMap2(build_faiss_index(layout, vectors)), model_id, fingerprint, layout)
    index.add(ids, vectors)
    return index


def load_matching(state: StateDir, store: Store, model_id: str,
                  plan: IndexPlan | None = None) -> tuple[VectorIndex | None, str | None]:
    """The saved index if it is intact and matches the store, model and plan: ``(index, None)``, else ``(None, why)``.

    The plan decides the kind and build parameters for the store's size; a saved index of another
    kind or built with other parameters (the threshold or a parameter changed) is reported stale.
    Search-time parameters (``ef_search``, ``nprobe``) come from the plan without a rebuild.
    """
    try:
        loaded, _meta = VectorIndex.load(state)
    except IndexFileError as exc:
        return None, str(exc)
    if loaded.model_id != model_id:
        return None, f"model changed ({loaded.model_id or '?'} -> {model_id})"
    if loaded.fingerprint != store.fingerprint(model_id):
        return None, "index does not match the store (fingerprint differs)"
    wanted = (plan or IndexPlan()).layout_for(loaded.count)
    if not loaded.layout.builds_like(wanted):
        return None, f"index is {loaded.describe()}, the plan wants {wanted.describe()}"
    if wanted != loaded.layout:
        loaded = VectorIndex(loaded.index, loaded.model_id, loaded.fingerprint, wanted)
    return loaded, None


def load_checked(
    state: StateDir, store: Store, model_id: str, dim: int | None = None, plan: IndexPlan | None = None
) -> tuple[VectorIndex, str | None]:
    """Load the saved index, or rebuild (and save) it; returns ``(index, why_rebuilt or None)``.

    Rebuilds when the file is missing, corrupt or damaged in place (checksum differs), or its
    model, fingerprint, count, kind or build parameters differ from what the store and ``plan``
    call for.
    """
    loaded, reason = load_matching(state, store, model_id, plan)
    if loaded is not None:
        return loaded, None
    rebuilt = build_from_store(store, model_id, dim=dim, plan=plan)
    try:
        rebuilt.save_atomic(state)
    except OSError as exc:
        # Serving from memory still works; the next open will try to save again.
        reason += f"; could not save the rebuilt index ({exc.strerror or exc})"
    return rebuilt, reason
