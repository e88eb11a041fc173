"""POST /v1/refresh (202, status, admin token), index swap under load, the cron parser and the background loop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from api_helpers import DATA, bundled_state, copy_state, make_settings, query_embedder  # noqa: F401 - fixture
from corpus_fixtures import session_embedder
from fastapi.testclient import TestClient

from api.app import create_app
from api.scheduler import Background, CronSchedule, IndexWatcher, RefreshJobs
from index.errors import AccelsageError, Busy
from ingest.lock import refresh_lock

TOKEN = "refresh-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_CARD = """---
id: test-quokka-kernels
title: 'Quokka Kernels: A Test Card Added While Serving'
topic: attention-kernel
kind: blog
role: supporting
---
## Idea
Quokka kernels braid the softmax and the value product into one marsupial pass over tiles of the sequence.
"""
pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path, bundled_state):  # noqa: F811
    """A private copy of the corpus and a data dir whose cards folder we may add to."""
    data = tmp_path / "data"
    (data / "cards").mkdir(parents=True)
    for name in ("gpus", "models", "techniques", "eval", "validation"):
        if (DATA / name).exists():
            (data / name).symlink_to(DATA / name)
    shutil.copy2(DATA / "papers.yaml", data / "papers.yaml")
    for card in (DATA / "cards").glob("*.md"):
        (data / "cards" / card.name).symlink_to(card)
    state = copy_state(bundled_state, tmp_path / "state")
    settings = make_settings(state, data_dir=data, admin_token=TOKEN, request_timeout_s=60)
    return settings, data


def app_client(settings) -> TestClient:
    return TestClient(create_app(settings, query_embedder=query_embedder(), embedder_factory=session_embedder))


def wait_for(client: TestClient, run_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/refresh/{run_id}", headers=AUTH).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"refresh {run_id} did not finish in {timeout_s} s")


def test_refresh_is_202_then_reports_its_run(env) -> None:
    settings, _ = env
    with app_client(settings) as client:
        started = client.post("/v1/refresh", headers=AUTH)
        assert started.status_code == 202
        job = started.json()
        assert job["status"] in ("queued", "running") and job["trigger"] == "api"
        assert started.headers["location"] == f"/v1/refresh/{job['run_id']}"
        done = wait_for(client, job["run_id"])
        assert done["status"] == "ok", done
        assert done["report"]["added"] == [] and len(done["report"]["unchanged"]) > 100
        assert done["store_run_id"] == done["report"]["run_id"]
        assert 'accelsage_refresh_runs_total{status="ok"} 1' in client.get("/metrics").text


@pytest.mark.parametrize("answer_processes", [0, 1])  # answers in the server's threads, or in a worker process
def test_refresh_while_clients_query_loses_no_query(env, answer_processes) -> None:
    settings, data = env
    settings = settings.model_copy(update={"answer_processes": answer_processes})
    (data / "cards" / "test-quokka-kernels.md").write_text(NEW_CARD, encoding="utf-8")
    outcomes: list[int] = []
    stop = threading.Event()
    with app_client(settings) as client:
        def hammer(path: str, **kwargs) -> None:
            while not stop.is_set():
                outcomes.append(client.request("POST" if "json" in kwargs else "GET", path, **kwargs).status_code)

        def ask() -> None:  # a new question each time: every one is answered, none comes from the cache
            while not stop.is_set():
                question = f"How do I speed up attention on an H100 for {len(outcomes) + 2} users?"
                outcomes.append(client.post("/v1/ask", json={"question": question}).status_code)

        threads = [threading.Thread(target=ask),
                   threading.Thread(target=hammer, args=("/v1/search",), kwargs={"params": {"q": "marsupial softmax"}})]
        for thread in threads:
            thread.start()
        job = client.post("/v1/refresh", headers=AUTH).json()
        done = wait_for(client, job["run_id"])
        time.sleep(0.5)  # queries keep coming after the swap too
        stop.set()
        for thread in threads:
            thread.join()
        assert done["status"] == "ok" and done["report"]["added"] == ["test-quokka-kernels"]
        assert len(outcomes) > 10 and set(outcomes) == {200}
        hits = client.get("/v1/search", params={"q": "quokka marsupial softmax braid", "k": 3}).json()["hits"]
        assert hits[0]["paper_id"] == "test-quokka-kernels"  # the new index is being served
        assert client.get("/readyz").status_code == 200


def test_a_refresh_held_by_another_process_ends_busy(env) -> None:
    settings, _ = env
    with app_client(settings) as client, refresh_lock(settings.home / "refresh.lock"):
        done = wait_for(client, client.post("/v1/refresh", headers=AUTH).json()["run_id"])
    assert done["status"] == "busy" and "already running" in done["message"]


# A stand-in for `accelsage refresh` killed mid-run: it takes the refresh lock, records its run as running
# in the store (as refresh() does first), says the run id, then works until it is killed.
_HELD_RUN = """
import sys, time
from pathlib import Path
from index.state import StateDir
from index.store import Store
from ingest.lock import refresh_lock
state = StateDir(Path(sys.argv[1]))
with refresh_lock(state.lock_path), Store(state.db_path) as store:
    print(store.start_run(), flush=True)
    time.sleep(600)
