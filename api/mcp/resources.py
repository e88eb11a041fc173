"""The paper cards (``data/cards/<id>.md``) as MCP resources: ``paper://{paper_id}`` and a list of them all.

A card is our own summary of a paper (problem, idea, results, when to use it, requirements). The
template resolves ids the way the catalog does (``arXiv:2205.14135v2`` reads the card of ``2205.14135``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

URI_SCHEME = "paper://"
URI_TEMPLATE = URI_SCHEME + "{paper_id}"
MIME_TYPE = "text/markdown"


def read_card(data_dir: Path, paper_id: str) -> str | None:
    """The Markdown card of the paper with catalog id ``paper_id``, or None when it has none."""
    path = Path(data_dir) / "cards" / f"{paper_id}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def card_listing(catalog: Any) -> list[dict[str, str]]:
    """One resource entry (uri, name, title, mime type) per bundled card, in id order."""
    return [{"uri": URI_SCHEME + card_id, "name": card_id, "title": card.title, "mime_type": MIME_TYPE}
            for card_id, card in sorted(catalog.cards.items())]


def resolve_card(catalog: Any, data_dir: Path, raw_id: str) -> str:
    """The card text for ``raw_id`` (an arXiv id in any spelling, or a slug).

    Raises:
        NotFound: no such paper (with the closest ids), or the paper has no card.
        AccelsageError: the id is not shaped like one.
    """
    from api.routes.papers import PAPER_ID_PATTERN
    from index.errors import AccelsageError, NotFound

    if not re.match(PAPER_ID_PATTERN, raw_id):
        raise AccelsageError(f"{raw_id!r} is not an arXiv id or paper slug")
    paper = catalog.paper(raw_id)
    text = read_card(data_dir, paper.id)
    if text is None:
        raise NotFound(f"paper {paper.id!r} has no card")
    return text
