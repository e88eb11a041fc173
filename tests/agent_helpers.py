"""Shared pieces of the agent tests: a small real corpus (SQLite + FAISS + numpy embedder) and an Answerer.

The passages are our own words about a few techniques' backing papers, enough to check that
citations come from the right papers and exist in the store.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agent.knowledge.catalog import Catalog
from agent.service import Answerer
from index.search import Searcher
from index.store import Store
from index.vectors import build_from_store
from index_helpers import add_paper, query_embedder

DATA = Path(__file__).resolve().parents[1] / "data"

PASSAGES: dict[str, tuple[str, list[str]]] = {
    "2307.08691": ("FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning", [
        "FlashAttention-2 computes exact attention in tiles held in on-chip SRAM, so the full score matrix is never written to GPU memory.",
        "Work is split across thread blocks along the sequence dimension, raising occupancy for long sequences and small batches.",
    ]),
    "2211.17192": ("Fast Inference from Transformers via Speculative Decoding", [
        "Speculative decoding lets a small draft model propose several tokens that the large target model checks in one forward pass.",
        "The accepted tokens follow the target model's distribution exactly, so outputs are unchanged while decode latency drops.",
    ]),
    "2309.06180": ("Efficient Memory Management for Large Language Model Serving with PagedAttention", [
        "PagedAttention stores the KV cache in fixed-size blocks, like virtual memory pages, so little memory is wasted on reservation.",
    ]),
    "2306.00978": ("AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration", [
        "AWQ quantizes weights to 4 bits while protecting the small set of salient channels identified from activation statistics.",
    ]),
    "2209.05433": ("FP8 Formats for Deep Learning", [
        "FP8 formats E4M3 and E5M2 allow both training and inference in 8-bit floating point on tensor cores with small accuracy change.",
    ]),
}


def build_small_store(db_path: Path) -> Store:
    """A store holding the passages above, embedded with the numpy query embedder."""
    store = Store(db_path)
    for paper_id, (title, texts) in PASSAGES.items():
        add_paper(store, paper_id, title, texts, embed=True, arxiv_id=paper_id)
    return store


def small_searcher(db_path: Path) -> Searcher:
    """A real Searcher (FTS5 + FAISS) over the small store."""
    store = build_small_store(db_path)
    embedder = query_embedder()
    return Searcher(store, build_from_store(store, embedder.model_id), embedder)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    return Catalog.load(DATA)


def small_answerer(db_path: Path, llm=None) -> Answerer:
    """An Answerer over the real catalog and the small corpus."""
    return Answerer(small_searcher(db_path), catalog(), llm=llm)
