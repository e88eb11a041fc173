"""``GET /v1/papers`` and ``GET /v1/papers/{arxiv_id}``: the corpus's papers, with the techniques they back.

The list joins ``data/papers.yaml`` (every listed paper) with the store (version, source, papers
added by watch queries). Ids are validated against a strict pattern before any lookup.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import Services, ServicesDep
from api.routes.search import arxiv_url
from api.schemas import ErrorBody, ListEnvelope, PaperOut
from index.errors import NotFound

router = APIRouter(tags=["corpus"])

# new-style arXiv id (optionally 'arXiv:' and a version) or a kebab/dotted slug from papers.yaml
PAPER_ID_PATTERN = r"^(?:[aA][rR][xX][iI][vV]:)?[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_VERSIONED = re.compile(r"^(\d{4}\.\d{4,5})v\d+$")


def _techniques_by_paper(catalog: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tech_id, tech in sorted(catalog.techniques.items()):
        for pid in tech.papers:
            out.setdefault(pid, []).append(tech_id)
    return out


def _papers(services: Services) -> list[PaperOut]:
    catalog = services.catalog
    backs = _techniques_by_paper(catalog)
    rows: dict[str, dict] = {pid: entry.model_dump() | {"paper_id": pid} for pid, entry in catalog.papers.items()}
    for row in services.searcher.snapshot.store.list_papers():
        merged = rows.get(row["paper_id"], {})
        rows[row["paper_id"]] = merged | {k: v for k, v in row.items() if v is not None}
    fields = set(PaperOut.model_fields)
    return [PaperOut(**{k: v for k, v in row.items() if k in fields}, url=arxiv_url(row.get("arxiv_id")),
                     techniques=backs.get(pid, [])) for pid, row in rows.items()]


def _normalise_id(raw: str) -> str:
    key = raw.split(":", 1)[1] if raw.lower().startswith("arxiv:") else raw
    match = _VERSIONED.match(key)
    return match.group(1) if match else key


def _paper(services: Services, raw_id: str) -> PaperOut:
    key = _normalise_id(raw_id)
    for paper in _papers(services):
        if key in (paper.paper_id, paper.arxiv_id):
            store = services.searcher.snapshot.store
            paper.chunks = len(store.paper_chunks(paper.paper_id))
            return paper
    raise NotFound(f"unknown paper {raw_id!r}: see GET /v1/papers")


@router.get("/v1/papers", response_model=ListEnvelope, summary="List the papers in the corpus")
async def list_papers(services: ServicesDep,
                      topic: Annotated[str | None, Query(max_length=60, description="Only this topic.")] = None,
                      kind: Annotated[str | None, Query(max_length=40, description="paper, blog, whitepaper...")] = None
                      ) -> ListEnvelope:
    """Every paper listed in data/papers.yaml or held in the store, with the techniques it backs."""
    papers = await services.run(_papers, services)
    return ListEnvelope(data=[p.model_dump(mode="json") for p in papers
                              if (topic is None or p.topic == topic) and (kind is None or p.kind == kind)])


@router.get("/v1/papers/{arxiv_id}", response_model=PaperOut, summary="Show one paper",
            responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
async def show_paper(services: ServicesDep,
                     arxiv_id: Annotated[str, Path(pattern=PAPER_ID_PATTERN, description=(
                         "arXiv id ('2205.14135', 'arXiv:2205.14135v2') or the slug from papers.yaml."))]
                     ) -> PaperOut:
    """One paper with its techniques, arXiv link and number of passages in the corpus."""
    return await services.run(_paper, services, arxiv_id)
