"""Workload extraction without an LLM: GPUs, models, phase, lengths, load, objective, constraints, origins."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.knowledge.catalog import Catalog
from agent.workload import Workload, build_indexes, clarify_questions, parse_count, plan_workload
from index.errors import NotFound

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(DATA)


@pytest.fixture(scope="module")
def indexes(catalog):
    return build_indexes(catalog)


def plan(catalog, indexes, text, overrides=None, previous=None) -> Workload:
    return plan_workload(text, catalog, overrides, previous, indexes)


@pytest.mark.parametrize(("text", "value"), [
    ("8k", 8192), ("128K", 131072), ("1.5k", 1536), ("8,000", 8000), ("512", 512), ("1M", 1048576), ("0", None),
])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize(("text", "gpu", "count"), [
    ("Llama-3-70B on 2x H100, 8k prompts", "h100-sxm", 2),
    ("I have 8 A100s for pre-training", "a100-80gb", 8),
    ("serving on a 4090 at home", "rtx-4090", 1),
    ("we rent four H200 GPUs", "h200", 4),
    ("H100 x 8 node, fine-tuning", "h100-sxm", 8),
    ("one MI300X running vLLM", "mi300x", 1),
    ("two RTX 3090 cards", "rtx-3090", 2),
])
def test_gpu_kind_and_count(catalog, indexes, text, gpu, count):
    w = plan(catalog, indexes, text)
    assert (w.gpu, w.gpu_count, w.origin("gpu")) == (gpu, count, "understood")


@pytest.mark.parametrize(("text", "model"), [
    ("Llama-3-70B on 2x H100", "llama-3.1-70b"),
    ("serving Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
    ("Mixtral 8x7B on two GPUs", "mixtral-8x7b"),
    ("qwen2.5-72b with long prompts", "qwen2.5-72b"),
])
def test_model_by_alias(catalog, indexes, text, model):
    w = plan(catalog, indexes, text)
    assert (w.model, w.origin("model")) == (model, "understood")


def test_model_by_size_picks_a_representative_and_says_which(catalog, indexes):
    w = plan(catalog, indexes, "serving a 7B model on an H100")
    assert w.origin("model") == "understood"
    assert 6e9 <= catalog.models[w.model].params_total <= 8.5e9
    assert any("7B" in note and catalog.models[w.model].name in note for note in w.notes)


@pytest.mark.parametrize(("text", "phase"), [
    ("pre-train a 7B model on 64 GPUs", "pre-training"),
    ("fine-tune Llama 3 8B with LoRA", "fine-tuning"),
    ("serve 64 concurrent users", "serving"),
    ("offline batch inference over a whole dataset", "offline-batch"),
    ("run a 3B model on a laptop", "edge"),
])
def test_phase(catalog, indexes, text, phase):
    assert plan(catalog, indexes, text).phase == phase


@pytest.mark.parametrize(("text", "prompt", "output", "batch"), [
    ("8k-token prompts, 512 output tokens, 64 concurrent users", 8192, 512, 64),
    ("128k tokens of context, generate 256 tokens, batch size 8", 131072, 256, 8),
    ("prompts of 2000 tokens and responses of 300 tokens, 16 requests at once", 2000, 300, 16),
    ("context length 32k with a concurrency of 4", 32768, None, 4),
])
def test_lengths_and_batch(catalog, indexes, text, prompt, output, batch):
    w = plan(catalog, indexes, text)
    assert w.prompt_tokens == prompt and w.origin("prompt_tokens") == "understood"
    if output is not None:
        assert w.output_tokens == output and w.origin("output_tokens") == "understood"
    assert w.batch == batch


def test_qps(catalog, indexes):
    w = plan(catalog, indexes, "serve 20 requests per second of Llama 3 8B")
    assert w.qps == 20.0


@pytest.mark.parametrize(("text", "objective"), [
    ("we need a lower time to first token", "ttft"),
    ("inter-token latency is too high", "tpot"),
    ("it runs out of memory", "memory"),
    ("maximize throughput", "throughput"),
    ("we must cut cost", "cost"),
    ("latency matters", "latency"),
    ("keep accuracy as high as possible", "quality"),
])
def test_objective(catalog, indexes, text, objective):
    w = plan(catalog, indexes, text)
    assert (w.objective, w.origin("objective")) == (objective, "understood")


@pytest.mark.parametrize(("text", "field", "value"), [
    ("speed it up without changing outputs", "lossless", True),
    ("lossless methods only", "lossless", True),
    ("no retraining please", "no_retraining", True),
    ("we cannot fine-tune", "no_retraining", True),
    ("on a single GPU", "single_gpu", True),
    ("we serve with vLLM", "framework", "vllm"),
    ("our stack is TensorRT-LLM", "framework", "tensorrt-llm"),
    ("training with DeepSpeed", "framework", "deepspeed"),
])
def test_constraints(catalog, indexes, text, field, value):
    w = plan(catalog, indexes, text)
    assert getattr(w, field) == value and w.origin(field) == "understood"


def test_defaults_are_marked_assumed_with_values(catalog, indexes):
    w = plan(catalog, indexes, "how do I speed up inference?")
    assumed = set(w.assumed())
    assert {"gpu", "gpu_count", "model", "prompt_tokens", "output_tokens", "batch"} <= assumed
    assert w.origins["gpu"].value == w.gpu and w.gpu in catalog.gpus
    assert any(q.startswith("Which GPU") for q in clarify_questions(w, catalog))


def test_explicit_fields_win_over_the_text(catalog, indexes):
    w = plan(catalog, indexes, "Llama-3-70B on 2x H100, 8k prompts",
             {"gpu": "A100", "gpus": 4, "model": "llama-3.1-8b", "prompt": "2k", "objective": "throughput"})
    assert (w.gpu, w.gpu_count, w.model, w.prompt_tokens, w.objective) == ("a100-80gb", 4, "llama-3.1-8b", 2048, "throughput")
    assert {w.origin(f) for f in ("gpu", "gpu_count", "model", "prompt_tokens", "objective")} == {"explicit"}


def test_explicit_unknown_gpu_raises_not_found_with_suggestions(catalog, indexes):
    with pytest.raises(NotFound) as err:
        plan(catalog, indexes, "speed up inference", {"gpu": "H1000"})
    assert err.value.suggestions


def test_follow_up_keeps_previous_facts_and_applies_the_change(catalog, indexes):
    first = plan(catalog, indexes, "Llama-3-70B on 2x H100, 8k-token prompts, 64 users")
    second = plan(catalog, indexes, "what about on A100?", previous=first)
    assert (second.gpu, second.gpu_count, second.model, second.prompt_tokens, second.batch) == (
        "a100-80gb", 2, "llama-3.1-70b", 8192, 64)
    third = plan(catalog, indexes, "and with 4 GPUs?", previous=second)
    assert (third.gpu, third.gpu_count) == ("a100-80gb", 4)


@pytest.mark.parametrize(("text", "unknown_gpu", "unknown_model"), [
    ("Serving Llama 3 8B on a Z9000 accelerator", "Z9000", None),
    ("How do I serve Zorblax-900B on 8x H100?", None, "Zorblax-900B"),
])
def test_unknown_names_are_flagged(catalog, indexes, text, unknown_gpu, unknown_model):
    w = plan(catalog, indexes, text)
    assert (w.unknown_gpu, w.unknown_model) == (unknown_gpu, unknown_model)
