"""Rule-based answers computed in worker processes, so every core serves every connection.

An uncached answer is ~55 ms of CPU, most of it Python under the GIL. Threads in one server process
share one core's worth of Python; uvicorn's ``--workers`` spread the load only as evenly as the
keep-alive connections happen to land on the workers (bench/load_ask.py, 12 clients: p95 664 ms with the
connections split 8/4, 544 ms split 6/6).
Here the server process keeps HTTP, the answer cache and the routes, and hands each question to a
``ProcessPoolExecutor``: whichever process is free takes the next question.

Each process builds its own answerer from the settings (catalog, searcher, calibration) and checks the
index metadata before every answer, so a refresh that rewrites the index is picked up within one request.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

STARTUP_TIMEOUT_S = 120.0
PARENT_CHECK_S = 1.0  # how often a worker checks that the server process still exists

# one answerer per worker process, built by _start_worker
_worker: dict[str, Any] = {}


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_processes(configured: int | None, workers: int, llm: str | None) -> int:
    """How many answer processes one server worker runs: 0 means it answers in its own threads.

    Unset: one per usable core, shared among the uvicorn workers, and none when that is a single process
    (no core to gain) or an LLM writes the answers (they wait on the network, which threads do well).
    """
    if configured is not None:
        return 0 if llm else configured
    share = usable_cores() // max(1, workers)
    return share if share > 1 and not llm else 0


def _start_worker(settings_values: dict[str, Any]) -> None:
    """Process initializer: one BLAS thread, then the answerer this process serves from."""
    from threadpoolctl import threadpool_limits

    from agent.service import Answerer
    from api.scheduler import IndexWatcher
    from api.settings import Settings
    from api.wiring import load_calibration, load_catalog
    from index.search import open_searcher
    from index.state import StateDir

    threadpool_limits(limits=1, user_api="blas")  # the cores belong to the processes, not to BLAS threads
    # a server killed outright (kill -9, out of memory) never shuts the pool down: leave with it
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="accelsage-parent-watch",
                     daemon=True).start()
    settings = Settings(_env_file=None, **settings_values)  # type: ignore[call-arg]
    state = StateDir(settings.home)
    # watching starts before the index is opened: a rewrite in between is then seen as a change
    _worker["watcher"] = IndexWatcher(state.index_meta_path)
    searcher = open_searcher(state, settings.embedding_model)
    _worker["answerer"] = Answerer(searcher, load_catalog(settings), calibration=load_calibration(settings),
                                   max_question_chars=settings.max_question_chars)


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:  # the parent is gone: this process was handed to init
            os._exit(0)


def _ready() -> int:
    time.sleep(0.05)  # long enough that a process still starting gets a ping of its own
    return os.getpid()


def answer_json(answerer: Any, question: str, overrides: dict[str, Any]) -> bytes:
    """One answer as the JSON ``/v1/ask`` returns, wherever it is computed."""
    return answerer.answer(question, overrides=overrides).model_dump_json().encode()


def _worker_answer_json(question: str, overrides: dict[str, Any]) -> bytes:
    """The answer's JSON, on this process's answerer (reloaded first if the index changed on disk)."""
    answerer = _worker["answerer"]
    if _worker["watcher"].changed():
        answerer.searcher.reload()
    return answer_json(answerer, question, overrides)


class AnswerProcesses:
    """A pool of answer processes built from ``settings``; :meth:`submit` returns a future of answer JSON."""

    def __init__(self, settings: Any, processes: int) -> None:
        self.processes = processes
        self.pids: list[int] = []
        # spawn, not fork: the server process already runs threads (fork would copy their locks mid-use)
        self._executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker,
                                             initargs=(settings.model_dump(mode="json"),))

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> list[int]:
        """Start every process and wait until each has built its answerer; returns their pids.

        Raises:
            TimeoutError: not every process answered within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        pids: set[int] = set()
        while len(pids) < self.processes:
            pings = [self._executor.submit(_ready) for _ in range(self.processes)]
            pids |= {ping.result(timeout=max(0.1, deadline - time.monotonic())) for ping in pings}
            if len(pids) < self.processes and time.monotonic() > deadline:
                raise TimeoutError(f"only {len(pids)} of {self.processes} answer processes started")
        self.pids = sorted(pids)
        return self.pids

    def submit(self, question: str, overrides: dict[str, Any]) -> Future:
        return self._executor.submit(_worker_answer_json, question, overrides)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the processes; by default after the answers in flight (~0.1 s each)."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
