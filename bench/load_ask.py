"""Load benchmark: N concurrent clients against ``POST /v1/ask`` of a real uvicorn server on loopback.

Runs two phases of a fixed duration each: steady load, then the same load with a refresh started
a quarter of the way in (the server swaps the index while answering). Prints throughput,
p50/p95/p99 latency and errors per phase.

    .venv/bin/python bench/load_ask.py --home ~/.accelsage --clients 16 --duration 20 [--unique]

By default the clients cycle through six questions, so after the first round answers come from the
server's answer cache; ``--unique`` makes every question different, which measures uncached answers.
The client is bench/raw_http.py (about 1 ms of CPU per request), since it shares the cores it measures.

The state dir must hold a corpus (`accelsage refresh`). Rate limiting is off for the run. Runs are
bounded by ``--duration`` per phase and ``--max-requests`` in all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from raw_http import HttpError, KeepAliveConnection

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Llama-3.1-70B on 2x H100, 8k-token prompts, 64 users: how do we cut time to first token?",
    "Mistral-7B on one RTX 4090 with 4k prompts and 8 users: how do I raise throughput without retraining?",
    "Llama-3.1-8B on one L4, 2k prompts, 16 users: how do I cut per-token latency?",
    "Serving Mixtral-8x7B on 4x A100 80GB, 32k context, batch 32: what fits and what is fastest?",
    "Qwen2.5-72B on 8x H100, offline batch summarisation of 16k-token documents: maximise tokens per second.",
    "Fine-tuning Llama-3.1-8B on one A100 40GB runs out of memory: what should I use?",
]
STAGGER_S = 0.05  # between client starts


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, token: str, workers: int, answer_processes: int | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELSAGE_")}
    env.update(ACCELSAGE_HOME=str(home), ACCELSAGE_RATE_LIMIT_PER_MIN="0", ACCELSAGE_ADMIN_TOKEN=token,
               ACCELSAGE_INDEX_WATCH_S="0", ACCELSAGE_WORKERS=str(workers), PYTHONPATH=str(REPO))
    if answer_processes is not None:
        env["ACCELSAGE_ANSWER_PROCESSES"] = str(answer_processes)
    command = [sys.executable, "-m", "uvicorn", "api.commands.serve:app_factory", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--workers", str(workers)]
    return subprocess.Popen(command, cwd=REPO, env=env)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and all its descendants (uvicorn workers,
    answer processes). Descendants that already exited are not counted."""
    tick = os.sysconf("SC_CLK_TCK")

    def fields(p: str) -> list[str]:
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces

    parent, used = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = fields(name)
        except OSError:
            continue
        parent[int(name)] = int(stat[1])  # stat[1] is the parent pid
        used[int(name)] = (int(stat[11]) + int(stat[12])) / tick

    def descends(p: int) -> bool:
        while p > 1:
            if p == pid:
                return True
            p = parent.get(p, 0)
        return False

    return sum(seconds for p, seconds in used.items() if descends(p))


def client_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def wait_ready(base: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=5)
            if response.status_code == 200:
                return
            if response.status_code == 503:
                raise SystemExit(f"the server has no usable corpus: {response.text}")
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not become ready")


async def client_loop(port: int, index: int, stop_at: float, budget: list[int],
                      latencies_ms: list[float], errors: list[str], unique: bool) -> None:
    # Clients join one by one: opened in one burst, every connection lands on the uvicorn worker whose
    # event loop wakes first (asyncio accepts the whole backlog at once) and --workers 2 measures one.
    await asyncio.sleep(index * STAGGER_S)
    connection = KeepAliveConnection("127.0.0.1", port)
    try:
        await _client_requests(connection, index, stop_at, budget, latencies_ms, errors, unique)
    finally:
        await connection.close()


async def _client_requests(connection: KeepAliveConnection, turn: int, stop_at: float, budget: list[int],
                           latencies_ms: list[float], errors: list[str], unique: bool) -> None:
    while time.monotonic() < stop_at and budget[0] > 0:
        budget[0] -= 1
        question = QUESTIONS[turn % len(QUESTIONS)]
        if unique:  # a different load figure per request: a different answer, so the server's cache never hits
            question += f" We expect about {budget[0] % 997 + 2} concurrent users."
        turn += 1
        started = time.perf_counter()
        try:
            status, body = await connection.post_json("/v1/ask", {"question": question})
            ok = status == 200 and json.loads(body).get("status") == "ok"
            if not ok:
                errors.append(f"{status}: {body[:120].decode(errors='replace')}")
        except (HttpError, ValueError) as exc:
            errors.append(f"{exc.__class__.__name__}: {exc}")
            continue
        latencies_ms.append((time.perf_counter() - started) * 1000)


async def refresh_during(client: httpx.AsyncClient, token: str, delay_s: float) -> dict:
    await asyncio.sleep(delay_s)
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    job = (await client.post("/v1/refresh", headers=headers)).json()
    while job.get("status") in ("queued", "running"):
        await asyncio.sleep(0.25)
        job = (await client.get(f"/v1/refresh/{job['run_id']}", headers=headers)).json()
    return {"status": job.get("status"), "seconds": round(time.perf_counter() - started, 2),
            "store_run_id": job.get("store_run_id"), "message": job.get("message")}


