"""Workload extraction without an LLM: GPUs, models, phase, lengths, load, objective, constraints, origins."""

from __future__ import annotations

import pytest

from agent.candidates import hardware_problem
from agent.workload import Workload, clarify_questions, parse_count, plan_workload
from index.errors import NotFound


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
    ("two A100s for serving", "a100-80gb", 2),
    ("a pair of H100s", "h100-sxm", 2),
    ("Llama 3 8B on 8xH100", "h100-sxm", 8),
    ("H100x4 for fine-tuning", "h100-sxm", 4),
    ("4 x L40S behind vLLM", "l40s", 4),
    ("serving on an 8xH100 server", "h100-sxm", 8),
    # a count written at the GPU name wins over a negated "one H100" later on
    ("Llama 70B on 4 H100s because it doesn't fit on one H100", "h100-sxm", 4),
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


@pytest.mark.parametrize(("text", "count", "single"), [
    # a count tied to "GPUs" wins over a later "one GPU" that is negated or contrasted
    ("How should we split a 70B model across 8 GPUs for serving when it does not fit on one GPU?", 8, False),
    ("It won't fit on a single GPU, so we bought eight GPUs", 8, False),
    ("we have 4 GPUs; the model is too big for one GPU", 4, False),
    ("we need more than one GPU: we have two GPUs", 2, False),
    ("eight GPUs", 8, False),
    ("Mixtral 8x7B on 2 identical GPUs", 2, False),
    ("it has to run on one GPU", 1, True),
    ("serve it on a single consumer GPU", 1, True),
])
def test_gpu_count_ignores_negated_mentions(catalog, indexes, text, count, single):
    w = plan(catalog, indexes, text)
    assert (w.gpu_count, w.origin("gpu_count"), w.single_gpu) == (count, "understood", single)


@pytest.mark.parametrize(("text", "count", "words"), [
    ("serving Llama 3 70B on an H200 node", 8, "an H200 node"),
    ("pre-training on 2 H100 nodes", 16, "2 H100 nodes"),
])
def test_a_node_is_assumed_to_hold_eight_gpus(catalog, indexes, text, count, words):
    w = plan(catalog, indexes, text)
    assert (w.gpu_count, w.origin("gpu_count"), w.origin("gpu")) == (count, "assumed", "understood")
    assert words in w.origins["gpu_count"].note and any(words in note and "8 GPUs" in note for note in w.notes)


@pytest.mark.parametrize(("text", "gpus", "words"), [
    ("Running a 40B model on a laptop with a consumer GPU whose VRAM is too small", {"rtx-3090", "rtx-4090"}, "laptop"),
    ("2-bit quantization of a 70B model for a single consumer GPU", {"rtx-4090", "rtx-3090"}, "consumer GPU"),
    ("can I run a 13B model on my gaming card?", {"rtx-4090", "rtx-3090"}, "gaming card"),
    ("we still pre-train in fp32 on older GPUs", {"v100", "a100-40gb"}, "older GPUs"),
    ("fine-tuning on previous-generation cards", {"v100", "a100-40gb"}, "previous-generation cards"),
])
def test_a_kind_of_gpu_maps_to_a_representative_and_says_so(catalog, indexes, text, gpus, words):
    w = plan(catalog, indexes, text)
    assert w.gpu in gpus and w.origin("gpu") == "assumed"
    note = w.origins["gpu"].note
    assert words in note and catalog.gpus[w.gpu].name in note and note in w.notes
    assert any(q.startswith("Which GPU") for q in clarify_questions(w, catalog))


@pytest.mark.parametrize(("text", "fp8_allowed"), [
    ("we still pre-train in fp32 on older GPUs", False),
    ("run a 7B model on a laptop with a consumer GPU", False),
    ("serve a 7B model on my gaming card", True),
])
def test_fp8_follows_the_representative_gpus_compute_capability(catalog, indexes, text, fp8_allowed):
    w = plan(catalog, indexes, text)
    gpu = catalog.gpus[w.gpu]
    for tech_id in ("fp8-inference", "fp8-training"):
        assert (hardware_problem(catalog.techniques[tech_id], gpu, w.gpu_count) is None) == fp8_allowed


def test_follow_up_keeps_a_hinted_gpu(catalog, indexes):
    first = plan(catalog, indexes, "fine-tune a 7B model on older GPUs")
    second = plan(catalog, indexes, "and with 4 GPUs?", previous=first)
    assert first.gpu in ("v100", "a100-40gb")
    assert (second.gpu, second.origin("gpu"), second.gpu_count) == (first.gpu, "assumed", 4)
    named = plan(catalog, indexes, "what about on A100?", previous=first)
    assert (named.gpu, named.origin("gpu")) == ("a100-80gb", "understood")


