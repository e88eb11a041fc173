"""Catalog endpoints: ``/v1/techniques``, ``/v1/gpus``, ``/v1/catalog/models`` (lists and one entry by id or alias).

Lists use the envelope ``{"object": "list", "data": [...]}``. The model shapes the cost model knows live
at ``/v1/catalog/models``; ``/v1/models`` is the OpenAI-style list of the chat models a client may name
(``api/routes/openai_compat.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from agent.knowledge.schemas import FAMILIES, GpuSpec, ModelSpec, Technique
from api.deps import CatalogDep
from api.schemas import ErrorBody, ListEnvelope

router = APIRouter(tags=["catalog"])

NameParam = Annotated[str, Path(min_length=1, max_length=200,
                                description="Id or alias (case and punctuation ignored).")]
_404 = {404: {"model": ErrorBody}, 422: {"model": ErrorBody}}


@router.get("/v1/techniques", response_model=ListEnvelope, summary="List the acceleration techniques")
def list_techniques(
    catalog: CatalogDep,
    family: Annotated[str | None, Query(max_length=40, description=f"One of: {', '.join(FAMILIES)}.")] = None,
) -> ListEnvelope:
    """Every technique in the catalog (optionally one family), with its cost-model transform and papers."""
    items = [t.model_dump(mode="json") for t in catalog.techniques.values() if family is None or t.family == family]
    return ListEnvelope(data=items)


@router.get("/v1/techniques/{name}", response_model=Technique, summary="Show one technique", responses=_404)
def show_technique(catalog: CatalogDep, name: NameParam) -> Any:
    """One technique by id or alias (e.g. ``fa2``); 404 with the closest names when unknown."""
    return catalog.resolve_technique(name)


@router.get("/v1/gpus", response_model=ListEnvelope, summary="List the GPU specs")
def list_gpus(catalog: CatalogDep) -> ListEnvelope:
    """Every GPU spec with dense peaks, bandwidth, memory and the source of each number."""
    return ListEnvelope(data=[g.model_dump(mode="json") for g in catalog.gpus.values()])


@router.get("/v1/gpus/{name}", response_model=GpuSpec, summary="Show one GPU", responses=_404)
def show_gpu(catalog: CatalogDep, name: NameParam) -> Any:
    """One GPU by id or alias (e.g. ``H100 SXM``)."""
    return catalog.resolve_gpu(name)


@router.get("/v1/catalog/models", response_model=ListEnvelope, summary="List the model shapes")
def list_models(catalog: CatalogDep) -> ListEnvelope:
    """Every model shape the cost model knows (HuggingFace config names), by id.

    Any of them may be named in a chat completion's ``model`` field to answer for that model.
    """
    return ListEnvelope(data=[m.model_dump(mode="json") for m in catalog.models.values()])


@router.get("/v1/catalog/models/{name}", response_model=ModelSpec, summary="Show one model shape", responses=_404)
def show_model(catalog: CatalogDep, name: NameParam) -> Any:
    """One model by id, alias or HF repo id (e.g. ``meta-llama/Llama-3.1-70B-Instruct`` needs URL-encoding)."""
    return catalog.resolve_model(name)
