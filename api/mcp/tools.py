"""The MCP tools, each a thin typed call into the function its REST route uses.

Every tool's docstring is what an MCP client's model reads to decide when and how to call it; its
parameters reuse the REST request models' fields (type, bounds and description) through
:func:`rest_field`, and its body calls the route function or the catalog lookup the route calls, so
the MCP server and the REST API cannot drift apart. :func:`build_tools` lists them in one place.

Errors are left to the server (``api/mcp/server.py``), which turns them into one-line tool errors.
"""

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from agent.knowledge.schemas import FAMILIES
from api.deps import Services
from api.mcp.resources import read_card
from api.routes import ask as ask_route
from api.routes import estimate as estimate_route
from api.routes import papers as papers_route
from api.routes import plan as plan_route
from api.routes import search as search_route
from api.routes.papers import PAPER_ID_PATTERN
from api.routes.plan import PlanRequest
from api.schemas import AskRequest, EstimateRequest, ListEnvelope
from index.search import MAX_HITS, MODES

# a listing names each entry and says a line about it; the whole entry comes from a lookup by name
SUMMARY_CHARS = 160


def rest_field(model: type[BaseModel], name: str, optional: bool = True) -> Any:
    """The type of a tool parameter that mirrors field ``name`` of a REST request model: same type, bounds, text.

    With ``optional`` the parameter may be left out (None); the tool then leaves the field unset, so the
    request model and the route apply the same defaults as over REST (``gpus`` = tp x pp, ``batch`` = the
    simulated concurrency, ...).
    """
    info = model.model_fields[name]
    annotation = info.annotation | None if optional else info.annotation
    return Annotated[(annotation, *info.metadata, Field(description=info.description or name))]


