"""`accelsage doctor [--repair]`: check the state directory, one line per check; repair what can be rebuilt.

Checks, in order: the database opens and passes ``PRAGMA quick_check``; the FAISS index file is intact
(checksum) and matches the store and model; the refresh lock (held by a live refresh, or runs left
``running`` by a killed one); the calibration file parses. ``--repair`` rebuilds the index from the
store, marks killed runs ``interrupted``, and moves a damaged database or calibration file aside
(``<name>.damaged-<timestamp>``); a moved database needs ``accelsage refresh`` to rebuild the corpus.
Repairs hold the refresh lock, so they never race a refresh. Exit status 1 when a problem remains.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from index.errors import AccelsageError, DatabaseDamaged
from index.state import StateDir
from index.store import Store
from index.store_factory import open_store

OK, REPAIRED, FAIL = "ok", "REPAIRED", "FAIL"


class Unhealthy(AccelsageError):
    """Some check failed and was not repaired (the lines above say which)."""

    exit_code = 1


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: ``status`` is OK, REPAIRED or FAIL; ``detail`` is one line."""

    check: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<9}{self.check}: {self.detail}"


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its SQLite -wal/-shm companions) to ``<name>.damaged-<UTC timestamp>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))
    return target


def check_database(state: StateDir, repair: bool, database_url: str | None = None) -> tuple[Finding, Store | None]:
    """Open the store and run ``quick_check``; with ``repair`` a damaged file is moved aside.

    A shared PostgreSQL store (``database_url``) is checked by asking the server; there is no file to move.
    """
    if database_url:
        try:
            store = open_store(state, database_url)
        except AccelsageError as exc:
            return Finding("database", FAIL, str(exc)), None
        problems = store.quick_check()
        if problems:
            store.close()
            return Finding("database", FAIL, f"{store.location}: {problems[0]}"), None
        return Finding("database", OK, f"{store.location} answers ({store.chunk_count()} chunks, "
                                       f"schema v{store.schema_version})"), store
    if not state.db_path.is_file():
        return Finding("database", FAIL, f"no database at {state.db_path}: run `accelsage refresh`"), None
    try:
        store = open_store(state)
        problems = store.quick_check()
        if not problems:
            return Finding("database", OK, f"{state.db_path} passes quick_check "
                                           f"({store.chunk_count()} chunks, schema v{store.schema_version})"), store
        store.close()
        detail = f"quick_check: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    except DatabaseDamaged as exc:
        detail = exc.detail
    if not repair:
        return Finding("database", FAIL, f"damaged ({detail}); `accelsage doctor --repair` moves it aside"), None
    moved = move_aside(state.db_path)
    return Finding("database", FAIL, f"damaged ({detail}); moved aside to {moved.name}: "
                                     "run `accelsage refresh` to rebuild the corpus"), None


def check_index(state: StateDir, store: Store, model_id: str, repair: bool, plan: Any = None) -> Finding:
    """The index file is intact and matches the store; with ``repair`` it is rebuilt from the store."""
    from index.vectors import build_from_store, load_matching

    loaded, problem = load_matching(state, store, model_id, plan)
    index = loaded
    if problem and repair:
        index = build_from_store(store, model_id, plan=plan)
        index.save_atomic(state)
    unembedded = store.chunk_count() - (index.count if index is not None else 0)
    if index is not None and unembedded > 0:
        return Finding("index", FAIL, f"{unembedded} chunks have no vector for {model_id}: run `accelsage refresh`")
    if problem is None:
        return Finding("index", OK, f"{index.count} vectors, {index.describe()}, checksum ok, matches the store")
    if repair:
        return Finding("index", REPAIRED, f"rebuilt from the store ({index.count} vectors); it was: {problem}")
    return Finding("index", FAIL, f"{problem}; `accelsage doctor --repair` rebuilds it from the store")


