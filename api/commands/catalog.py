"""Catalog commands: `accelsage papers|techniques|gpus|models [show NAME] [--json]`.

Each command lists its entries as an aligned table (or JSON) and has a `show` subcommand that prints
one entry with its sources. Names resolve through the catalog (ids and aliases); an unknown name is a
one-line `NotFound` error with the closest known names.
"""

from __future__ import annotations

import bisect
import io
import json
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import click

from agent.knowledge.schemas import FAMILIES


def _catalog() -> Any:
    from api.settings import load_settings
    from api.wiring import load_catalog

    return load_catalog(load_settings())


@dataclass(frozen=True)
class Column:
    """One column of a listing and how it gives way on a narrow terminal.

    ``fit``: "id" (what ``show`` takes: shown whole, broken across lines only where little else can give),
    "keep" (short values: whole while the terminal allows), "wrap" (lists and prose: wrapped at spaces),
    "cut" (one line, cut with "…").
    """

    header: str
    fit: str = "keep"


def terminal_width() -> int | None:
    """Columns to fit a listing into: ``COLUMNS``, else the terminal's; None when stdout is not a terminal (a pipe
    gets whole lines, for grep and awk)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


FLEX_MIN_WIDTH = 12  # a wrapped or cut column keeps at least this many characters (or its whole width)
MIN_WIDTH = 8  # no column is broken narrower than this (or its header)
OUTLIER_CHARS = 10  # an id column narrows to what nine rows in ten need when the rest need this much more
ID_WEIGHT = 2  # an id broken across lines costs as much as two other cells broken


def _broken(lengths: list[int], width: int) -> int:
    """How many cells of these (sorted) lengths a column of ``width`` breaks across lines."""
    return len(lengths) - bisect.bisect_right(lengths, width)


def fit_widths(columns: list[Column], cells: list[list[str]], width: int | None) -> list[int]:
    """Column widths that fit ``width`` (the two-space gaps included), or the natural widths when they fit.

    An id column is first narrowed to what nine rows in ten need (a few long slugs then break across lines
    instead of pushing every title off the screen). If the "wrap" and "cut" columns still lack room for
    their floors, the other columns give way one character at a time where that breaks the fewest cells
    (ids count double), but only when that makes the table fit: else breaking them would only add lines to a
    table the terminal wraps anyway. The wrapped and cut columns then share what is left.
    """
    lengths = [sorted([len(c.header)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    natural = [col[-1] for col in lengths]
    available = None if width is None else width - 2 * (len(columns) - 1)
    if available is None or sum(natural) <= available:
        return natural
    widths = list(natural)
    for i, column in enumerate(columns):
        typical = max(len(column.header), lengths[i][(len(lengths[i]) * 9) // 10])
        if column.fit == "id" and natural[i] - typical >= OUTLIER_CHARS:
            widths[i] = typical
    flexible = [i for i, c in enumerate(columns) if c.fit in ("wrap", "cut")]
    floor = {i: min(natural[i], FLEX_MIN_WIDTH) for i in flexible}
    fixed = [i for i in range(len(columns)) if i not in floor]
    lower = {i: min(widths[i], max(len(columns[i].header), MIN_WIDTH)) for i in fixed}
    deficit = sum(widths[i] for i in fixed) + sum(floor.values()) - available
    if 0 < deficit <= sum(widths[i] - lower[i] for i in fixed):
        for _ in range(deficit):
            cost = {i: _broken(lengths[i], widths[i] - 1) * (ID_WEIGHT if columns[i].fit == "id" else 1)
                    for i in fixed if widths[i] > lower[i]}
            cheapest = min(cost, key=lambda i: (cost[i], -widths[i]))
            widths[cheapest] -= 1
    room = available - sum(widths[i] for i in fixed)
    for n, i in enumerate(sorted(flexible, key=lambda i: natural[i])):
        widths[i] = max(floor[i], min(natural[i], room // (len(flexible) - n)))
        room -= widths[i]
    for i in sorted(fixed, key=lambda i: natural[i] - widths[i]):  # room to spare goes back to the others
        extra = max(0, min(room, natural[i] - widths[i]))
        widths[i] += extra
        room -= extra
    return widths


def format_table(columns: list[Column], rows: Iterable[list[Any]], width: int | None = None) -> str:
    """Columns separated by two spaces under a rule of dashes, fitted into ``width`` (None: as wide as needed).

    None prints as '-'. Rendered with rich (no colours, no markup), so a cell never breaks the layout.
    """
    from rich.box import Box
    from rich.console import Console
    from rich.table import Table

    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = fit_widths(columns, cells, width)
    table = Table(box=Box("    \n    \n -  \n    \n    \n    \n    \n    \n"), show_edge=False, pad_edge=False,
                  padding=(0, 1, 0, 0), header_style="", highlight=False)
    for column, column_width in zip(columns, widths):
        if column.fit == "cut":
            table.add_column(column.header, width=column_width, no_wrap=True, overflow="ellipsis")
        else:  # wrap at spaces, and fold what has none (an id longer than its column) rather than cut it
            table.add_column(column.header, width=column_width, overflow="fold")
    for row in cells:
        table.add_row(*row)
    out = io.StringIO()
    Console(file=out, width=sum(widths) + 2 * (len(columns) - 1), color_system=None, markup=False, emoji=False,
            highlight=False, soft_wrap=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").splitlines())


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
    headers = ["id", "name", "arch", "mem_gib", "bw_gb_s", "bf16_tflops", "fp8_tflops", "link", "efficiency"]
    fits = {"id": "id", "name": "cut"}
    click.echo(format_table([Column(h, fits.get(h, "keep")) for h in headers], rows, terminal_width()))


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
    headers = ["id", "name", "arch", "attention", "params_b", "active_b", "layers", "hidden", "kv_heads"]
    fits = {"id": "id", "name": "cut"}
    click.echo(format_table([Column(h, fits.get(h, "keep")) for h in headers], rows, terminal_width()))


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
    columns = [Column("id", "id"), Column("family"), Column("transform"), Column("lossless"), Column("papers", "wrap")]
    click.echo(format_table(columns, rows, terminal_width()))


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
    # whole ids (they are what `papers show` takes); titles are cut to what the terminal leaves them
    rows = [[p.id, p.year, p.topic, p.kind, p.title] for p in items]
    columns = [Column("id", "id"), Column("year"), Column("topic"), Column("kind"), Column("title", "cut")]
    click.echo(format_table(columns, rows, terminal_width()))


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
