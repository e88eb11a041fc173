"""Measured kernels with PyTorch (imported lazily): GEMM per dtype, SDPA per backend, copy bandwidth.

Runs on CUDA when present, else on the CPU; every result says which device it came from. `calibrate`
turns the measurements into efficiencies (measured / spec peak) in the state dir's calibration.json.
"""

from __future__ import annotations

import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from agent.costmodel.calibration import CalibrationEntry, save_entry
from agent.costmodel.specs import Hardware, hardware_from_spec
from index.state import StateDir

GPU_SIZES = {"gemm": 8192, "seq": 4096, "copy_mb": 1024}
CPU_SIZES = {"gemm": 512, "seq": 512, "copy_mb": 64}
QUICK_SIZES = {"gemm": 128, "seq": 128, "copy_mb": 8}  # smoke runs (tests): seconds, not minutes


def _torch():
    import torch  # lazy: the estimate path never pays for torch

    return torch


def device_info() -> tuple[str, str]:
    """('cuda', device name) when a GPU is visible, else ('cpu', processor description)."""
    torch = _torch()
    if torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_name(0)
    return "cpu", f"cpu: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def _time_s(fn: Callable[[], Any], kind: str, iters: int, warmup: int = 2) -> float:
    """Median-free mean seconds per call after warm-up, synchronised on CUDA."""
    torch = _torch()
    for _ in range(warmup):
        fn()
    if kind == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


_TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "fp8": "float8_e4m3fn"}


def bench_gemm(dtype: str = "bf16", size: int | None = None, iters: int = 10) -> dict:
    """Square GEMM throughput in TFLOP/s for one dtype (fp8 through torch._scaled_mm on CUDA)."""
    torch = _torch()
    kind, name = device_info()
    n = size or (GPU_SIZES if kind == "cuda" else CPU_SIZES)["gemm"]
    dev = "cuda" if kind == "cuda" else "cpu"
    if dtype == "fp8":
        if kind != "cuda" or not hasattr(torch, "float8_e4m3fn"):
            return {"dtype": dtype, "device": name, "skipped": "fp8 GEMM needs CUDA"}
        a = torch.randn(n, n, device=dev).to(torch.float8_e4m3fn)
        b = torch.randn(n, n, device=dev).to(torch.float8_e4m3fn).t()
        one = torch.tensor(1.0, device=dev)
        fn = lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)  # noqa: E731
    else:
        tdt = getattr(torch, _TORCH_DTYPES[dtype])
        a, b = torch.randn(n, n, device=dev, dtype=tdt), torch.randn(n, n, device=dev, dtype=tdt)
        fn = lambda: a @ b  # noqa: E731
    try:
        secs = _time_s(fn, kind, iters)
    except (RuntimeError, TypeError) as exc:
        return {"dtype": dtype, "device": name, "skipped": str(exc).splitlines()[0]}
    return {"dtype": dtype, "device": name, "device_kind": kind, "m": n, "n": n, "k": n,
            "tflops": 2 * n ** 3 / secs / 1e12, "time_us": secs * 1e6}


def bench_sdpa(seq: int | None = None, heads: int = 16, head_dim: int = 128, iters: int = 5) -> list[dict]:
    """scaled_dot_product_attention forward (causal) per available backend, in TFLOP/s."""
    torch = _torch()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kind, name = device_info()
    s = seq or (GPU_SIZES if kind == "cuda" else CPU_SIZES)["seq"]
    dev, dt = ("cuda", torch.bfloat16) if kind == "cuda" else ("cpu", torch.float32)
    q, k, v = (torch.randn(1, heads, s, head_dim, device=dev, dtype=dt) for _ in range(3))
    flops = 4 * heads * head_dim * (s * s - s * (s - 1) / 2)
    results = []
    for backend in ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "MATH"):
        if not hasattr(SDPBackend, backend):
            continue
        def run(b=getattr(SDPBackend, backend)):
            with sdpa_kernel(b):
                return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        try:
            secs = _time_s(run, kind, iters)
        except RuntimeError as exc:
            results.append({"backend": backend.lower(), "device": name, "skipped": str(exc).splitlines()[0][:120]})
            continue
        results.append({"backend": backend.lower(), "device": name, "device_kind": kind, "seq": s,
                        "heads": heads, "head_dim": head_dim, "tflops": flops / secs / 1e12, "time_us": secs * 1e6})
    return results


def bench_copy(megabytes: int | None = None, iters: int = 10) -> dict:
    """Device memory copy bandwidth in GB/s (read + write bytes counted)."""
    torch = _torch()
    kind, name = device_info()
    mb = megabytes or (GPU_SIZES if kind == "cuda" else CPU_SIZES)["copy_mb"]
    dev = "cuda" if kind == "cuda" else "cpu"
    src = torch.empty(mb * 2**20, dtype=torch.uint8, device=dev)
    dst = torch.empty_like(src)
    secs = _time_s(lambda: dst.copy_(src), kind, iters)
    return {"device": name, "device_kind": kind, "bytes": 2 * src.numel(), "gb_s": 2 * src.numel() / secs / 1e9}


