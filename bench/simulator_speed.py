"""Speed of the serving simulator: 10k requests through each batch policy, timed (wall and CPU seconds).

The workload is Llama-3.1-8B on H100 GPUs, 1024-token prompts and 256-token outputs spread ±50%, 64 closed-loop
clients; each policy comes from a technique stack, as `accelsage estimate` builds it. The cost model's roofline
evaluations are included in the time (each run starts with an empty memo).
Run: .venv/bin/python bench/simulator_speed.py [--requests N] [--repeat K]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference  # noqa: E402
from agent.costmodel.steady_state import LoadSpec, simulate_estimate  # noqa: E402
from agent.knowledge.catalog import Catalog  # noqa: E402

SERVING = ("flash-attention-2", "paged-attention", "continuous-batching")
CASES = [  # (label, techniques, GPUs)
    ("static", ("flash-attention-2",), 1),
    ("continuous", ("flash-attention-2", "continuous-batching"), 1),
    ("paged", SERVING, 1),
    ("chunked", SERVING + ("chunked-prefill",), 1),
    ("paged, 2 replicas", SERVING, 2),
    ("chunked, 2 replicas", SERVING + ("chunked-prefill",), 2),
    ("disaggregated, 4 GPUs", SERVING + ("pd-disaggregation",), 4),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests measured per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per policy; the fastest is reported")
    args = parser.parse_args(argv)
    catalog = Catalog.load(ROOT / "data")
    gpu, model = catalog.resolve_gpu("h100"), catalog.resolve_model("llama-3.1-8b")
    workload = InferenceWorkload(batch=64, prompt_len=1024, output_len=256)
    spec = LoadSpec(concurrency=64, requests=args.requests)
    print(f"{args.requests} requests measured (+ warm-up), concurrency 64, 1024/256 tokens ±50%, "
          f"best of {args.repeat}")
    print(f"{'policy':24s} {'wall s':>7s} {'cpu s':>7s} {'iterations':>10s} {'TTFT p50 ms':>11s} {'ITL p99 ms':>10s}")
    for label, techniques, gpus in CASES:
        est = estimate_inference(gpu, model, workload, ParallelConfig(gpus=gpus),
                                 [catalog.resolve_technique(t) for t in techniques])
        best_wall = best_cpu = float("inf")
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            stats = simulate_estimate(est, spec).stats
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
        print(f"{label:24s} {best_wall:7.2f} {best_cpu:7.2f} {stats.iterations:10d} {stats.ttft_ms.p50:11.1f} "
              f"{stats.itl_ms.p99:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
