"""Catalog and corpus endpoints: techniques, GPUs, models, papers and search."""

from __future__ import annotations

import pytest
from api_helpers import DATA, bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from fastapi.testclient import TestClient

from agent.knowledge.catalog import Catalog
from api.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(bundled_state):  # noqa: F811
    with TestClient(create_app(make_settings(bundled_state), query_embedder=query_embedder())) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(DATA)


@pytest.mark.parametrize("path, kind", [("/v1/techniques", "techniques"), ("/v1/gpus", "gpus"),
                                        ("/v1/catalog/models", "models")])
def test_lists_hold_every_catalog_entry(client, catalog, path: str, kind: str) -> None:
    body = client.get(path).json()
    assert body["object"] == "list"
    assert [item["id"] for item in body["data"]] == list(getattr(catalog, kind))


@pytest.mark.parametrize("path, expected_id", [
    ("/v1/techniques/fa2", "flash-attention-2"),
    ("/v1/techniques/FlashAttention-2", "flash-attention-2"),
    ("/v1/gpus/H100 SXM", "h100-sxm"),
    ("/v1/gpus/a100-80gb", "a100-80gb"),
    ("/v1/catalog/models/llama3-70b", "llama-3.1-70b"),
    ("/v1/catalog/models/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
])
def test_show_resolves_ids_and_aliases(client, path: str, expected_id: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.json()["id"] == expected_id


@pytest.mark.parametrize("path", ["/v1/techniques/flash-atention-3", "/v1/gpus/H1000",
                                  "/v1/catalog/models/llama-3.1-7b"])
def test_unknown_names_are_404_with_the_closest(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "closest known" in response.json()["error"]["message"]


def test_technique_family_filter(client, catalog) -> None:
    data = client.get("/v1/techniques", params={"family": "quantization"}).json()["data"]
    assert data and {t["family"] for t in data} == {"quantization"}
    assert len(data) == sum(t.family == "quantization" for t in catalog.techniques.values())


def test_model_shapes_are_not_listed_as_chat_models(client, catalog) -> None:
    chat_models = {item["id"] for item in client.get("/v1/models").json()["data"]}
    assert chat_models == {"accelsage"} and not chat_models & set(catalog.models)


def test_papers_list_joins_papers_yaml_and_the_store(client, catalog) -> None:
    papers = {p["paper_id"]: p for p in client.get("/v1/papers").json()["data"]}
    assert set(catalog.papers) <= set(papers)
    fa2 = papers["2307.08691"]
    assert fa2["url"] == "https://arxiv.org/abs/2307.08691"
    assert "flash-attention-2" in fa2["techniques"]
    assert fa2["source"] == "card"


@pytest.mark.parametrize("paper_id", ["2307.08691", "2307.08691v2", "arXiv:2307.08691", "ARXIV:2307.08691v1"])
def test_show_paper_accepts_arxiv_forms(client, paper_id: str) -> None:
    response = client.get(f"/v1/papers/{paper_id}")
    assert response.status_code == 200
    paper = response.json()
    assert paper["paper_id"] == "2307.08691" and paper["chunks"] > 0


@pytest.mark.parametrize("paper_id, status", [
    ("9999.99999", 404),
    ("..%2F..%2Fetc%2Fpasswd", 404),
    ("..", 404),  # the client resolves the dot segment: no such route
    ("%2E%2E", 422),
    ("a" * 150, 422),
    ("x;rm -rf", 422),
])
def test_bad_or_unknown_paper_ids(client, paper_id: str, status: int) -> None:
    response = client.get(f"/v1/papers/{paper_id}")
    assert response.status_code == status
    assert response.json()["error"]["type"] in ("not_found", "validation_error")


def test_search_finds_the_paper_about_the_query(client) -> None:
    body = client.get("/v1/search", params={"q": "paged KV cache blocks virtual memory", "k": 5}).json()
    assert body["mode"] == "hybrid" and len(body["hits"]) == 5
    assert "2309.06180" in {hit["paper_id"] for hit in body["hits"]}
    assert all(hit["text"] for hit in body["hits"])


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "x", "k": 0}, {"q": "x", "k": 51}, {"q": "x", "mode": "magic"},
                                    {"q": "y" * 501}])
def test_bad_search_parameters_are_422(client, params: dict) -> None:
    assert client.get("/v1/search", params=params).status_code == 422


@pytest.mark.parametrize("query", ['"unbalanced', "NEAR(", "*", "AND OR NOT", "\u0000\u0001"])
def test_odd_search_queries_never_fail(client, query: str) -> None:
    assert client.get("/v1/search", params={"q": query}).status_code == 200
