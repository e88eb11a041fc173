"""`accelsage kernel gemm|attention|allreduce` (analytical roofline) and `accelsage calibrate` (measured)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

PEAK_ONLY_HELP = "Spec peaks, no efficiency or launch overhead."


def _gpu(name: str) -> Any:
    from api.commands.estimate import _catalog

    return _catalog().resolve_gpu(name)


def _show(result: Any, as_json: bool) -> None:
    from api.commands.estimate import table

    data = result.to_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    rows = [[k, f"{v:.4g}" if isinstance(v, float) else str(v)] for k, v in data.items()]
    click.echo(table(["field", "value"], rows))


@click.group("kernel")
def kernel() -> None:
    """Analytical roofline of one kernel on a GPU: time, achieved TFLOP/s and GB/s, intensity, bound."""


@kernel.command("gemm")
@click.option("--gpu", required=True, help="GPU id or alias (see `accelsage gpus`).")
@click.option("-m", "m", required=True, type=int, help="Rows of A and C (tokens).")
@click.option("-n", "n", required=True, type=int, help="Columns of B and C.")
@click.option("-k", "k", required=True, type=int, help="Inner dimension.")
@click.option("--dtype", default="bf16", show_default=True,
              help="Input dtype: fp32, tf32, bf16, fp16, fp8, int8, int4, fp4 (fp8/int8 write 16-bit outputs).")
@click.option("--peak-only", is_flag=True, help=PEAK_ONLY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def gemm(gpu: str, m: int, n: int, k: int, dtype: str, peak_only: bool, as_json: bool) -> None:
    """C[m,n] = A[m,k] @ B[k,n]."""
    from agent.kernels import roofline_gemm

    _show(roofline_gemm(_gpu(gpu), m, n, k, dtype, peak_only=peak_only), as_json)


@kernel.command("attention")
@click.option("--gpu", required=True, help="GPU id or alias (see `accelsage gpus`).")
@click.option("--batch", default=1, show_default=True, help="Sequences.")
@click.option("--heads", default=32, show_default=True, help="Query heads.")
@click.option("--kv-heads", default=None, type=int, help="Key/value heads (fewer for GQA/MQA).  [default: --heads]")
@click.option("--q-len", default=4096, show_default=True, help="Query tokens per sequence (1 for a decode step).")
@click.option("--kv-len", default=None, type=int, help="Key/value tokens per sequence.  [default: --q-len]")
@click.option("--head-dim", default=128, show_default=True, help="Dimension of each head.")
@click.option("--causal/--no-causal", default=True, show_default=True,
              help="Mask the future: about half the (query, key) pairs when --q-len equals --kv-len.")
@click.option("--fused/--unfused", default=True, show_default=True,
              help="Fused (FlashAttention-style, no score matrix in memory) or unfused (scores written out).")
@click.option("--dtype", default="bf16", show_default=True, help="Input dtype: fp32, bf16, fp16, fp8 ...")
@click.option("--peak-only", is_flag=True, help=PEAK_ONLY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def attention(gpu: str, batch: int, heads: int, kv_heads: int | None, q_len: int, kv_len: int | None,
              head_dim: int, causal: bool, fused: bool, dtype: str, peak_only: bool, as_json: bool) -> None:
    """Attention forward over (q_len x kv_len) per head."""
    from agent.kernels import roofline_attention

    _show(roofline_attention(_gpu(gpu), batch, heads, kv_heads or heads, q_len, kv_len or q_len, head_dim,
                             causal, fused, dtype, peak_only=peak_only), as_json)


@kernel.command("allreduce")
@click.option("--gpu", required=True, help="GPU id or alias (see `accelsage gpus`).")
@click.option("--bytes", "nbytes", required=True, type=float, help="Buffer bytes per rank (e.g. 1e9).")
@click.option("--ranks", default=8, show_default=True, help="GPUs taking part in the all-reduce.")
@click.option("--link", default="nvlink", show_default=True, help="nvlink, pcie, or GB/s per direction.")
@click.option("--peak-only", is_flag=True, help=PEAK_ONLY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def allreduce(gpu: str, nbytes: float, ranks: int, link: str, peak_only: bool, as_json: bool) -> None:
    """All-reduce time and bus bandwidth (fixed cost plus bandwidth per algorithm, data/efficiencies/links.yaml)."""
    from agent.kernels import roofline_allreduce

    _show(roofline_allreduce(_gpu(gpu), nbytes, ranks, link, peak_only=peak_only), as_json)


@click.command("calibrate")
@click.option("--gpu", default=None, help="GPU spec the device is (efficiencies = measured / its peaks).")
@click.option("--quick", is_flag=True, help="Tiny sizes: a smoke run, not a measurement to rely on.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def calibrate(gpu: str | None, quick: bool, as_json: bool) -> None:
    """Measure GEMM, attention and copy speed here; store efficiencies in the state dir's calibration.json."""
    from agent.kernels.microbench import calibrate as run
    from api.settings import load_settings

    spec = _gpu(gpu) if gpu else None
    home = Path(load_settings().home)
    entry = run(home, spec.id if spec else None, gpu=spec, quick=quick)
    data = {k: v for k, v in entry.__dict__.items()}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"device: {entry.device_name} ({entry.device_kind})")
    for key, value in entry.measured.items():
        click.echo(f"  {key}: {value}")
    if entry.device_kind == "cpu":
        click.echo("CPU entry stored: it never applies to a GPU spec's estimates.")
    else:
        click.echo(f"efficiencies: gemm {entry.gemm_efficiency}, memory {entry.memory_efficiency}, "
                   f"attention {entry.attention_efficiency} "
                   f"(used by estimates for {entry.gpu_id or entry.device_name})")
    click.echo(f"written to {home / 'calibration.json'}")
