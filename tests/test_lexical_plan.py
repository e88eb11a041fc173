"""The bounded FTS5 plan: small stores keep the plain OR query, large ones never score more than the budget."""

from __future__ import annotations

import pytest

from index.fts_query import LexicalPlan, Stage, plan_query
from index.store import Store
from index_helpers import add_paper


@pytest.fixture
def store(tmp_path):
    """60 chunks: "common" in all, "often" in 5, "rare" in 4 (two of them with "often"), "kernel" in 10."""
    texts = []
    for i in range(60):
        words = ["common", f"filler{i}"]
        words += ["often"] * (i < 5)
        words += ["rare"] * (i in (1, 2, 50, 51))
        words += ["kernel"] * (i % 6 == 0)
        texts.append(" ".join(words))
    with Store(tmp_path / "accelsage.db") as s:
        add_paper(s, "p1", "A paper", texts)
        yield s


def store_share(store, term):
    rows = store.db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", [f'"{term}"']).fetchone()[0]
    return rows / store.chunk_count()


def _counter(store):
    """Exact match counts, for checking what a plan would score."""
    def count(expression: str, cap: int) -> int:
        return store.db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", [expression]).fetchone()[0]
    return count


@pytest.mark.parametrize("query", ["common rare", "often kernel", "rare", "the of", "common often kernel rare"])
def test_a_store_under_the_budget_runs_the_plain_or_query(store, query):
    unbounded = store.lexical_search(query, 10, max_scored_rows=10**9)
    assert store.lexical_search(query, 10) == unbounded
    plan = plan_query(query, 10, _counter(store), lambda term: 0.0)
    assert plan is not None and len(plan.stages) == 1 and " AND " not in plan.stages[0].expression


def test_rows_with_every_term_come_first_when_over_the_budget(store):
    hits = store.lexical_search("often rare", 10, max_scored_rows=4)
    ids = [chunk_id for chunk_id, _ in hits]
    both = {row["id"] for row in store.paper_chunks("p1") if row["ord"] in (1, 2)}
    assert set(ids[:2]) == both
    only_rare = {row["id"] for row in store.paper_chunks("p1") if row["ord"] in (50, 51)}
    assert set(ids[2:4]) == only_rare  # then the rare term alone; "often" (5 rows) is over the budget
    assert len(ids) == 4
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)


def test_the_plan_scores_no_more_than_the_budget(store):
    count = _counter(store)
    plan = plan_query("often kernel rare", 10, count, lambda term: 0.5 if term == "often" else 0.05,
                      max_scored_rows=4)
    assert plan.stages == (Stage('"rare" AND "kernel"'), Stage('"rare"'))
    for stage in plan.stages:
        assert stage.window_rows == 4 or count(stage.expression, 4) <= 4
    assert "often" in plan.dropped  # in more than MAX_COMMON_SHARE of the sample: a stopword here


def test_a_store_wide_word_is_dropped_as_a_stopword(store):
    """"common" is in every row: over the budget, the real sample share (1.0) drops it."""
    plan = plan_query("common kernel", 10, _counter(store), lambda term: store_share(store, term), max_scored_rows=4)
    assert plan.dropped == ("common",) and all("common" not in stage.expression for stage in plan.stages)


def test_all_common_terms_score_a_window_of_their_and(store):
    plan = plan_query("common often", 3, _counter(store), lambda term: 0.05, max_scored_rows=3)
    assert plan == LexicalPlan((Stage('"often" AND "common"', window_rows=3),))
    hits = store.lexical_search("common often", 3, max_scored_rows=3)
    texts = {row["id"]: row["text"] for row in store.paper_chunks("p1")}
    assert len(hits) == 3 and all("often" in texts[chunk_id] for chunk_id, _ in hits)


def test_terms_that_match_nothing_are_left_out(store):
    plan = plan_query("often nothinghere", 10, _counter(store), lambda term: 0.05, max_scored_rows=3)
    assert all("nothinghere" not in stage.expression for stage in plan.stages)
    assert "nothinghere" in plan.dropped


@pytest.mark.parametrize("query", ["", "   ", "-- * ()", None])
def test_no_terms_no_plan_and_no_hits(store, query):
    assert store.lexical_search(query, 5, max_scored_rows=1) == []


def _no_counting(expression: str, cap: int) -> int:
    raise AssertionError("a store known to be within the budget needs no count")


@pytest.mark.parametrize("query", ["common rare", "often kernel", "common often kernel rare"])
def test_a_table_known_to_be_under_the_budget_is_planned_without_counting(store, query):
    counted = plan_query(query, 10, _counter(store), lambda term: 0.0)
    assert plan_query(query, 10, _no_counting, lambda term: 0.0, rows_at_most=60) == counted
    # a bound over the budget says nothing: the matches are counted as before
    assert plan_query(query, 10, _counter(store), lambda term: 0.05, max_scored_rows=4, rows_at_most=60) == \
        plan_query(query, 10, _counter(store), lambda term: 0.05, max_scored_rows=4)


def test_the_largest_rowid_bounds_the_rows_after_deletes(store):
    """Chunk ids are FTS rowids: after deleting rows the largest id still bounds the count from above."""
    store.db.execute("DELETE FROM chunks WHERE id IN (SELECT id FROM chunks ORDER BY id LIMIT 10)")
    largest = store.db.execute("SELECT max(rowid) FROM chunks_fts").fetchone()[0]
    assert store.db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0] <= largest
    assert store.lexical_search("common often", 3) == store.lexical_search("common often", 3, max_scored_rows=10**9)
