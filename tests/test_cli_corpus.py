"""`accelsage refresh|reindex|search` through ``api.cli.main`` with a tmp home and a tmp data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from corpus_fixtures import session_embedder, write_card
from fake_arxiv import FakeArxiv, fake_arxiv  # noqa: F401 (fixture)

import index.embedding
from api.cli import main
from ingest.lock import refresh_lock

PAPERS = [
    {"id": "2406.16858", "arxiv_id": "2406.16858", "title": "EAGLE-2: Faster Inference of Language Models with "
     "Dynamic Draft Trees", "first_author": "Li", "year": 2024, "kind": "paper", "card": "2406.16858.md"},
    {"id": "megakernel-blog", "arxiv_id": None, "title": "A Blog Post About One Fused Decoding Kernel",
     "kind": "blog", "card": "megakernel-blog.md"},
]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ACCELSAGE_HOME and ACCELSAGE_DATA_DIR in tmp; the batch embedder swapped for the numpy one.

    Both compute the same vectors (a test in the index suite checks it); the numpy one skips the
    seconds-long torch import, which the CLI only does when something needs embedding.
    """
    data = tmp_path / "data"
    (data / "cards").mkdir(parents=True)
    (data / "papers.yaml").write_text(yaml.safe_dump(PAPERS), encoding="utf-8")
    write_card(data / "cards", "2406.16858", PAPERS[0]["title"], {
        "Idea": "The draft tree grows where the draft model is confident, using its scores as acceptance estimates.",
    })
    write_card(data / "cards", "megakernel-blog", PAPERS[1]["title"], {
        "Idea": "One persistent kernel runs the whole forward pass and overlaps weight loads with compute.",
    })
    monkeypatch.setenv("ACCELSAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCELSAGE_DATA_DIR", str(data))
    monkeypatch.setattr(index.embedding, "load_batch_embedder", lambda path: session_embedder())
    return tmp_path / "home"


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_before_refresh_says_to_refresh(cli_env: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(capsys, "search", "draft trees")
    assert code == 2 and out == ""
    assert err == "error: the corpus is empty: run `accelsage refresh` first\n"


def test_refresh_then_search(cli_env: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _run(capsys, "refresh")
    assert code == 0
    assert out.startswith("refresh ok (run 1): 2 added, 0 updated, 0 unchanged, 0 failed; 2 chunks embedded")

    code, out, _ = _run(capsys, "search", "persistent kernel forward pass", "-k", "2", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["query"] == "persistent kernel forward pass" and len(data["hits"]) == 2
    assert set(data["hits"][0]) == {"arxiv_id", "title", "score", "text", "page", "section", "paper_id", "source"}
    assert (data["hits"][0]["paper_id"], data["hits"][0]["section"]) == ("megakernel-blog", "Idea")

    code, out, _ = _run(capsys, "search", "draft tree", "--mode", "lexical")
    assert code == 0 and out.startswith(" 1. 2406.16858  [card] EAGLE-2")


def test_refresh_status_lists_runs(cli_env: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(capsys, "refresh", "--status")[1] == "no refresh has run yet: run `accelsage refresh`\n"
    _run(capsys, "refresh")
    _run(capsys, "refresh")
    code, out, _ = _run(capsys, "refresh", "--status")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["run", "status", "started", "finished", "added", "updated",
                                              "unchanged", "failed"]
    assert [line.split()[:2] for line in lines[2:]] == [["2", "ok"], ["1", "ok"]]
    runs = json.loads(_run(capsys, "refresh", "--status", "--json")[1])["runs"]
    assert [(r["id"], r["added"], r["unchanged"]) for r in runs] == [(2, 0, 2), (1, 2, 0)]


def test_reindex(cli_env: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(capsys, "reindex")
    assert code == 2 and err.count("\n") == 1 and "accelsage refresh" in err
    _run(capsys, "refresh")
    code, out, _ = _run(capsys, "reindex")
    assert code == 0 and out.startswith("index rebuilt: 2 chunks")


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "kernel", "-k", "0"], "-k must be between 1 and 50"),
        (["search", "kernel", "-k", "51"], "-k must be between 1 and 50"),
        (["search", "   "], "empty search query"),
    ],
)
def test_bad_search_input_is_one_line(cli_env: Path, capsys: pytest.CaptureFixture, args: list[str], message: str) -> None:
    _run(capsys, "refresh")
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_refresh_while_locked_is_busy(cli_env: Path, capsys: pytest.CaptureFixture) -> None:
    with refresh_lock(cli_env / "refresh.lock"):
        code, out, err = _run(capsys, "refresh")
    assert code == 3 and out == ""
    assert err.startswith("error: a refresh is already running (pid ") and err.count("\n") == 1


def test_refresh_arxiv_json(cli_env: Path, capsys: pytest.CaptureFixture, fake_arxiv: FakeArxiv,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELSAGE_ARXIV_API_URL", fake_arxiv.api_url)
    monkeypatch.setenv("ACCELSAGE_ARXIV_ALLOWED_HOSTS", '["127.0.0.1"]')
    monkeypatch.setenv("ACCELSAGE_ARXIV_DELAY_S", "0")
    code, out, _ = _run(capsys, "refresh", "--arxiv", "--json")
    report = json.loads(out)
    assert code == 0 and report["status"] == "ok"
    assert (report["pdfs_downloaded"], report["added"]) == (1, ["2406.16858", "megakernel-blog"])
    assert [u["paper_id"] for u in report["unresolved"]] == ["megakernel-blog"]
    assert fake_arxiv.counts["pdf"] == 1


def test_refresh_arxiv_refuses_a_foreign_api_host(cli_env: Path, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELSAGE_ARXIV_API_URL", "http://evil.example.com/api/query")
    code, _, err = _run(capsys, "refresh", "--arxiv")
    assert code == 2 and "refusing to fetch http://evil.example.com/api/query" in err and err.count("\n") == 1


def test_search_never_imports_torch(cli_env: Path, capsys: pytest.CaptureFixture) -> None:
    _run(capsys, "refresh")
    script = (
        "import sys; from api.cli import main; code = main(['search', 'persistent kernel', '--json']); "
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', code)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=os.environ)
    assert done.stdout.strip().splitlines()[-1] == "NO-TORCH 0", done.stderr
    assert json.loads(done.stdout.rsplit("\n", 2)[0])["hits"][0]["paper_id"] == "megakernel-blog"


# --- killed runs, failure summaries, damaged database ----------------------------------------------


def _record_run(home: Path, status: str | None, failures: list[tuple[str, str]] = ()) -> int:
    """A run row as a refresh leaves it: finished with ``status``, or (None) killed while running."""
    from index.store import Store

    with Store(home / "accelsage.db") as store:
        run_id = store.start_run()
        if status is not None:
            store.finish_run(run_id, {"status": status, "failed": len(failures), "failures": list(failures)})
    return run_id


def test_status_marks_a_killed_run_interrupted(cli_env: Path, capsys: pytest.CaptureFixture) -> None:
    _run(capsys, "refresh")
    killed = _record_run(cli_env, None)  # started, then the process died: nobody holds the lock
    with refresh_lock(cli_env / "refresh.lock"):  # while a refresh holds the lock, its run is running
        held = json.loads(_run(capsys, "refresh", "--status", "--json")[1])["runs"]
    assert [(r["id"], r["status"]) for r in held] == [(killed, "running"), (1, "ok")]
    code, out, _ = _run(capsys, "refresh", "--status")
    assert code == 0 and [line.split()[:2] for line in out.splitlines()[2:4]] == [[str(killed), "interrupted"],
                                                                                ["1", "ok"]]
    run = json.loads(_run(capsys, "refresh", "--status", "--json")[1])["runs"][0]
    assert (run["status"], run["notes"]) == ("interrupted", {"noticed_by": "refresh --status"})


def test_status_summarises_failures_by_reason(cli_env: Path, capsys: pytest.CaptureFixture) -> None:
    failures = [(f"2401.{n:05d}", f"arXiv 2401.{n:05d}: arXiv lookup failed for a batch of 100 ids: "
                 "giving up after 5 tries: HTTP 503") for n in range(100)]
    failures += [(f"2402.{n:05d}", f"arXiv 2402.{n:05d}v1: HTTP 404 from https://arxiv.org/pdf/2402.{n:05d}v1")
                 for n in range(57)]
    failures += [("2403.00001", "arXiv 2403.00001v2: cannot read PDF: PdfReadError: EOF marker not found")]
    run_id = _record_run(cli_env, "partial", failures)
    code, out, _ = _run(capsys, "refresh", "--status")
    assert code == 0
    assert out.splitlines()[3:] == [
        f"run {run_id}: 158 failed",
        "  100 failed: arXiv lookup failed for a batch of 100 ids: giving up after 5 tries: HTTP 503",
        "  57 failed: HTTP 404 from <url>",
        "  failed 2403.00001: arXiv 2403.00001v2: cannot read PDF: PdfReadError: EOF marker not found",
        "  (--verbose lists each paper)",
    ]
    code, out, _ = _run(capsys, "refresh", "--status", "--verbose")
    failed_lines = [line for line in out.splitlines() if line.startswith("  failed ")]
    assert code == 0 and len(failed_lines) == 158
    assert "  failed 2402.00056: arXiv 2402.00056v1: HTTP 404 from https://arxiv.org/pdf/2402.00056v1" in failed_lines


def _damage_header(home: Path) -> None:
    with open(home / "accelsage.db", "r+b") as handle:
        handle.write(b"definitely not an SQLite header!" * 3)


@pytest.mark.parametrize("args", [["refresh"], ["refresh", "--status"], ["search", "draft tree"], ["reindex"]])
def test_damaged_database_is_one_line_for_every_command(cli_env: Path, capsys: pytest.CaptureFixture,
                                                        args: list[str]) -> None:
    _run(capsys, "refresh")
    _damage_header(cli_env)
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: the database {cli_env / 'accelsage.db'} is damaged (file is not a database); ")
    assert "accelsage doctor --repair" in err and "accelsage refresh" in err


def test_serve_refuses_a_damaged_database_in_one_line(cli_env: Path) -> None:
    from index.store import Store

    Store(cli_env / "accelsage.db").close()
    _damage_header(cli_env)
    done = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--port", "0"], capture_output=True, text=True,
                          timeout=120, env=os.environ, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "is damaged (file is not a database)" in done.stderr


def test_refresh_shows_progress_on_stderr_and_keeps_stdout_one_line(cli_env: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(capsys, "refresh")  # capsys: stderr is not a TTY, so plain lines
    assert code == 0
    assert out.count("\n") == 1 and out.startswith("refresh ok (run 1): 2 added")
    lines = err.splitlines()
    assert lines[0] == "cards 0/2 papers"
    assert lines[-1] == "cards 2/2 papers; embedded 2/2 chunks"

    code, out, err = _run(capsys, "refresh", "--json")
    assert code == 0 and json.loads(out)["status"] == "ok"  # stdout stays clean JSON
    assert err.splitlines()[-1] == "cards 2/2 papers"
