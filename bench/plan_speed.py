"""Time one 8-GPU `accelsage plan` (analytical screen + simulations), in-process, from a cold start of the search.

Usage: .venv/bin/python bench/plan_speed.py [--gpu h100] [--model llama-3.1-70b] [--gpus 8] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", default="h100")
    parser.add_argument("--model", default="llama-3.1-70b")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--slo-ttft-ms", type=float, default=1000.0)
    parser.add_argument("--slo-tpot-ms", type=float, default=40.0)
    args = parser.parse_args()

    from agent.costmodel.plan import PlanSpec, plan
    from api.settings import load_settings
    from api.wiring import load_calibration, load_catalog

    settings = load_settings()
    catalog, calibration = load_catalog(settings), load_calibration(settings)
    spec = PlanSpec(gpu=args.gpu, model=args.model, gpus=args.gpus, concurrency=args.concurrency,
                    slo_ttft_ms=args.slo_ttft_ms, slo_tpot_ms=args.slo_tpot_ms)
    start, cpu = time.perf_counter(), time.process_time()
    result = plan(catalog, spec, calibration)
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    s = result["search"]
    print(f"plan {args.model} on {args.gpus} x {args.gpu}, concurrency {args.concurrency}: {wall:.2f} s wall, "
          f"{used:.2f} s CPU; {s['configurations']} configurations screened, {s['simulated']} simulated; "
          f"{len(result['frontier'])} on the frontier; best {result['best']['label']}")


if __name__ == "__main__":
    main()
