"""The refresh job: bundled cards, then (optionally) arXiv full text and watch queries, then the index.

Crash safety: each paper is written in one store transaction (``replace_chunks``), a paper's arXiv
version is recorded only after its chunks, and the FAISS index is rebuilt and saved atomically only
at the very end. A ``kill -9`` at any point leaves the previous index and a consistent database;
the next run redoes only the papers whose recorded version is still behind, with no duplicates.
Work is incremental: a card or PDF whose chunk hashes are already embedded costs no model time, an
arXiv paper whose version is unchanged is not downloaded, and the model loads only when needed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from index.chunking import ChunkDraft, chunk_pages
from index.embedding import BUNDLED_MODEL, Embedder, model_id_for, resolve_model_path
from index.errors import AccelsageError
from index.state import StateDir
from index.store_factory import open_store
from index.store_interface import CorpusStore
from index.index_plan import IndexPlan
from index.vectors import load_checked
from ingest.arxiv_feed import ArxivFeed, ArxivPaper, split_id
from ingest.lock import probe_lock, refresh_lock
from ingest.pdf_text import extract_pages
from ingest.report import RunReport
from ingest.sources import PaperEntry, list_cards, read_card

log = logging.getLogger(__name__)

CARD_GROUP = 64  # cards chunked and embedded together: big encode batches, bounded lost work on a crash
EMBED_SLICE = 128  # texts per embed call: a progress report after each, still many encode batches per call


@dataclass(frozen=True)
class Progress:
    """One progress report of a refresh, given to the optional ``progress`` callback.

    ``stage`` is "cards", "arxiv" (listed papers' full text) or "watch" (watch-query finds);
    ``done``/``total`` count that stage's papers (``total`` is None when not known up front);
    ``chunks_embedded`` counts the run's chunks embedded so far, and ``chunks_to_embed`` those
    embedded or queued for embedding so far (it grows as papers are chunked).
    """

    stage: str
    done: int
    total: int | None
    chunks_embedded: int
    chunks_to_embed: int


ProgressCallback = Callable[[Progress], None]


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class _Run:
    """State shared by the steps of one refresh: store, model identity, lazy embedder, report."""

    def __init__(self, state: StateDir, store: CorpusStore, model_path: Path, embedder_factory: Callable[[], Embedder],
                 report: RunReport, keep_pdfs: bool, progress: ProgressCallback | None = None) -> None:
        self.state = state
        self.store = store
        self.model_path = model_path
        self.model_id = model_id_for(model_path)
        self._factory = embedder_factory
        self._embedder: Embedder | None = None
        self.report = report
        self.keep_pdfs = keep_pdfs
        self._progress = progress
        self.stage, self.done, self.total = "cards", 0, None
        self.chunks_to_embed = 0

    def begin(self, stage: str, total: int | None) -> None:
        """Start a stage of ``total`` papers (None: unknown) and report it."""
        self.stage, self.done, self.total = stage, 0, total
        self.tick()

    def advance(self, papers: int = 1) -> None:
        """Count ``papers`` more papers of the current stage as processed and report it."""
        self.done += papers
        self.tick()

    def tick(self) -> None:
        if self._progress is not None:
            self._progress(Progress(self.stage, self.done, self.total, self.report.chunks_embedded,
                                    self.chunks_to_embed))

    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use only."""
        if self._embedder is None:
            self._embedder = self._factory()
            if self._embedder.model_id != self.model_id:
                raise AccelsageError(
                    f"embedder model {self._embedder.model_id} differs from the configured model {self.model_id}"
                )
        return self._embedder

    def new_vectors(self, drafts: Iterable[ChunkDraft]) -> dict[str, np.ndarray]:
        """Embed the chunk texts whose hashes have no stored vector yet; return only those vectors."""
        texts: dict[str, str] = {}
        for draft in drafts:
            texts.setdefault(draft.content_hash, draft.text)
        known = self.store.known_vectors(list(texts), self.model_id)
        missing = [h for h in texts if h not in known]
        if not missing:
            return {}
        self.chunks_to_embed += len(missing)
        embedder = self.embedder()
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(missing), EMBED_SLICE):
            hashes = missing[start : start + EMBED_SLICE]
            rows = np.asarray(embedder.embed([texts[h] for h in hashes]), dtype=np.float32)
            out.update(zip(hashes, rows))
            self.report.chunks_embedded += len(hashes)
            self.tick()
        return out

    def write(self, record: dict, source: str, version: str | None, drafts: list[ChunkDraft],
              vectors: dict[str, np.ndarray], extra_after: dict | None = None) -> str:
        """Store one paper's chunks for ``source``; returns "added", "updated" or "unchanged".

        ``extra_after`` (the arXiv version, PDF hash) is written only after the chunks, so a crash
        in between leaves the old version recorded and the next run redoes this paper.
        """
        paper_id = record["paper_id"]
        existing = self.store.get_paper(paper_id)
        fields = {k: v for k, v in record.items() if k not in ("version", "source", "pdf_sha256")}
        # Only known values overwrite: a card without an arXiv id must not erase a resolved one.
        changed_fields = {k: v for k, v in fields.items() if v is not None and (existing or {}).get(k) != v}
        if existing is None:
            self.store.upsert_paper({**fields, "source": source, "version": None})
        elif changed_fields:
            self.store.upsert_paper({"paper_id": paper_id, **changed_fields})
        needed = {d.content_hash for d in drafts}
        summary = self.store.replace_chunks(
            paper_id, source, version, drafts, {h: v for h, v in vectors.items() if h in needed}, self.model_id
        )
        if extra_after:
            self.store.upsert_paper({"paper_id": paper_id, **extra_after})
        if existing is None:
            return "added"
        return "updated" if summary.changed or changed_fields or extra_after else "unchanged"