@pytest.mark.parametrize(("text", "size_b"), [
    ("serving a 7B model on an H100", 7), ("our 13B llama-style model", 13), ("a 350M model on a T4", 0.35),
])
def test_a_size_alone_builds_an_assumed_shape_and_says_so(catalog, indexes, text, size_b):
    w = plan(catalog, indexes, text)
    shape = w.model_shape(catalog)
    assert w.origin("model") == "understood" and w.model not in catalog.models
    assert shape.params_total == pytest.approx(size_b * 1e9, rel=0.1) and "assumed" in shape.source
    assert any("assumed" in note and f"{size_b:g}B" in note for note in w.notes)


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
    ("128k context, 500 output tokens, 8 concurrent users", 131072, 500, 8),
    ("32K tokens in, 1 user", 32768, None, 1),
    ("1M tokens of context, batch size of one", 1048576, None, 1),
])
def test_lengths_and_batch(catalog, indexes, text, prompt, output, batch):
    w = plan(catalog, indexes, text)
    assert w.prompt_tokens == prompt and w.origin("prompt_tokens") == "understood"
    if output is not None:
        assert w.output_tokens == output and w.origin("output_tokens") == "understood"
    assert w.batch == batch


@pytest.mark.parametrize("text", [
    "serve Llama 3 8B for one user",
    "a single user chats with Llama 3 8B",
    "we handle one request at a time",
    "batch size of one",
    "bs=1 decoding on an H100",
    "single-stream generation",
    "no batching: requests arrive rarely",
])
def test_single_user_means_batch_one(catalog, indexes, text):
    w = plan(catalog, indexes, text)
    assert (w.batch, w.origin("batch")) == (1, "understood")


@pytest.mark.parametrize(("text", "qps"), [
    ("serve 20 requests per second of Llama 3 8B", 20.0),
    ("QPS 20 on two A100s", 20.0),
    ("about 20 req/s at peak", 20.0),
    ("120 requests per minute", 2.0),
])
def test_qps_is_a_rate_not_a_batch(catalog, indexes, text, qps):
    w = plan(catalog, indexes, text)
    assert (w.qps, w.origin("qps")) == (qps, "understood")
    assert w.origin("batch") == "assumed"


@pytest.mark.parametrize(("text", "objective"), [
    ("we need a lower time to first token", "ttft"),
    ("inter-token latency is too high", "tpot"),
    ("it runs out of memory", "memory"),
    ("maximize throughput", "throughput"),
    ("we must cut cost", "cost"),
    ("latency matters", "latency"),
    ("keep accuracy as high as possible", "quality"),
    ("p99 TTFT under 200 ms", "ttft"),
    ("maximise tokens per dollar", "cost"),
    ("what is the cost per million tokens?", "cost"),
])
def test_objective(catalog, indexes, text, objective):
    w = plan(catalog, indexes, text)
    assert (w.objective, w.origin("objective")) == (objective, "understood")


@pytest.mark.parametrize(("text", "field", "value"), [
    ("speed it up without changing outputs", "lossless", True),
    ("lossless methods only", "lossless", True),
    ("no retraining please", "no_retraining", True),
    ("we cannot fine-tune", "no_retraining", True),
    ("we can't fine-tune the model", "no_retraining", True),
    ("speed up decoding without hurting accuracy", "lossless", True),
    ("make it faster without sacrificing model quality", "lossless", True),
    ("on a single GPU", "single_gpu", True),
    ("we serve with vLLM", "framework", "vllm"),
    ("our stack is TensorRT-LLM", "framework", "tensorrt-llm"),
    ("training with DeepSpeed", "framework", "deepspeed"),
])
def test_constraints(catalog, indexes, text, field, value):
    w = plan(catalog, indexes, text)
    assert getattr(w, field) == value and w.origin(field) == "understood"


def test_a_lossless_phrase_is_not_a_quality_objective(catalog, indexes):
    w = plan(catalog, indexes, "speed up decoding without hurting accuracy")
    assert w.lossless and w.objective != "quality"


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


