"""What one refresh did: papers added, updated, unchanged and failed, and the work it took."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

_RANK = {"unchanged": 0, "updated": 1, "added": 2}
# Ids listed per category in the stored run notes; longer lists are cut (counts stay exact).
_NOTE_IDS_MAX = 200


@dataclass
class RunReport:
    """Outcome of :func:`ingest.refresh.refresh`; each paper is counted once, failures win."""

    run_id: int | None = None
    started_at: str = ""
    finished_at: str = ""
    status: str = "running"
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    pdfs_downloaded: int = 0
    embeddings_pruned: int = 0
    index_count: int = 0
    index_rebuilt: str | None = None
    _status: dict[str, str] = field(default_factory=dict, repr=False)

    def mark(self, paper_id: str, outcome: str) -> None:
        """Record ``outcome`` ("added", "updated", "unchanged") for a paper; the strongest one stays."""
        current = self._status.get(paper_id)
        if current is None or _RANK[outcome] > _RANK[current]:
            self._status[paper_id] = outcome

    def fail(self, paper_id: str, reason: str) -> None:
        """Record a failure for a paper (one line)."""
        self.failed.append((paper_id, " ".join(str(reason).split())))

    def settle(self) -> None:
        """Turn the per-paper outcomes into the three id lists (failed papers excluded)."""
        failed_ids = {paper_id for paper_id, _ in self.failed}
        for name in _RANK:
            setattr(self, name, sorted(p for p, o in self._status.items() if o == name and p not in failed_ids))

    def to_dict(self) -> dict:
        """JSON-ready form (CLI ``--json`` and the API)."""
        data = asdict(self)
        data.pop("_status")
        data["failed"] = [{"paper_id": p, "reason": r} for p, r in self.failed]
        data["unresolved"] = [{"paper_id": p, "reason": r} for p, r in self.unresolved]
        return data

    def run_record(self) -> dict:
        """The row for ``Store.finish_run``: counters, failures, and the id lists as notes."""
        return {
            "status": self.status,
            "finished_at": self.finished_at,
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "failed": len(self.failed),
            "failures": [[p, r] for p, r in self.failed],
            "notes": {
                "added_ids": self.added[:_NOTE_IDS_MAX],
                "updated_ids": self.updated[:_NOTE_IDS_MAX],
                "unresolved": [[p, r] for p, r in self.unresolved],
                "chunks_embedded": self.chunks_embedded,
                "pdfs_downloaded": self.pdfs_downloaded,
                "embeddings_pruned": self.embeddings_pruned,
                "index_count": self.index_count,
                "index_rebuilt": self.index_rebuilt,
            },
        }


# "arXiv 2307.08691v2: " or "card 2406.16858.md: " before a failure reason names the paper, not the cause
_PAPER_PREFIX = re.compile(r"^(?:arXiv \S+|card \S+):\s+")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+?(?=[.,:;)\]]*(?:\s|$))", re.IGNORECASE)
_ARXIV_ID = re.compile(r"\b(?:\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(?:v\d+)?\b", re.IGNORECASE)


def failure_cause(reason: str) -> str:
    """A failure reason without the parts that name one paper (its id, its URLs), for grouping."""
    cause = _PAPER_PREFIX.sub("", reason.strip())
    return _ARXIV_ID.sub("<id>", _URL.sub("<url>", cause))


def summarise_failures(failures: Iterable[Sequence[str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Group ``(paper_id, reason)`` pairs by :func:`failure_cause`: ``(cause, pairs)``, largest group first."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for paper_id, reason in failures:
        groups.setdefault(failure_cause(reason), []).append((paper_id, reason))
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
