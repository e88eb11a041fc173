"""The refresh on a shared PostgreSQL store: incremental runs, an index per replica, the advisory lock, new corpora.

Each "machine" is a state directory of its own (its FAISS index, its PDFs) on the same database URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from corpus_fixtures import Corpus, bundled_model_path, corpus, session_embedder, wait_for, write_card  # noqa: F401
from fake_arxiv import FakeArxiv, fake_arxiv, make_feed  # noqa: F401
from pg_helpers import pg_url  # noqa: F401

from api.settings import Settings
from api.wiring import build_index_watcher
from index.errors import Busy
from index.search import open_searcher
from index.state import StateDir
from index.store_factory import open_store
from ingest.lock import lock_holder, refresh_lock
from ingest.refresh import close_interrupted_runs

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _arxiv_run(corpus: Corpus, fake: FakeArxiv, url: str, **options: object):
    return corpus.run(feed=make_feed(fake), include_arxiv=True, database_url=url, **options)


def _searcher(state: StateDir, url: str):
    return open_searcher(state, bundled_model_path(), query_embedder=session_embedder().inner, database_url=url)


def test_refresh_fills_the_shared_store_and_the_next_run_is_incremental(corpus, fake_arxiv, pg_url) -> None:
    first = _arxiv_run(corpus, fake_arxiv, pg_url)
    assert first.status == "ok" and first.pdfs_downloaded == 3 and first.chunks_embedded > 0
    assert not corpus.state.db_path.exists()  # nothing went into a SQLite file
    with open_store(corpus.state, pg_url) as store:
        assert {p["paper_id"] for p in store.list_papers()} >= {"2406.16858", "2307.08691", "2309.06180"}
        assert store.get_run(first.run_id)["status"] == "ok"
        assert store.chunk_count() == first.index_count
    second = _arxiv_run(corpus, fake_arxiv, pg_url)
    assert (second.pdfs_downloaded, second.chunks_embedded, second.added, second.updated) == (0, 0, [], [])
    searcher = _searcher(corpus.state, pg_url)
    assert searcher.rebuilt_reason is None  # the refresh saved an index matching the shared store
    assert searcher.search("paged key-value cache blocks", k=3)[0].paper_id == "2309.06180"


def test_each_replica_builds_its_own_index_from_the_shared_store(corpus, fake_arxiv, pg_url, tmp_path) -> None:
    _arxiv_run(corpus, fake_arxiv, pg_url)
    replica = StateDir(tmp_path / "replica")
    searcher = _searcher(replica, pg_url)
    assert searcher.rebuilt_reason is not None and replica.index_path.is_file()
    own = _searcher(corpus.state, pg_url)
    for query in ("dynamic draft tree", "paged key-value cache blocks", "one fused decoding kernel"):
        assert ([hit.chunk_id for hit in searcher.search(query, k=5)]
                == [hit.chunk_id for hit in own.search(query, k=5)])


def test_a_second_refresh_on_another_machine_is_refused(corpus, fake_arxiv, pg_url, tmp_path) -> None:
    release = fake_arxiv.hold_pdf("2309.06180")
    results: dict[str, object] = {}
    worker = threading.Thread(target=lambda: results.update(report=_arxiv_run(corpus, fake_arxiv, pg_url)))
    worker.start()
    try:
        wait_for(lambda: fake_arxiv.counts["pdf:2309.06180"] == 1)
        assert lock_holder(corpus.state.lock_path, pg_url).startswith(f"{os.getpid()} on ")
        # another machine: its own process and state directory, the same database; the file lock would not see us
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELSAGE_")}
        env.update(ACCELSAGE_HOME=str(tmp_path / "machine-b"), ACCELSAGE_DATABASE_URL=pg_url)
        other = subprocess.run([sys.executable, "-m", "api.cli", "refresh"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=120)
        assert other.returncode == Busy.exit_code, other.stderr
        assert f"error: a refresh is already running (pid {os.getpid()} on " in other.stderr
        with pytest.raises(Busy):
            corpus.run(database_url=pg_url)  # the same machine is refused too
    finally:
        release.set()
        worker.join(timeout=120)
    assert results["report"].status == "ok"
    assert lock_holder(corpus.state.lock_path, pg_url) is None  # released at the end of the run


def test_runs_left_running_are_closed_only_while_nobody_holds_the_lock(corpus, pg_url) -> None:
    with open_store(corpus.state, pg_url) as store:
        killed = store.start_run()
        with refresh_lock(corpus.state.lock_path, pg_url):
            assert close_interrupted_runs(corpus.state, store, "test") == []
        assert close_interrupted_runs(corpus.state, store, "test") == [killed]
        assert store.get_run(killed)["status"] == "interrupted"


def test_a_replica_notices_a_refresh_from_another_machine_and_swaps_its_index(corpus, pg_url, tmp_path) -> None:
    corpus.run(database_url=pg_url)
    replica = StateDir(tmp_path / "replica")
    searcher = _searcher(replica, pg_url)
    settings = Settings(_env_file=None, home=replica.root, database_url=pg_url)
    watcher = build_index_watcher(settings, searcher, replica.index_meta_path)
    assert watcher.changed() is False
    query = "quantised mixture of experts routing on one GPU"
    assert all(hit.paper_id != "moe-note" for hit in searcher.search(query, k=5))
    before = searcher.snapshot
    write_card(corpus.cards_dir, "moe-note", "A Note on Mixture of Experts Routing",
               {"Idea": "Quantised mixture of experts routing keeps every expert on one GPU."})
    corpus.run(database_url=pg_url)  # the refresh job on another machine (its own state directory)
    assert watcher.changed() is True
    assert searcher.reload() is not None  # the replica rebuilt its own index from the shared store
    watcher.mark_seen()  # as the server does after its own reload
    assert searcher.search(query, k=5)[0].paper_id == "moe-note"
    assert before.vectors.fingerprint != searcher.snapshot.vectors.fingerprint
    assert watcher.changed() is False  # once per new corpus
