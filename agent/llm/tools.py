"""The functions a tool-calling model may use, as LangChain tools. Listed in one place: ``build_tools``.

Docstrings are what the model reads: what the tool does, when to use it, units, an example.
Every tool returns JSON-able data; numbers come only from our cost model and catalog.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool, tool

from index.errors import AccelsageError


def _safe(fn: Any) -> Any:
    """Turn a user-fixable error into a message the model can read instead of an exception."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AccelsageError as exc:
            return {"error": str(exc)}

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    wrapped.__annotations__ = fn.__annotations__
    return wrapped


def build_tools(answerer: Any, precomputed: Any = None) -> list[BaseTool]:
    """Every tool, bound by closure to one Answerer (its catalog, searcher and calibration).

    Args:
        precomputed: the default answer already computed for the user's question; ``recommend`` returns
            it for that question instead of computing it again.
    """
    catalog = answerer.catalog

    @tool
    def search_papers(query: str, k: int = 5) -> list[dict]:
        """Search the paper corpus (hybrid lexical + dense) for passages about an acceleration technique.

        Use it to find evidence to cite. Each result has chunk_id (cite it as [chunk:ID]), paper title,
        arxiv_id, page, section and text. Example: search_papers("FlashAttention-3 FP8 Hopper", k=3).
        """
        if answerer.searcher is None:
            return [{"error": "no corpus loaded"}]
        hits = answerer.searcher.search(query, k=max(1, min(int(k), 10)))
        return [{"chunk_id": h.chunk_id, "paper_id": h.paper_id, "arxiv_id": h.arxiv_id, "title": h.title,
                 "page": h.page, "section": h.section, "text": h.text[:800]} for h in hits]

    @tool
    def get_technique(name: str) -> dict:
        """Look up one acceleration technique by id or alias (e.g. "FA2", "eagle-2", "AWQ").

        Returns its family, summary, phases, bottlenecks, quality impact, hardware requirements,
        framework support, composes/conflicts relations and backing paper ids.
        """
        return _safe(lambda: catalog.resolve_technique(name).model_dump(mode="json"))()

    @tool
    def list_techniques(family: str = "", phase: str = "") -> list[dict]:
        """List catalog techniques (id, name, family, phases), optionally filtered.

        family: one of attention-kernel, kv-cache, scheduling, quantization, pruning-distillation,
        speculative-decoding, early-exit-sparsity, long-context, ssm-linear, parallelism, communication,
        compiler-fusion, moe, checkpointing, offload-edge, training-precision. phase: training, prefill,
        decode or serving. Example: list_techniques(family="kv-cache").
        """
        return [{"id": t.id, "name": t.name, "family": t.family, "phases": list(t.phases)}
                for t in catalog.techniques.values()
                if (not family or t.family == family) and (not phase or phase in t.phases)]

    @tool
    def get_gpu(name: str) -> dict:
        """GPU datasheet numbers by name or alias (e.g. "H100", "a100 80gb", "4090"): memory_gib,
        memory_bandwidth_gb_s, dense_tflops per dtype (TFLOP/s, int8 in TOPS), compute_capability, features."""
        return _safe(lambda: catalog.resolve_gpu(name).model_dump(mode="json", exclude={"sources"}))()

    @tool
    def get_model(name: str) -> dict:
        """Model shape by name or alias (e.g. "llama-3.1-70b"): params_total, layers, heads, KV heads,
        hidden size (HuggingFace config.json names)."""
        return _safe(lambda: catalog.resolve_model(name).model_dump(mode="json"))()

    @tool
    def estimate(gpu: str, model: str, gpus: int = 1, batch: int = 1, prompt_tokens: int = 2048,
                 output_tokens: int = 256, phase: str = "serving", techniques: list[str] | None = None) -> dict:
        """Cost-model estimate for a workload, before and after applying techniques (ids from the catalog).

        Serving returns ttft_ms, tpot_ms, latency_ms, throughput_tokens_per_s, memory per GPU in GB and
        whether it fits; training (phase="pre-training" or "fine-tuning") returns step time and memory.
        Example: estimate(gpu="H100", model="llama-3.1-70b", gpus=2, batch=64, prompt_tokens=8192,
        output_tokens=512, techniques=["fp8-inference"]).
        """
        return _safe(_estimate)(answerer, gpu, model, gpus, batch, prompt_tokens, output_tokens, phase, techniques or [])

    @tool
    def recommend(question: str) -> dict:
        """The default (rule-based) ranking for a question: workload read from it, top techniques with
        cost-model before/after numbers, a combined stack, and verified citations. Call this first."""
        same = precomputed is not None and question.strip() == precomputed.question.strip()
        answer = precomputed if same else answerer.default_answer(question)
        return json.loads(answer.model_dump_json(exclude={"timings_ms"}))

    return [recommend, search_papers, get_technique, list_techniques, get_gpu, get_model, estimate]


def _estimate(answerer: Any, gpu: str, model: str, gpus: int, batch: int, prompt_tokens: int, output_tokens: int,
              phase: str, techniques: list[str]) -> dict:
    from agent.effects import EffectModel
    from agent.workload import Workload

    catalog = answerer.catalog
    w = Workload(gpu=catalog.resolve_gpu(gpu).id, gpu_count=max(1, int(gpus)), model=catalog.resolve_model(model).id,
                 phase=phase, prompt_tokens=int(prompt_tokens), output_tokens=int(output_tokens), batch=max(1, int(batch)))
    techs = [catalog.resolve_technique(t) for t in techniques]
    em = EffectModel(catalog, w, answerer.calibration)
    effect = em.effect(techs)
    if effect is None:
        return {"error": "; ".join(em.warnings) or "no estimate"}
    return effect.to_estimate().model_dump(mode="json")
