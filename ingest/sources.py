"""Bundled inputs of the corpus: the paper list (``data/papers.yaml``) and the paper cards.

A card is Markdown with YAML front matter; each ``## `` heading opens a section and becomes one
:class:`PageText` (page None), so search hits can say which part of the card they came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from index.chunking import PageText
from index.errors import AccelsageError

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_SECTION = re.compile(r"^##[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_TITLE_LINE = re.compile(r"^#[ \t]+.*$", re.MULTILINE)


@dataclass(frozen=True)
class PaperEntry:
    """One entry of ``data/papers.yaml``: a paper (or blog, whitepaper...) the corpus covers."""

    id: str
    title: str
    arxiv_id: str | None = None
    first_author: str | None = None
    year: int | None = None
    venue: str | None = None
    topic: str | None = None
    kind: str | None = None
    card: str | None = None
    no_arxiv_reason: str | None = None

    def record(self) -> dict:
        """The ``papers`` row fields this entry knows (no version, source or PDF hash)."""
        return {
            "paper_id": self.id,
            "arxiv_id": self.arxiv_id,
            "title": self.title,
            "first_author": self.first_author,
            "year": self.year,
            "venue": self.venue,
            "topic": self.topic,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class Card:
    """A parsed paper card: its front matter and one :class:`PageText` per section."""

    path: Path
    front_matter: dict = field(default_factory=dict)
    pages: list[PageText] = field(default_factory=list)

    @property
    def paper_id(self) -> str:
        """The paper this card describes: front matter ``id`` if given, else the file stem."""
        return str(self.front_matter.get("id") or self.path.stem)


def load_papers(path: str | Path) -> list[PaperEntry]:
    """Read ``papers.yaml`` into entries, in file order.

    Args:
        path: the YAML file (a list of mappings with at least ``id`` and ``title``).

    Returns:
        One :class:`PaperEntry` per listed paper.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise AccelsageError(f"cannot read paper list {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise AccelsageError(f"{path} must hold a list of papers")
    entries = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("id") or not item.get("title"):
            raise AccelsageError(f"{path}: every paper needs an id and a title (got {item!r:.80})")
        entries.append(
            PaperEntry(
                id=str(item["id"]),
                title=str(item["title"]),
                arxiv_id=str(item["arxiv_id"]) if item.get("arxiv_id") else None,
                first_author=item.get("first_author"),
                year=int(item["year"]) if item.get("year") else None,
                venue=item.get("venue"),
                topic=item.get("topic"),
                kind=item.get("kind"),
                card=item.get("card"),
                no_arxiv_reason=item.get("no_arxiv_reason"),
            )
        )
    return entries


def read_card(path: str | Path) -> Card:
    """Parse one card file into front matter and per-section page texts.

    Text before the first ``## `` heading (other than the ``# Title`` line) becomes a section-less
    page; empty sections are dropped.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccelsageError(f"cannot read card {path}: {exc}") from exc
    front_matter: dict = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            front_matter = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise AccelsageError(f"card {path.name}: bad front matter: {exc}") from exc
        if not isinstance(front_matter, dict):
            raise AccelsageError(f"card {path.name}: front matter must be a mapping")
        text = text[match.end() :]
    return Card(path=path, front_matter=front_matter, pages=_sections(text))


def card_pages(path: str | Path) -> list[PageText]:
    """The card at ``path`` as one :class:`PageText` per ``## `` section (page None)."""
    return read_card(path).pages


def _sections(body: str) -> list[PageText]:
    """Split a card body on ``## `` headings."""
    pages: list[PageText] = []
    headings = list(_SECTION.finditer(body))
    preamble = _TITLE_LINE.sub("", body[: headings[0].start()] if headings else body).strip()
    if preamble:
        pages.append(PageText(page=None, text=preamble, section=None))
    for i, heading in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(body)
        content = body[heading.end() : end].strip()
        if content:
            pages.append(PageText(page=None, text=content, section=heading.group(1).strip()))
    return pages


def list_cards(cards_dir: str | Path) -> list[Path]:
    """Card files under ``cards_dir`` in name order; an absent folder has none."""
    cards_dir = Path(cards_dir)
    if not cards_dir.is_dir():
        return []
    return sorted(p for p in cards_dir.glob("*.md") if p.is_file())
