"""``GET /v1/search``: hybrid (lexical + dense) passage search over the corpus."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import ServicesDep
from api.schemas import ErrorBody, SearchHit, SearchResponse
from index.search import MAX_HITS, MODES

router = APIRouter(tags=["corpus"])
_MODE_HELP = "hybrid fuses the two ranks, dense ranks by embeddings, lexical by bm25."


def arxiv_url(arxiv_id: str | None) -> str | None:
    return f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None


@router.get("/v1/search", response_model=SearchResponse, summary="Search the corpus passages",
            responses={422: {"model": ErrorBody}})
async def search(services: ServicesDep,
                 q: Annotated[str, Query(min_length=1, max_length=500, description="Search words.")],
                 k: Annotated[int, Query(ge=1, le=MAX_HITS, description=f"Hits to return (1-{MAX_HITS}).")] = 5,
                 mode: Annotated[Literal["hybrid", "dense", "lexical"],
                                 Query(description=f"One of {', '.join(MODES)}: {_MODE_HELP}")] = "hybrid",
                 include_off_topic: Annotated[bool, Query(description=(
                     "Also search papers listed as off-topic (outside LLM acceleration); left out by default."))]
                 = False) -> SearchResponse:
    """Top ``k`` passages, best first, each with its paper and arXiv link; off-topic papers only when asked for."""
    if not q.strip():
        return SearchResponse(query=q, mode=mode, hits=[])
    hits = await services.run(services.searcher.search, q, k=k, mode=mode, include_off_topic=include_off_topic)
    return SearchResponse(query=q, mode=mode,
                          hits=[SearchHit(**hit.to_dict(), url=arxiv_url(hit.arxiv_id)) for hit in hits])