def run_all(dtypes: tuple[str, ...] = ("fp32", "bf16", "fp16", "fp8"), quick: bool = False) -> dict:
    """Every microbenchmark once; results labelled with the device they ran on.

    Args:
        dtypes: GEMM dtypes to try (unsupported ones come back with `skipped`).
        quick: tiny sizes and few iterations (a smoke run, not a measurement worth keeping).
    """
    kind, name = device_info()
    sizes = QUICK_SIZES if quick else (GPU_SIZES if kind == "cuda" else CPU_SIZES)
    iters = 2 if quick or kind == "cpu" else 10
    return {"device": name, "device_kind": kind,
            "gemm": [bench_gemm(d, sizes["gemm"], iters) for d in dtypes],
            "attention": bench_sdpa(sizes["seq"], iters=iters), "copy": bench_copy(sizes["copy_mb"], iters)}


def efficiencies(results: dict, hw: Hardware) -> dict[str, Any]:
    """Efficiencies (measured / spec peak, at most 1) of a CUDA :func:`run_all` against the GPU's spec.

    Args:
        results: what :func:`run_all` returned on that GPU.
        hw: the GPU's spec.
    Returns:
        CalibrationEntry fields: `gemm_efficiency_by_dtype` for every GEMM dtype measured that has a spec peak,
        `gemm_efficiency` (the bf16 figure), `attention_efficiency` (best SDPA backend, bf16 peak) and
        `memory_efficiency` (copy bandwidth / HBM bandwidth); a field without its measurement is left out.
    """
    by_dtype = {}
    for g in results["gemm"]:
        peak = hw.peak_tflops(g["dtype"])
        if "tflops" in g and peak:
            by_dtype[g["dtype"]] = round(min(g["tflops"] / peak, 1.0), 4)
    out: dict[str, Any] = {"gemm_efficiency_by_dtype": by_dtype}
    if "bf16" in by_dtype:
        out["gemm_efficiency"] = by_dtype["bf16"]
    attn = max((a["tflops"] for a in results["attention"] if "tflops" in a), default=None)
    peak_bf16 = hw.peak_tflops("bf16")
    if attn is not None and peak_bf16 and "bf16" in by_dtype:
        out["attention_efficiency"] = round(min(attn / peak_bf16, 1.0), 4)
    out["memory_efficiency"] = round(min(results["copy"]["gb_s"] / hw.memory_bandwidth_gb_s, 1.0), 4)
    return out


def entry_from(results: dict, gpu_id: str | None, gpu: Any = None, quick: bool = False,
               measured_at: str | None = None) -> CalibrationEntry:
    """The calibration entry of one :func:`run_all`: raw figures always, efficiencies on CUDA with a GPU spec.

    A quick run keeps its per-dtype GEMM table empty: tiny GEMMs say nothing about fp8 or fp16 at full size
    (the bf16 figure is kept in `gemm_efficiency`, as before, and the entry records `quick`).
    """
    kind, name = results["device_kind"], results["device"]
    measured: dict[str, Any] = {f"gemm_{g['dtype']}_tflops": round(g["tflops"], 5)
                                for g in results["gemm"] if "tflops" in g}
    measured["copy_gb_s"] = round(results["copy"]["gb_s"], 2)
    attn = max((a["tflops"] for a in results["attention"] if "tflops" in a), default=None)
    if attn is not None:
        measured["attention_best_tflops"] = round(attn, 5)
    if quick:
        measured["quick"] = 1
    effs: dict[str, Any] = {}
    if kind == "cuda" and gpu is not None:
        effs = efficiencies(results, gpu if isinstance(gpu, Hardware) else hardware_from_spec(gpu))
        if quick:
            effs["gemm_efficiency_by_dtype"] = {}
    return CalibrationEntry(device_name=name, device_kind=kind, gpu_id=gpu_id if kind == "cuda" else None,
                            measured=measured, measured_at=measured_at, **effs)


def calibrate(state_path: Path, gpu_id: str | None = None, gpu: Any = None, quick: bool = False) -> CalibrationEntry:
    """Measure this machine and store its entry in <state_path>/calibration.json.

    Args:
        state_path: the state directory.
        gpu_id: the GPU spec id the efficiencies refer to (with `gpu`, its spec).
        gpu: GpuSpec of that id; efficiencies = measured / spec peak, per GEMM dtype. Ignored on a CPU.
        quick: tiny sizes (tests); the entry records it.
    Returns:
        The stored entry. A CPU entry holds raw figures only and never applies to a GPU spec.
    """
    results = run_all(quick=quick)
    entry = entry_from(results, gpu_id, gpu, quick,
                       measured_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    save_entry(StateDir(Path(state_path)).calibration_path, entry)
    return entry