def _groups(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _card_record(card_front_matter: dict, entry: PaperEntry | None, paper_id: str) -> dict:
    """The papers row for a card: papers.yaml wins, front matter fills in cards not listed there.

    The role (core, supporting, background, off-topic) is the card's: search leaves off-topic papers out.
    """
    fm = card_front_matter
    if entry is not None:
        return {**entry.record(), "role": fm.get("role")}
    return {
        "paper_id": paper_id,
        "arxiv_id": str(fm["arxiv_id"]) if fm.get("arxiv_id") else None,
        "title": str(fm.get("title") or paper_id),
        "first_author": fm.get("first_author"),
        "year": fm.get("year"),
        "venue": fm.get("venue"),
        "topic": fm.get("topic"),
        "kind": fm.get("kind"),
        "role": fm.get("role"),
    }


def ingest_cards(run: _Run, papers: list[PaperEntry], cards_dir: Path) -> None:
    """Chunk every card, embed the new chunk texts group by group, and store them (source "card")."""
    by_card = {entry.card: entry for entry in papers if entry.card}
    by_id = {entry.id: entry for entry in papers}
    seen: set[str] = set()
    cards = list_cards(cards_dir)
    run.begin("cards", len(cards))
    for group in _groups(cards, CARD_GROUP):
        planned: list[tuple[dict, list[ChunkDraft]]] = []
        for path in group:
            paper_id = path.stem
            seen.add(paper_id)
            try:
                card = read_card(path)
                paper_id = card.paper_id
                entry = by_card.get(path.name) or by_id.get(paper_id)
                seen.add(entry.id if entry else paper_id)
                record = _card_record(card.front_matter, entry, entry.id if entry else paper_id)
                drafts = chunk_pages(card.pages, run.model_path)
                if not drafts:
                    raise AccelsageError("card has no text")
                planned.append((record, drafts))
            except (AccelsageError, ValueError, OSError) as exc:
                run.report.fail(paper_id, f"card {path.name}: {exc}")
        vectors = run.new_vectors(d for _, drafts in planned for d in drafts)
        log.info("cards: %d read, %d new chunk vectors", len(group), len(vectors))
        for record, drafts in planned:
            run.report.mark(record["paper_id"], run.write(record, "card", None, drafts, vectors))
        run.advance(len(group))
    _drop_removed_cards(run, seen)


def _drop_removed_cards(run: _Run, seen: set[str]) -> None:
    """Remove the card chunks of papers whose card file is gone (renamed or deleted)."""
    for row in run.store.list_papers():
        paper_id = row["paper_id"]
        if paper_id not in seen and run.store.paper_chunks(paper_id, "card"):
            run.store.replace_chunks(paper_id, "card", None, [], {}, run.model_id)
            run.report.mark(paper_id, "updated")


def _pdf_path(state: StateDir, paper: ArxivPaper) -> Path:
    return state.pdf_dir / f"{paper.arxiv_id.replace('/', '_')}{paper.version}.pdf"


def _save_pdf(path: Path, data: bytes) -> None:
    """Write atomically so a killed run never leaves half a PDF under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pdf.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def ingest_full_text(run: _Run, feed: ArxivFeed, paper_id: str, meta: ArxivPaper, record: dict) -> None:
    """Download, extract, chunk, embed and store one arXiv paper unless its version is already stored."""
    stored = run.store.get_paper(paper_id)
    if stored is not None and stored.get("version") == meta.version:
        run.report.mark(paper_id, "unchanged")
        return
    log.info("fetching %s%s for %s", meta.arxiv_id, meta.version, paper_id)
    try:
        data = feed.download_pdf(meta.pdf_url)
        run.report.pdfs_downloaded += 1
        drafts = chunk_pages(extract_pages(data), run.model_path)
        if not drafts:
            raise AccelsageError("the PDF text gave no chunks")
        vectors = run.new_vectors(drafts)
        if run.keep_pdfs:
            _save_pdf(_pdf_path(run.state, meta), data)
        after = {"version": meta.version, "source": "arxiv", "pdf_sha256": hashlib.sha256(data).hexdigest()}
        run.report.mark(paper_id, run.write({**record, "arxiv_id": meta.arxiv_id}, "arxiv", meta.version,
                                            drafts, vectors, extra_after=after))
    except AccelsageError as exc:
        run.report.fail(paper_id, f"arXiv {meta.arxiv_id}{meta.version}: {exc}")
    except Exception as exc:  # one odd paper must not sink the run; the reason is kept
        log.exception("ingesting %s failed", paper_id)
        run.report.fail(paper_id, f"arXiv {meta.arxiv_id}{meta.version}: {exc.__class__.__name__}: {exc}")


def _arxiv_targets(run: _Run, papers: list[PaperEntry], feed: ArxivFeed) -> dict[str, tuple[str, dict]]:
    """arXiv id -> (paper_id, record) for listed papers, title-resolved ones and earlier watch finds."""
    targets: dict[str, tuple[str, dict]] = {}
    for entry in papers:
        arxiv_id = entry.arxiv_id or (run.store.get_paper(entry.id) or {}).get("arxiv_id")
        if not arxiv_id:
            match = feed.resolve_title(entry.title)
            if match.arxiv_id is None:
                run.report.unresolved.append((entry.id, match.reason))
                continue
            arxiv_id = match.arxiv_id
        try:
            base = split_id(arxiv_id)[0]
        except ValueError as exc:
            run.report.fail(entry.id, str(exc))
            continue
        if base in targets:  # two entries for one paper: the first keeps the full text
            run.report.unresolved.append((entry.id, f"same arXiv paper {base} as entry {targets[base][0]}"))
            continue
        targets[base] = (entry.id, entry.record())
    listed = {paper_id for paper_id, _ in targets.values()}
    for row in run.store.list_papers():
        if row.get("source") == "arxiv" and row.get("arxiv_id") and row["paper_id"] not in listed:
            targets.setdefault(row["arxiv_id"], (row["paper_id"], {"paper_id": row["paper_id"]}))
    return targets


def _watch_record(meta: ArxivPaper) -> dict:
    return {
        "paper_id": meta.arxiv_id, "arxiv_id": meta.arxiv_id, "title": meta.title,
        "first_author": meta.first_author, "year": meta.published.year if meta.published else None,
        "venue": None, "topic": "watch", "kind": "paper",
    }


def ingest_arxiv(run: _Run, papers: list[PaperEntry], feed: ArxivFeed, watch_queries: Sequence[str],
                 watch_max_results: int) -> None:
    """Bring arXiv full text up to date for listed papers, then add new papers from watch queries."""
    targets = _arxiv_targets(run, papers, feed)
    batch = feed.fetch_metadata(list(targets))
    log.info("arXiv metadata: %d papers, %d skipped", len(batch.papers), len(batch.skipped))
    for arxiv_id, reason in batch.skipped.items():
        run.report.fail(targets[arxiv_id][0], f"arXiv {arxiv_id}: {reason}")
    run.begin("arxiv", len(batch.papers))
    for arxiv_id, meta in batch.papers.items():
        paper_id, record = targets[arxiv_id]
        ingest_full_text(run, feed, paper_id, meta, record)
        run.advance()
    if watch_queries:
        run.begin("watch", None)
    for query in watch_queries:
        try:
            found = feed.watch(query, watch_max_results)
        except AccelsageError as exc:
            run.report.fail(f"watch:{query}", str(exc))
            continue
        for meta in found:
            if meta.arxiv_id in targets or run.store.get_paper(meta.arxiv_id) is not None:
                continue
            targets[meta.arxiv_id] = (meta.arxiv_id, _watch_record(meta))
            ingest_full_text(run, feed, meta.arxiv_id, meta, _watch_record(meta))
            run.advance()


def close_interrupted_runs(state: StateDir, store: CorpusStore, noticed_by: str) -> list[int]:
    """Mark runs recorded as ``running`` as ``interrupted`` when no refresh holds the lock (they were killed).

    Args:
        noticed_by: who noticed (kept in the run's notes), e.g. "refresh --status".

    Returns:
        The ids marked; empty while a refresh holds the lock (its run really is running).
    """
    # a shared store's lock is the database's: a refresh on another machine holds it, not our lock file
    with probe_lock(state.lock_path, store.database_url) as free:
        if not free:
            return []
        return store.interrupt_running_runs({"noticed_by": noticed_by})


def refresh(
    state: StateDir,
    papers: list[PaperEntry],
    cards_dir: str | Path,
    *,
    embedder_factory: Callable[[], Embedder],
    feed: ArxivFeed | None = None,
    watch_queries: Sequence[str] = (),
    include_arxiv: bool = False,
    model_path: str | Path = BUNDLED_MODEL,
    watch_max_results: int = 20,
    keep_pdfs: bool = True,
    progress: ProgressCallback | None = None,
    database_url: str | None = None,
    index_plan: IndexPlan | None = None,
) -> RunReport:
    """Update the corpus and its index; one run at a time per store (state directory or shared database).

    Args:
        state: the state directory (database, index, PDFs, lock).
        papers: entries of ``data/papers.yaml``.
        cards_dir: folder of bundled cards (``<id>.md``).
        embedder_factory: builds the embedder; called only if some chunk needs embedding.
        feed: the arXiv client; required with ``include_arxiv``.
        watch_queries: arXiv queries whose new results are added (with ``include_arxiv``).
        include_arxiv: also fetch arXiv metadata and full text.
        model_path: embedding model folder or bundled name (tokenizer and model identity).
        watch_max_results: at most this many results per watch query.
        keep_pdfs: keep downloaded PDFs under ``state.pdf_dir``.
        progress: called with a ``Progress`` when a stage starts, after each embed call and after
            each card group or arXiv paper; rendering it is the caller's business.
        database_url: a shared PostgreSQL store (``postgresql://...``) instead of the state directory's
            SQLite file; the refresh lock is then the database's advisory lock, held for the whole run.
        index_plan: exact vs ANN vector search (None: the default plan); the one the searchers use.

    Raises:
        Busy: another refresh holds the lock (on any machine, with ``database_url``).
    """
    if include_arxiv and feed is None:
        raise AccelsageError("an arXiv refresh needs a feed")
    state.ensure()
    model_dir = resolve_model_path(model_path)
    with refresh_lock(state.lock_path, database_url):
        store = open_store(state, database_url)
        try:
            store.check_sound()  # a damaged database fails here with one clear line, not mid-run
            report = RunReport(started_at=_now())
            report.run_id = store.start_run()
            # we hold the lock: runs still marked running were killed
            store.interrupt_running_runs({"noticed_by_run": report.run_id}, except_run=report.run_id)
            run = _Run(state, store, model_dir, embedder_factory, report, keep_pdfs, progress)
            try:
                ingest_cards(run, papers, Path(cards_dir))
                if include_arxiv:
                    ingest_arxiv(run, papers, feed, watch_queries, watch_max_results)
                report.embeddings_pruned = store.prune_embeddings()
                index, report.index_rebuilt = load_checked(state, store, run.model_id, plan=index_plan)
                report.index_count = index.count
            except BaseException as exc:
                report.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
                report.fail("(run)", f"{exc.__class__.__name__}: {exc}")
                _finish(store, report)
                raise
            report.status = "ok" if not report.failed else "partial"
            _finish(store, report)
            return report
        finally:
            store.close()


def _finish(store: CorpusStore, report: RunReport) -> None:
    report.finished_at = _now()
    report.settle()
    store.finish_run(report.run_id, report.run_record())
