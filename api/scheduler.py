"""Refresh scheduling inside the server: background refresh jobs, a small cron parser, and index watching.

A refresh runs in a daemon thread; the refresh's own file lock refuses a second run across worker
processes (the loser records status ``busy``). After a run the searcher swaps in the new index
(``Searcher.reload``) while queries keep being answered. Each worker also watches the index file,
so a refresh done by another worker or by ``accelsage refresh`` reaches every worker.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from api.schemas import RefreshJob
from index.errors import AccelsageError, Busy, NotFound

log = logging.getLogger("accelsage.scheduler")

JOBS_KEPT = 50
_SHORTCUTS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
              "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_PART = re.compile(r"^(\*|\d+(?:-\d+)?)(?:/(\d+))?$")
SEARCH_YEARS = 5  # a schedule with no time in this span (e.g. Feb 30) is refused


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _parse_field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for part in text.split(","):
        match = _PART.match(part)
        if not match:
            raise AccelsageError(f"cron {_NAMES[index]} field: cannot read {part!r}")
        span, step = match.group(1), int(match.group(2) or 1)
        if span == "*":
            start, end = low, high
        elif "-" in span:
            start, end = (int(x) for x in span.split("-"))
        else:
            start = end = int(span)
            if match.group(2):
                end = high
        if not (low <= start <= end <= high) or step < 1:
            raise AccelsageError(f"cron {_NAMES[index]} field: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if index == 4 and 7 in values:  # 7 is another name for Sunday
        values = (values - {7}) | {0}
    return frozenset(values)


class CronSchedule:
    """Five-field cron (minute hour day-of-month month day-of-week, UTC) with ``*``, ``a-b``, ``/n``, lists, @daily...

    As in Vixie cron, when both day fields are restricted a day matching either one fires.
    """

    def __init__(self, expression: str) -> None:
        text = _SHORTCUTS.get(expression.strip().lower(), expression.strip())
        fields = text.split()
        if len(fields) != 5:
            raise AccelsageError(f"cron schedule {expression!r} needs 5 fields (minute hour day month weekday)")
        self.expression = expression
        self.minutes, self.hours, self.days, self.months, self.weekdays = (
            _parse_field(f, i) for i, f in enumerate(fields))
        self._any_day, self._any_weekday = fields[2] == "*", fields[4] == "*"
        self.next_after(datetime(2000, 1, 1, tzinfo=timezone.utc))  # refuses schedules that never fire

    def _day_matches(self, when: datetime) -> bool:
        cron_weekday = (when.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
        by_day, by_weekday = when.day in self.days, cron_weekday in self.weekdays
        if self._any_day or self._any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def next_after(self, when: datetime) -> datetime:
        """The first firing time strictly after ``when`` (aware datetimes; naive ones are taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        t = when.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * SEARCH_YEARS)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise AccelsageError(f"cron schedule {self.expression!r} never fires")


