"""Corpus commands: `accelsage refresh [--arxiv] [--status]`, `accelsage reindex`, `accelsage search QUERY`.

Each command reads the settings once, passes plain values to ``ingest``/``index`` and prints the
result as a short table or JSON. ``search`` uses the numpy query embedder, so it never imports torch.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import click

from index.errors import AccelsageError

_MODES = ("hybrid", "dense", "lexical")
_EMPTY_CORPUS = "the corpus is empty: run `accelsage refresh` first"


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    """Left-aligned columns; None prints as '-'."""
    cells = [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    return "\n".join(lines + ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells])


def _state_and_settings():
    from api.settings import load_settings
    from index.state import StateDir

    settings = load_settings()
    return StateDir(settings.home), settings


# --- refresh ----------------------------------------------------------------------------------


@click.command("refresh")
@click.option("--arxiv", "include_arxiv", is_flag=True, help="Also fetch arXiv metadata, full text and watch queries.")
@click.option("--status", is_flag=True, help="Show the last runs instead of refreshing.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000), help="Runs shown by --status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-v", "--verbose", is_flag=True,
              help="Log progress to stderr, and list every failed paper (not only a count per reason).")
def refresh(include_arxiv: bool, status: bool, limit: int, as_json: bool, verbose: bool) -> None:
    """Build or update the corpus: bundled cards, and with --arxiv the papers' arXiv full text."""
    state, settings = _state_and_settings()
    if status:
        _print_status(state, limit, as_json, verbose, database_url=settings.database_url)
        return
    if verbose:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
        logging.getLogger("ingest").setLevel(logging.INFO)  # our progress, not every library's
    from index.embedding import load_batch_embedder, resolve_model_path
    from api.wiring import build_feed, index_plan
    from ingest.refresh import refresh as run_refresh
    from ingest.sources import load_papers

    model_path = resolve_model_path(settings.embedding_model)
    papers = load_papers(settings.data_dir / "papers.yaml")
    feed = None
    if include_arxiv:
        feed = build_feed(settings)
    progress = _progress_display()
    try:
        report = run_refresh(
            state, papers, settings.data_dir / "cards",
            embedder_factory=lambda: load_batch_embedder(model_path), feed=feed,
            watch_queries=tuple(settings.watch_queries) if include_arxiv else (), include_arxiv=include_arxiv,
            model_path=model_path, watch_max_results=settings.watch_max_results, progress=progress,
            database_url=settings.database_url, index_plan=index_plan(settings),
        )
    finally:
        progress.close()
        if feed is not None:
            feed.close()
    _warm_technique_profiles(state, settings, model_path)
    if as_json:
        _echo_json(report.to_dict())
        return
    click.echo(
        f"refresh {report.status} (run {report.run_id}): {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.failed)} failed; {report.chunks_embedded} chunks embedded, "
        f"{report.pdfs_downloaded} PDFs downloaded; index holds {report.index_count} chunks"
    )
    _echo_failures("  ", report.failed, verbose)
    if report.unresolved:
        click.echo(f"  {len(report.unresolved)} papers without an arXiv match (see --json)")


_STAGE_NAMES = {"cards": "cards", "arxiv": "arXiv papers", "watch": "watch finds"}


def _progress_text(event: Any) -> str:
    """One plain line, e.g. "cards 64/184 papers; embedded 320/996 chunks"."""
    papers = f"{event.done}/{event.total}" if event.total is not None else str(event.done)
    line = f"{_STAGE_NAMES.get(event.stage, event.stage)} {papers} papers"
    if event.chunks_to_embed:
        line += f"; embedded {event.chunks_embedded}/{event.chunks_to_embed} chunks"
    return line


class _PlainProgress:
    """Progress lines on stderr (not a TTY): a stage's start and end, and at most one line per interval between."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self._last_line = ""
        self._last_time = 0.0
        self._stage: str | None = None

    def __call__(self, event: Any) -> None:
        now = time.monotonic()
        stage_done = event.total is not None and event.done >= event.total and not (
            event.chunks_embedded < event.chunks_to_embed)
        if event.stage == self._stage and not stage_done and now - self._last_time < self.interval_s:
            return
        self._stage = event.stage
        line = _progress_text(event)
        if line != self._last_line:
            click.echo(line, err=True)
            self._last_line, self._last_time = line, now

    def close(self) -> None:
        pass


class _RichProgress:
    """A rich progress bar on stderr (a TTY): one bar per stage, chunks embedded in its description."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[chunks]}"), TimeElapsedColumn(),
                             console=Console(stderr=True))
        self._tasks: dict[str, Any] = {}
        self._bar.start()

    def __call__(self, event: Any) -> None:
        chunks = f"embedded {event.chunks_embedded}/{event.chunks_to_embed} chunks" if event.chunks_to_embed else ""
        if event.stage not in self._tasks:
            self._tasks[event.stage] = self._bar.add_task(
                _STAGE_NAMES.get(event.stage, event.stage), total=event.total, chunks=chunks)
        self._bar.update(self._tasks[event.stage], completed=event.done, total=event.total, chunks=chunks)

    def close(self) -> None:
        self._bar.stop()


def _progress_display() -> Any:
    """A rich bar when stderr is a terminal, plain periodic lines otherwise (stdout stays for the result)."""
    if sys.stderr.isatty():
        try:
            return _RichProgress()
        except ImportError:
            pass
    return _PlainProgress()