def set_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The arguments a caller gave (None means left out), as request-model fields."""
    return {name: value for name, value in values.items() if value is not None}


def cut(text: str, chars: int = SUMMARY_CHARS) -> str:
    """``text`` on one line, cut at a word boundary to at most ``chars`` characters (with "…")."""
    flat = " ".join(text.split())
    if len(flat) <= chars:
        return flat
    return flat[: chars - 1].rsplit(" ", 1)[0] + "…"


def _envelope(items: list[dict[str, Any]]) -> dict[str, Any]:
    return ListEnvelope(data=items).model_dump(mode="json")


def corpus_tools(get_services: Callable[[], Services]) -> tuple[Callable[..., Any], ...]:
    """``search`` and ``paper``: passages and papers of the corpus."""

    async def search(
        query: Annotated[str, Field(min_length=1, max_length=500, description="What to look for, in words.")],
        k: Annotated[int, Field(ge=1, le=MAX_HITS, description=f"Passages to return (1-{MAX_HITS}).")] = 5,
        mode: Annotated[Literal[MODES], Field(  # type: ignore[valid-type]
            description="hybrid (default) fuses keyword and embedding ranks; lexical is keywords only; "
                        "dense is embeddings only.")] = "hybrid",
    ) -> dict[str, Any]:
        """Search the paper corpus (LLM training and inference acceleration) for passages, best first.

        Use it to find what a paper says, to back a claim with a citation, or when the user names a method
        you want the source for. Each hit has the passage text, its paper, arXiv id and link, page and
        section, and a relevance score (higher is better). Off-topic papers are left out.

        Example: {"query": "EAGLE-2 dynamic draft tree acceptance rate", "k": 3}
        """
        services = get_services()
        response = await search_route.search(services, q=query, k=k, mode=mode, include_off_topic=False)
        return response.model_dump(mode="json")

    async def paper(
        arxiv_id: Annotated[str, Field(pattern=PAPER_ID_PATTERN, max_length=106, description=(
            "arXiv id ('2205.14135', 'arXiv:2205.14135v2') or the slug of a paper without one."))],
    ) -> dict[str, Any]:
        """Show one paper of the corpus with its card: what problem it solves, the idea, results, when to use it.

        Use it after `search` or `ask` cite a paper, to read our summary card (Markdown, in `card`) and see
        which techniques the paper backs, its arXiv link and how many passages the corpus holds. An unknown
        id is an error.

        Example: {"arxiv_id": "2205.14135"}
        """
        services = get_services()
        found = await papers_route.show_paper(services, arxiv_id)
        return found.model_dump(mode="json") | {"card": read_card(services.settings.data_dir, found.paper_id)}

    return search, paper


def advice_tools(get_services: Callable[[], Services]) -> tuple[Callable[..., Any], ...]:
    """``ask``, ``estimate`` and ``plan``: the answer engine, the cost model and the configuration search."""

    async def ask(
        question: Annotated[str, Field(min_length=1, max_length=20_000, description=(
            "The question in English, with whatever the user said about the workload."))],
        gpu: rest_field(AskRequest, "gpu") = None,
        gpus: rest_field(AskRequest, "gpus") = None,
        model: rest_field(AskRequest, "model") = None,
        prompt_tokens: rest_field(AskRequest, "prompt_tokens") = None,
        output_tokens: rest_field(AskRequest, "output_tokens") = None,
        batch: rest_field(AskRequest, "batch") = None,
        qps: rest_field(AskRequest, "qps") = None,
        phase: rest_field(AskRequest, "phase") = None,
        objective: rest_field(AskRequest, "objective") = None,
        framework: rest_field(AskRequest, "framework") = None,
        lossless: rest_field(AskRequest, "lossless") = None,
        no_retraining: rest_field(AskRequest, "no_retraining") = None,
    ) -> dict[str, Any]:
        """Answer "which acceleration techniques should we use?" for a model on given GPUs, with numbers and citations.

        Use it when the user wants a recommendation (serving or training faster or cheaper, fitting in
        memory, cutting TTFT or per-token latency). It reads the workload from the question; fields given
        here win over what the question says. The answer is the JSON of the REST `POST /v1/ask`: the
        workload it understood or assumed (`workload.fields`), a diagnosis of what limits it, ranked
        `recommendations` with before/after cost-model estimates (times in ms, memory in GB, throughput in
        tokens/s), caveats, framework settings and checked citations. `status` says when it could not answer
        (for example an unknown GPU, with the closest names).

        Example: {"question": "Llama-3.1-70B on 2x H100, 8k-token prompts, 64 users: how do we cut TTFT?"}
        """
        services = get_services()
        body = AskRequest(**set_fields({
            "question": question, "gpu": gpu, "gpus": gpus, "model": model, "prompt_tokens": prompt_tokens,
            "output_tokens": output_tokens, "batch": batch, "qps": qps, "phase": phase, "objective": objective,
            "framework": framework, "lossless": lossless, "no_retraining": no_retraining}))
        response = await ask_route.ask(body, services)
        return json.loads(response.body)

    async def estimate(
        gpu: rest_field(EstimateRequest, "gpu", optional=False),
        model: rest_field(EstimateRequest, "model", optional=False),
        gpus: rest_field(EstimateRequest, "gpus") = None,
        tp: rest_field(EstimateRequest, "tp") = None,
        pp: rest_field(EstimateRequest, "pp") = None,
        ep: rest_field(EstimateRequest, "ep") = None,
        dtype: rest_field(EstimateRequest, "dtype") = None,
        kv_dtype: rest_field(EstimateRequest, "kv_dtype") = None,
        batch: rest_field(EstimateRequest, "batch") = None,
        prompt: rest_field(EstimateRequest, "prompt") = None,
        output: rest_field(EstimateRequest, "output") = None,
        max_seq_len: rest_field(EstimateRequest, "max_seq_len") = None,
        techniques: rest_field(EstimateRequest, "techniques") = None,
        params: rest_field(EstimateRequest, "params") = None,
        peak_only: rest_field(EstimateRequest, "peak_only") = None,
        concurrency: rest_field(EstimateRequest, "concurrency") = None,
        qps: rest_field(EstimateRequest, "qps") = None,
        lengths: rest_field(EstimateRequest, "lengths") = None,
        length_pairs: rest_field(EstimateRequest, "length_pairs") = None,
        uniform_lengths: rest_field(EstimateRequest, "uniform_lengths") = None,
        requests: rest_field(EstimateRequest, "requests") = None,
        seed: rest_field(EstimateRequest, "seed") = None,
        slo_ttft_ms: rest_field(EstimateRequest, "slo_ttft_ms") = None,
        slo_tpot_ms: rest_field(EstimateRequest, "slo_tpot_ms") = None,
        curve: Annotated[bool, Field(description=(
            "Also simulate 1, 2, 4, ... concurrent users until throughput saturates or the KV cache fills: the "
            "latency-throughput curve, under `curve` (a second or more of simulation)."))] = False,
    ) -> dict[str, Any]:
        """Estimate LLM inference on a GPU with the roofline cost model, applying techniques one by one.

        Use it for "how fast / how much memory" questions about one setup, or to compare a setup before and
        after techniques (list them in `techniques` in the order they are switched on; the baseline is a
        plain eager stack). Returns the JSON of the REST `POST /v1/estimate`: TTFT and TPOT in ms, latency,
        throughput in tokens/s, the largest batch that fits, memory per GPU in GB (decimal), the bound of
        each phase, and one step per technique. With `concurrency` or `qps` it also simulates the served
        load (medians and p90/p99, goodput under the SLOs), and with `curve` the latency-throughput curve over
        concurrency. Names accept aliases ("h100", "llama3-70b").

        Example: {"gpu": "h100", "model": "llama-3.1-8b", "batch": 8, "prompt": 2048, "output": 256,
                  "techniques": ["flash-attention-2", "paged-attention"]}
        """
        services = get_services()
        body = EstimateRequest(**set_fields({
            "gpu": gpu, "model": model, "gpus": gpus, "tp": tp, "pp": pp, "ep": ep, "dtype": dtype,
            "kv_dtype": kv_dtype, "batch": batch, "prompt": prompt, "output": output, "max_seq_len": max_seq_len,
            "techniques": techniques, "params": params, "peak_only": peak_only, "concurrency": concurrency,
            "qps": qps, "lengths": lengths, "length_pairs": length_pairs, "uniform_lengths": uniform_lengths,
            "requests": requests, "seed": seed, "slo_ttft_ms": slo_ttft_ms, "slo_tpot_ms": slo_tpot_ms}))
        return await estimate_route.estimate(body, services, curve=curve)

    async def plan(
        gpu: rest_field(PlanRequest, "gpu", optional=False),
        model: rest_field(PlanRequest, "model", optional=False),
        gpus: rest_field(PlanRequest, "gpus", optional=False),
        prompt: rest_field(PlanRequest, "prompt") = None,
        output: rest_field(PlanRequest, "output") = None,
        length_pairs: rest_field(PlanRequest, "length_pairs") = None,
        concurrency: rest_field(PlanRequest, "concurrency") = None,
        qps: rest_field(PlanRequest, "qps") = None,
        slo_ttft_ms: rest_field(PlanRequest, "slo_ttft_ms") = None,
        slo_tpot_ms: rest_field(PlanRequest, "slo_tpot_ms") = None,
        engine: rest_field(PlanRequest, "engine") = None,
        requests: rest_field(PlanRequest, "requests") = None,
        seed: rest_field(PlanRequest, "seed") = None,
        max_simulations: rest_field(PlanRequest, "max_simulations") = None,
    ) -> dict[str, Any]:
        """Find the best way to serve a model on N GPUs under latency targets (TP/PP/EP, dtypes, engine, batch caps).

        Use it for deployment questions: "how should we lay out Llama-70B on 8 H100s for 64 users with TTFT
        under 1 s?". Give the load as `concurrency` (closed-loop users) or `qps` (requests per second).
        Returns the JSON of the REST `POST /v1/plan`: the simulated Pareto frontier of tokens/s per GPU
        against tokens/s per user, and the best configuration that meets `slo_ttft_ms` / `slo_tpot_ms`
        (milliseconds, medians) or else the closest one with what it misses, plus the engine launch flags.
        It simulates tens of configurations: expect a few seconds.

        Example: {"model": "llama-3.1-70b", "gpu": "h100", "gpus": 8, "prompt": 1024, "output": 256,
                  "concurrency": 64, "slo_ttft_ms": 1000, "slo_tpot_ms": 40}
        """
        services = get_services()
        body = PlanRequest(**set_fields({
            "gpu": gpu, "model": model, "gpus": gpus, "prompt": prompt, "output": output,
            "length_pairs": length_pairs, "concurrency": concurrency, "qps": qps, "slo_ttft_ms": slo_ttft_ms,
            "slo_tpot_ms": slo_tpot_ms, "engine": engine, "requests": requests, "seed": seed,
            "max_simulations": max_simulations}))
        return await plan_route.plan_route(body, services)

    return ask, estimate, plan


def catalog_tools(get_services: Callable[[], Services]) -> tuple[Callable[..., Any], ...]:
    """``techniques``, ``gpus`` and ``models``: what the catalog knows, listed or looked up by any alias."""

    def techniques(
        name: Annotated[str | None, Field(min_length=1, max_length=200, description=(
            "Show this technique in full: an id or alias such as 'fa2' or 'ZeRO-3'. Leave out to list."))] = None,
        family: Annotated[Literal[FAMILIES] | None, Field(  # type: ignore[valid-type]
            description="List only this family.")] = None,
    ) -> dict[str, Any]:
        """List the acceleration techniques accelsage knows, or show one in full.

        Use the list to see what exists (id, name, family, a one-line summary); look one up by `name` for
        what it solves, when to use it, its requirements and quality risk, the cost-model transform,
        framework switches and the papers behind it. An unknown name is an error that lists the closest ids.

        Example: {"name": "speculative decoding"} or {"family": "kv-cache"}
        """
        catalog = get_services().catalog
        if name is not None:
            return catalog.resolve_technique(name).model_dump(mode="json")
        return _envelope([{"id": t.id, "name": t.name, "family": t.family, "summary": cut(t.summary)}
                          for t in catalog.techniques.values() if family is None or t.family == family])

    def gpus(
        name: Annotated[str | None, Field(min_length=1, max_length=200, description=(
            "Show this GPU in full: an id or alias such as 'h100' or 'A100 80GB'. Leave out to list."))] = None,
    ) -> dict[str, Any]:
        """List the GPUs (and other accelerators) the cost model knows, or show one with the source of each number.

        The list gives memory in GiB, HBM bandwidth in GB/s and dense peak TFLOP/s per data type; a lookup by
        `name` adds SM count, interconnect, TDP, measured efficiencies and sources. Names are forgiving
        ("H100 SXM5 80GB", "mi300x"); an unknown name is an error that lists the closest ids.

        Example: {"name": "h100"}
        """
        catalog = get_services().catalog
        if name is not None:
            return catalog.resolve_gpu(name).model_dump(mode="json")
        return _envelope([{"id": g.id, "name": g.name, "vendor": g.vendor, "architecture": g.architecture,
                           "memory_gib": g.memory_gib, "memory_bandwidth_gb_s": g.memory_bandwidth_gb_s,
                           "dense_tflops": g.dense_tflops.model_dump(mode="json")}
                          for g in catalog.gpus.values()])

    def models(
        name: Annotated[str | None, Field(min_length=1, max_length=200, description=(
            "Show this model's shape: an id, alias or HuggingFace repo id such as 'llama3-70b' or "
            "'meta-llama/Llama-3.1-70B-Instruct'. Leave out to list."))] = None,
    ) -> dict[str, Any]:
        """List the model shapes the cost model knows, or show one (HuggingFace config.json field names).

        The list gives id, name, family, architecture and parameter counts (total and active per token, for
        mixture-of-experts models); a lookup by `name` gives the full shape (layers, heads, KV heads, hidden
        and MLP sizes, experts) with its source. An unknown name is an error that lists the closest ids.

        Example: {"name": "mixtral 8x7b"}
        """
        catalog = get_services().catalog
        if name is not None:
            return catalog.resolve_model(name).model_dump(mode="json")
        return _envelope([{"id": m.id, "name": m.name, "family": m.family, "architecture": m.architecture,
                           "params_total": m.params_total, "params_active": m.params_active}
                          for m in catalog.models.values()])

    return techniques, gpus, models


def build_tools(get_services: Callable[[], Services]) -> list[Callable[..., Any]]:
    """Every tool, in the order clients list them, bound to the services ``get_services`` returns at call time."""
    search, paper = corpus_tools(get_services)
    ask, estimate, plan = advice_tools(get_services)
    techniques, gpus, models = catalog_tools(get_services)
    return [search, paper, ask, estimate, plan, techniques, gpus, models]
