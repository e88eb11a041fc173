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