def connections_per_worker(port: int) -> list[int]:
    """How many established client connections each server process holds (from ``ss``), largest first.

    uvicorn's workers share one listening socket and a keep-alive connection stays with the worker that
    accepted it: an uneven split leaves one worker's clients queueing while the other worker idles.
    """
    try:
        listing = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                                 capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", listing):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


async def phase(base: str, clients: int, duration_s: float, budget: list[int], token: str | None,
                unique: bool, server_pid: int | None = None) -> dict:
    server_cpu, client_cpu = (tree_cpu_s(server_pid) if server_pid else 0.0), client_cpu_s()
    latencies_ms: list[float] = []
    errors: list[str] = []
    port = int(base.rsplit(":", 1)[1])
    split: list[int] = []

    async def look_at_connections() -> None:  # once every client has joined
        await asyncio.sleep(min(duration_s / 2, clients * STAGGER_S + 0.5))
        split.extend(await asyncio.to_thread(connections_per_worker, port))

    async with httpx.AsyncClient(base_url=base, timeout=60) as admin:
        started = time.monotonic()
        stop_at = started + duration_s
        tasks = [client_loop(port, i, stop_at, budget, latencies_ms, errors, unique) for i in range(clients)]
        refresh_task = asyncio.ensure_future(refresh_during(admin, token, duration_s / 4)) if token else None
        await asyncio.gather(look_at_connections(), *tasks)
        elapsed = time.monotonic() - started
        refresh = await refresh_task if refresh_task else None
    result = {"clients": clients, "seconds": round(elapsed, 2), "requests": len(latencies_ms) + len(errors),
              "errors": len(errors), "throughput_rps": round(len(latencies_ms) / elapsed, 1),
              "connections_per_worker": split}
    answered = max(1, len(latencies_ms) + len(errors))
    # CPU per request shows where the machine's cores went: the server's answers or this client
    result["client_cpu_ms_per_request"] = round((client_cpu_s() - client_cpu) * 1000 / answered, 1)
    if server_pid:
        result["server_cpu_ms_per_request"] = round((tree_cpu_s(server_pid) - server_cpu) * 1000 / answered, 1)
    if latencies_ms:
        result.update({f"p{q}_ms": round(percentile(latencies_ms, q), 1) for q in (50, 95, 99)})
        result["mean_ms"] = round(statistics.fmean(latencies_ms), 1)
    if refresh:
        result["refresh"] = refresh
    if errors:
        result["first_errors"] = errors[:3]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("ACCELSAGE_HOME", REPO / ".accelsage")),
                        help="State dir with a built corpus.")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent clients.")
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds per phase (at most 300).")
    parser.add_argument("--max-requests", type=int, default=100_000, help="Requests in all, across both phases.")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    parser.add_argument("--answer-processes", type=int, default=None,
                        help="ACCELSAGE_ANSWER_PROCESSES for the server (default: unset, the server's choice).")
    parser.add_argument("--unique", action="store_true",
                        help="Make every question unique, so no answer comes from the server's answer cache.")
    parser.add_argument("--json", action="store_true", help="Print JSON only.")
    args = parser.parse_args()
    duration = max(1.0, min(args.duration, 300.0))
    port, token = free_port(), secrets.token_urlsafe(16)
    base = f"http://127.0.0.1:{port}"
    process = start_server(args.home, port, token, args.workers, args.answer_processes)
    try:
        wait_ready(base, process)
        budget = [args.max_requests]
        asyncio.run(phase(base, 2, 2.0, [50], None, args.unique))  # warm-up: first requests load lazy parts
        results = {"steady": asyncio.run(phase(base, args.clients, duration, budget, None, args.unique, process.pid)),
                   "with_refresh": asyncio.run(phase(base, args.clients, duration, budget, token, args.unique,
                                                     process.pid))}
    finally:
        process.terminate()
        process.wait(30)
    results["machine"] = {"cpus": os.cpu_count(), "workers": args.workers, "answer_processes": args.answer_processes,
                          "unique_questions": args.unique,
                          "client": "bench/raw_http.py keep-alive", "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                          "python": sys.version.split()[0]}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name in ("steady", "with_refresh"):
        r = results[name]
        print(f"{name:13s} clients {r['clients']}  {r['requests']} requests in {r['seconds']} s  "
              f"{r['throughput_rps']} req/s  p50 {r.get('p50_ms')} ms  p95 {r.get('p95_ms')} ms  "
              f"p99 {r.get('p99_ms')} ms  errors {r['errors']}  CPU/request: server "
              f"{r.get('server_cpu_ms_per_request')} ms, client {r['client_cpu_ms_per_request']} ms  "
              f"connections per worker {r['connections_per_worker']}")
        if "refresh" in r:
            print(f"{'':13s} refresh: {r['refresh']}")
        for line in r.get("first_errors", []):
            print(f"{'':13s} error: {line}")
    print(json.dumps(results["machine"]))


if __name__ == "__main__":
    main()
