"""Retrieval quality on the bundled cards: hybrid recall@5 must match or beat dense-only and lexical-only.

Uses the session's bundled corpus (``bundled_state`` in conftest.py: the real refresh over
``data/cards``), then runs ``data/eval/search_queries.yaml`` in the three modes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from corpus_fixtures import bundled_model_path, session_embedder

from index.search import Searcher, open_searcher
from index.state import StateDir
from ingest.sources import list_cards, load_papers

DATA = Path(__file__).resolve().parents[1] / "data"
QUERIES = yaml.safe_load((DATA / "eval" / "search_queries.yaml").read_text(encoding="utf-8"))
MIN_CARDS = 20
K = 5

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def bundled_searcher(bundled_state: StateDir) -> Searcher:
    if len(list_cards(DATA / "cards")) < MIN_CARDS:
        pytest.skip(f"fewer than {MIN_CARDS} bundled cards in data/cards: no meaningful recall test")
    return open_searcher(bundled_state, bundled_model_path(), query_embedder=session_embedder())


def recall_at_k(searcher: Searcher, mode: str) -> float:
    """Mean over queries of the fraction of expected papers among the top-K hits' papers."""
    total = 0.0
    for item in QUERIES:
        found = {hit.paper_id for hit in searcher.search(item["query"], k=K, mode=mode)}
        total += len(found & set(item["expected"])) / len(item["expected"])
    return total / len(QUERIES)


def test_eval_file_is_well_formed() -> None:
    known = {entry.id for entry in load_papers(DATA / "papers.yaml")}
    assert len(QUERIES) >= 20
    for item in QUERIES:
        assert set(item) == {"query", "expected"} and item["query"].strip()
        assert item["expected"] and set(item["expected"]) <= known, item


def test_hybrid_recall_beats_each_retriever_alone(bundled_searcher: Searcher) -> None:
    recall = {mode: recall_at_k(bundled_searcher, mode) for mode in ("hybrid", "dense", "lexical")}
    print(f"recall@{K}: " + ", ".join(f"{mode} {value:.3f}" for mode, value in recall.items()))
    assert recall["hybrid"] >= recall["dense"]
    assert recall["hybrid"] >= recall["lexical"]
    assert recall["hybrid"] >= 0.5  # a floor far below today's figure; catches a broken pipeline
