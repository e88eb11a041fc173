"""Measure kernels and a Llama-shaped forward pass on a CUDA GPU, and compare them with the cost model.

Two steps, run on different machines:

  measure (on the GPU machine; needs torch with CUDA, nothing else from the venv):
      python3 bench/gpu_kernels.py measure OUT.json
    - the `accelsage calibrate` microbenchmarks (agent.kernels.microbench.run_all), so that path is exercised
      on a real device;
    - a GEMM sweep over the linear-layer shapes of Llama-3.1-8B (whole) and Llama-3.1-70B (TP=8 shards), M
      from 1 to 16384 tokens, in bf16 and fp8 (torch._scaled_mm, per-tensor scales);
    - a Llama-3.1-8B-shaped model with random bf16 weights (32 layers, GQA through SDPA): prefill of one
      prompt at several lengths, and one decode step per (batch, context) captured in a CUDA graph, so the
      figure is GPU time without Python launch overhead.

  compare (anywhere, with the venv):
      .venv/bin/python bench/gpu_kernels.py compare OUT.json --gpu h200
    prints each measured time beside the cost model's (agent.kernels.roofline.roofline_gemm for GEMMs,
    the serving simulator's per-iteration cost for the model steps), the ratio model/measured, and the
    median |error| per group.

Timings are CUDA-event means after warm-up. GEMMs and decode steps are captured in CUDA graphs (GPU time back
to back, as an engine with CUDA graphs runs them); prefill runs eagerly, once per SDPA backend.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (n, k) of each linear layer: Llama-3.1-8B whole, and one TP=8 shard of Llama-3.1-70B
LAYER_SHAPES = {
    "llama-3.1-8b": {"qkv": (6144, 4096), "o": (4096, 4096), "gate_up": (28672, 4096), "down": (4096, 14336)},
    "llama-3.1-70b/tp8": {"qkv": (1280, 8192), "o": (8192, 1024), "gate_up": (7168, 8192), "down": (8192, 3584)},
}
GEMM_M = (1, 16, 64, 128, 256, 1024, 4096, 16384)
LLAMA8B = {"hidden": 4096, "heads": 32, "kv_heads": 8, "head_dim": 128, "ffn": 14336, "layers": 32,
           "vocab": 128256}
PREFILL_TOKENS = (128, 512, 2048, 8192)
DECODE_POINTS = ((1, 1024), (8, 1024), (32, 1024), (128, 1024), (32, 4096), (128, 4096))


# ---------------------------------------------------------------------------------------------- measure
def _events_time_s(fn, iters: int, warmup: int = 3) -> float:
    """CUDA-event seconds per call after warm-up (the calibrate microbenchmarks' timer)."""
    from agent.kernels.microbench import _time_s

    return _time_s(fn, "cuda", iters, warmup)


def _graph_time_s(torch, fn, calls: int = 20) -> float:
    """Seconds per call of `fn` with `calls` calls captured in one CUDA graph: GPU time back to back, without
    the Python launch cost that dominates kernels of a few microseconds."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn()
    return _events_time_s(graph.replay, 10) / calls


def _gemm_sweep(torch) -> list[dict]:
    rows = []
    one = torch.tensor(1.0, device="cuda")
    for model, layers in LAYER_SHAPES.items():
        for layer, (n, k) in layers.items():
            w16 = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
            w8 = w16.to(torch.float8_e4m3fn)
            for m in GEMM_M:
                a16 = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                fns = {"bf16": lambda: a16 @ w16.t()}
                if m % 16 == 0:
                    a8 = a16.to(torch.float8_e4m3fn)
                    fns["fp8"] = lambda: torch._scaled_mm(a8, w8.t(), scale_a=one, scale_b=one,
                                                          out_dtype=torch.bfloat16)
                for dtype, fn in fns.items():
                    row = {"model": model, "layer": layer, "dtype": dtype, "m": m, "n": n, "k": k}
                    try:
                        secs = _graph_time_s(torch, fn, 20 if m <= 1024 else 5)
                    except (RuntimeError, TypeError) as exc:
                        rows.append({**row, "skipped": str(exc).splitlines()[0][:160]})
                        continue
                    rows.append({**row, "timing": "cuda-graph", "time_us": secs * 1e6,
                                 "tflops": 2 * m * n * k / secs / 1e12})
            del w16, w8
    return rows


class _Llama:
    """Random-weight Llama-3.1-8B-shaped decoder (bf16), forward only, with a preallocated KV cache."""

    def __init__(self, torch, cfg: dict):
        self.t, self.c = torch, cfg
        h, f, kvh, d = cfg["hidden"], cfg["ffn"], cfg["kv_heads"], cfg["head_dim"]
        qkv = (cfg["heads"] + 2 * kvh) * d
        mk = lambda *s: (torch.randn(*s, device="cuda", dtype=torch.bfloat16) * 0.02)  # noqa: E731
        self.layers = [{"qkv": mk(qkv, h), "o": mk(h, cfg["heads"] * d), "gu": mk(2 * f, h), "down": mk(h, f),
                        "n1": torch.ones(h, device="cuda", dtype=torch.bfloat16),
                        "n2": torch.ones(h, device="cuda", dtype=torch.bfloat16)} for _ in range(cfg["layers"])]
        self.head = mk(cfg["vocab"], h)

    def _attn(self, q, k, v, causal: bool):
        F = self.t.nn.functional
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)

    def forward(self, x, kv_cache=None, causal: bool = True):
        """x: [batch, q_len, hidden]. kv_cache: per layer (K, V) of [batch, kv_heads, ctx, d] to attend over
        (decode), else the prompt attends to itself."""
        t, c = self.t, self.c
        F = t.nn.functional
        b, s, h = x.shape
        nh, kvh, d = c["heads"], c["kv_heads"], c["head_dim"]
        for i, L in enumerate(self.layers):
            y = F.rms_norm(x, (h,), L["n1"])
            qkv = y @ L["qkv"].t()
            q, k, v = qkv.split([nh * d, kvh * d, kvh * d], dim=-1)
            q = q.view(b, s, nh, d).transpose(1, 2)
            k = k.view(b, s, kvh, d).transpose(1, 2)
            v = v.view(b, s, kvh, d).transpose(1, 2)
            if kv_cache is not None:
                kc, vc = kv_cache[i]
                kc[:, :, -1:, :].copy_(k)
                vc[:, :, -1:, :].copy_(v)
                o = self._attn(q, kc, vc, causal=False)
            else:
                o = self._attn(q, k, v, causal=causal)
            x = x + o.transpose(1, 2).reshape(b, s, nh * d) @ L["o"].t()
            y = F.rms_norm(x, (h,), L["n2"])
            g, u = (y @ L["gu"].t()).chunk(2, dim=-1)
            x = x + (F.silu(g) * u) @ L["down"].t()
        return x[:, -1:, :] @ self.head.t()


def _model_steps(torch) -> dict:
    cfg = LLAMA8B
    model = _Llama(torch, cfg)
    out: dict = {"model": "llama-3.1-8b", "dtype": "bf16", "prefill": [], "decode": []}
    with torch.inference_mode():
        from torch.nn.attention import SDPBackend, sdpa_kernel

        for s in PREFILL_TOKENS:
            x = torch.randn(1, s, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
            row = {"batch": 1, "prompt_tokens": s}
            for backend in ("FLASH_ATTENTION", "CUDNN_ATTENTION"):
                try:
                    with sdpa_kernel(getattr(SDPBackend, backend)):
                        secs = _events_time_s(lambda: model.forward(x), 5 if s >= 2048 else 10, warmup=2)
                except (RuntimeError, AttributeError) as exc:
                    row[f"{backend.lower()}_skipped"] = str(exc).splitlines()[0][:160]
                    continue
                row[f"{backend.lower()}_ms"] = secs * 1e3
            row["time_ms"] = row.get("flash_attention_ms")
            out["prefill"].append(row)
        for batch, ctx in DECODE_POINTS:
            try:
                cache = [(torch.randn(batch, cfg["kv_heads"], ctx, cfg["head_dim"], device="cuda",
                                      dtype=torch.bfloat16),
                          torch.randn(batch, cfg["kv_heads"], ctx, cfg["head_dim"], device="cuda",
                                      dtype=torch.bfloat16)) for _ in range(cfg["layers"])]
                x = torch.randn(batch, 1, cfg["hidden"], device="cuda", dtype=torch.bfloat16)
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    for _ in range(3):
                        model.forward(x, cache)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    model.forward(x, cache)
                secs = _events_time_s(graph.replay, 20)
                eager = _events_time_s(lambda: model.forward(x, cache), 5)
                out["decode"].append({"batch": batch, "context": ctx, "time_ms": secs * 1e3,
                                      "eager_time_ms": eager * 1e3})
                del graph, cache
            except (RuntimeError, TypeError) as exc:
                out["decode"].append({"batch": batch, "context": ctx, "skipped": str(exc).splitlines()[0][:200]})
            torch.cuda.empty_cache()
    return out


def measure(path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("measure needs a CUDA GPU")
    from agent.kernels import microbench

    started = time.time()
    result: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                    "sm_count": torch.cuda.get_device_properties(0).multi_processor_count,
                    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for name, fn in (("calibrate", microbench.run_all), ("gemm", lambda: _gemm_sweep(torch)),
                     ("llama", lambda: _model_steps(torch))):
        t0 = time.time()
        try:
            result[name] = fn()
        except Exception as exc:  # noqa: BLE001 - keep what the other parts measured
            result[name] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
        print(f"{name}: {time.time() - t0:.1f} s", flush=True)
        path.write_text(json.dumps(result, indent=1))
    print(f"total {time.time() - started:.1f} s -> {path}")


# ---------------------------------------------------------------------------------------------- compare
def compare(path: Path, gpu_id: str) -> None:
    from agent.kernels.measured import by_group, compare as pair_up
    from agent.knowledge.catalog import Catalog

    data = json.loads(path.read_text())
    print(f"device: {data['device']} (torch {data['torch']}, {data['sm_count']} SMs), measured {data['measured_at']}")
    cal = data.get("calibrate", {})
    if "gemm" in cal:
        for g in cal["gemm"]:
            print(f"  calibrate gemm {g['dtype']}: " + (f"{g['tflops']:.0f} TFLOP/s" if "tflops" in g else g["skipped"]))
        for a in cal["attention"]:
            print(f"  calibrate sdpa {a['backend']}: " + (f"{a['tflops']:.0f} TFLOP/s" if "tflops" in a else a["skipped"]))
        print(f"  calibrate copy: {cal['copy']['gb_s']:.0f} GB/s")
    pairs = pair_up(data, Catalog.load(ROOT / "data"), gpu_id)
    print(f"\n{'work':48} {'measured':>10} {'model':>10} {'err':>7}")
    for p in pairs:
        print(f"{p.label:48} {p.measured:>10.3f} {p.model:>10.3f} {p.error:>+7.1%}  ({p.unit})")
    print("\nmedian |error| (bias = median signed error):")
    for group, (n, med, bias) in by_group(pairs).items():
        print(f"  {group:18} n={n:2}  {med:6.1%}  bias {bias:+.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("results", type=Path)
    c.add_argument("--gpu", default="h200")
    args = ap.parse_args()
    if args.cmd == "measure":
        measure(args.out)
    else:
        compare(args.results, args.gpu)


if __name__ == "__main__":
    main()