"""


def test_a_run_killed_mid_refresh_reads_interrupted(env) -> None:
    settings, _ = env
    root = str(Path(__file__).resolve().parents[1])
    child = subprocess.Popen([sys.executable, "-c", _HELD_RUN, str(settings.home)], cwd=root, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": root})
    try:
        run_id = int(child.stdout.readline())
        with app_client(settings) as client:
            running = client.get(f"/v1/refresh/{run_id}", headers=AUTH)
            assert running.status_code == 200, running.text
            assert (running.json()["status"], running.json()["store_run_id"]) == ("running", run_id)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            job = client.get(f"/v1/refresh/{run_id}", headers=AUTH).json()
            assert (job["status"], job["trigger"], job["run_id"]) == ("interrupted", "store", str(run_id))
            assert job["report"]["notes"] == {"noticed_by": "GET /v1/refresh"} and job["finished_at"]
            assert client.get("/v1/refresh/999999", headers=AUTH).status_code == 404
            assert client.get(f"/v1/refresh/{run_id}").status_code == 401
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)


def test_one_refresh_at_a_time_in_a_process() -> None:
    release, finished = threading.Event(), []

    class Report:
        status, run_id = "ok", 7

        def to_dict(self) -> dict:
            return {"run_id": 7}

    def slow_refresh(arxiv: bool) -> Report:
        release.wait(10)
        return Report()

    jobs = RefreshJobs(slow_refresh, after_run=lambda: finished.append("reloaded"))
    first = jobs.submit("api")
    with pytest.raises(Busy):
        jobs.submit("api")
    release.set()
    jobs.wait(10)
    assert jobs.get(first.run_id).status == "ok" and finished == ["reloaded"]
    assert jobs.submit("schedule").trigger == "schedule"


# ---------------------------------------------------------------- cron and the background loop

UTC = timezone.utc


@pytest.mark.parametrize("expression, after, expected", [
    ("0 3 * * *", datetime(2026, 1, 1, 12, 0, tzinfo=UTC), datetime(2026, 1, 2, 3, 0, tzinfo=UTC)),
    ("*/15 * * * *", datetime(2026, 1, 1, 12, 7, 30, tzinfo=UTC), datetime(2026, 1, 1, 12, 15, tzinfo=UTC)),
    ("30 2 * * 1", datetime(2026, 1, 1, 0, 0, tzinfo=UTC), datetime(2026, 1, 5, 2, 30, tzinfo=UTC)),  # a Monday
    ("0 0 1 */3 *", datetime(2026, 2, 10, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    ("0 12 13 * 5", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, 12, 0, tzinfo=UTC)),  # day 13 OR Friday
    ("5,10 8-9 * * 0", datetime(2026, 1, 4, 8, 7, tzinfo=UTC), datetime(2026, 1, 4, 8, 10, tzinfo=UTC)),
    ("0 0 * * 7", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC)),  # 7 = Sunday
    ("@daily", datetime(2026, 1, 1, 0, 0, tzinfo=UTC), datetime(2026, 1, 2, 0, 0, tzinfo=UTC)),
    ("@hourly", datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ("0 0 29 2 *", datetime(2026, 3, 1, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),
])
def test_cron_next_time(expression: str, after: datetime, expected: datetime) -> None:
    assert CronSchedule(expression).next_after(after) == expected


@pytest.mark.parametrize("expression", ["", "* * * *", "61 * * * *", "* 24 * * *", "0 0 0 * *", "* * * 13 *",
                                        "*/0 * * * *", "a b c d e", "0 0 30 2 *", "5-1 * * * *"])
def test_bad_cron_expressions_are_refused(expression: str) -> None:
    with pytest.raises(AccelsageError):
        CronSchedule(expression)


def test_bad_schedule_stops_the_server_from_starting(env) -> None:
    settings, _ = env
    with pytest.raises(AccelsageError):
        with app_client(settings.model_copy(update={"refresh_schedule": "every day"})):
            pass


def test_background_fires_the_schedule_and_reloads_a_changed_index(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, 2, 59, tzinfo=UTC)]
    submitted, reloads = [], []

    class Report:
        status, run_id = "ok", 1

        def to_dict(self) -> dict:
            return {}

    jobs = RefreshJobs(lambda arxiv: submitted.append(arxiv) or Report(), after_run=lambda: None)
    meta = tmp_path / "index.json"
    meta.write_text("{}")
    watcher = IndexWatcher(meta)
    background = Background(jobs, CronSchedule("0 3 * * *"), True, watcher, lambda: reloads.append(1), 1.0,
                            clock=lambda: now[0])
    background.tick()
    assert submitted == [] and reloads == []
    now[0] = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    background.tick()
    jobs.wait(5)
    assert submitted == [True] and background.next_run == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    meta.write_text('{"count": 2}')  # another process finished a refresh
    background.tick()
    background.tick()
    assert reloads == [1]


def test_scheduled_run_is_skipped_when_another_worker_already_ran_it() -> None:
    now = [datetime(2026, 1, 1, 3, 0, 4, tzinfo=UTC)]
    submitted = []
    jobs = RefreshJobs(lambda arxiv: submitted.append(arxiv), after_run=lambda: None)
    other_worker_started = [datetime(2026, 1, 1, 3, 0, 1, tzinfo=UTC)]
    background = Background(jobs, CronSchedule("0 3 * * *"), False, None, lambda: None, 0,
                            clock=lambda: now[0], last_run_started=lambda: other_worker_started[0])
    background.next_run = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    background.tick()
    assert submitted == [] and background.next_run == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    now[0], other_worker_started[0] = datetime(2026, 1, 2, 3, 0, 2, tzinfo=UTC), None
    background.tick()
    jobs.wait(5)
    assert submitted == [False]
