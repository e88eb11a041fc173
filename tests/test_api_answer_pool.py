"""The answer pool: rule-based answers run on a few threads sized to the cores, other work on the I/O pool."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from api.app import answer_threads
from api.deps import Services

CORES = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("workers", "expected"), [
    (1, CORES),
    (CORES, 1),
    (CORES * 4, 1),  # more workers than cores: still one thread each
    (0, CORES),  # a nonsense worker count never divides by zero
])
def test_answer_threads_share_the_cores_among_workers(workers, expected):
    assert answer_threads(workers) == expected


def _services(answer_executor):
    settings = SimpleNamespace(request_timeout_s=5.0)
    return Services(settings=settings, state=None, catalog=None, searcher=None, answerer=None, sessions=None,
                    metrics=None, jobs=None, background=None, answer_executor=answer_executor,
                    executor=ThreadPoolExecutor(1, thread_name_prefix="io"))


@pytest.mark.parametrize(("has_answer_pool", "expected_prefix"), [(True, "answer"), (False, "io")])
def test_run_answer_uses_the_answer_pool_when_there_is_one(has_answer_pool, expected_prefix):
    pool = ThreadPoolExecutor(1, thread_name_prefix="answer") if has_answer_pool else None
    services = _services(pool)
    name = asyncio.run(services.run_answer(lambda: threading.current_thread().name))
    other = asyncio.run(services.run(lambda: threading.current_thread().name))
    assert name.startswith(expected_prefix)
    assert other.startswith("io")


class _Pool:
    def __init__(self, processes: int, alive: int, restarts: int = 0) -> None:
        self.processes, self._alive, self.restarts = processes, alive, restarts

    def alive(self) -> int:
        return self._alive


@pytest.mark.parametrize(("pool", "dropped", "expected"), [
    (None, None, {"configured": 0, "alive": 0}),  # answers in threads by configuration: nothing degraded
    (_Pool(4, 4), None, {"configured": 4, "alive": 4}),
    (_Pool(4, 3), None, {"configured": 4, "alive": 3}),  # one restarting
    (None, _Pool(2, 0, restarts=5), {"configured": 2, "alive": 0}),  # given up: the server answers in threads
])
def test_answer_capacity_counts_configured_and_alive_processes(pool, dropped, expected):
    from api.metrics import Metrics
    from api.routes.health import answer_capacity

    metrics = Metrics()
    metrics.watch_answer_processes(dropped)
    services = SimpleNamespace(answer_processes=pool, metrics=metrics)
    assert answer_capacity(services) == expected
    restarts = dropped.restarts if dropped else 0
    assert f"accelsage_answer_process_restarts_total {restarts}\n" in metrics.render({})
