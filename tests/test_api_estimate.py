"""POST /v1/estimate (the JSON of `accelsage estimate --json`) and GET /v1/estimate/roofline.png."""

from __future__ import annotations

import json

import pytest
from api_helpers import DATA, bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(bundled_state):  # noqa: F811
    with TestClient(create_app(make_settings(bundled_state), query_embedder=query_embedder())) as test_client:
        yield test_client


@pytest.mark.parametrize("body, args", [
    ({"gpu": "H100", "model": "llama-3.1-8b"}, ["--gpu", "H100", "--model", "llama-3.1-8b"]),
    ({"gpu": "a100-80gb", "model": "llama-3.1-70b", "gpus": 4, "tp": 4, "batch": 32, "prompt": 4096, "output": 512,
      "techniques": ["flash-attention-2", "paged-attention"]},
     ["--gpu", "a100-80gb", "--model", "llama-3.1-70b", "--gpus", "4", "--tp", "4", "--batch", "32", "--prompt", "4096",
      "--output", "512", "--technique", "flash-attention-2", "--technique", "paged-attention"]),
    ({"gpu": "L4", "model": "mistral-7b", "dtype": "int4", "kv_dtype": "fp8", "peak_only": True},
     ["--gpu", "L4", "--model", "mistral-7b", "--dtype", "int4", "--kv-dtype", "fp8", "--peak-only"]),
    # under load, with tp alone giving the GPUs
    ({"gpu": "H100", "model": "llama-3.1-8b", "tp": 2, "concurrency": 8, "requests": 100, "slo_ttft_ms": 500,
      "techniques": ["flash-attention-2", "paged-attention", "continuous-batching"]},
     ["--gpu", "H100", "--model", "llama-3.1-8b", "--tp", "2", "--concurrency", "8", "--requests", "100",
      "--slo-ttft-ms", "500", "--technique", "flash-attention-2", "--technique", "paged-attention",
      "--technique", "continuous-batching"]),
    ({"gpu": "H100", "model": "llama-3.1-8b", "qps": 5, "requests": 50, "seed": 2, "uniform_lengths": True},
     ["--gpu", "H100", "--model", "llama-3.1-8b", "--qps", "5", "--requests", "50", "--seed", "2",
      "--uniform-lengths"]),
])
def test_estimate_is_the_cli_json(client, bundled_state, body: dict, args: list[str]) -> None:  # noqa: F811
    response = client.post("/v1/estimate", json=body)
    assert response.status_code == 200, response.text
    env = {"ACCELSAGE_HOME": str(bundled_state.root), "ACCELSAGE_DATA_DIR": str(DATA)}
    result = CliRunner().invoke(cli, ["estimate", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert response.json() == json.loads(result.output)


def test_technique_params_override_the_catalog(client) -> None:
    base = {"gpu": "H100", "model": "llama-3.1-8b", "techniques": ["speculative-decoding"]}
    def with_rate(rate: float) -> dict:
        body = {**base, "params": {"speculative-decoding": {"acceptance_rate": rate}}}
        return client.post("/v1/estimate", json=body).json()

    low, high = with_rate(0.3), with_rate(0.9)
    assert high["tpot_ms"] < low["tpot_ms"]


@pytest.mark.parametrize("body, status", [
    ({"gpu": "H1000", "model": "llama-3.1-8b"}, 404),
    ({"gpu": "H100", "model": "llama-99b"}, 404),
    ({"gpu": "H100", "model": "llama-3.1-8b", "techniques": ["warp-drive"]}, 404),
    ({"gpu": "H100", "model": "llama-3.1-8b", "gpus": 3, "tp": 2}, 400),
    ({"gpu": "H100", "model": "llama-3.1-8b", "dtype": "fp3"}, 400),
    ({"gpu": "H100", "model": "llama-3.1-8b", "batch": 0}, 422),
    ({"gpu": "H100"}, 422),
    ({"gpu": "H100", "model": "llama-3.1-8b", "prompt": 10**12}, 422),
    ({"gpu": "H100", "model": "llama-3.1-8b", "lengths": "spread"}, 422),
    ({"gpu": "H100", "model": "llama-3.1-8b", "concurrency": 4, "qps": 2}, 400),
    ({"gpu": "H100", "model": "llama-3.1-8b", "concurrency": 4, "requests": 10**7}, 422),
])
def test_bad_estimates_are_4xx_with_a_message(client, body: dict, status: int) -> None:
    response = client.post("/v1/estimate", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]


def test_simulated_estimate_keeps_the_isolated_figures(client) -> None:
    body = {"gpu": "H100", "model": "llama-3.1-8b", "concurrency": 16, "requests": 100,
            "length_pairs": [[2048, 64], [256, 256]], "techniques": ["flash-attention-2", "paged-attention",
                                                                     "continuous-batching"]}
    d = client.post("/v1/estimate", json=body).json()
    assert d["simulation"]["lengths"] == "2 listed (prompt, output) pairs, in order"
    assert d["isolated"]["ttft_ms"] == d["steps"][-1]["after"]["ttft_ms"]
    assert d["simulation"]["ttft_ms"]["p99"] > d["isolated"]["ttft_ms"]  # queued behind other prompts


def test_roofline_is_a_png(client) -> None:
    response = client.get("/v1/estimate/roofline.png",
                          params={"gpu": "H100", "model": "llama-3.1-8b", "batch": 16, "technique": ["fa2"]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n") and len(response.content) > 10_000


def test_roofline_with_an_unknown_gpu_is_404(client) -> None:
    response = client.get("/v1/estimate/roofline.png", params={"gpu": "nope", "model": "llama-3.1-8b"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize("extra, words", [
    ({"params": {"speculative-decoding": {"acceptance_rate": "abc"}}},
     "speculative-decoding.acceptance_rate must be a number from 0 to 0.99, got 'abc'"),
    ({"params": {"speculative-decoding": {"draft_tokens": -3}}}, "draft_tokens must be a whole number from 1 to 16"),
    ({"params": {"speculative-decoding": {"draft_tokens": 1e9}}}, "draft_tokens must be a whole number from 1 to 16"),
    ({"params": {"speculative-decoding": {"nonsense": 1}}}, "has no param 'nonsense'"),
    ({"model": "llama-2-70b", "gpus": 3, "tp": 3}, "must divide llama-2-70b's 64 attention heads"),
    ({"pp": 1000, "gpus": 1000}, "pp (1000) cannot exceed"),
])
def test_bad_params_and_layouts_are_422_with_one_line(client, extra: dict, words: str) -> None:
    body = {"gpu": "H100", "model": "llama-3.1-8b", "techniques": ["speculative-decoding"], **extra}
    response = client.post("/v1/estimate", json=body)
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert words in message and "\n" not in message and "Error:" not in message, message


SERVING = ["flash-attention-2", "paged-attention", "continuous-batching"]


def test_estimate_with_curve_is_the_cli_json(client, bundled_state) -> None:  # noqa: F811
    body = {"gpu": "H100", "model": "llama-3.1-8b", "requests": 40, "slo_tpot_ms": 30, "techniques": SERVING}
    response = client.post("/v1/estimate", params={"curve": "true"}, json=body)
    assert response.status_code == 200, response.text
    env = {"ACCELSAGE_HOME": str(bundled_state.root), "ACCELSAGE_DATA_DIR": str(DATA)}
    args = ["--gpu", "H100", "--model", "llama-3.1-8b", "--requests", "40", "--slo-tpot-ms", "30", "--curve", "--json"]
    for technique in SERVING:
        args += ["--technique", technique]
    result = CliRunner().invoke(cli, ["estimate", *args], env=env)
    assert result.exit_code == 0, result.output
    d = response.json()
    assert d == json.loads(result.output)
    curve = d["curve"]
    assert curve["requests_per_point"] == 40 and curve["slo"] == {"ttft_ms": None, "tpot_ms": 30}
    assert [p["concurrency"] for p in curve["points"]][:3] == [1, 2, 4]
    assert "simulation" not in d  # a curve is not a load: the estimate itself stays analytical


def test_the_page_s_two_curve_requests_simulate_once(client, monkeypatch) -> None:
    import agent.costmodel.curve as curve_module

    calls = []
    real = curve_module.simulate_curve
    monkeypatch.setattr(curve_module, "simulate_curve", lambda *a, **k: calls.append(1) or real(*a, **k))
    setup = {"gpu": "H100", "model": "llama-3.1-8b", "batch": 4, "prompt": 512, "output": 64, "techniques": SERVING}
    assert client.post("/v1/estimate", params={"curve": "true"}, json=setup).status_code == 200
    query = {**{k: v for k, v in setup.items() if k != "techniques"}, "technique": SERVING}
    assert client.get("/v1/estimate/curve.png", params=query).status_code == 200
    assert len(calls) == 1  # the caption's JSON and the image read the same sweep


def test_estimate_without_curve_has_none(client) -> None:
    d = client.post("/v1/estimate", json={"gpu": "H100", "model": "llama-3.1-8b"}).json()
    assert "curve" not in d


def test_curve_is_a_png(client) -> None:
    response = client.get("/v1/estimate/curve.png", params={
        "gpu": "H100", "model": "llama-3.1-8b", "batch": 16, "technique": SERVING, "requests": 30,
        "slo_tpot_ms": 20, "concurrency": 24})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n") and len(response.content) > 10_000


@pytest.mark.parametrize("params, status, words", [
    ({"gpu": "nope", "model": "llama-3.1-8b"}, 404, "nope"),
    ({"gpu": "H100", "model": "llama-3.1-8b", "requests": 10**6}, 422, "requests"),
    ({"gpu": "H100", "model": "llama-3.1-8b", "lengths": "zipf"}, 422, "lengths"),
    ({"gpu": "H100", "model": "llama-3.1-8b", "concurrency": 0}, 422, "concurrency"),
    ({"gpu": "H100", "model": "llama-3.1-8b", "gpus": 3, "tp": 2}, 400, "gpus"),
    ({"gpu": "H100", "model": "llama-3.1-70b"}, 400, "KV cache"),  # 140 GB of weights on one 80 GB GPU
])
def test_bad_curves_are_4xx_json(client, params: dict, status: int, words: str) -> None:
    response = client.get("/v1/estimate/curve.png", params=params)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]


def test_curve_of_a_model_that_leaves_no_kv_cache_is_400(client) -> None:
    response = client.post("/v1/estimate", params={"curve": "true"}, json={"gpu": "H100", "model": "llama-3.1-70b"})
    assert response.status_code == 400
    assert "no memory for the KV cache" in response.json()["error"]["message"]
