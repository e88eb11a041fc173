"""`accelsage doctor [--repair]`: one line per check of the state directory, repairs, and the exit status."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_cli_corpus import _damage_header, _record_run, _run, cli_env  # noqa: F401 (fixture)

from ingest.lock import refresh_lock

HEALTHY = [
    ("ok", "database"),
    ("ok", "index"),
    ("ok", "lock"),
    ("ok", "calibration"),
]


def _doctor(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, list[tuple[str, str, str]], str]:
    code, out, err = _run(capsys, "doctor", *args)
    lines = [re.match(r"^(\S+)\s+(\w+): (.*)$", line).groups() for line in out.splitlines()]
    return code, lines, err


def _statuses(lines: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(status, check) for status, check, _ in lines]


@pytest.fixture
def refreshed(cli_env: Path, capsys: pytest.CaptureFixture) -> Path:  # noqa: F811
    assert _run(capsys, "refresh")[0] == 0
    return cli_env


def test_healthy_state_passes_every_check(refreshed: Path, capsys: pytest.CaptureFixture) -> None:
    code, lines, err = _doctor(capsys)
    assert code == 0 and err == "" and _statuses(lines) == HEALTHY
    assert lines[1][2] == "2 vectors, flat (exact), checksum ok, matches the store"


def test_index_damaged_in_place_is_found_and_rebuilt(refreshed: Path, capsys: pytest.CaptureFixture) -> None:
    with open(refreshed / "index.faiss", "r+b") as handle:
        handle.seek(120)
        handle.write(b"\xff" * 8)
    code, lines, err = _doctor(capsys)
    assert code == 1 and _statuses(lines)[1] == ("FAIL", "index")
    assert "checksum does not match" in lines[1][2] and err == "error: 1 problem(s) left: index\n"
    code, lines, _ = _doctor(capsys, "--repair")
    assert code == 0 and _statuses(lines)[1] == ("REPAIRED", "index")
    assert lines[1][2].startswith("rebuilt from the store (2 vectors); it was: index file checksum")
    assert _statuses(_doctor(capsys)[1]) == HEALTHY


def test_run_left_running_by_a_killed_refresh_is_marked_interrupted(refreshed: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    killed = _record_run(refreshed, None)
    code, lines, _ = _doctor(capsys)
    assert code == 1 and lines[2][:2] == ("FAIL", "lock") and f"run(s) {killed} are still marked running" in lines[2][2]
    code, lines, _ = _doctor(capsys, "--repair")
    assert code == 0 and lines[2][:2] == ("REPAIRED", "lock")
    runs = json.loads(_run(capsys, "refresh", "--status", "--json")[1])["runs"]
    assert (runs[0]["id"], runs[0]["status"]) == (killed, "interrupted")


def test_broken_calibration_is_moved_aside(refreshed: Path, capsys: pytest.CaptureFixture) -> None:
    (refreshed / "calibration.json").write_text("{not json")
    code, lines, _ = _doctor(capsys)
    assert code == 1 and lines[3][:2] == ("FAIL", "calibration") and "is not valid" in lines[3][2]
    code, lines, _ = _doctor(capsys, "--repair")
    assert code == 0 and lines[3][:2] == ("REPAIRED", "calibration") and "accelsage calibrate" in lines[3][2]
    assert not (refreshed / "calibration.json").exists()
    assert len(list(refreshed.glob("calibration.json.damaged-*"))) == 1


def test_damaged_database_is_moved_aside_and_refresh_rebuilds(refreshed: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    _damage_header(refreshed)
    code, lines, _ = _doctor(capsys)
    assert code == 1 and _statuses(lines)[:2] == [("FAIL", "database"), ("FAIL", "index")]
    assert "damaged (file is not a database)" in lines[0][2] and "--repair" in lines[0][2]
    code, lines, err = _doctor(capsys, "--repair")
    moved = list(refreshed.glob("accelsage.db.damaged-*"))
    assert code == 1 and len(moved) == 1 and not (refreshed / "accelsage.db").exists()
    assert lines[0][2].endswith(f"moved aside to {moved[0].name}: run `accelsage refresh` to rebuild the corpus")
    assert moved[0].read_bytes().startswith(b"definitely not an SQLite header!")
    assert _run(capsys, "refresh")[0] == 0
    assert _statuses(_doctor(capsys)[1]) == HEALTHY


def test_repair_waits_for_a_running_refresh(refreshed: Path, capsys: pytest.CaptureFixture) -> None:
    (refreshed / "index.faiss").write_bytes(b"garbage")
    with refresh_lock(refreshed / "refresh.lock"):
        code, lines, _ = _doctor(capsys, "--repair")
    assert code == 1 and lines[0][:2] == ("FAIL", "repair") and "nothing repaired" in lines[0][2]
    assert lines[2][:2] == ("FAIL", "index") and lines[3][:2] == ("ok", "lock") and "pid" in lines[3][2]
    assert (refreshed / "index.faiss").read_bytes() == b"garbage"


def test_missing_state_directory_says_to_refresh(cli_env: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    code, lines, err = _doctor(capsys)
    assert code == 1 and lines == [("FAIL", "state", f"{cli_env} does not exist: run `accelsage refresh`")]
