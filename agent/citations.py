"""Citations for a recommended technique: passages from its backing papers, each checked against the store."""

from __future__ import annotations

import re
from typing import Any, Iterable

from agent.answer import Citation

_MAX_CITATION_CHARS = 600


def _technique_query(technique: Any) -> str:
    aliases = [a for a in technique.aliases if len(a) > 2][:3]
    return " ".join([technique.name, *aliases])


def _search(searcher: Any, query: str, k: int, mode: str) -> list[Any]:
    try:
        return list(searcher.search(query, k=k, mode=mode))
    except TypeError:  # a searcher without modes
        return list(searcher.search(query, k=k))


def verify_chunks(store: Any, chunk_ids: Iterable[int]) -> dict[int, dict]:
    """The chunks that really exist in the store, by id (text and paper joined)."""
    ids = sorted({int(i) for i in chunk_ids})
    if not ids:
        return {}
    return {int(row["id"]): row for row in store.get_chunks(ids)}


def citation_from_row(row: dict) -> Citation:
    """A Citation built from a stored chunk row (never from text we were handed)."""
    text = re.sub(r"\s+", " ", row["text"]).strip()
    if len(text) > _MAX_CITATION_CHARS:
        text = text[: _MAX_CITATION_CHARS - 3].rsplit(" ", 1)[0] + "..."
    return Citation(
        chunk_id=int(row["id"]), paper_id=row["paper_id"], arxiv_id=row.get("arxiv_id"),
        title=row.get("title") or row["paper_id"], page=row.get("page"), section=row.get("section"), text=text,
    )


def cite_technique(technique: Any, searcher: Any, store: Any, question_hits: list[Any], limit: int = 2) -> list[Citation]:
    """Up to ``limit`` passages from the technique's backing papers, best first, verified against the store.

    Passages that the question itself retrieved come first (they speak to the question); then a
    lexical search on the technique's name and aliases, then a hybrid one, each kept only when the
    passage belongs to one of the technique's papers.
    """
    papers = set(technique.papers)
    picked: list[Any] = [h for h in question_hits if h.paper_id in papers][:limit]
    # lexical search is cheap (no query embedding); the hybrid one runs only when it found nothing
    for mode in ("lexical", "hybrid"):
        if len(picked) >= limit or (mode == "hybrid" and picked):
            break
        for hit in _search(searcher, _technique_query(technique), 40, mode):
            if hit.paper_id in papers and all(hit.chunk_id != p.chunk_id for p in picked):
                picked.append(hit)
            if len(picked) >= limit:
                break
    rows = verify_chunks(store, [h.chunk_id for h in picked])
    out: list[Citation] = []
    for hit in picked:
        row = rows.get(int(hit.chunk_id))
        # the hit must name the same paper and carry the same text as the stored chunk
        if row and row["paper_id"] == hit.paper_id and row["text"] == hit.text:
            out.append(citation_from_row(row))
    return out


def check_citation(store: Any, chunk_id: int, text: str | None = None, paper_id: str | None = None) -> Citation | None:
    """The stored citation for ``chunk_id`` when it exists (and matches text/paper when given), else None.

    Used on citations a language model proposes: a quoted text must appear in the stored chunk.
    """
    rows = verify_chunks(store, [chunk_id])
    row = rows.get(int(chunk_id))
    if row is None:
        return None
    if paper_id and paper_id not in (row["paper_id"], row.get("arxiv_id")):
        return None
    if text and _squash(text) not in _squash(row["text"]):
        return None
    return citation_from_row(row)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("...", "")).strip().lower()
