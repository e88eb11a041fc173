"""``GET /v1/search``: hybrid (lexical + dense) passage search over the corpus."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import ServicesDep
from api.schemas import ErrorBody, SearchHit, SearchResponse

router = APIRouter(tags=["corpus"])


def arxiv_url(arxiv_id: str | None) -> str | None:
    return f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None


@router.get("/v1/search", response_model=SearchResponse, summary="Search the corpus passages",
            responses={422: {"model": ErrorBody}})
async def search(services: ServicesDep,
                 q: Annotated[str, Query(min_length=1, max_length=500, description="Search words.")],
                 k: Annotated[int, Query(ge=1, le=50, description="Hits to return.")] = 5,
                 mode: Annotated[Literal["hybrid", "dense", "lexical"], Query()] = "hybrid") -> SearchResponse:
    """Top ``k`` passages, best first, each with its paper and arXiv link."""
    if not q.strip():
        return SearchResponse(query=q, mode=mode, hits=[])
    hits = await services.run(services.searcher.search, q, k=k, mode=mode)
    return SearchResponse(query=q, mode=mode,
                          hits=[SearchHit(**hit.to_dict(), url=arxiv_url(hit.arxiv_id)) for hit in hits])
