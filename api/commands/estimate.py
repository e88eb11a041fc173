"""`accelsage estimate` and `accelsage estimate-training`: the cost model from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import click


def _catalog() -> Any:
    from api.settings import load_settings
    from api.wiring import load_catalog

    return load_catalog(load_settings())


def _calibration() -> Any:
    from api.settings import load_settings
    from api.wiring import load_calibration

    return load_calibration(load_settings())


def table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    """Columns separated by two spaces: first left-aligned, numbers right-aligned."""
    cells = [[str(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(row: list[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))

    return "\n".join([fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells])


def _parse_params(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """'speculative-decoding.acceptance_rate=0.6' -> {'speculative-decoding': {'acceptance_rate': 0.6}}."""
    from index.errors import AccelsageError

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        tech, dot, name = key.rpartition(".")
        if not sep or not dot:
            raise AccelsageError(f"--param wants TECHNIQUE.NAME=VALUE, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(tech, {})[name] = value
    return out


def checked_techniques(catalog: Any, names: Iterable[str], params: dict[str, dict[str, Any]]) -> list[tuple[Any, dict]]:
    """(Technique, param overrides) pairs for ``names``, each override checked against its transform's range
    (``InvalidParam`` with one line); params naming a technique that is not chosen are refused too."""
    from agent.knowledge.schemas import InvalidParam, check_param

    chosen, used = [], set()
    for name in names:
        tech = catalog.resolve_technique(name)
        transform = tech.cost_model.transform
        extra: dict[str, Any] = {}
        for key in (name, tech.id):
            if key in params:
                used.add(key)
                for param, raw in params[key].items():
                    extra[param] = check_param(transform, param, raw, label=tech.id)
        chosen.append((tech, extra))
    unused = sorted(set(params) - used)
    if unused:
        raise InvalidParam(f"params given for {', '.join(unused)}, which is not among the chosen techniques")
    return chosen


def _gib(gb: float) -> float:
    """The cost model's decimal GB in GiB, the unit GPU memory is shown in (an 80 GB H100 holds 80 GiB)."""
    from agent.answer import gib

    return gib(gb)


def _row(label: str, m: dict) -> list[str]:
    mem = m["memory"]
    return [label, f"{m['ttft_ms']:.1f}", f"{m['tpot_ms']:.2f}", f"{m['latency_ms']:.0f}",
            f"{m['throughput_tokens_per_s']:.0f}", f"{_gib(mem['total_gb']):.1f} of {_gib(mem['capacity_gb']):.0f}",
            "yes" if mem["fits"] else "NO", str(m["max_batch"]), f"{m['bound']['prefill']}/{m['bound']['decode']}"]


def render_inference(d: dict) -> str:
    """Human-readable table of an estimate's to_dict()."""
    w, p = d["workload"], d["parallel"]
    lines = [f"{d['model']} on {p['gpus']} x {d['gpu_name']} (tp {p['tp']}, pp {p['pp']}, ep {p['ep']}, dp {p['dp']}); "
             f"batch {w['batch']}, prompt {w['prompt_len']}, output {w['output_len']}, weights {w['dtype']}, "
             f"KV {w['kv_dtype'] or 'bf16'}", ""]
    headers = ["step", "TTFT ms", "TPOT ms", "latency ms", "tok/s", "GiB per GPU", "fits", "max batch",
               "bound prefill/decode"]
    rows = [_row("baseline", d["baseline"])] + [_row(f"+ {s['technique']}", s["after"]) for s in d["steps"]]
    lines.append(table(headers, rows))
    mem = d["memory"]
    lines += ["", f"memory per GPU: weights {_gib(mem['weights_gb']):.2f} GiB, "
              f"KV cache {_gib(mem['kv_cache_gb']):.2f} GiB, activations {_gib(mem['activations_gb']):.2f} GiB, "
              f"overhead {_gib(mem['overhead_gb']):.2f} GiB (of {_gib(mem['capacity_gb']):.0f} GiB)"]
    if "simulation" in d:
        lines += ["", *render_simulation(d)]
    warnings = list(d["warnings"]) + [w for s in d["steps"] for w in s["warnings"]]
    lines += [f"warning: {w}" for w in warnings]
    lines += ["", "assumptions:"] + [f"  - {a}" for a in d["assumptions"]]
    if "simulation" in d:
        lines += ["", "simulation assumptions:"] + [f"  - {a}" for a in d["simulation"]["assumptions"]]
    return "\n".join(lines)


