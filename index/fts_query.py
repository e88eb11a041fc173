"""Turn free text into a safe FTS5 MATCH expression: an OR of quoted terms.

FTS5 query syntax gives meaning to quotes, ``-``, ``*``, ``:``, parentheses, ``AND``/``OR``/``NOT``
and ``NEAR``; user text is never passed through. We pull out word-like terms ourselves and quote
each one. A compound such as ``EAGLE-2`` stays one quoted term, which FTS5 reads as the phrase
"eagle 2", so names with hyphens or dots are found as written while ``FP8`` and ``W4A8KV4`` are
single tokens anyway.

On a large store an OR of common terms matches most rows and bm25 scores every one of them;
:func:`plan_query` picks an expression whose scoring cost is bounded (see its steps).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Letters/digits, optionally joined by - _ . + / (EAGLE-2, Llama-3.1, int4/fp8, C++ loses its ++).
_TERM = re.compile(r"[^\W_]+(?:[-_.+/][^\W_]+)*")
MAX_TERMS = 32
# Very common words add nothing to an OR query but make it match (and score) most rows.
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it its of on or than that the this "
    "to was what when which who why will with you your".split()
)


def query_terms(query: str, max_terms: int = MAX_TERMS) -> list[str]:
    """Distinct lower-cased terms of ``query`` in order, stopwords dropped unless nothing else is left."""
    seen: dict[str, None] = {}
    for match in _TERM.finditer(query or ""):
        term = match.group().lower()
        if term not in seen:
            seen[term] = None
    terms = list(seen)
    content = [t for t in terms if t not in _STOPWORDS]
    return (content or terms)[:max_terms]


def build_match_expression(query: str) -> str | None:
    """An FTS5 expression ``"t1" OR "t2" ...`` for ``query``, or None when it has no terms."""
    terms = query_terms(query)
    if not terms:
        return None
    # Terms hold no double quotes (the regex excludes them), so quoting is plain wrapping.
    return " OR ".join(f'"{term}"' for term in terms)


# --- bounded query plan ---------------------------------------------------------------------------
# bm25 costs ~2-5 us per matching row on our 2-core machine (it reads each row's column sizes): an OR
# of common terms matches most of a 1M-chunk store and took 237 ms p50, 891 ms p95. Counting matches
# costs ~0.05 us a row. A plan scores at most this many rows per stage (under ~10 ms).
MAX_SCORED_ROWS = 3_000
# Newest chunks sampled to tell how common a term over the budget is.
SAMPLE_ROWS = 20_000
# A term in more than this share of chunks is treated as a stopword once the store is over the budget:
# its IDF is low (ln 10 at most), while bm25 walks its whole posting list to compute that IDF. On the
# 1M synthetic store (bench/search_latency.py queries) 0.2 gave an FTS5 p95 of 53 ms CPU, 0.1 17 ms.
MAX_COMMON_SHARE = 0.1


@dataclass(frozen=True)
class Stage:
    """One FTS5 query of a plan: ``window_rows`` None scores every match, else only the newest ones."""

    expression: str
    window_rows: int | None = None


@dataclass(frozen=True)
class LexicalPlan:
    """FTS5 queries run in order: rows of an earlier stage rank above rows first found by a later one."""

    stages: tuple[Stage, ...]
    dropped: tuple[str, ...] = ()


def _quoted(terms: Sequence[str], joiner: str) -> str:
    return f" {joiner} ".join(f'"{term}"' for term in terms)


def plan_query(
    query: str,
    k: int,
    count_matches: Callable[[str, int], int],
    sample_share: Callable[[str], float],
    max_scored_rows: int = MAX_SCORED_ROWS,
    rows_at_most: int | None = None,
) -> LexicalPlan | None:
    """Choose FTS5 queries whose bm25 scoring touches at most ~``max_scored_rows`` rows each.

    1. The OR of all terms matches at most the budget: run it as it is (small stores never change). A store
       known to hold no more rows than the budget (``rows_at_most``) needs no count to tell.
    2. Terms held by more than ``MAX_COMMON_SHARE`` of recent rows are dropped as stopwords (their
       IDF is near zero, yet bm25 walks their whole posting list), unless nothing else is left.
    3. The AND of the rest goes first: rows holding every term are what an OR ranks on top. When it
       matches more than the budget, only its newest ``max_scored_rows`` matches are scored.
    4. If that gives fewer than ``k`` rows, the rarest terms follow as an OR while their rows add
       up to the budget (the common ones move an OR ranking little and cost the most); if even the
       rarest term is over the budget, ANDs that drop the most common term one at a time follow.

    Args:
        count_matches: ``(expression, cap) -> matching rows``, counting no further than ``cap + 1``.
        sample_share: ``term -> share of a sample of recent rows that hold it``.
        rows_at_most: an upper bound on the rows the table holds, or None when unknown.
    """
    terms = query_terms(query)
    if not terms:
        return None
    everything = _quoted(terms, "OR")
    # no expression matches more rows than the table holds: under the budget, counting its matches is wasted work
    if rows_at_most is not None and rows_at_most <= max_scored_rows:
        return LexicalPlan((Stage(everything),))
    if count_matches(everything, max_scored_rows) <= max_scored_rows:
        return LexicalPlan((Stage(everything),))
    rows = {term: count_matches(_quoted([term], "OR"), max_scored_rows) for term in terms}
    present = sorted((t for t in terms if rows[t] > 0), key=lambda t: rows[t])
    shares = {t: sample_share(t) for t in present if rows[t] > max_scored_rows}
    kept = [t for t in present if shares.get(t, 0.0) <= MAX_COMMON_SHARE] or present[:1]
    stages = [_bounded(_quoted(kept, "AND"), count_matches, max_scored_rows)]
    if len(kept) > 1 and count_matches(stages[0].expression, k) < k:
        rare: list[str] = []
        for term in kept:
            if rows[term] > max_scored_rows or sum(rows[t] for t in rare) + rows[term] > max_scored_rows:
                break
            rare.append(term)
        if rare:
            stages.append(Stage(_quoted(rare, "OR")))
        else:
            stages += [_bounded(_quoted(kept[:n], "AND"), count_matches, max_scored_rows)
                       for n in range(len(kept) - 1, 0, -1)]
    return LexicalPlan(tuple(stages), dropped=tuple(t for t in terms if t not in kept))


def _bounded(expression: str, count_matches: Callable[[str, int], int], max_scored_rows: int) -> Stage:
    """A stage that scores all of ``expression``'s matches if they fit the budget, else a window."""
    fits = count_matches(expression, max_scored_rows) <= max_scored_rows
    return Stage(expression, None if fits else max_scored_rows)