class RefreshJobs:
    """Refresh runs started by this process, one at a time, each in its own daemon thread.

    Args:
        run_refresh: does the refresh (``arxiv`` flag in); returns the ``RunReport``; raises ``Busy``.
        after_run: called after every run that was not refused (reload the searcher).
        on_finish: called with the final status (metrics).
    """

    def __init__(self, run_refresh: Callable[[bool], Any], after_run: Callable[[], None],
                 on_finish: Callable[[str], None] = lambda status: None) -> None:
        self._run_refresh = run_refresh
        self._after_run = after_run
        self._on_finish = on_finish
        self._jobs: OrderedDict[str, RefreshJob] = OrderedDict()
        self._lock = threading.Lock()
        self._active: str | None = None
        self._threads: list[threading.Thread] = []

    def submit(self, trigger: str, arxiv: bool = False) -> RefreshJob:
        """Start a run; ``Busy`` if this process already runs one."""
        with self._lock:
            if self._active is not None:
                raise Busy(f"a refresh is already running (run {self._active})")
            job = RefreshJob(run_id=uuid.uuid4().hex[:12], status="queued", trigger=trigger, arxiv=arxiv)
            self._jobs[job.run_id] = job
            while len(self._jobs) > JOBS_KEPT:
                self._jobs.popitem(last=False)
            self._active = job.run_id
            thread = threading.Thread(target=self._run, args=(job.run_id,), name=f"refresh-{job.run_id}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job.model_copy()

    def get(self, run_id: str) -> RefreshJob:
        """A copy of one job's state; ``NotFound`` for an unknown id."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                raise NotFound(f"no refresh run {run_id!r} in this server")
            return job.model_copy()

    @property
    def running(self) -> bool:
        with self._lock:
            return self._active is not None

    def wait(self, timeout_s: float | None = None) -> None:
        """Join the run threads (shutdown and tests)."""
        for thread in list(self._threads):
            thread.join(timeout_s)

    def _update(self, run_id: str, **fields: Any) -> None:
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None:
                self._jobs[run_id] = job.model_copy(update=fields)

    def _run(self, run_id: str) -> None:
        arxiv = self.get(run_id).arxiv
        self._update(run_id, status="running", started_at=_now())
        status, fields = "error", {}
        try:
            report = self._run_refresh(arxiv)
            status = report.status if report.status in ("ok", "partial", "error", "interrupted") else "error"
            fields = {"report": report.to_dict(), "store_run_id": report.run_id}
        except Busy as exc:
            status, fields = "busy", {"message": str(exc)}
        except AccelsageError as exc:
            fields = {"message": str(exc)}
        except Exception as exc:  # a background thread must record why it died, never vanish
            log.exception("refresh run %s failed", run_id)
            fields = {"message": f"{exc.__class__.__name__}: {exc}"}
        try:
            if status != "busy":
                self._after_run()
        except Exception as exc:
            log.exception("reloading the index after refresh %s failed", run_id)
            fields["message"] = f"refresh done but reloading the index failed: {exc}"
        finally:
            self._update(run_id, status=status, finished_at=_now(), **fields)
            with self._lock:
                self._active = None
            self._on_finish(status)


class IndexWatcher:
    """Notices when the index metadata file changes on disk (another process finished a refresh)."""

    def __init__(self, meta_path: Path) -> None:
        self.meta_path = Path(meta_path)
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.meta_path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def changed(self) -> bool:
        """True once per change since the last call (or since :meth:`mark_seen`)."""
        stamp = self._stamp()
        if stamp != self._seen:
            self._seen = stamp
            return True
        return False

    def mark_seen(self) -> None:
        self._seen = self._stamp()


class Background:
    """One daemon thread firing the cron schedule and polling the index watcher until stopped."""

    def __init__(self, jobs: RefreshJobs, schedule: CronSchedule | None, arxiv: bool,
                 watcher: IndexWatcher | None, reload: Callable[[], None], watch_every_s: float,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 last_run_started: Callable[[], datetime | None] = lambda: None) -> None:
        self.jobs, self.schedule, self.arxiv = jobs, schedule, arxiv
        self.watcher, self.reload, self.watch_every_s, self.clock = watcher, reload, watch_every_s, clock
        self.last_run_started = last_run_started
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_run = schedule.next_after(clock()) if schedule else None

    def start(self) -> None:
        if self.schedule is None and (self.watcher is None or self.watch_every_s <= 0):
            return
        self._thread = threading.Thread(target=self._loop, name="accelsage-background", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def tick(self) -> None:
        """One pass: fire the schedule if due, reload if the index changed on disk."""
        if self.schedule is not None and self.next_run is not None and self.clock() >= self.next_run:
            due, self.next_run = self.next_run, self.schedule.next_after(self.clock())
            last = self.last_run_started()
            if last is not None and last >= due:  # another worker already ran this one
                log.info("scheduled refresh of %s skipped: a run started at %s", due.isoformat(), last.isoformat())
                return
            try:
                self.jobs.submit("schedule", arxiv=self.arxiv)
            except Busy as exc:
                log.info("scheduled refresh skipped: %s", exc)
        if self.watcher is not None and not self.jobs.running and self.watcher.changed():
            try:
                self.reload()
            except Exception:
                log.exception("reloading the changed index failed")

    def _loop(self) -> None:
        # a schedule is checked every few seconds so it fires close to its minute
        steps = [s for s in (self.watch_every_s if self.watch_every_s > 0 else None,
                             5.0 if self.schedule is not None else None) if s is not None]
        step = min(steps + [30.0])
        while not self._stop.wait(step):
            try:
                self.tick()
            except Exception:  # the loop must outlive any one failure
                log.exception("background tick failed")