def render_simulation(d: dict) -> list[str]:
    """The simulated steady state under load (the final configuration), next to the isolated analytical figures."""
    sim, iso = d["simulation"], d["isolated"]
    kv = sim["kv_capacity_tokens"]
    lines = [f"simulated steady state, after the last step: {sim['load']}; lengths {sim['lengths']}; policy "
             f"{sim['policy']}, {sim['replicas']} replica(s), KV {'unbounded' if kv is None else f'{kv:,} tokens'} "
             f"per replica; {sim['requests']} requests measured after {sim['warmup']} warm-up, seed {sim['seed']}",
             ""]
    rows = [[label, *(f"{sim[key][q]:.2f}" for q in ("mean", "p50", "p90", "p99"))]
            for label, key in (("TTFT ms", "ttft_ms"), ("ITL ms", "itl_ms"), ("TPOT ms per request", "tpot_ms"),
                               ("latency ms", "latency_ms"))]
    lines.append(table(["metric", "mean", "p50", "p90", "p99"], rows))
    kv_use = ("" if sim["kv_utilisation_mean"] is None else
              f"; KV use mean {sim['kv_utilisation_mean']:.0%}, peak {sim['kv_utilisation_peak']:.0%}")
    lines += ["", f"throughput {sim['output_tokens_per_s']:.0f} output tok/s, {sim['requests_per_s']:.2f} req/s"
              f"{kv_use}; preemptions {sim['preemptions']}"]
    if sim["goodput_requests_per_s"] is not None:
        slo = sim["slo"]
        targets = ", ".join(f"{name} <= {slo[key]:g} ms" for name, key in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms"))
                            if slo[key] is not None)
        lines.append(f"goodput {sim['goodput_requests_per_s']:.2f} req/s ({sim['slo_attainment']:.0%} of requests "
                     f"meet {targets})")
    lines.append(f"isolated (analytical, one request's view): TTFT {iso['ttft_ms']:.1f} ms, TPOT "
                 f"{iso['tpot_ms']:.2f} ms, latency {iso['latency_ms']:.0f} ms, "
                 f"{iso['throughput_tokens_per_s']:.0f} tok/s")
    return lines


def load_spec(concurrency: int | None, qps: float | None, lengths: str | None, uniform_lengths: bool, requests: int,
              seed: int, slo_ttft_ms: float | None, slo_tpot_ms: float | None, prompt: int, output: int) -> Any:
    """The LoadSpec of the options, or None when no load is given; ``lengths`` may name a file."""
    from agent.costmodel.arrivals import read_lengths_file
    from agent.costmodel.serving_stats import Slo
    from agent.costmodel.steady_state import LoadSpec, lengths_from
    from index.errors import AccelsageError

    if concurrency is None and qps is None:
        if lengths is not None or slo_ttft_ms is not None or slo_tpot_ms is not None:
            raise AccelsageError("--lengths and --slo-* describe a load: give --concurrency or --qps too")
        return None
    pairs: tuple[tuple[int, int], ...] = ()
    if lengths not in (None, "spread", "fixed"):
        path = Path(lengths)
        if not path.is_file():
            raise AccelsageError(f"--lengths wants spread, fixed or a file of 'prompt,output' lines; "
                                 f"no file {lengths!r}")
        pairs = read_lengths_file(path)
    slo = Slo(slo_ttft_ms, slo_tpot_ms) if slo_ttft_ms is not None or slo_tpot_ms is not None else None
    chosen = lengths_from(lengths, prompt, output, uniform_lengths, pairs)
    return LoadSpec(concurrency=concurrency, qps=qps, lengths=chosen, requests=requests, seed=seed, slo=slo)


@click.command("estimate")
@click.option("--gpu", required=True, help="GPU id or alias (see `accelsage gpus`).")
@click.option("--model", required=True, help="Model id or alias (see `accelsage models`).")
@click.option("--gpus", default=None, help="GPUs in the deployment (1-4096).  [default: tp x pp]")
@click.option("--tp", default=1, show_default=True, help="Tensor-parallel size.")
@click.option("--pp", default=1, show_default=True, help="Pipeline-parallel stages.")
@click.option("--ep", default=1, show_default=True, help="Expert-parallel size (MoE).")
@click.option("--dtype", default="bf16", show_default=True, help="Weights: bf16, fp16, fp8, int8, int4.")
@click.option("--kv-dtype", default=None, help="KV cache: bf16, fp8, int8, int4 (default: bf16).")
@click.option("--batch", default=None,
              help="Concurrent requests (whole deployment, 1-1,000,000).  [default: --concurrency, else 1]")
