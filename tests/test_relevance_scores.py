"""Technique-profile matching: the vectorised BM25 and per-technique best cosine give exactly the row-by-row values."""

from collections import Counter

import numpy as np
import pytest

from agent.relevance import BM25_B, BM25_K1, _best_per_owner, _Bm25

DOCUMENTS = ["long prompts make the first token slow prefill chunked prefill",
             "kv cache memory grows with context paged attention blocks",
             "decode is memory bandwidth bound speculative decoding draft model",
             "quantization int4 weights memory bandwidth decode",
             "one"]


def _scores_row_by_row(bm25: _Bm25, query: str, terms: list[str]) -> np.ndarray:
    """BM25 as written before vectorising: a sum over the query terms, one document at a time."""
    avg = float(bm25.lengths.mean())
    out = np.zeros(len(bm25.docs))
    for i, doc in enumerate(bm25.docs):
        norm = BM25_K1 * (1 - BM25_B + BM25_B * bm25.lengths[i] / avg)
        out[i] = sum(bm25.idf[w] * doc[w] * (BM25_K1 + 1) / (doc[w] + norm) for w in terms if w in doc)
    return out


@pytest.mark.parametrize("query", ["first token slow with long prompts", "memory bandwidth decode decode",
                                   "nothing here matches", "", "kv cache memory context quantization int4 one"])
def test_bm25_scores_equal_the_row_by_row_sum(query: str) -> None:
    bm25 = _Bm25.build(DOCUMENTS)
    # the same terms in the same order as scores() takes them (a set's order within one process)
    from agent.relevance import _words

    terms = [w for w in set(_words(query)) if w in bm25.idf]
    assert bm25.scores(query).tolist() == _scores_row_by_row(bm25, query, terms).tolist()


def test_bm25_term_counts_cover_every_document() -> None:
    bm25 = _Bm25.build(DOCUMENTS)
    assert set(bm25.counts) == set(bm25.idf)
    assert all(bm25.counts[w].tolist() == [float(Counter(d)[w]) for d in bm25.docs] for w in bm25.idf)


@pytest.mark.parametrize("owners, count", [([0, 0, 1, 2, 2, 2], 3), ([0, 1, 1, 3], 5), ([2, 0, 1, 0], 3), ([], 2)])
def test_best_per_owner_equals_maximum_at(owners: list[int], count: int) -> None:
    rng = np.random.default_rng(len(owners) + count)
    values = rng.uniform(-1, 1, len(owners)).astype(np.float32)
    owners = np.array(owners, dtype=np.int64)
    expected = np.full(count, -1.0)
    np.maximum.at(expected, owners, values)
    got = _best_per_owner(values, owners, count)
    assert got.dtype == expected.dtype and got.tolist() == expected.tolist()
