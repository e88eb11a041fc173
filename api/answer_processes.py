"""Rule-based answers computed in worker processes, so every core serves every connection.

An uncached answer is ~55 ms of CPU, most of it Python under the GIL. Threads in one server process
share one core's worth of Python; uvicorn's ``--workers`` spread the load only as evenly as the
keep-alive connections happen to land on the workers (bench/load_ask.py, 12 clients: p95 664 ms with the
connections split 8/4, 544 ms split 6/6).
Here the server process keeps HTTP, the answer cache and the routes, and puts each question on one
queue; each answer process has a feeder thread in the server that takes the next question as soon as
its process is free, so whichever process is free takes the next question.

Each process builds its own answerer from the settings (catalog, searcher, calibration) and checks the
index metadata before every answer, so a refresh that rewrites the index is picked up within one request.

A process that dies (killed, out of memory) is restarted by its feeder, and a question it was answering
is answered by the next free process. Restarts are bounded (``max_restarts_per_min``): past that the pool
gives up, every question waiting gets ``BrokenProcessPool`` and the server answers in its own threads
(``Services.answer_json``). :meth:`AnswerProcesses.alive` and ``restarts`` feed ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import threading
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger("accelsage.answer_processes")

STARTUP_TIMEOUT_S = 120.0
PARENT_CHECK_S = 1.0  # how often a worker checks that the server process still exists
IDLE_CHECK_S = 0.5  # how often an idle feeder checks that its process is alive (restart before the next question)
# A process killed now and then (the OOM killer under a burst) is restarted; one that dies again and again
# (a broken install, a poisoned index) would spend the cores on restarts: past this many restarts in a
# minute the pool gives up and the server answers in its threads.
MAX_RESTARTS_PER_MIN = 5
TRIES_PER_QUESTION = 2  # a question whose process dies is retried once; twice looks like the question's doing

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
    """Process setup: one BLAS thread, then the answerer this process serves from."""
    from threadpoolctl import threadpool_limits

    from agent.service import Answerer
    from api.scheduler import IndexWatcher
    from api.settings import Settings
    from api.wiring import index_plan, load_calibration, load_catalog
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
    searcher = open_searcher(state, settings.embedding_model, database_url=settings.database_url,
                             index_plan=index_plan(settings))
    answerer = Answerer(searcher, load_catalog(settings), calibration=load_calibration(settings),
                        max_question_chars=settings.max_question_chars)
    answerer.warm()  # "ready" means ready: the first question does not pay for loading the technique profiles
    _worker["answerer"] = answerer


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:  # the parent is gone: this process was handed to init
            os._exit(0)


def answer_json(answerer: Any, question: str, overrides: dict[str, Any]) -> bytes:
    """One answer as the JSON ``/v1/ask`` returns, wherever it is computed."""
    return answerer.answer(question, overrides=overrides).model_dump_json().encode()


def _worker_answer_json(question: str, overrides: dict[str, Any]) -> bytes:
    """The answer's JSON, on this process's answerer (reloaded first if the index changed on disk)."""
    answerer = _worker["answerer"]
    if _worker["watcher"].changed():
        answerer.searcher.reload()
    return answer_json(answerer, question, overrides)


def _serve(conn: Any, settings_values: dict[str, Any]) -> None:
    """An answer process: set up, say ready, then answer ``(question, overrides)`` until ``None`` or EOF."""
    # Ctrl-C reaches the whole process group; the server decides when its answer processes stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _start_worker(settings_values)
    except BaseException as exc:  # noqa: BLE001 - reported to the server, which logs it
        conn.send(("failed", f"{exc.__class__.__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            reply: tuple[str, Any] = ("ok", _worker_answer_json(*task))
        except Exception as exc:  # the server raises it for this question
            reply = ("error", exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an exception that does not pickle
            conn.send(("error", RuntimeError(f"{reply[1].__class__.__name__}: {exc}")))


class _ProcessDied(Exception):
    """The answer process ended (killed, out of memory) while starting or answering."""


class _Slot:
    """One answer process and the pipe the server talks to it through."""

    def __init__(self, context: Any, settings_values: dict[str, Any]) -> None:
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_conn, settings_values),
                                       name="accelsage-answer", daemon=True)
        self.process.start()
        child_conn.close()  # only the child holds its end now: its death reads as EOF here
        self.pid: int | None = None

    def wait_ready(self, timeout_s: float, stop: threading.Event | None = None) -> int:
        """The process's pid once its answerer is built; ``_ProcessDied`` or ``TimeoutError`` otherwise.

        Gives up early (``TimeoutError``) once ``stop`` is set: the pool is shutting down.
        """
        deadline = time.monotonic() + timeout_s
        while not self.conn.poll(min(0.2, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                raise TimeoutError(f"answer process {self.process.pid} did not start within {timeout_s:g} s")
        kind, value = self._recv()
        if kind != "ready":
            raise _ProcessDied(f"answer process {self.process.pid} failed to start: {value}")
        self.pid = value
        return value

    def ask(self, question: str, overrides: dict[str, Any]) -> bytes:
        try:
            self.conn.send((question, overrides))
        except OSError as exc:
            raise _ProcessDied(str(exc)) from None
        kind, value = self._recv()
        if kind == "error":
            raise value
        return value

    def _recv(self) -> tuple[str, Any]:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            raise _ProcessDied(f"answer process {self.process.pid} died") from None

    @property
    def alive(self) -> bool:
        return self.pid is not None and not self.ended

    @property
    def ended(self) -> bool:
        """Whether the process has ended, read off its sentinel: unlike ``is_alive`` (which reaps with
        ``waitpid``), this gives the same answer in every thread that asks at once."""
        return bool(multiprocessing.connection.wait([self.process.sentinel], 0))

    def stop(self, timeout_s: float = 5.0) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout_s)
        self.conn.close()


class AnswerProcesses:
    """A pool of answer processes built from ``settings``; :meth:`submit` returns a future of answer JSON.

    Args:
        settings: the server's settings (each process rebuilds them).
        processes: how many processes to run.
        max_restarts_per_min: restarts allowed in any 60 s (default ``MAX_RESTARTS_PER_MIN``); one more death
            gives the pool up.
    """

    def __init__(self, settings: Any, processes: int, max_restarts_per_min: int | None = None) -> None:
        self.processes = processes
        self.max_restarts_per_min = MAX_RESTARTS_PER_MIN if max_restarts_per_min is None else max_restarts_per_min
        self.restarts = 0
        self.broken = False
        # spawn, not fork: the server process already runs threads (fork would copy their locks mid-use)
        self._context = multiprocessing.get_context("spawn")
        self._settings_values = settings.model_dump(mode="json")
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._slots: list[_Slot] = []
        self._feeders: list[threading.Thread] = []
        self._restarted_at: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def pids(self) -> list[int]:
        """The pids of the processes alive now."""
        with self._lock:
            return sorted(slot.pid for slot in self._slots if slot.alive)

    def alive(self) -> int:
        """How many processes are up and answering (fewer than ``processes`` while one restarts)."""
        with self._lock:
            return sum(slot.alive for slot in self._slots)

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> list[int]:
        """Start every process and wait until each has built its answerer; returns their pids.

        Raises:
            TimeoutError: not every process answered within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        slots = [_Slot(self._context, self._settings_values) for _ in range(self.processes)]
        try:
            for slot in slots:
                slot.wait_ready(max(0.1, deadline - time.monotonic()))
        except (TimeoutError, _ProcessDied) as exc:
            for slot in slots:
                slot.stop(timeout_s=1.0)
            started = sum(slot.pid is not None for slot in slots)
            raise TimeoutError(f"only {started} of {self.processes} answer processes started: {exc}") from None
        with self._lock:
            self._slots = slots
        for index in range(self.processes):
            feeder = threading.Thread(target=self._feed, args=(index,), name=f"accelsage-answer-feeder-{index}",
                                      daemon=True)
            self._feeders.append(feeder)
            feeder.start()
        return self.pids

    def submit(self, question: str, overrides: dict[str, Any]) -> Future:
        """Queue a question; the future holds its answer JSON.

        Raises:
            BrokenProcessPool: the pool gave up (too many restarts) or was shut down.
        """
        if self.broken or self._closed.is_set():
            raise BrokenProcessPool("the answer processes are gone")
        future: Future = Future()
        self._queue.put((question, overrides, future, 0))
        if self.broken:  # gave up meanwhile: its drain may have missed this one
            self._fail_queued()
        return future

    def shutdown(self, wait: bool = True) -> None:
        """Stop the processes after the answers in flight (~0.1 s each); questions still queued are cancelled."""
        self._closed.set()
        self._fail_queued(cancel=True)
        for _ in self._feeders:
            self._queue.put(None)
        if wait:
            for feeder in self._feeders:
                feeder.join(STARTUP_TIMEOUT_S)

    # --- feeders: one thread per process -------------------------------------------------------

    def _feed(self, index: int) -> None:
        """Take the next question whenever this slot's process is free; restart the process when it dies."""
        while True:
            try:
                item = self._queue.get(timeout=IDLE_CHECK_S)
            except queue.Empty:
                if self._closed.is_set():
                    self._slots[index].stop()
                    return
                if self._slots[index].ended and not self._restart(index):
                    return
                continue
            if item is None or self._closed.is_set():
                if item is not None:
                    _drop(item, cancel=not self.broken)
                self._slots[index].stop()
                return
            question, overrides, future, tries = item
            if tries == 0 and not future.set_running_or_notify_cancel():
                continue  # cancelled (the request timed out) before any process took it
            try:
                future.set_result(self._slots[index].ask(question, overrides))
                continue
            except _ProcessDied:
                if tries + 1 >= TRIES_PER_QUESTION:
                    future.set_exception(RuntimeError("the answer process died twice while answering this question"))
                else:
                    self._queue.put((question, overrides, future, tries + 1))  # the next free process takes it
            except BaseException as exc:  # the answer's own error, raised for this request
                future.set_exception(exc)
                continue
            if not self._restart(index):
                return

    def _restart(self, index: int) -> bool:
        """Replace slot ``index``'s dead process; False (and the pool given up) past the restart budget."""
        old = self._slots[index]
        old.stop(timeout_s=1.0)
        while not self._closed.is_set():
            with self._lock:
                now = time.monotonic()
                while self._restarted_at and now - self._restarted_at[0] > 60.0:
                    self._restarted_at.popleft()
                allowed = len(self._restarted_at) < self.max_restarts_per_min
                if allowed:
                    self._restarted_at.append(now)
                    self.restarts += 1
            if not allowed:
                self._give_up(f"more than {self.max_restarts_per_min} restarts in a minute")
                return False
            log.warning("answer process %s died; starting another", old.pid or old.process.pid)
            slot = _Slot(self._context, self._settings_values)
            with self._lock:
                self._slots[index] = slot
            try:
                log.info("answer process %s started", slot.wait_ready(STARTUP_TIMEOUT_S, stop=self._closed))
                return True
            except (TimeoutError, _ProcessDied) as exc:
                log.error("restarting an answer process failed: %s", exc)
                slot.stop(timeout_s=1.0)
        return False

    def _give_up(self, why: str) -> None:
        """Stop every process and fail every waiting question, so the server answers in its threads."""
        log.error("answer processes given up (%s); answers are computed in the server's threads", why)
        self.broken = True
        self._closed.set()
        self._fail_queued()
        for _ in self._feeders:
            self._queue.put(None)

    def _fail_queued(self, cancel: bool = False) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                _drop(item, cancel)


def _drop(item: tuple, cancel: bool) -> None:
    """End a queued question no process will answer: cancelled, or ``BrokenProcessPool`` (threads answer it)."""
    future, tries = item[2], item[3]
    if future.done() or (cancel and future.cancel()):
        return
    if tries == 0 and not future.set_running_or_notify_cancel():
        return
    future.set_exception(BrokenProcessPool("the answer processes are gone"))
