"""CPU time of the latency-throughput curve: the concurrency sweep (simulate_curve) and the two-panel PNG.

The machine is shared, so CPU seconds (process_time) are reported, not wall time. Each case is one model on H100s as
`accelsage estimate --plot` builds it.
Run: .venv/bin/python bench/curve_speed.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference  # noqa: E402
from agent.costmodel.curve import CurveSpec, simulate_curve  # noqa: E402
from agent.costmodel.plot import plot_estimate  # noqa: E402
from agent.knowledge.catalog import Catalog  # noqa: E402

SERVING = ("flash-attention-2", "paged-attention", "continuous-batching")
CASES = [  # (label, model, GPUs, prompt tokens, output tokens, techniques)
    ("8B paged 1024/256", "llama-3.1-8b", 1, 1024, 256, SERVING),
    ("8B static 1024/256", "llama-3.1-8b", 1, 1024, 256, ("flash-attention-2",)),
    ("70B tp2 chunked 8192/512", "llama-3.1-70b", 2, 8192, 512, SERVING + ("chunked-prefill",)),
    ("8B paged 128/4096", "llama-3.1-8b", 1, 128, 4096, SERVING),
    ("70B tp8 paged 1024/256", "llama-3.1-70b", 8, 1024, 256, SERVING),
]


def main() -> int:
    catalog = Catalog.load(ROOT / "data")
    gpu = catalog.resolve_gpu("h100")
    print(f"{'case':28s} {'points':>6s} {'last c':>6s} {'sweep cpu s':>11s} {'plot cpu s':>10s}  stopped because")
    with tempfile.TemporaryDirectory(prefix="accelsage-curve-bench-") as folder:
        for label, model, gpus, prompt, output, techniques in CASES:
            est = estimate_inference(gpu, catalog.resolve_model(model), InferenceWorkload(batch=1, prompt_len=prompt,
                                     output_len=output), ParallelConfig(gpus=gpus, tp=gpus),
                                     [catalog.resolve_technique(t) for t in techniques])
            start = time.process_time()
            curve = simulate_curve(est, CurveSpec())
            sweep = time.process_time() - start
            start = time.process_time()
            plot_estimate(est, curve, Path(folder) / "curve.png")
            drawn = time.process_time() - start
            print(f"{label:28s} {len(curve.points):6d} {curve.points[-1].concurrency:6d} {sweep:11.2f} {drawn:10.2f}  "
                  f"{curve.stopped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
