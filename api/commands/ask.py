"""`accelsage ask "QUESTION"`: a ranked, quantified, cited recommendation (no LLM unless one is configured).

Cold start matters: this module and the default path import no torch, sentence-transformers,
transformers or langchain. The query embedder is the numpy one.
"""

from __future__ import annotations

import json
from typing import Any

import click

from index.errors import AccelsageError

OBJECTIVES = ["ttft", "tpot", "latency", "throughput", "memory", "cost", "quality"]
PHASES = ["serving", "offline-batch", "edge", "pre-training", "fine-tuning"]
# Answer statuses that mean no recommendation was made because of the input itself.
NOT_ANSWERED = frozenset({"refused", "unknown-name"})


def read_model_config(path: str) -> Any:
    """The model shape in a HuggingFace config.json (AccelsageError with one line when it cannot be read)."""
    from pathlib import Path

    from agent.knowledge.derived_shape import shape_from_hf_config

    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AccelsageError(f"cannot read --model-config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise AccelsageError(f"--model-config {path} is not a JSON object")
    name = str(config.get("_name_or_path") or Path(path).parent.name or "model")
    return shape_from_hf_config(config, name)


def build_answerer(settings: Any) -> Any:
    """An Answerer wired from settings: catalog, searcher over the state dir, optional LLM planner."""
    from agent.service import Answerer
    from api.wiring import build_llm, index_plan, load_calibration, load_catalog
    from index.search import open_searcher
    from index.state import StateDir
    from index.store_factory import has_store, open_store

    state = StateDir(settings.home)
    if not has_store(state, settings.database_url):
        raise AccelsageError(f"no corpus in {settings.home}: run `accelsage refresh` first")
    with open_store(state, settings.database_url) as store:
        if store.chunk_count() == 0:
            raise AccelsageError(f"the corpus in {store.location} is empty: run `accelsage refresh` first")
    searcher = open_searcher(state, settings.embedding_model, database_url=settings.database_url,
                             index_plan=index_plan(settings))
    return Answerer(searcher, load_catalog(settings), llm=build_llm(settings), calibration=load_calibration(settings),
                    max_question_chars=settings.max_question_chars)


@click.command("ask")
@click.argument("question")
@click.option("--gpu", help="GPU name (overrides the question), e.g. H100, A100, 4090.")
@click.option("--gpus", help="Number of GPUs (1-4096).")
@click.option("--model", help="Model name, e.g. llama-3.1-70b.")
@click.option("--prompt", help="Prompt/context tokens per request, e.g. 8k (1-10,000,000).")
@click.option("--output", "output_", help="Output tokens per request (1-10,000,000).")
@click.option("--batch", help="Concurrent requests (serving) or sequences per step (1-1,000,000).")
@click.option("--qps", type=float, help="Requests per second.")
@click.option("--phase", type=click.Choice(PHASES), help="What the GPUs do.")
@click.option("--objective", type=click.Choice(OBJECTIVES), help="What to improve.")
@click.option("--framework", help="Serving/training framework you use, e.g. vllm.")
@click.option("--lossless", is_flag=True, default=None, help="Only techniques that keep outputs unchanged.")
@click.option("--no-retraining", is_flag=True, default=None, help="Only techniques that need no (re)training.")
@click.option("--model-config", "model_config", type=click.Path(dir_okay=False),
              help="A HuggingFace config.json for your own model; its shape replaces --model.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def ask(question: str, gpu: str | None, gpus: str | None, model: str | None, prompt: str | None,
        output_: str | None, batch: str | None, qps: float | None, phase: str | None, objective: str | None,
        framework: str | None, lossless: bool | None, no_retraining: bool | None, model_config: str | None,
        as_json: bool) -> None:
    """Answer a technique-selection QUESTION with cost-model numbers and citations."""
    from agent.answer import render_markdown
    from api.settings import load_settings

    overrides = {"gpu": gpu, "gpu_count": gpus, "model": model, "prompt_tokens": prompt, "output_tokens": output_,
                 "batch": batch, "qps": qps, "phase": phase, "objective": objective, "framework": framework,
                 "lossless": lossless, "no_retraining": no_retraining}
    if model_config:
        overrides["model_spec"] = read_model_config(model_config)
    answerer = build_answerer(load_settings())
    answer = answerer.answer(question, overrides={k: v for k, v in overrides.items() if v is not None})
    if as_json:
        click.echo(json.dumps(answer.model_dump(mode="json"), indent=2))
    elif answer.status not in NOT_ANSWERED:
        click.echo(render_markdown(answer), nl=False)
    if answer.status in NOT_ANSWERED:
        # Bad input (empty, off-field, unknown GPU/model): one line on stderr and a non-zero exit.
        raise AccelsageError(" ".join(answer.answer.split()))