def check_runs(store: Store, lock_holder: str | None, repair: bool) -> Finding:
    """A held lock belongs to a live refresh; runs recorded as running while it is free were killed."""
    if lock_holder is not None:
        return Finding("lock", OK, f"held by a running refresh (pid {lock_holder})")
    stale = [run["id"] for run in store.list_runs(1000) if run["status"] == "running"]
    if not stale:
        return Finding("lock", OK, "free; no run left marked running")
    runs = ", ".join(map(str, stale))
    if repair:
        store.interrupt_running_runs({"noticed_by": "doctor --repair"})
        return Finding("lock", REPAIRED, f"run(s) {runs} left running by a killed refresh marked interrupted")
    return Finding("lock", FAIL, f"free, but run(s) {runs} are still marked running (killed refresh); "
                                 "`accelsage doctor --repair` marks them interrupted")


def check_calibration(state: StateDir, repair: bool) -> Finding:
    """The calibration file parses; with ``repair`` a broken one is moved aside."""
    from agent.costmodel.calibration import load_calibration

    path = state.calibration_path
    if not path.is_file():
        return Finding("calibration", OK, "none (estimates use datasheet efficiencies)")
    try:
        devices = len(load_calibration(path).entries)
    except AccelsageError as exc:
        if repair:
            moved = move_aside(path)
            return Finding("calibration", REPAIRED, f"broken file moved aside to {moved.name}; "
                                                    "run `accelsage calibrate` to measure again")
        return Finding("calibration", FAIL, f"{exc}; `accelsage doctor --repair` moves it aside")
    return Finding("calibration", OK, f"{path.name} parses ({devices} device(s))")


@contextmanager
def _repair_lock(state: StateDir, wanted: bool, holder: str | None, database_url: str | None = None) -> Iterator[bool]:
    """Hold the refresh lock while repairing; yields whether repairs may run."""
    if not wanted or holder is not None:
        yield False
        return
    from ingest.lock import refresh_lock

    with refresh_lock(state.lock_path, database_url):
        yield True


def diagnose(state: StateDir, model_id: str, repair: bool, database_url: str | None = None,
             plan: Any = None) -> list[Finding]:
    """Run every check (and, with ``repair``, the repairs) on ``state`` and its store (``database_url``: shared;
    ``plan``: the exact/ANN index plan the searchers use)."""
    from ingest.lock import lock_holder

    if not state.root.is_dir():
        return [Finding("state", FAIL, f"{state.root} does not exist: run `accelsage refresh`")]
    holder = lock_holder(state.lock_path, database_url)
    findings = []
    if repair and holder is not None:
        findings.append(Finding("repair", FAIL, f"a refresh is running (pid {holder}): nothing repaired; "
                                                "run `accelsage doctor --repair` again after it"))
    with _repair_lock(state, repair, holder, database_url) as can_repair:
        database, store = check_database(state, can_repair, database_url)
        findings.append(database)
        if store is None:
            findings.append(Finding("index", FAIL, "not checked: no usable database"))
        else:
            with store:
                findings.append(check_index(state, store, model_id, can_repair, plan))
                findings.append(check_runs(store, holder, can_repair))
        findings.append(check_calibration(state, can_repair))
    return findings


@click.command("doctor")
@click.option("--repair", is_flag=True,
              help="Rebuild the index, mark killed runs interrupted, move a damaged database or calibration aside.")
def doctor(repair: bool) -> None:
    """Check the state directory (database, index, refresh lock, calibration): one line per check."""
    from api.settings import load_settings
    from api.wiring import index_plan
    from index.embedding import model_id_for, resolve_model_path

    settings = load_settings()
    model_id = model_id_for(resolve_model_path(settings.embedding_model))
    findings = diagnose(StateDir(settings.home), model_id, repair, settings.database_url, index_plan(settings))
    for finding in findings:
        click.echo(finding.line())
    failed = [finding.check for finding in findings if finding.status == FAIL]
    if failed:
        raise Unhealthy(f"{len(failed)} problem(s) left: {', '.join(failed)}")