@pytest.mark.parametrize(("text", "field", "value"), [
    # the scope of a mention: negated and proposed phases say nothing about what the user does now
    ("Not training. We could fine-tune a small draft if needed. Llama 3 8B on an L4", "phase", "serving"),
    ("we trained it last month, now we need to serve it", "phase", "serving"),
    ("I don't care about latency at all, it's an offline job", "objective", "throughput"),
    ("Outputs must stay bit-identical to fp16, no quantization allowed", "lossless", True),
    ("we can fine-tune if needed", "no_retraining", False),
    # counts that compose with what stands between them and the GPU name
    ("How can I fit Llama 3 70B on a single 24GB RTX 4090?", "gpu_count", 1),
    ("four 48GB L40S cards", "gpu_count", 4),
    ("4 nodes × 8 H100", "gpu_count", 32),
    ("2 nodes of 8 H100s", "gpu_count", 16),
    ("DeepSpeed ZeRO-1 on 64 A100s (8 nodes)", "gpu_count", 64),
    ("RTX A6000 x4 for LoRA", "gpu_count", 4),
    # lengths in every style, and numbers that are not lengths
    ("Mixtral, 512 in / 256 out", "output_tokens", 256),
    ("prompt length 1,500 tokens, generate 300", "output_tokens", 300),
    ("llama405b / 8xh100 / 2k-512 / c=64", "output_tokens", 512),
    ("ISL 2048 OSL 128 on vLLM", "prompt_tokens", 2048),
    ("outputs are long, like 6k tokens each", "output_tokens", 6144),
    # the stack running today
    ("moving our chatbot from HuggingFace TGI to vLLM", "framework", "tgi"),
    ("should we try SGLang for this?", "framework", None),
    ("Jamba on one H200", "model", "jamba-v0.1"),
    ("meta-llama/Llama-3.1-8B-Instruct on an A10G", "model", "llama-3.1-8b"),
    ("mistral 7b on one a10g (aws g5)", "gpu", "a10g"),
    # targets and budgets
    ("p99 TTFT under 1 s please", "slo_ttft_ms", 1000.0),
    ("TPOT is 45ms now, target is <30ms", "slo_tpot_ms", 30.0),
    ("at least 20 tok/s per user", "slo_tpot_ms", 50.0),
    ("it must stay under 20 GB", "memory_budget_gb", 20.0),
])
def test_reader_composes_mentions_with_their_scope(catalog, indexes, text, field, value):
    assert getattr(plan(catalog, indexes, text), field) == value


@pytest.mark.parametrize(("text", "key", "value"), [
    ("decode runs at 45 ms/token", "tpot_ms", 45.0),
    ("MFU 31% on 64 H100s", "mfu", 0.31),
    ("TTFT 3 s at 32 users", "ttft_ms", 3000.0),
    ("we get 2,400 tok/s", "throughput_tok_s", 2400.0),
    ("it uses 70GB per GPU", "memory_gb", 70.0),
])
def test_user_measurements_are_read(catalog, indexes, text, key, value):
    assert plan(catalog, indexes, text).measured[key] == pytest.approx(value)


def test_a_framework_brings_its_default_stack_and_stated_techniques_join_it(catalog, indexes):
    w = plan(catalog, indexes, "we serve Llama 3 8B with vLLM on an H100, fp8 kv cache is on")
    assert w.stack["paged-attention"].startswith("vLLM") and w.stack["kv-cache-quantization"] == "stated"
    hf = plan(catalog, indexes, "We use HF transformers generate() for Llama 3 8B on an A100")
    assert "continuous-batching" not in hf.stack and "paged-attention" not in hf.stack
    off = plan(catalog, indexes, "vLLM, but we don't use chunked prefill")
    assert "chunked-prefill" not in off.stack and "paged-attention" in off.stack


@pytest.mark.parametrize(("text", "gpu", "count"), [
    ("we own a DGX H100", "h100-sxm", 8),
    ("two p5.48xlarge instances", "h100-sxm", 16),
    ("SageMaker endpoint on ml.g6e.12xlarge with TGI", "l40s", 4),
    ("3x8 H100, SFT of Qwen2.5-72B", "h100-sxm", 24),
    ("trainer: devices: 8 num_nodes: 4 on H200 nodes", "h200", 32),
    ("a quarter of an 8x H200 node (so 2 GPUs)", "h200", 2),
])
def test_machine_types_and_written_out_totals_give_the_gpu_count(catalog, indexes, text, gpu, count):
    w = plan(catalog, indexes, text)
    assert (w.gpu, w.gpu_count, w.origin("gpu_count")) == (gpu, count, "understood")


def test_an_unknown_gpu_is_assumed_as_the_closest_name_and_said(catalog, indexes):
    w = plan(catalog, indexes, "mistral 7b on two a40 cards")
    assert w.unknown_gpu == "a40" and w.origin("gpu") == "assumed" and w.gpu_count == 2
    assert "no specs for 'a40'" in w.origins["gpu"].note and catalog.gpus[w.gpu].name in w.origins["gpu"].note


def test_a_model_config_json_sets_the_shape(catalog, indexes):
    from agent.knowledge.derived_shape import shape_from_hf_config

    spec = shape_from_hf_config({"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                                 "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256}, "mine")
    w = plan(catalog, indexes, "serve it on an H100", {"model_spec": spec})
    assert w.model == "custom-mine" and w.origin("model") == "explicit"
    assert w.model_shape(catalog).params_total == pytest.approx(catalog.models["llama-3.1-8b"].params_total, rel=0.01)
