"""Off-topic papers (listed because they cite an acceleration paper) stay listed but never surface in search or answers."""

from __future__ import annotations

import json

import pytest
from api_helpers import DATA, bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from corpus_fixtures import bundled_model_path, session_embedder
from fastapi.testclient import TestClient

from agent.knowledge.catalog import Catalog
from api.app import create_app
from index.search import MODES, Searcher, open_searcher
from index.state import StateDir
from index.store import Store

pytestmark = pytest.mark.slow
NER = "a-hybrid-method-for-low-resource-named-entity"
HIGGS = "hits-to-higgs-hit-level-higgs-classification-from"
# queries that surfaced one of the two at the top before off-topic papers were left out
QUERIES = [("named entity recognition", NER), ("low-resource NER with LLM-generated data", NER),
           ("Higgs boson classification", HIGGS), ("transformer classifier on raw hits", HIGGS),
           ("attention over thousands of detector hits", HIGGS)]


@pytest.fixture(scope="module")
def searcher(bundled_state: StateDir) -> Searcher:  # noqa: F811
    return open_searcher(bundled_state, bundled_model_path(), query_embedder=session_embedder())


@pytest.fixture(scope="module")
def off_topic() -> set[str]:
    return {card_id for card_id, card in Catalog.load(DATA).cards.items() if card.role == "off-topic"}


def test_the_two_seed_list_strays_are_off_topic(off_topic: set[str]) -> None:
    assert {NER, HIGGS} <= off_topic


def test_the_store_keeps_each_cards_role(bundled_state: StateDir, off_topic: set[str]) -> None:  # noqa: F811
    with Store(bundled_state.db_path) as store:
        roles = {row["paper_id"]: row["role"] for row in store.list_papers()}
    assert {p for p, role in roles.items() if role == "off-topic"} == off_topic
    assert roles["2307.08691"] == "core"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("query", "stray"), QUERIES)
def test_search_never_surfaces_off_topic_papers(searcher: Searcher, off_topic: set[str], query: str, stray: str,
                                                mode: str) -> None:
    hits = searcher.search(query, k=20, mode=mode)
    assert hits and not {hit.paper_id for hit in hits} & off_topic
    if mode != "lexical":  # bm25 ranks only passages with a query word; the others fill every place
        assert len(hits) == 20


@pytest.mark.parametrize(("query", "stray"), QUERIES[:3])
def test_off_topic_papers_stay_reachable_when_asked_for(searcher: Searcher, query: str, stray: str) -> None:
    assert searcher.search(query, k=3, include_off_topic=True)[0].paper_id == stray


@pytest.fixture(scope="module")
def client(bundled_state):  # noqa: F811
    with TestClient(create_app(make_settings(bundled_state), query_embedder=query_embedder())) as test_client:
        yield test_client


def test_the_api_leaves_them_out_of_search_but_lists_them(client) -> None:
    for query, stray in QUERIES:
        hits = client.get("/v1/search", params={"q": query, "k": 10}).json()["hits"]
        assert stray not in {hit["paper_id"] for hit in hits}
    asked = client.get("/v1/search", params={"q": QUERIES[0][0], "k": 3, "include_off_topic": "true"}).json()
    assert asked["hits"][0]["paper_id"] == NER
    listed = {paper["paper_id"] for paper in client.get("/v1/papers").json()["data"]}
    assert {NER, HIGGS} <= listed
    assert client.get(f"/v1/papers/{HIGGS}").status_code == 200


@pytest.mark.parametrize("question", [
    "How do I speed up a transformer that classifies thousands of raw LHC detector hits per event on an A100?",
    "Our low-resource named entity recognition tagger runs Llama-3.1-8B on one L4: how do we cut its latency?",
])
def test_answers_never_cite_them(client, question: str) -> None:
    answer = client.post("/v1/ask", json={"question": question}).json()
    assert answer["status"] == "ok"
    text = json.dumps(answer)
    assert NER not in text and HIGGS not in text
