"""Catalog commands: `accelsage papers|techniques|gpus|models [show NAME] [--json]`.

Each command lists its entries as an aligned table (or JSON) and has a `show` subcommand that prints
one entry with its sources. Names resolve through the catalog (ids and aliases); an unknown name is a
one-line `NotFound` error with the closest known names.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

import click

from agent.knowledge.schemas import FAMILIES


def _catalog() -> Any:
    from api.settings import load_settings
    from api.wiring import load_catalog

    return load_catalog(load_settings())


def format_table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    """Left-aligned columns separated by two spaces; None prints as '-'."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _echo_fields(data: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    """One 'key: value' line per field (nested dicts flattened with dots), skipping empty values."""
    for key, value in data.items():
        if key in skip or value in (None, "", [], {}):
            continue
        if isinstance(value, dict):
            _echo_fields({f"{key}.{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            click.echo(f"{key}: {', '.join(str(v) for v in value)}")
        else:
            click.echo(f"{key}: {value}")


def _billions(value: float) -> str:
    return f"{value / 1e9:.2f}"


def _list_group(name: str, help_text: str, lister: Callable[..., None], options: list[Any]) -> click.Group:
    """A group that lists when called bare and has a `show NAME` subcommand added later."""

    def callback(**kwargs: Any) -> None:
        ctx = click.get_current_context()
        if ctx.invoked_subcommand is None:
            lister(**kwargs)

    group = click.Group(name, callback=callback, invoke_without_command=True, help=help_text,
                        params=[click.Option(["--json", "as_json"], is_flag=True, help="Print JSON.")] + options)
    return group


# ---------------------------------------------------------------- gpus

def _list_gpus(as_json: bool) -> None:
    gpus = _catalog().gpus
    if as_json:
        _echo_json([g.model_dump(mode="json") for g in gpus.values()])
        return
    rows = [[g.id, g.name, g.architecture, g.memory_gib, g.memory_bandwidth_gb_s, g.dense_tflops.bf16,
             g.dense_tflops.fp8, g.interconnect.kind, "assumed" if g.efficiency.assumed else "measured"]
            for g in gpus.values()]
    click.echo(format_table(["id", "name", "arch", "mem_gib", "bw_gb_s", "bf16_tflops", "fp8_tflops", "link",
                             "efficiency"], rows))


gpus = _list_group("gpus", "List the GPU specs (dense peaks), or `gpus show NAME` with sources.", _list_gpus, [])


@gpus.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_gpu(name: str, as_json: bool) -> None:
    """Show one GPU (id or alias, e.g. h100, 'A100 80GB') with the source of every number."""
    gpu = _catalog().resolve_gpu(name)
    data = gpu.model_dump(mode="json")
    if as_json:
        _echo_json(data)
        return
    _echo_fields(data, skip=("sources",))
    click.echo("sources:")
    for key, text in gpu.sources.items():
        click.echo(f"  {key}: {text}")


# ---------------------------------------------------------------- models

def _list_models(as_json: bool) -> None:
    models = _catalog().models
    if as_json:
        _echo_json([m.model_dump(mode="json") for m in models.values()])
        return
    rows = [[m.id, m.name, m.architecture, m.attention, _billions(m.params_total), _billions(m.params_active),
             m.num_hidden_layers, m.hidden_size, m.kv_heads] for m in models.values()]
    click.echo(format_table(["id", "name", "arch", "attention", "params_b", "active_b", "layers", "hidden",
                             "kv_heads"], rows))


models = _list_group("models", "List the model shapes, or `models show NAME`.", _list_models, [])


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_model(name: str, as_json: bool) -> None:
    """Show one model shape (id, alias or HF repo id, e.g. llama3-70b) with its source."""
    model = _catalog().resolve_model(name)
    data = model.model_dump(mode="json")
    data["derived"] = {"kv_heads": model.kv_heads, "is_moe": model.is_moe,
                       "attention_layers": model.attention_layer_count, "moe_layers": model.moe_layer_count,
                       "ssm_layers": model.ssm_layer_count,
                       "kv_cache_elements_per_token": model.kv_cache_elements_per_token}
    if as_json:
        _echo_json(data)
        return
    _echo_fields(data, skip=("source",))
    click.echo(f"source: {model.source}")


# ---------------------------------------------------------------- techniques

def _list_techniques(as_json: bool, family: str | None) -> None:
    items = [t for t in _catalog().techniques.values() if family is None or t.family == family]
    if as_json:
        _echo_json([t.model_dump(mode="json") for t in items])
        return
    rows = [[t.id, t.family, t.cost_model.transform, "yes" if t.quality.lossless else "no", ", ".join(t.papers)]
            for t in items]
    click.echo(format_table(["id", "family", "transform", "lossless", "papers"], rows))


techniques = _list_group(
    "techniques", "List the acceleration techniques, or `techniques show NAME` with its papers.", _list_techniques,
    [click.Option(["--family"], type=click.Choice(FAMILIES), help="Only this family.")],
)


@techniques.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_technique(name: str, as_json: bool) -> None:
    """Show one technique (id or alias, e.g. fa2) with the papers behind it."""
    catalog = _catalog()
    tech = catalog.resolve_technique(name)
    data = tech.model_dump(mode="json")
    if as_json:
        _echo_json(data)
        return
    _echo_fields(data, skip=("papers",))
    click.echo("papers:")
    for pid in tech.papers:
        entry = catalog.papers.get(pid)
        title = f"{entry.title} ({entry.first_author}, {entry.year})" if entry else "(not in papers.yaml)"
        click.echo(f"  {pid}: {title}")


# ---------------------------------------------------------------- papers

def _list_papers(as_json: bool, topic: str | None, kind: str | None) -> None:
    items = [p for p in _catalog().papers.values()
             if (topic is None or p.topic == topic) and (kind is None or p.kind == kind)]
    if as_json:
        _echo_json([p.model_dump(mode="json") for p in items])
        return
    # full ids (they are what `papers show` takes); long titles are cut
    rows = [[p.id, p.year, p.topic, p.kind, p.title if len(p.title) <= 60 else p.title[:59] + "~"] for p in items]
    click.echo(format_table(["id", "year", "topic", "kind", "title"], rows))


papers = _list_group(
    "papers", "List the papers in data/papers.yaml, or `papers show ID` with the techniques it backs.",
    _list_papers,
    [click.Option(["--topic"], help="Only this topic, e.g. quantization."),
     click.Option(["--kind"], help="Only this kind: paper, whitepaper, blog...")],
)


@papers.command("show")
@click.argument("paper_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_paper(paper_id: str, as_json: bool) -> None:
    """Show one paper (arXiv id, 'arXiv:2205.14135v2', or slug) and the techniques it backs."""
    catalog = _catalog()
    paper = catalog.paper(paper_id)
    data = paper.model_dump(mode="json")
    card = catalog.cards.get(paper.id)
    data["role"] = card.role if card else None
    data["techniques"] = [t.id for t in catalog.techniques_for_paper(paper.id)]
    if as_json:
        _echo_json(data)
        return
    _echo_fields(data)
    if paper.arxiv_id:
        click.echo(f"source: https://arxiv.org/abs/{paper.arxiv_id}")
