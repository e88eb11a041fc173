"""`accelsage plan` and POST /v1/plan: the frontier, the best configuration under SLOs, errors, CLI = API JSON."""

from __future__ import annotations

import json

import pytest
from api_helpers import DATA, bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from click.testing import CliRunner
from fastapi.testclient import TestClient

from agent.costmodel.plan import LAUNCH_FLAGS, PlanSpec, launch_commands, plan
from agent.costmodel.plan_space import Candidate, batch_caps, prefill_splits
from agent.knowledge import Catalog
from api.app import create_app
from api.cli import cli, main
from index.errors import AccelsageError

SMALL = {"gpu": "h100", "model": "llama-3.1-8b", "gpus": 2, "concurrency": 16, "requests": 80,
         "max_simulations": 10}
SMALL_ARGS = ["--gpu", "h100", "--model", "llama-3.1-8b", "--gpus", "2", "--concurrency", "16", "--requests", "80",
              "--max-simulations", "10"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(DATA)


@pytest.fixture(scope="module")
def small_plan(catalog) -> dict:
    return plan(catalog, PlanSpec(**SMALL, slo_ttft_ms=2000, slo_tpot_ms=50))


def test_frontier_points_do_not_dominate_each_other(small_plan) -> None:
    points = [(p["tokens_per_s_per_gpu"], p["tokens_per_s_per_user"]) for p in small_plan["frontier"]]
    assert points
    for i, (ax, ay) in enumerate(points):
        for j, (bx, by) in enumerate(points):
            if i != j:
                assert not (bx >= ax and by >= ay), (points[i], points[j])


def test_best_meets_the_slos_and_has_launch_flags(small_plan) -> None:
    best = small_plan["best"]
    assert best["meets_slo"] and best["missed_slo"] == []
    assert best["ttft_ms"] <= 2000 and best["tpot_ms"] <= 50
    assert best["launch"]["commands"] and best["tp"] * best["pp"] * best["dp"] == 2
    assert small_plan["search"]["simulated"] <= 10


def test_unmeetable_slo_reports_the_closest_config_and_the_missed_slo(catalog) -> None:
    result = plan(catalog, PlanSpec(**SMALL, slo_ttft_ms=0.01, slo_tpot_ms=1000))
    best = result["best"]
    assert best["meets_slo"] is False
    assert [m["slo"] for m in best["missed_slo"]] == ["ttft_ms"]
    assert best["missed_slo"][0]["value"] > 0.01


def test_model_that_fits_nowhere_is_one_clear_error(catalog) -> None:
    with pytest.raises(AccelsageError, match="does not fit on 2 x"):
        plan(catalog, PlanSpec(gpu="h100", model="llama-3.1-405b", gpus=2, concurrency=8))


def test_cli_no_fit_is_one_line_and_non_zero(capsys, monkeypatch) -> None:
    monkeypatch.setenv("ACCELSAGE_DATA_DIR", str(DATA))
    code = main(["plan", "--gpu", "h100", "--model", "llama-3.1-405b", "--gpus", "2", "--concurrency", "8"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("error: ") and err.count("\n") == 1 and "does not fit" in err


@pytest.mark.parametrize("kwargs, message", [
    ({"concurrency": 8, "qps": 2.0}, "exactly one load"),
    ({}, "exactly one load"),
    ({"concurrency": 8, "engines": ("tgi",)}, "unknown engine"),
])
def test_bad_specs_are_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(AccelsageError, match=message):
        PlanSpec(gpu="h100", model="llama-3.1-8b", gpus=2, **kwargs)


@pytest.mark.parametrize("load, expected", [(16, [8, 32]), (4, [8]), (1000, [8, 32, 128, 256]),
                                            (None, [8, 32, 128, 256])])
def test_batch_caps_keep_one_cap_at_or_above_the_load(load, expected) -> None:
    assert batch_caps(load) == expected


@pytest.mark.parametrize("instances, expected", [(1, []), (2, [1]), (4, [1, 2, 3]), (8, [2, 4, 6])])
def test_prefill_splits_leave_both_pools_an_instance(instances, expected) -> None:
    assert prefill_splits(instances) == expected


@pytest.mark.parametrize("candidate, expected", [
    (Candidate("vllm", 4, 1, 1, 1, "fp8", "fp8", 64),
     ["vllm serve m --tensor-parallel-size 4 --quantization fp8 --kv-cache-dtype fp8 --max-num-seqs 64"]),
    (Candidate("sglang", 2, 1, 1, 2, "bf16", "bf16", 32),
     ["python -m sglang.launch_server --model-path m --tp 2 --max-running-requests 32 --dp 2"]),
])
def test_launch_flags_follow_the_templates(candidate, expected) -> None:
    assert launch_commands(candidate, "m")["commands"] == expected


def test_every_engine_has_a_launch_template_with_its_source() -> None:
    assert set(LAUNCH_FLAGS) == {"vllm", "sglang", "tensorrt-llm"}
    assert all(flags["source"].startswith("https://") for flags in LAUNCH_FLAGS.values())
    trt = launch_commands(Candidate("tensorrt-llm", 2, 1, 1, 2, "int4", "fp8", 32, 1), "m")["commands"]
    assert any(c.startswith("trtllm-build") for c in trt) and "--qformat int4_awq" in trt[0]


@pytest.mark.slow
def test_api_plan_is_the_cli_json_and_errors_are_4xx(bundled_state) -> None:  # noqa: F811
    env = {"ACCELSAGE_HOME": str(bundled_state.root), "ACCELSAGE_DATA_DIR": str(DATA)}
    with TestClient(create_app(make_settings(bundled_state), query_embedder=query_embedder())) as client:
        body = {**SMALL, "slo_ttft_ms": 2000, "slo_tpot_ms": 50, "engine": "vllm"}
        response = client.post("/v1/plan", json=body)
        assert response.status_code == 200, response.text
        result = CliRunner().invoke(cli, ["plan", *SMALL_ARGS, "--slo-ttft-ms", "2000", "--slo-tpot-ms", "50",
                                          "--engine", "vllm", "--json"], env=env)
        assert result.exit_code == 0, result.output
        assert response.json() == json.loads(result.output)

        no_fit = client.post("/v1/plan", json={"gpu": "h100", "model": "llama-3.1-405b", "gpus": 2,
                                               "concurrency": 8})
        assert 400 <= no_fit.status_code < 500 and "does not fit" in no_fit.json()["error"]["message"]
        both = client.post("/v1/plan", json={**SMALL, "qps": 3})
        assert 400 <= both.status_code < 500
        unknown = client.post("/v1/plan", json={**SMALL, "model": "no-such-model"})
        assert unknown.status_code == 404