@click.option("--prompt", default="1024", show_default=True, help="Prompt tokens per request, e.g. 8k (1-10,000,000).")
@click.option("--output", default="256", show_default=True, help="Output tokens per request (1-10,000,000).")
@click.option("--max-seq-len", default=None, type=int, help="Tokens a contiguous KV cache reserves per request.")
@click.option("--technique", "techniques", multiple=True, help="Technique id/alias, applied in order (repeatable).")
@click.option("--param", "params", multiple=True, help="Override a technique param: TECHNIQUE.NAME=VALUE.")
@click.option("--peak-only", is_flag=True, help="Plain roofline: spec peaks, no efficiencies or overheads.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Simulate this many closed-loop clients (each sends its next request when one ends).")
@click.option("--qps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Simulate Poisson arrivals at this many requests per second.")
@click.option("--lengths", "lengths", default=None, metavar="spread|fixed|FILE",
              help="Simulated lengths: spread (uniform ±50% around --prompt/--output), fixed, or a file of "
                   "'prompt,output' lines.  [default: spread; fixed with --uniform-lengths]")
@click.option("--uniform-lengths", is_flag=True,
              help="All requests exactly --prompt/--output long, as static-batch benchmarks run them.")
@click.option("--requests", default=1000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Requests measured by the simulation (after a warm-up).")
@click.option("--seed", default=0, show_default=True, help="Seed of the simulated lengths and arrivals.")
@click.option("--slo-ttft-ms", type=float, default=None, help="TTFT target for the simulated goodput.")
@click.option("--slo-tpot-ms", type=float, default=None, help="TPOT target for the simulated goodput.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--curve", "with_curve", is_flag=True,
              help="Also simulate the final configuration at concurrency 1, 2, 4, ... until throughput saturates "
                   "or the KV cache fills: the latency-throughput curve (a table, or `curve` in --json).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write a PNG here: the roofline beside the simulated latency-throughput curve.")
def estimate(gpu: str, model: str, gpus: str | None, tp: int, pp: int, ep: int, dtype: str, kv_dtype: str | None,
             batch: str | None, prompt: Any, output: Any, max_seq_len: int | None, techniques: tuple[str, ...],
             params: tuple[str, ...], peak_only: bool, concurrency: int | None, qps: float | None,
             lengths: str | None, uniform_lengths: bool, requests: int, seed: int, slo_ttft_ms: float | None,
             slo_tpot_ms: float | None, as_json: bool, with_curve: bool, plot_path: str | None) -> None:
    """Estimate TTFT, TPOT, throughput and memory, before and after each technique.

    With --concurrency or --qps the final configuration is also simulated under that load: TTFT, TPOT (the
    median inter-token latency) and latency become the simulated medians with p90/p99 beside them, throughput
    the simulated one; the analytical figures stay under "isolated".
    """
    from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
    from agent.costmodel.workload import check_layout, check_workload_value

    prompt, output = check_workload_value("prompt", prompt), check_workload_value("output", output)
    has_load, wants_curve = concurrency is not None or qps is not None, with_curve or bool(plot_path)
    # the curve sweeps its own concurrencies: lengths and SLOs may come without a load (then 1 stands in for it)
    parsed = load_spec(concurrency if has_load or not wants_curve else 1, qps, lengths, uniform_lengths, requests,
                       seed, slo_ttft_ms, slo_tpot_ms, prompt, output)
    spec = parsed if has_load else None
    catalog = _catalog()
    gpu_spec, model_spec = catalog.resolve_gpu(gpu), catalog.resolve_model(model)
    chosen = checked_techniques(catalog, techniques, _parse_params(params))
    batch = check_workload_value("batch", batch if batch is not None else concurrency or 1)
    gpus = check_workload_value("gpus", gpus if gpus is not None else tp * pp)
    check_layout(model_spec, gpus, tp, pp)
    result = estimate_inference(
        gpu_spec, model_spec,
        InferenceWorkload(batch=batch, prompt_len=prompt, output_len=output, dtype=dtype,
                          kv_dtype=kv_dtype, max_seq_len=max_seq_len, uniform_lengths=uniform_lengths),
        ParallelConfig(gpus=gpus, tp=tp, pp=pp, ep=ep), techniques=chosen, calibration=_calibration(),
        peak_only=peak_only,
    )
    data = result.to_dict()
    if spec is not None:
        from agent.costmodel.steady_state import simulate_estimate, with_simulation

        data = with_simulation(data, simulate_estimate(result, spec))
    curve, missing = None, ""
    if wants_curve:
        from agent.costmodel.curve import CurveSpec, simulate_curve
        from index.errors import AccelsageError

        try:
            curve = simulate_curve(result, CurveSpec.from_load(parsed, concurrency))
        except AccelsageError as exc:
            if with_curve:
                raise
            missing = str(exc)  # the plot still shows the roofline, and says why the curve is missing
    if curve is not None and with_curve:
        data["curve"] = curve.to_dict()
    if plot_path:
        from agent.costmodel.plot import plot_estimate

        plot_estimate(result, curve, Path(plot_path), missing)
    click.echo(json.dumps(data, indent=2) if as_json else render_inference(data))
    if "curve" in data and not as_json:
        click.echo("\n" + render_curve(data["curve"]))
    if plot_path and not as_json:
        click.echo(f"roofline and latency-throughput curve written to {plot_path}")


def render_curve(curve: dict) -> str:
    """The latency-throughput curve (``curve`` in the estimate's JSON) as a table, one row per concurrency."""
    rows = [[p["concurrency"], f"{p['tokens_per_s_per_gpu']:.0f}", f"{p['tokens_per_s_per_user']:.1f}",
             f"{p['ttft_p50_ms']:.1f}", f"{p['ttft_p90_ms']:.1f}", f"{p['itl_p50_ms']:.2f}", f"{p['itl_p90_ms']:.2f}",
             "-" if p["kv_utilisation_peak"] is None else f"{p['kv_utilisation_peak']:.0%}"]
            for p in curve["points"]]
    heading = (f"latency-throughput curve (simulated, closed loop): {curve['policy']} on {curve['gpus']} GPU(s); "
               f"lengths {curve['lengths']}; {curve['requests_per_point']} requests per point, seed {curve['seed']}; "
               f"{curve['stopped']}")
    return "\n".join([heading, "", table(["concurrency", "tok/s per GPU", "tok/s per user", "TTFT p50 ms",
                                           "TTFT p90 ms", "ITL p50 ms", "ITL p90 ms", "KV peak"], rows)])


# keys of a training estimate's memory breakdown -> words for people
_MEMORY_WORDS = {"params_gb": "parameters", "grads_gb": "gradients", "optimizer_gb": "optimizer states",
                 "activations_gb": "activations", "overhead_gb": "overhead", "total_gb": "total",
                 "capacity_gb": "GPU capacity"}


def render_training(d: dict) -> str:
    """Human-readable summary of a training estimate's to_dict()."""
    w, mem = d["workload"], d["memory"]
    chunks = f" x {w['interleave']} chunks" if w["schedule"] == "interleaved" and w["pp"] > 1 else ""
    lines = [f"{d['model']} on {w['gpus']} x {d['gpu']} (tp {w['tp']}, pp {w['pp']}, cp {w['cp']}, dp {w['dp']}, "
             f"ZeRO {w['zero_stage']}, recompute {w['recompute']}, {w['schedule']}{chunks}); seq {w['seq_len']}, "
             f"global batch {w['global_batch']}, micro-batch {w['micro_batch']}", ""]
    lines.append(table(["metric", "value"], [
        ["step time s", f"{d['step_time_s']:.3f}"], ["tokens/s", f"{d['tokens_per_s']:.0f}"],
        ["model TFLOP/s per GPU", f"{d['model_tflops_per_gpu']:.1f}"], ["MFU", f"{d['mfu']:.1%}"],
        ["pipeline bubble", f"{d['bubble_fraction']:.1%}"], ["bound", d["bound"]],
    ] + [[k, f"{v:.4f}"] for k, v in d["breakdown_s"].items()]))
    lines += ["", table(["memory per GPU", "GiB"], [[_MEMORY_WORDS.get(k, k.removesuffix("_gb")), f"{_gib(v):.2f}"]
                                                    for k, v in mem.items() if k != "fits"]
                        + [["fits", "yes" if mem["fits"] else "NO"]])]
    lines += ["", "assumptions:"] + [f"  - {a}" for a in d["assumptions"]]
    return "\n".join(lines)


@click.command("estimate-training")
@click.option("--gpu", required=True, help="GPU id or alias.")
@click.option("--model", required=True, help="Model id or alias.")
@click.option("--seq-len", default=2048, show_default=True, help="Tokens per training sequence.")
@click.option("--global-batch", default=512, show_default=True, help="Sequences per optimizer step.")
@click.option("--micro-batch", default=1, show_default=True,
              help="Sequences per GPU per forward/backward pass (gradient accumulation fills the global batch).")
@click.option("--gpus", default=8, show_default=True,
              help="GPUs in the job: tp x pp x cp x data-parallel replicas.")
@click.option("--tp", default=1, show_default=True, help="Tensor-parallel size.")
@click.option("--pp", default=1, show_default=True, help="Pipeline-parallel stages.")
@click.option("--cp", default=1, show_default=True,
              help="Context-parallel size: each sequence split over this many GPUs (ring attention).")
@click.option("--dp", default=None, type=int,
              help="Data-parallel replicas; default gpus / (tp x pp x cp). Given, tp x pp x cp x dp must equal gpus.")
@click.option("--zero", "zero_stage", default=0, show_default=True, type=click.IntRange(0, 3),
              help="ZeRO stage: 1 shards optimizer states, 2 also gradients, 3 also parameters.")
@click.option("--offload", is_flag=True, help="Optimizer states and gradients in CPU memory (ZeRO-Offload).")
@click.option("--recompute", default="none", show_default=True, type=click.Choice(["none", "selective", "full"]),
              help="Activation recomputation: selective redoes attention only, full redoes each layer.")
@click.option("--schedule", default="1f1b", show_default=True,
              type=click.Choice(["gpipe", "1f1b", "interleaved", "zero-bubble"]),
              help="Pipeline schedule (sets the bubble fraction).")
@click.option("--interleave", default=None, type=int,
              help="Model chunks per pipeline stage (virtual-pipeline depth V) of --schedule interleaved; "
                   "default 2. The bubble is (pp-1)/(V x micro-batches) of the ideal step.")
@click.option("--sequence-parallel", is_flag=True,
              help="Shard norm and dropout activations across the tensor-parallel group.")
@click.option("--unfused-attention", is_flag=True,
              help="Attention without a fused kernel (no FlashAttention): S x S scores stored and moved through "
                   "memory.")
@click.option("--no-overlap", is_flag=True,
              help="Reduce data-parallel gradients after backward instead of overlapping them with it.")
@click.option("--dtype", default="bf16", show_default=True,
              help="Training dtype: bf16, or fp8 (linear layers only, as with Transformer Engine).")
@click.option("--fp8-scaling", default="delayed", show_default=True, type=click.Choice(["delayed", "current"]),
              help="FP8 scale factors: delayed (from the amax history) or current (one more read per cast).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def estimate_training(gpu: str, model: str, seq_len: int, global_batch: int, micro_batch: int, gpus: int,
                      tp: int, pp: int, cp: int, dp: int | None, zero_stage: int, offload: bool, recompute: str,
                      schedule: str, interleave: int | None, sequence_parallel: bool, unfused_attention: bool,
                      no_overlap: bool, dtype: str, fp8_scaling: str, as_json: bool) -> None:
    """Estimate training step time, MFU and memory per GPU."""
    from agent.costmodel import TrainingWorkload
    from agent.costmodel import estimate_training as run
    from agent.costmodel.workload import InvalidWorkload, check_layout

    if interleave is not None and schedule != "interleaved":
        raise InvalidWorkload("--interleave sets the chunks of --schedule interleaved; add --schedule interleaved")
    catalog = _catalog()
    model_spec = catalog.resolve_model(model)
    check_layout(model_spec, gpus, tp, pp)
    workload = TrainingWorkload(seq_len=seq_len, global_batch=global_batch, micro_batch=micro_batch, gpus=gpus,
                                tp=tp, pp=pp, cp=cp, dp=dp, zero_stage=zero_stage, offload=offload,
                                recompute=recompute, schedule=schedule, interleave=interleave or 2,
                                sequence_parallel=sequence_parallel, flash_attention=not unfused_attention,
                                overlap_grad_reduce=not no_overlap, dtype=dtype, fp8_scaling=fp8_scaling)
    result = run(catalog.resolve_gpu(gpu), model_spec, workload, calibration=_calibration())
    data = result.to_dict()
    click.echo(json.dumps(data, indent=2) if as_json else render_training(data))