def _warm_technique_profiles(state: Any, settings: Any, model_path: Any) -> None:
    """Embed the techniques' profiles now, so the first question after a refresh does not wait for it."""
    from agent.relevance import load_profiles
    from api.wiring import load_catalog
    from index.embedding import load_query_embedder

    embedder = load_query_embedder(model_path)
    load_profiles(load_catalog(settings), embedder.embed, embedder.model_id, state.root / "cache")


def _echo_failures(indent: str, failures: list, verbose: bool) -> None:
    """Every failed paper with --verbose; otherwise one line per distinct reason with its count."""
    from ingest.report import summarise_failures

    if verbose:
        for paper_id, reason in failures:
            click.echo(f"{indent}failed {paper_id}: {reason}")
        return
    groups = summarise_failures(failures)
    for cause, pairs in groups:
        if len(pairs) == 1:
            click.echo(f"{indent}failed {pairs[0][0]}: {pairs[0][1]}")
        else:
            click.echo(f"{indent}{len(pairs)} failed: {cause}")
    if any(len(pairs) > 1 for _, pairs in groups):
        click.echo(f"{indent}(--verbose lists each paper)")


def _print_status(state, limit: int, as_json: bool, verbose: bool = False, database_url: str | None = None) -> None:
    from index.store_factory import has_store, open_store
    from ingest.refresh import close_interrupted_runs

    runs: list[dict] = []
    if has_store(state, database_url):
        with open_store(state, database_url) as store:
            # a run still recorded as running while nobody holds the lock was killed: say so
            close_interrupted_runs(state, store, noticed_by="refresh --status")
            runs = store.list_runs(limit)
    if as_json:
        _echo_json({"runs": runs})
        return
    if not runs:
        click.echo("no refresh has run yet: run `accelsage refresh`")
        return
    rows = [[r["id"], r["status"], r["started_at"], r["finished_at"], r["added"], r["updated"], r["unchanged"],
             r["failed"]] for r in runs]
    click.echo(_table(["run", "status", "started", "finished", "added", "updated", "unchanged", "failed"], rows))
    for run in runs:
        if run["failures"]:
            click.echo(f"run {run['id']}: {len(run['failures'])} failed")
            _echo_failures("  ", run["failures"], verbose)


# --- reindex ----------------------------------------------------------------------------------


@click.command("reindex")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def reindex(as_json: bool) -> None:
    """Rebuild the FAISS index from the SQLite store (no re-embedding)."""
    from api.wiring import index_plan
    from index.embedding import model_id_for, resolve_model_path
    from index.store_factory import has_store, open_store
    from index.vectors import build_from_store
    from ingest.lock import refresh_lock

    state, settings = _state_and_settings()
    if not has_store(state, settings.database_url):
        raise AccelsageError(_EMPTY_CORPUS)
    model_id = model_id_for(resolve_model_path(settings.embedding_model))
    with refresh_lock(state.lock_path, settings.database_url), open_store(state, settings.database_url) as store:
        index = build_from_store(store, model_id, plan=index_plan(settings))
        index.save_atomic(state)
        missing = store.chunk_count() - index.count
    if as_json:
        _echo_json({"chunks": index.count, "model_id": model_id, "chunks_without_vector": missing})
        return
    click.echo(f"index rebuilt: {index.count} chunks ({model_id})")
    if missing:
        click.echo(f"  {missing} chunks have no vector for this model: run `accelsage refresh` to embed them")


# --- search -----------------------------------------------------------------------------------


@click.command("search")
@click.argument("query")
@click.option("-k", "k", default=5, show_default=True, type=int, help="Number of hits (1-50, as the API allows).")
@click.option("--mode", default="hybrid", show_default=True, type=click.Choice(_MODES),
              help="hybrid (fuses the two ranks), dense (embeddings) or lexical (bm25).")
@click.option("--include-off-topic", is_flag=True,
              help="Also search papers listed as off-topic (outside LLM acceleration); left out by default.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def search(query: str, k: int, mode: str, include_off_topic: bool, as_json: bool) -> None:
    """Search the corpus (cards and arXiv full text) for QUERY."""
    from api.wiring import index_plan
    from index.search import MAX_HITS, open_searcher
    from index.store_factory import has_store, open_store

    # Checked here (not by click) so bad input is one line, like every other user error.
    if not 1 <= k <= MAX_HITS:
        raise AccelsageError(f"-k must be between 1 and {MAX_HITS} (got {k})")
    if not query.strip():
        raise AccelsageError("empty search query: give some words to search for")
    state, settings = _state_and_settings()
    if not has_store(state, settings.database_url):
        raise AccelsageError(_EMPTY_CORPUS)
    with open_store(state, settings.database_url) as store:
        if store.chunk_count() == 0:
            raise AccelsageError(_EMPTY_CORPUS)
    searcher = open_searcher(state, settings.embedding_model, database_url=settings.database_url,
                             index_plan=index_plan(settings))
    hits = searcher.search(query, k=k, mode=mode, include_off_topic=include_off_topic)
    if as_json:
        keys = ("arxiv_id", "title", "score", "text", "page", "section", "paper_id", "source")
        _echo_json({"query": query, "hits": [{key: getattr(hit, key) for key in keys} for hit in hits]})
        return
    if not hits:
        click.echo("no hits")
        return
    for rank, hit in enumerate(hits, start=1):
        where = " ".join(part for part in (f"p.{hit.page}" if hit.page else "", hit.section or "") if part)
        click.echo(f"{rank:>2}. {hit.arxiv_id or hit.paper_id}  [{hit.source}] {hit.title}")
        click.echo(f"    score {hit.score:.4f}  {where}".rstrip())
        snippet = " ".join(hit.text.split())
        click.echo(f"    {snippet[:220]}{'...' if len(snippet) > 220 else ''}")
