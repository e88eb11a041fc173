"""`accelsage plan`: search GPU splits, dtypes, engines and batch caps for the best serving configuration under SLOs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from api.commands.estimate import _calibration, _catalog, table


def render_plan(d: dict) -> str:
    """The frontier as a table, then the best configuration and how to launch it."""
    s = d["search"]
    lines = [f"{d['model']} on {d['gpus']} x {d['gpu_name']}; {d['workload']['load']}; lengths "
             f"{d['workload']['lengths']}; searched {s['configurations']} configurations "
             f"({s['layouts_fit']} of {s['layouts_checked']} layouts fit), simulated {s['simulated']}", "",
             "Pareto frontier (tokens/s per GPU vs tokens/s per user):"]
    rows = [[p["label"], f"{p['tokens_per_s_per_gpu']:.0f}", f"{p['tokens_per_s_per_user']:.1f}",
             f"{p['ttft_ms']:.1f}", f"{p['tpot_ms']:.2f}"] for p in d["frontier"]]
    lines.append(table(["configuration", "tok/s/GPU", "tok/s/user", "TTFT ms", "TPOT ms"], rows))
    best = d["best"]
    slo = d["slo"]
    targets = "" if not slo else " (" + ", ".join(f"{k.removesuffix('_ms').upper()} <= {v:g} ms"
                                                  for k, v in slo.items() if v is not None) + ")"
    if best["meets_slo"]:
        head = f"best configuration{' meeting the SLOs' + targets if slo else ''}:"
    else:
        missed = "; ".join(f"{m['slo'].removesuffix('_ms').upper()} {m['value']:g} ms > {m['target']:g} ms"
                           for m in best["missed_slo"])
        head = f"no configuration meets the SLOs{targets}; closest: misses {missed}"
    lines += ["", head, f"  {best['label']}: {best['tokens_per_s_per_gpu']:.0f} tok/s/GPU, "
              f"{best['tokens_per_s_per_user']:.1f} tok/s/user, TTFT {best['ttft_ms']:.1f} ms (p90 "
              f"{best['ttft_p90_ms']:.1f}), TPOT {best['tpot_ms']:.2f} ms (p90 {best['tpot_p90_ms']:.2f})", "",
              f"launch ({best['launch']['source']}):"]
    lines += [f"  {c}" for c in best["launch"]["commands"]] + [f"  note: {n}" for n in best["launch"]["notes"]]
    lines += ["", "assumptions:"] + [f"  - {a}" for a in d["assumptions"]]
    return "\n".join(lines)


def plan_spec(**options: Any) -> Any:
    """A PlanSpec from the command's options; ``lengths`` names a file of 'prompt,output' lines."""
    from agent.costmodel.arrivals import read_lengths_file
    from agent.costmodel.plan import PlanSpec
    from index.errors import AccelsageError

    lengths = options.pop("lengths")
    pairs: tuple = ()
    if lengths is not None:
        if not Path(lengths).is_file():
            raise AccelsageError(f"--lengths wants a file of 'prompt,output' lines; no file {lengths!r}")
        pairs = read_lengths_file(Path(lengths))
    engine = options.pop("engine")
    return PlanSpec(length_pairs=pairs, engines=(engine,) if engine else (), **options)


@click.command("plan")
@click.option("--model", required=True, help="Model id or alias (see `accelsage models`).")
@click.option("--gpu", required=True, help="GPU id or alias (see `accelsage gpus`).")
@click.option("--gpus", required=True, type=click.IntRange(1, 4096), help="GPUs in all.")
@click.option("--prompt", "prompt_tokens", default=1024, show_default=True, type=click.IntRange(1),
              help="Prompt tokens per request (ISL).")
@click.option("--output", "output_tokens", default=256, show_default=True, type=click.IntRange(1),
              help="Output tokens per request (OSL).")
@click.option("--lengths", default=None, metavar="FILE", help="A file of 'prompt,output' lines used in order.")
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=None, help="Closed-loop clients.")
@click.option("--qps", type=click.FloatRange(min=0, min_open=True), default=None, help="Poisson requests/s.")
@click.option("--slo-ttft-ms", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Median TTFT target.")
@click.option("--slo-tpot-ms", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Median TPOT target.")
@click.option("--engine", type=click.Choice(["vllm", "sglang", "trtllm"]), default=None,
              help="Only this engine.  [default: all three]")
@click.option("--requests", default=300, show_default=True, type=click.IntRange(1, 20_000),
              help="Requests each simulation measures.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0), help="Seed of lengths and arrivals.")
@click.option("--max-simulations", default=40, show_default=True, type=click.IntRange(1, 1000),
              help="Candidates simulated after the analytical screen.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plan(as_json: bool, **options: Any) -> None:
    """Search TP/PP/DP/EP splits, weight and KV dtypes, engines, batch caps and prefill/decode splits; print the
    Pareto frontier of tokens/s per GPU vs tokens/s per user and the best configuration under the SLOs."""
    from agent.costmodel.plan import plan as run

    data = run(_catalog(), plan_spec(**options), calibration=_calibration())
    click.echo(json.dumps(data, indent=2) if as_json else render_plan(data))
