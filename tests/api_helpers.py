"""Shared pieces of the corpus-level tests (API, agent evaluation, search quality): the bundled corpus built once, settings for a test app, SSE parsing.

The bundled corpus (every card in ``data/cards``) is built with the real refresh into a cache folder
under pytest's cache dir and only brought up to date on later sessions (the refresh is incremental:
unchanged cards cost no embedding), then copied into a per-session tmp state dir that tests read.
Tests that change the corpus copy it again into their own tmp dir.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from corpus_fixtures import bundled_model_path, session_embedder

from agent.knowledge.catalog import Catalog
from agent.relevance import load_profiles
from api.settings import Settings
from index.embedding import load_batch_embedder
from index.errors import Busy
from index.state import StateDir
from ingest.lock import refresh_lock
from ingest.refresh import refresh
from ingest.sources import load_papers

DATA = Path(__file__).resolve().parents[1] / "data"
BUSY_WAIT_S = 900  # another test session may be building the same cache
_session: dict[str, StateDir] = {}


def bulk_embedder():  # noqa: ANN201
    """The embedder `accelsage refresh` itself uses (sentence-transformers), loaded only when needed."""
    return load_batch_embedder(bundled_model_path())


def build_cache(cache_root: Path) -> StateDir:
    """Bring the cached bundled corpus up to date (incremental refresh), waiting out a concurrent builder."""
    state = StateDir(cache_root / "state")
    deadline = time.monotonic() + BUSY_WAIT_S
    while True:
        try:
            report = refresh(state, load_papers(DATA / "papers.yaml"), DATA / "cards",
                             embedder_factory=bulk_embedder, model_path=bundled_model_path())
            assert report.failed == [], report.failed
            # as `accelsage refresh` does: the technique profiles are embedded once, not by the first question
            embedder = bulk_embedder()
            load_profiles(Catalog.load(DATA), embedder.embed, embedder.model_id, state.root / "cache")
            return state
        except Busy:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def copy_state(src: StateDir, dst_root: Path) -> StateDir:
    """A consistent copy of a state dir: SQLite through the backup API, then the index files."""
    dst = StateDir(dst_root).ensure()
    with refresh_lock(src.lock_path):  # no refresh rewrites the source while we copy it
        source = sqlite3.connect(str(src.db_path))
        target = sqlite3.connect(str(dst.db_path))
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        for path in (src.index_path, src.index_meta_path):
            if path.is_file():
                shutil.copy2(path, dst.root / path.name)
        for path in (src.root / "cache").glob("technique-profiles-*.npy"):
            (dst.root / "cache").mkdir(exist_ok=True)
            shutil.copy2(path, dst.root / "cache" / path.name)
    return dst


@pytest.fixture(scope="session")
def bundled_state(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> StateDir:
    """A tmp state dir holding the whole bundled corpus; read-only for tests (built once per session)."""
    if "bundled" not in _session:
        cache_provider = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
        root = (Path(cache_provider.mkdir("accelsage-bundled-corpus")) if cache_provider is not None
                else tmp_path_factory.mktemp("corpus-cache"))
        cache = build_cache(root)
        _session["bundled"] = copy_state(cache, tmp_path_factory.mktemp("bundled") / "state")
    return _session["bundled"]


def make_settings(state: StateDir, **overrides: object) -> Settings:
    """Settings for a test app over ``state``: no .env, no rate limit, no schedule, no index polling, answers in
    threads (a test that wants answer processes asks for them)."""
    values: dict[str, object] = {"home": state.root, "data_dir": DATA, "rate_limit_per_min": 0, "admin_token": None,
                                 "refresh_schedule": None, "index_watch_s": 0, "llm": None, "cors_origins": [],
                                 "answer_processes": 0}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def query_embedder():  # noqa: ANN201
    """The session's numpy query embedder (loaded once), so each test app skips loading the model."""
    return session_embedder().inner


def parse_sse(text: str) -> list[tuple[str, object]]:
    """Server-sent events as (event name, JSON data), in order."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            payload = "\n".join(data)
            events.append((name, payload if payload == "[DONE]" else json.loads(payload)))
    return events


class ServerThread:
    """A real uvicorn server for ``app`` on 127.0.0.1 (a free port) in a daemon thread; use as a context manager."""

    def __init__(self, app, config=None) -> None:  # noqa: ANN001
        """Args: config: a ready ``uvicorn.Config`` (e.g. from ``api.commands.serve.uvicorn_config``); default plain."""
        import socket

        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
