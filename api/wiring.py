"""Build the lower layers' objects from settings: the one place the CLI commands and the server share.

Imports stay inside the functions so a light command (``accelsage gpus``) loads only what it uses.
"""

from __future__ import annotations

from typing import Any

# Parsed catalog YAML is cached here, inside the state directory: re-parsing every data file cost a
# cold `accelsage ask` 0.1-0.8 s.
CATALOG_CACHE_DIR = "cache"


def load_catalog(settings: Any) -> Any:
    """The catalog of ``settings.data_dir``, with its parsed-YAML cache in the state directory."""
    from pathlib import Path

    from agent.knowledge.catalog import Catalog

    return Catalog.load(settings.data_dir, cache_dir=Path(settings.home) / CATALOG_CACHE_DIR)


def index_plan(settings: Any) -> Any:
    """Exact vs ANN vector search from the settings (one plan for every caller, or each rebuilds the others' index)."""
    from index.index_plan import IndexPlan  # noqa: PLC0415

    return IndexPlan(exact_max_vectors=settings.exact_search_max_vectors, ann_kind=settings.ann_kind,
                     ivf_nprobe=settings.ivf_nprobe, hnsw_ef_search=settings.hnsw_ef_search)


def load_calibration(settings: Any) -> Any:
    """Measured efficiencies from ``accelsage calibrate``, or None when nothing was measured here."""
    from index.state import StateDir

    path = StateDir(settings.home).calibration_path
    if not path.is_file():
        return None
    from agent.costmodel.calibration import load_calibration as read

    return read(path)


def build_llm(settings: Any) -> Any:
    """The optional LLM planner; None without ``ACCELSAGE_LLM`` (LangChain is imported only with one)."""
    if not settings.llm:
        return None
    from agent.llm.planner import LlmPlanner

    return LlmPlanner.from_spec(settings.llm, base_url=settings.llm_base_url, api_key=settings.llm_api_key,
                                timeout_s=settings.llm_timeout_s)


def build_feed(settings: Any) -> Any:
    """The arXiv client the refresh uses, with the allow-list, pacing, retries and download limit of ``settings``."""
    from ingest.arxiv_feed import ArxivFeed

    return ArxivFeed(settings.arxiv_api_url, settings.arxiv_allowed_hosts, delay_s=settings.arxiv_delay_s,
                     retries=settings.arxiv_retries, max_bytes=int(settings.max_download_mb * 1e6))


class CorpusWatcher:
    """Notices a new corpus in a shared store (a refresh finished on any machine) by polling the store.

    The same two calls as ``api.scheduler.IndexWatcher`` (``changed``, ``mark_seen``), so the server's
    background loop and answer processes can use either. A poll reads the newest refresh runs; when they
    changed (a run started, finished or was marked interrupted) it compares the store's fingerprint with
    the one the searcher's index was built from, and says "changed" only when they differ. Chunks written
    while a refresh is still running do not trigger a rebuild each; its end does. A change of the local
    index file (another process on this machine rebuilt it) counts too.
    """

    RUNS_COMPARED = 3  # the newest runs whose (id, status) are compared between polls

    def __init__(self, searcher: Any, model_id: str, meta_path: Any) -> None:
        from api.scheduler import IndexWatcher

        self.searcher = searcher
        self.model_id = model_id
        self.local = IndexWatcher(meta_path)
        self._seen = self._runs()

    def _runs(self) -> list[tuple[int, str]] | None:
        try:
            return [(run["id"], run["status"]) for run in self.searcher.snapshot.store.list_runs(self.RUNS_COMPARED)]
        except Exception:  # a server that is down now is asked again at the next poll
            return None

    def changed(self) -> bool:
        """True when the local index file changed, or a refresh run changed and left the corpus different."""
        local = self.local.changed()
        runs = self._runs()
        if runs is None or runs == self._seen:
            return local
        self._seen = runs
        snapshot = self.searcher.snapshot
        try:
            return local or snapshot.store.fingerprint(self.model_id) != snapshot.vectors.fingerprint
        except Exception:
            self._seen = None  # ask again at the next poll
            return local

    def mark_seen(self) -> None:
        self.local.mark_seen()
        self._seen = self._runs()


def build_index_watcher(settings: Any, searcher: Any, meta_path: Any) -> Any:
    """What tells the server its corpus changed: the index file, and in PostgreSQL the shared refresh runs too."""
    from api.scheduler import IndexWatcher

    if not settings.database_url:
        return IndexWatcher(meta_path)
    return CorpusWatcher(searcher, searcher.query_embedder.model_id, meta_path)
