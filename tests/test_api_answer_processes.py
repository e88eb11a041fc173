"""Answers to /v1/ask computed in worker processes: how many, the same answers as in threads, index reloads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from api_helpers import DATA, bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from fastapi.testclient import TestClient
from test_api_refresh import AUTH, NEW_CARD, app_client, env, wait_for  # noqa: F401 - fixture

import api.answer_processes as answer_processes
from api.app import create_app

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Llama-3.1-8B on one L4, 2k prompts, 16 users: how do I cut per-token latency?"


@pytest.mark.parametrize(("configured", "workers", "cores", "llm", "expected"), [
    (None, 1, 2, None, 2),  # unset: one per core
    (None, 2, 2, None, 0),  # a core per uvicorn worker: nothing to gain, threads answer
    (None, 2, 8, None, 4),
    (None, 1, 1, None, 0),
    (None, 1, 8, "openai:gpt-4o-mini", 0),  # LLM answers wait on the network: threads
    (3, 1, 2, None, 3),  # as configured
    (0, 1, 8, None, 0),
    (2, 1, 8, "ollama:llama3", 0),
])
def test_how_many_answer_processes(monkeypatch, configured, workers, cores, llm, expected):
    monkeypatch.setattr(answer_processes, "usable_cores", lambda: cores)
    assert answer_processes.resolve_processes(configured, workers, llm) == expected


def _without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


@pytest.mark.slow
def test_processes_answer_as_the_server_process_would(bundled_state):  # noqa: F811
    settings = make_settings(bundled_state, answer_processes=1)
    with TestClient(create_app(settings, query_embedder=query_embedder())) as client:
        services = client.app.state.services
        assert services.answer_processes is not None and services.answer_processes.processes == 1
        for question in (QUESTION, QUESTION + " We expect about 40 concurrent users."):
            served = client.post("/v1/ask", json={"question": question})
            assert served.status_code == 200 and served.headers["x-accelsage-cache"] == "miss"
            in_thread = json.loads(services.answerer.answer(question).model_dump_json())
            assert _without_timings(served.json()) == _without_timings(in_thread)
        bad = client.post("/v1/ask", json={"question": "banana bread recipe please"})
        assert bad.status_code == 200 and bad.json()["status"] == "refused"


@pytest.mark.slow
def test_a_worker_reloads_when_the_index_changes_on_disk(env):  # noqa: F811
    settings, data = env
    answer_processes._start_worker(settings.model_dump(mode="json"))  # the worker's setup, in this process
    try:
        searcher = answer_processes._worker["answerer"].searcher
        before = searcher.snapshot
        answer_processes._worker_answer_json(QUESTION, {})
        assert searcher.snapshot is before  # nothing changed on disk: no reload
        (data / "cards" / "test-quokka-kernels.md").write_text(NEW_CARD, encoding="utf-8")
        with app_client(settings) as client:  # another server process refreshes the shared state
            assert wait_for(client, client.post("/v1/refresh", headers=AUTH).json()["run_id"])["status"] == "ok"
        assert json.loads(answer_processes._worker_answer_json(QUESTION, {}))["status"] == "ok"
        assert searcher.snapshot is not before
        assert searcher.search("quokka marsupial softmax braid", k=3)[0].paper_id == "test-quokka-kernels"
    finally:
        answer_processes._worker.clear()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # an exited child nobody reaped yet is gone
    except OSError:
        return False


@pytest.mark.slow
def test_workers_leave_when_the_server_is_killed(bundled_state):  # noqa: F811
    server = ("import sys, time\n"
              "from api.answer_processes import AnswerProcesses\n"
              "from api.settings import Settings\n"
              "pool = AnswerProcesses(Settings(_env_file=None, home=sys.argv[1], data_dir=sys.argv[2]), 1)\n"
              "print(*pool.start(), flush=True)\n"
              "time.sleep(120)\n")
    process = subprocess.Popen([sys.executable, "-c", server, str(bundled_state.root), str(DATA)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        worker = int(process.stdout.readline())
        assert _running(worker)
    finally:
        process.kill()  # no shutdown, no cleanup: as kill -9 or the OOM killer would
        process.wait(30)
    deadline = time.monotonic() + 15
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(worker)


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 15
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def _restarts(client: TestClient) -> float:
    (line,) = [line for line in client.get("/metrics").text.splitlines()
               if line.startswith("accelsage_answer_process_restarts_total ")]
    return float(line.split()[1])


@pytest.mark.slow
def test_a_killed_answer_process_is_restarted_and_counted(bundled_state):  # noqa: F811
    settings = make_settings(bundled_state, answer_processes=2)
    with TestClient(create_app(settings, query_embedder=query_embedder())) as client:
        services = client.app.state.services
        ready = client.get("/readyz").json()["checks"]
        assert (ready["answer_processes"], ready["degraded"]) == ({"configured": 2, "alive": 2}, False)
        assert _restarts(client) == 0
        victim, survivor = services.answer_processes.pids
        os.kill(victim, signal.SIGKILL)  # as the out-of-memory killer would
        _wait_dead(victim)
        # the pool notices the death within moments: readyz then says degraded (still ready), unless the new
        # process is already up, in which case the restart has been counted
        deadline, seen = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            degraded = client.get("/readyz")
            assert degraded.status_code == 200 and degraded.json()["status"] == "ready"
            checks = degraded.json()["checks"]
            if (checks["answer_processes"], checks["degraded"]) == ({"configured": 2, "alive": 1}, True):
                seen = "degraded"
                break
            if _restarts(client) == 1:
                seen = "restarted"
                break
            time.sleep(0.05)
        assert seen is not None, "the dead process was neither reported nor restarted within 30 s"
        answered = client.post("/v1/ask", json={"question": f"{QUESTION} We expect about 7 users."})
        assert answered.status_code == 200 and answered.json()["status"] == "ok"
        deadline = time.monotonic() + 120
        while services.answer_processes.alive() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = services.answer_processes.pids
        assert len(pids) == 2 and survivor in pids and victim not in pids
        ready = client.get("/readyz").json()["checks"]
        assert (ready["answer_processes"], ready["degraded"]) == ({"configured": 2, "alive": 2}, False)
        assert _restarts(client) == 1
        metrics = client.get("/metrics").text
        assert "accelsage_answer_processes_alive 2" in metrics and "accelsage_answer_processes_configured 2" in metrics
        for n in range(4):  # both processes answer again, not the server's threads
            answered = client.post("/v1/ask", json={"question": f"{QUESTION} We expect about {n + 9} users."})
            assert answered.status_code == 200 and answered.json()["status"] == "ok"
        assert services.answer_processes is not None


@pytest.mark.slow
def test_past_the_restart_budget_answers_go_to_threads(bundled_state, monkeypatch):  # noqa: F811
    monkeypatch.setattr(answer_processes, "MAX_RESTARTS_PER_MIN", 0)
    settings = make_settings(bundled_state, answer_processes=1)
    with TestClient(create_app(settings, query_embedder=query_embedder())) as client:
        services = client.app.state.services
        (pid,) = services.answer_processes.pids
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)
        for n in range(3):
            answered = client.post("/v1/ask", json={"question": f"{QUESTION} We expect about {n + 5} users."})
            assert answered.status_code == 200 and answered.json()["status"] == "ok"
        assert services.answer_processes is None  # answered in the server's threads since
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert (ready.json()["checks"]["answer_processes"], ready.json()["checks"]["degraded"]) == (
            {"configured": 1, "alive": 0}, True)
        assert _restarts(client) == 0
