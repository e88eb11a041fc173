"""The refresh job end to end against the fake arXiv: incremental, per-paper failures, lock, crash safety."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from corpus_fixtures import Corpus, bundled_model_path, corpus, session_embedder, wait_for, write_card  # noqa: F401
from fake_arxiv import FakeArxiv, FakePaper, fake_arxiv, make_feed  # noqa: F401

from index.errors import Busy, DatabaseDamaged
from index.search import open_searcher
from index.store import Store
from index.vectors import VectorIndex
from ingest.sources import PaperEntry

TESTS_DIR = Path(__file__).parent
ARXIV_IDS = ["2307.08691", "2309.06180", "2406.16858"]


def _arxiv_run(corpus: Corpus, fake: FakeArxiv, **options: object):
    return corpus.run(feed=make_feed(fake), include_arxiv=True, **options)


def _chunks(corpus: Corpus) -> list[dict]:
    """Every chunk (id order) with the fields these tests compare."""
    with Store(corpus.state.db_path) as store:
        rows = [row for paper in store.list_papers() for row in store.paper_chunks(paper["paper_id"])]
    keys = ("paper_id", "source", "version", "content_hash")
    return [{key: row[key] for key in keys} for row in sorted(rows, key=lambda row: row["id"])]


def test_cards_only_run_builds_a_searchable_index(corpus: Corpus) -> None:
    report = corpus.run()
    assert report.added == ["2406.16858", "megakernel-blog"] and report.status == "ok"
    assert report.pdfs_downloaded == 0 and report.chunks_embedded == corpus.last_embedded > 0
    searcher = open_searcher(corpus.state, bundled_model_path(), query_embedder=session_embedder().inner)
    assert searcher.rebuilt_reason is None  # the refresh saved an index matching the store
    hits = searcher.search("one persistent kernel for the whole forward pass", k=3)
    assert hits[0].paper_id == "megakernel-blog" and hits[0].source == "card" and hits[0].section == "Idea"


def test_second_run_downloads_and_embeds_nothing(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    first = _arxiv_run(corpus, fake_arxiv)
    assert first.added == ARXIV_IDS + ["megakernel-blog"]
    assert first.pdfs_downloaded == 3 and fake_arxiv.counts["pdf"] == 3
    chunks_before = _chunks(corpus)
    index_meta = corpus.state.index_meta_path.read_text()

    second = _arxiv_run(corpus, fake_arxiv, embedder_factory=_must_not_load)
    assert second.unchanged == ARXIV_IDS + ["megakernel-blog"] and second.added == second.updated == []
    assert (second.pdfs_downloaded, second.chunks_embedded) == (0, 0)
    assert fake_arxiv.counts["pdf"] == 3
    assert _chunks(corpus) == chunks_before
    assert corpus.state.index_meta_path.read_text() == index_meta  # index untouched


def _must_not_load():
    raise AssertionError("the embedding model was loaded although nothing needed embedding")


def test_cards_and_full_text_are_both_kept(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    _arxiv_run(corpus, fake_arxiv)
    sources = {(c["paper_id"], c["source"]) for c in _chunks(corpus)}
    assert {("2406.16858", "card"), ("2406.16858", "arxiv")} <= sources
    with Store(corpus.state.db_path) as store:
        paper = store.get_paper("2406.16858")
    assert (paper["version"], paper["source"], paper["first_author"]) == ("v1", "arxiv", "Li")
    assert len(paper["pdf_sha256"]) == 64
    assert (corpus.state.pdf_dir / "2406.16858v1.pdf").read_bytes().startswith(b"%PDF")


def test_new_version_reingests_exactly_that_paper(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    _arxiv_run(corpus, fake_arxiv)
    before = _chunks(corpus)
    fake_arxiv.bump("2309.06180")
    report = _arxiv_run(corpus, fake_arxiv)
    assert report.updated == ["2309.06180"] and report.failed == []
    assert fake_arxiv.counts["pdf:2309.06180"] == 2 and fake_arxiv.counts["pdf"] == 4
    after = _chunks(corpus)
    assert [c for c in after if c["paper_id"] != "2309.06180"] == [c for c in before if c["paper_id"] != "2309.06180"]
    assert {c["version"] for c in after if c["paper_id"] == "2309.06180"} == {"v2"}
    paper_chunks = sum(1 for c in after if c["paper_id"] == "2309.06180")
    # Only the text that changed is embedded again: the unchanged abstract and title reuse vectors.
    assert 0 < report.chunks_embedded < paper_chunks


def test_edited_card_updates_only_that_card(corpus: Corpus) -> None:
    corpus.run()
    write_card(corpus.cards_dir, "megakernel-blog", corpus.papers[3].title, {
        "Problem": "Launching many small kernels per decoding step leaves the GPU idle between launches.",
        "Idea": "A single persistent kernel schedules every layer itself, hiding weight loads behind compute.",
    })
    report = corpus.run()
    assert (report.updated, report.unchanged) == (["megakernel-blog"], ["2406.16858"])
    assert report.chunks_embedded == 1


def test_corrupt_pdf_fails_only_that_paper(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.papers["2307.08691"].corrupt_pdf = True
    report = _arxiv_run(corpus, fake_arxiv)
    assert [p for p, _ in report.failed] == ["2307.08691"]
    assert "cannot read PDF" in report.failed[0][1]
    assert report.added == ["2309.06180", "2406.16858", "megakernel-blog"] and report.status == "partial"
    with Store(corpus.state.db_path) as store:
        run = store.list_runs(1)[0]
    assert (run["status"], run["failed"], run["added"]) == ("partial", 1, 3)
    assert run["failures"][0][0] == "2307.08691"


def test_oversized_pdf_fails_only_that_paper(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.enqueue("pdf", "oversized")  # whichever PDF is fetched first
    report = corpus.run(feed=make_feed(fake_arxiv, max_bytes=1_000_000), include_arxiv=True)
    assert len(report.failed) == 1 and "over the 1 MB download limit" in report.failed[0][1]
    assert len([p for p in report.added if p in ARXIV_IDS]) == 2 and report.status == "partial"


def test_foreign_pdf_url_fails_that_paper_unfetched(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.papers["2309.06180"].pdf_url = "http://evil.example.com/pdf/2309.06180v1"
    report = _arxiv_run(corpus, fake_arxiv)
    assert [p for p, _ in report.failed] == ["2309.06180"]
    assert "refusing to fetch" in report.failed[0][1] and "evil.example.com" in report.failed[0][1]
    assert fake_arxiv.counts["pdf"] == 2


def test_malformed_entry_fails_that_paper_with_reason(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.papers["2406.16858"].malformed = "no-dates"
    report = _arxiv_run(corpus, fake_arxiv)
    assert [p for p, _ in report.failed] == ["2406.16858"]
    assert "no usable entry" in report.failed[0][1]
    assert report.added == ["2307.08691", "2309.06180", "megakernel-blog"]


def test_title_search_resolves_papers_without_an_id(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.add(
        FakePaper("2502.11111", "Megakernels: One Launch for Llama Decoding", "persistent megakernels"),
        FakePaper("2404.33333", "Quantized Attention Kernels for Long Contexts", "low-bit attention"),
    )
    corpus.papers += [
        PaperEntry(id="quant-attn", title="Quantized attention kernels for long contexts!"),
        PaperEntry(id="paged-twin", title=corpus.papers[2].title),  # same arXiv paper as a listed entry
    ]
    _arxiv_run(corpus, fake_arxiv)
    report = _arxiv_run(corpus, fake_arxiv)
    with Store(corpus.state.db_path) as store:
        slug = store.get_paper("quant-attn")
    assert (slug["arxiv_id"], slug["version"], slug["source"]) == ("2404.33333", "v1", "arxiv")
    assert report.unchanged == ARXIV_IDS + ["megakernel-blog", "quant-attn"]
    unresolved = dict(report.unresolved)
    assert sorted(unresolved) == ["megakernel-blog", "paged-twin"]
    assert "closest title" in unresolved["megakernel-blog"] and "2309.06180" in unresolved["paged-twin"]


def test_watch_queries_add_new_papers(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.add(FakePaper("2503.22222", "Watched Paper on Draft Heads", "draft heads", watch=True))
    report = _arxiv_run(corpus, fake_arxiv, watch_queries=['abs:"speculative decoding"'])
    assert "2503.22222" in report.added
    with Store(corpus.state.db_path) as store:
        paper = store.get_paper("2503.22222")
    assert (paper["topic"], paper["version"], paper["title"]) == ("watch", "v1", "Watched Paper on Draft Heads")
    fake_arxiv.bump("2503.22222")  # watched papers are followed for new versions too, without the query
    again = _arxiv_run(corpus, fake_arxiv)
    assert again.updated == ["2503.22222"]


def test_concurrent_refresh_gets_busy(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    release = fake_arxiv.hold_pdf("2309.06180")
    results: dict[str, object] = {}
    worker = threading.Thread(target=lambda: results.update(report=_arxiv_run(corpus, fake_arxiv)))
    worker.start()
    try:
        wait_for(lambda: fake_arxiv.counts["pdf:2309.06180"] == 1)
        with pytest.raises(Busy, match=rf"a refresh is already running \(pid {os.getpid()}\)"):
            corpus.run()
    finally:
        release.set()
        worker.join(timeout=60)
    assert results["report"].status == "ok"


def test_kill_9_mid_run_keeps_the_old_index_and_next_run_completes(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    _arxiv_run(corpus, fake_arxiv)
    old_meta = json.loads(corpus.state.index_meta_path.read_text())
    fake_arxiv.bump("2406.16858")
    fake_arxiv.bump("2307.08691")
    release = fake_arxiv.hold_pdf("2307.08691")  # processed after 2406.16858, which gets written first
    config = {
        "state": str(corpus.state.root), "cards": str(corpus.cards_dir), "api_url": fake_arxiv.api_url,
        "papers": [dataclasses.asdict(p) for p in corpus.papers],
    }
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # see corpus_fixtures.MemoEmbedder
    child = subprocess.Popen([sys.executable, "-m", "refresh_child", json.dumps(config)], cwd=TESTS_DIR, env=env)
    try:
        wait_for(lambda: fake_arxiv.counts["pdf:2307.08691"] == 2 or child.poll() is not None)
        assert child.poll() is None, "the child refresh ended before the kill"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        release.set()

    # The previous index is intact and still serves; the store already holds the paper done before the kill.
    old_index, meta = VectorIndex.load(corpus.state)
    assert (meta["fingerprint"], old_index.count) == (old_meta["fingerprint"], old_meta["count"])
    with Store(corpus.state.db_path) as store:
        assert store.get_paper("2406.16858")["version"] == "v2"
        assert store.get_paper("2307.08691")["version"] == "v1"
        assert store.list_runs(1)[0]["status"] == "running"
    searcher = open_searcher(corpus.state, bundled_model_path(), query_embedder=session_embedder().inner)
    assert searcher.search("paged key-value cache blocks", k=3)[0].paper_id == "2309.06180"

    report = _arxiv_run(corpus, fake_arxiv)
    assert (report.updated, report.failed) == (["2307.08691"], [])
    chunks = _chunks(corpus)
    keys = [(c["paper_id"], c["source"], c["content_hash"]) for c in chunks]
    assert len(keys) == len(set(keys))
    assert {c["version"] for c in chunks if c["source"] == "arxiv"} == {"v1", "v2"}
    with Store(corpus.state.db_path) as store:
        statuses = [run["status"] for run in store.list_runs(3)]
    assert statuses == ["ok", "interrupted", "ok"]

    fresh = Corpus(corpus.state.root.parent / "fresh", corpus.papers)
    fresh.cards_dir = corpus.cards_dir
    _arxiv_run(fresh, fake_arxiv)
    assert sorted(keys) == sorted((c["paper_id"], c["source"], c["content_hash"]) for c in _chunks(fresh))


def test_removed_card_loses_its_chunks(corpus: Corpus) -> None:
    corpus.run()
    (corpus.cards_dir / "megakernel-blog.md").unlink()
    report = corpus.run()
    assert (report.updated, report.unchanged) == (["megakernel-blog"], ["2406.16858"])
    assert {c["paper_id"] for c in _chunks(corpus)} == {"2406.16858"}


# --- hardening: unused vectors, damaged database, batch failures, PDF text -----------------------


def _embedding_rows(corpus: Corpus) -> tuple[int, int]:
    """(stored vectors, distinct content hashes of chunks)."""
    with Store(corpus.state.db_path) as store:
        vectors = store.embedding_count()
        hashes = store.db.execute("SELECT count(DISTINCT content_hash) FROM chunks").fetchone()[0]
    return vectors, hashes


def test_vectors_of_replaced_chunks_are_pruned(corpus: Corpus) -> None:
    corpus.run()
    vectors, hashes = _embedding_rows(corpus)
    assert vectors == hashes
    write_card(corpus.cards_dir, "megakernel-blog", corpus.papers[3].title, {
        "Problem": "Every small kernel launch per decoding step leaves the GPU waiting between launches.",
        "Idea": "A single persistent kernel schedules every layer itself, hiding weight loads behind compute.",
    })
    report = corpus.run()
    assert report.updated == ["megakernel-blog"] and report.embeddings_pruned == 2
    assert _embedding_rows(corpus) == (hashes, hashes)
    with Store(corpus.state.db_path) as store:
        assert store.list_runs(1)[0]["notes"]["embeddings_pruned"] == 2


def test_damaged_database_stops_the_refresh_before_it_starts(corpus: Corpus) -> None:
    corpus.run()
    with Store(corpus.state.db_path) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = [row[0] for row in store.db.execute("SELECT pageno FROM dbstat WHERE name = 'embeddings'")]
    with open(corpus.state.db_path, "r+b") as handle:  # garble the vector pages' cells, page headers kept
        for number in pages:
            handle.seek((number - 1) * 4096 + 8)
            handle.write(bytes(range(256)) * 2)
    with Store(corpus.state.db_path):
        pass  # still opens: only a check of the whole file finds the damage
    with pytest.raises(DatabaseDamaged, match=r"is damaged \(quick_check: "):
        corpus.run()
    with Store(corpus.state.db_path) as store:
        assert [run["status"] for run in store.list_runs()] == ["ok"]  # no run was started


def test_a_failed_metadata_batch_names_its_cause_once_not_its_url(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    # 4 tries (3 retries) for the title search of the blog post, then 4 for the id-list lookup: both fail for good
    fake_arxiv.enqueue("api", *[503] * 8)
    report = _arxiv_run(corpus, fake_arxiv)
    reasons = dict(report.failed)
    assert sorted(reasons) == ARXIV_IDS
    for arxiv_id, reason in reasons.items():
        assert reason == f"arXiv {arxiv_id}: arXiv lookup failed for a batch of 3 ids: giving up after 4 tries: HTTP 503"


def test_stored_pdf_text_has_no_ligatures_or_split_words(corpus: Corpus, fake_arxiv: FakeArxiv) -> None:
    from test_pdf_text import LIGATURE_LINES, _pdf_in_vera

    fake_arxiv._pdf_cache[("2307.08691", 1)] = _pdf_in_vera(LIGATURE_LINES)  # what the fake serves for v1
    _arxiv_run(corpus, fake_arxiv)
    with Store(corpus.state.db_path) as store:
        text = " ".join(c["text"] for c in store.paper_chunks("2307.08691", "arxiv"))
        hits = store.lexical_search("efficient first kernel flushes", 3)
        top = store.get_chunks([hits[0][0]])[0]
    assert "first kernel flushes" in " ".join(text.split()) and "efficient" in text
    assert not any("\ufb00" <= ch <= "\ufb06" for ch in text)
    assert top["paper_id"] == "2307.08691"


def test_progress_callback_counts_papers_and_chunks(corpus: Corpus) -> None:
    from ingest.refresh import Progress

    events: list[Progress] = []
    report = corpus.run(progress=events.append)
    cards = [e for e in events if e.stage == "cards"]
    assert cards[0] == Progress("cards", 0, 2, 0, 0)  # the stage's start, before any work
    assert cards[-1].done == cards[-1].total == 2
    assert cards[-1].chunks_embedded == cards[-1].chunks_to_embed == report.chunks_embedded > 0
    assert [e.done for e in cards] == sorted(e.done for e in cards)
    assert [e.chunks_embedded for e in cards] == sorted(e.chunks_embedded for e in cards)
    # a second run embeds nothing: it still reports the papers, with no chunks
    again: list[Progress] = []
    corpus.run(progress=again.append)
    assert again[-1] == Progress("cards", 2, 2, 0, 0)
