"""Prometheus metrics, hand-written: request counts and latency histograms per route, refresh runs, corpus size,
answer processes restarted.

The text follows the Prometheus exposition format 0.0.4. Routes are labelled by their template
(``/v1/papers/{arxiv_id}``), never by the raw path, so a scan of random URLs cannot grow the label set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# Seconds; spans a cached catalog read (~1 ms) to a request that hits the timeout.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "unmatched"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in pairs.items()) + "}"


class Metrics:
    """Counters and histograms kept in memory (per worker process), rendered on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], list[float]] = {}  # per-bucket counts + [sum, count] at the end
        self.refresh_runs: dict[str, int] = {}
        self.started_s = time.time()
        # The answer-process pool this server answers with. The server drops its own reference when the pool
        # gives up (answers go to threads); kept here, its restart count stays on /metrics and /readyz.
        self.answer_processes: Any = None

    def watch_answer_processes(self, pool: Any) -> None:
        """Remember the answer-process pool (``api.answer_processes.AnswerProcesses``) whose restarts to report."""
        if pool is not None:
            self.answer_processes = pool

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request and add its latency to the route's histogram."""
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.setdefault((method, route), [0.0] * (len(LATENCY_BUCKETS_S) + 2))
            for i, bound in enumerate(LATENCY_BUCKETS_S):
                if seconds <= bound:
                    hist[i] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def count_refresh(self, status: str) -> None:
        """Count one finished refresh run by outcome (ok, partial, error, busy, ...)."""
        with self._lock:
            self.refresh_runs[status] = self.refresh_runs.get(status, 0) + 1

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        """The exposition text; ``gauges`` maps metric name -> (help, value) read at scrape time."""
        with self._lock:
            requests = dict(self.requests)
            latency = {k: list(v) for k, v in self.latency.items()}
            refresh = dict(self.refresh_runs)
        restarts = getattr(self.answer_processes, "restarts", 0)
        out = ["# HELP accelsage_requests_total HTTP requests by method, route template and status.",
               "# TYPE accelsage_requests_total counter"]
        for (method, route, status), n in sorted(requests.items()):
            out.append(f"accelsage_requests_total{_labels({'method': method, 'route': route, 'status': status})} {n}")
        out += ["# HELP accelsage_request_duration_seconds Request latency by method and route template.",
                "# TYPE accelsage_request_duration_seconds histogram"]
        for (method, route), hist in sorted(latency.items()):
            base = {"method": method, "route": route}
            for bound, n in zip(LATENCY_BUCKETS_S, hist):
                out.append(f"accelsage_request_duration_seconds_bucket{_labels({**base, 'le': repr(bound)})} {n:g}")
            out.append(f"accelsage_request_duration_seconds_bucket{_labels({**base, 'le': '+Inf'})} {hist[-1]:g}")
            out.append(f"accelsage_request_duration_seconds_sum{_labels(base)} {hist[-2]:.6f}")
            out.append(f"accelsage_request_duration_seconds_count{_labels(base)} {hist[-1]:g}")
        out += ["# HELP accelsage_refresh_runs_total Refresh runs started by this server, by outcome.",
                "# TYPE accelsage_refresh_runs_total counter"]
        out += [f"accelsage_refresh_runs_total{_labels({'status': s})} {n}" for s, n in sorted(refresh.items())]
        out += ["# HELP accelsage_answer_process_restarts_total Answer processes started again after one died.",
                "# TYPE accelsage_answer_process_restarts_total counter",
                f"accelsage_answer_process_restarts_total {restarts}"]
        for name, (help_text, value) in sorted(gauges.items()):
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(out) + "\n"


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request, labelled by the matched route's template.

    Streaming responses are timed to their last byte, since that is when the client has the answer.
    """

    def __init__(self, app: Callable[..., Any], metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services = getattr(getattr(scope.get("app"), "state", None), "services", None)
        # seen before any route runs, so before a request can make the server drop a pool that gave up
        self.metrics.watch_answer_processes(getattr(services, "answer_processes", None))
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe_request(scope.get("method", "?"), template, status["code"],
                                         time.perf_counter() - started)
