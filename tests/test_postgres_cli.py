"""The CLI on a shared PostgreSQL store (ACCELSAGE_DATABASE_URL): refresh, search, status, reindex, doctor, bad URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pg_helpers import pg_url  # noqa: F401  (fixture)
from test_cli_corpus import _run, cli_env  # noqa: F401  (fixture)

from index.state import StateDir
from index.store_factory import open_store


@pytest.fixture
def shared(cli_env: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    monkeypatch.setenv("ACCELSAGE_DATABASE_URL", pg_url)
    return pg_url


def test_refresh_search_status_reindex_and_doctor_use_the_shared_store(shared, cli_env, capsys) -> None:  # noqa: F811
    code, out, _ = _run(capsys, "refresh")
    assert code == 0 and out.startswith("refresh ok (run 1): 2 added")
    assert not (cli_env / "accelsage.db").exists()  # no SQLite file was made
    with open_store(StateDir(cli_env), shared) as store:
        assert store.chunk_count() == 2
    code, out, _ = _run(capsys, "search", "persistent kernel forward pass", "-k", "1", "--json")
    assert code == 0 and json.loads(out)["hits"][0]["paper_id"] == "megakernel-blog"
    code, out, _ = _run(capsys, "refresh", "--status", "--json")
    assert code == 0 and [(run["id"], run["status"]) for run in json.loads(out)["runs"]] == [(1, "ok")]
    code, out, _ = _run(capsys, "reindex")
    assert code == 0 and out.startswith("index rebuilt: 2 chunks")
    code, out, err = _run(capsys, "doctor")
    assert code == 0, out + err
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["ok", "database:"], ["ok", "index:"], ["ok", "lock:"], ["ok", "calibration:"]]
    assert "postgresql://" in out.splitlines()[0] and "2 chunks, schema v4" in out


def test_search_on_an_empty_shared_store_says_to_refresh(shared, capsys) -> None:
    code, out, err = _run(capsys, "search", "draft trees")
    assert code == 2 and out == ""
    assert err == "error: the corpus is empty: run `accelsage refresh` first\n"


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://u@h/db", "unsupported database URL scheme 'mysql'"),
     ("postgresql://u:hunter2@127.0.0.1:1/none", "cannot connect to the database postgresql://u:***@127.0.0.1:1/none")],
)
def test_a_bad_database_url_is_one_line(cli_env, monkeypatch, capsys, url, message) -> None:  # noqa: F811
    monkeypatch.setenv("ACCELSAGE_DATABASE_URL", url)
    code, out, err = _run(capsys, "refresh")
    assert code == 2 and out == ""
    assert err.startswith(f"error: {message}") and err.count("\n") == 1 and "hunter2" not in err
