"""The reader on frameworks known by their artefacts, moves already made, item counts against prompt lengths, relative
negations, sizes in millions and misspelt model names.

Every phrasing is written here for the mechanism under test; none is taken from the eval sets.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agent.reading.models import ModelIndex, _misspelt
from agent.workload import extract


def read(text: str, catalog, indexes) -> dict:
    return extract(text, catalog, indexes).values


@pytest.mark.parametrize(("text", "framework"), [
    ("python -m sglang.launch_server --model-path org/m --tp 2, p50 TTFT is 3 s", "sglang"),
    ("INFO 09:12:44 gpu_executor.py:122] # GPU blocks: 900 -- why so few blocks on my L40S?", "vllm"),
    ('{"zero_optimization": {"stage": 3}} for a 7B full fine-tune, 4 GPUs', "deepspeed"),
    ("ZeRO-2 with gradient accumulation 8 on two 3090s is slow", "deepspeed"),
    ("--tensor-model-parallel-size 8 --pipeline-model-parallel-size 4 on 256 H100s", "megatron"),
    ("FSDP2 with torch.compile, 8B model, MFU 0.35", "fsdp"),
    ("llama-bench says tg128 is 40 t/s on my 4070", "llama.cpp"),
    ("OLLAMA_NUM_PARALLEL=4 on a mac studio", "llama.cpp"),
    ("MAX_BATCH_PREFILL_TOKENS=8192 in our container env, 1x A10G", "tgi"),
    ("we fine-tune with the HF Trainer on one A100", "transformers"),
])
def test_a_framework_is_known_by_its_commands_flags_and_logs(text, framework, catalog, indexes):
    assert read(text, catalog, indexes).get("framework") == framework


def test_an_engine_under_the_hf_trainer_is_what_runs(catalog, indexes):
    assert read("HF Trainer plus a DeepSpeed ZeRO-3 config, 8x H100, full fine-tune", catalog, indexes)["framework"] \
        == "deepspeed"


def test_a_framework_named_beats_one_known_only_by_a_shared_flag(catalog, indexes):
    text = "model: {tensor_model_parallel_size: 4}. This is NeMo SFT on 16 H100s."
    assert read(text, catalog, indexes)["framework"] == "nemo"


@pytest.mark.parametrize(("text", "framework"), [
    ("we switched from TGI to vLLM in May and TTFT got worse", "vllm"),
    ("last month we migrated the bot from vllm to sglang; p99 is spiky", "sglang"),
    ("we're moving our bot from TGI to vLLM next sprint", "tgi"),  # a move still to come: TGI runs now
])
def test_a_move_already_made_runs_the_new_framework(text, framework, catalog, indexes):
    assert read(text, catalog, indexes)["framework"] == framework


@pytest.mark.parametrize(("text", "phase"), [
    ("Qwen2.5-7B on one L4, 3k prompts and 200 output tokens, 10 rps", "serving"),  # 3k is a prompt length
    ("label 40M query-doc pairs with a 1B model on four A10s", "offline-batch"),
    ("score 3,200 held-out math problems with a 32B model on one H100", "offline-batch"),
    ("translate 2M prompts with an 8B model on an L40S", "offline-batch"),
])
def test_a_count_of_items_is_a_batch_job_and_a_prompt_length_is_not(text, phase, catalog, indexes):
    assert read(text, catalog, indexes)["phase"] == phase


def test_a_negated_head_reaches_into_its_relative_clause(catalog, indexes):
    text = "Budget is frozen, so nothing that needs training a new head. Llama 3.1 8B on one H100, 20 users, ITL 30 ms."
    assert read(text, catalog, indexes)["phase"] == "serving"


@pytest.mark.parametrize(("text", "size_b"), [
    ("pretraining a 124M GPT on one 3090, 600 ms per iter", 0.124),
    ("a 90M toy LM on my 4060, is 60k tok/s good?", 0.09),
    ("Megatron 13B pretrain on 64 A100s, MFU 0.38", 13.0),
])
def test_a_size_with_a_model_word_or_a_b_suffix_is_a_model(text, size_b, catalog, indexes):
    found = extract(text, catalog, indexes)
    assert found.model_size_b == pytest.approx(size_b)


def test_money_and_item_counts_are_not_model_sizes(catalog, indexes):
    assert extract("they raised $40B; we embed 30M rows on 8 L4s", catalog, indexes).model_size_b is None


@pytest.mark.parametrize(("text", "model"), [
    ("mixtrla 8x7b on 2x A100 with vllm", "mixtral-8x7b"),
    ("lamma-3.1 8b on an L4 for chat", "llama-3.1-8b"),
])
def test_a_misspelt_model_name_beside_its_size_resolves(text, model, catalog, indexes):
    assert read(text, catalog, indexes)["model"] == model


def test_a_typo_never_changes_the_numbers_of_a_name():
    index = ModelIndex({"orcana-27b": SimpleNamespace(name="Orcana 27B", aliases=[])})
    assert _misspelt("orcanna 27b on an L4", index) == ("orcana-27b", "orcanna 27b")
    # as close in spelling, but another size: not that model
    assert _misspelt("orcana 28b on an L4", index) is None


def test_a_memory_limit_is_a_constraint_when_something_else_is_asked(catalog, indexes):
    text = "Phi-3 mini on a T4 beside an embedder; it must stay under 8GB of GPU memory. p95 latency < 400 ms please"
    assert read(text, catalog, indexes)["objective"] == "latency"


def test_a_memory_limit_alone_is_the_objective(catalog, indexes):
    assert read("Qwen 14B on an A10G: how do I get it under 20 GB?", catalog, indexes)["objective"] == "memory"


@pytest.mark.parametrize(("text", "technique"), [
    ("TGI env: QUANTIZE=awq, 1x L4, Mistral 7B", "awq"),  # an environment switch without an underscore
    ("Megatron, TP4 PP2, SP on, 32 H100s, MFU 0.4", "sequence-parallel"),
    ("after switching our 12B model to GPTQ on the 4090 the answers got worse", "gptq"),
])
def test_switches_and_moves_put_techniques_in_the_stack(text, technique, catalog, indexes):
    assert technique in extract(text, catalog, indexes).stack


@pytest.mark.parametrize(("text", "objective"), [
    # a metric the user is content with is not what to improve
    ("TTFT p95 is 300 ms which is fine. ITL is 70 ms on 2x L40S and users call it sluggish", "tpot"),
    ("MFU is 48%, we're happy with that. We keep running out of memory at micro-batch 4 on 8 H100s", "memory"),
    ("the speed is ok (~30 tok/s); what I need is 64k context on a single 4090 without OOM", "memory"),
    # a measured figure that misses its own target decides
    ("SLOs: TTFT p90 < 700 ms, ITL p90 < 40 ms. Measured: TTFT p90 = 610 ms, ITL p90 = 55 ms. Llama 8B on 2 L4s",
     "tpot"),
    # capacity, cost and end-to-end time in their everyday words
    ("How do we fit more concurrent chats on one H200 before requests start queueing?", "throughput"),
    ("Can our 13B model run on 2 of the 4 T4s instead? traffic is tiny", "cost"),
    ("What's the smallest number of L40S that keeps p50 ITL under 40 ms at 900 requests per minute?", "cost"),
    ("the batch summary job times out at 10 s per request on an A10G; how do I get per-request time down?", "latency"),
    ("the whole pipeline has a 1 s budget and the LLM step takes 1.4 s on the Orin; need it at 300 ms or less",
     "latency"),
    ("Speed is fine. Since we moved to AWQ to fit on 2 A100s our eval dropped 3 points; how do we get quality back?",
     "quality"),
])
def test_the_objective_is_what_the_user_wants_changed(text, objective, catalog, indexes):
    assert read(text, catalog, indexes)["objective"] == objective


@pytest.mark.parametrize(("text", "phase"), [
    ("training a small draft or extra heads is absolutely fine. Llama 70B on 4 A100s, cut per-token latency", "serving"),
    ("we host customers' own fine-tunes of Llama 8B, one H100 each; maximise tokens/s per GPU", "serving"),
    ("nobody here can train anything; Llama 3B with Ollama on a Mac Studio for internal tools", "edge"),
    ("I have 128 A100s for a week to pretrain a 1B model and the current config would need 10 days", "pre-training"),
    ("run my eval of a 7B model over 8k prompts on one 3090 overnight", "offline-batch"),
])
def test_permissions_and_nouns_are_not_the_phase(text, phase, catalog, indexes):
    assert read(text, catalog, indexes)["phase"] == phase


@pytest.mark.parametrize("text", [
    "the vendor contract forbids modifying the weights. Llama 70B on 4 H100s with vLLM",
    "Pruning would need a recovery fine-tune, which we can't do. Qwen 32B on 2 A100s",
    "we have no GPU for training, only two 4090s for inference",
    "the model is owned by research; we may not retrain or alter it",
])
def test_training_ruled_out_in_other_words(text, catalog, indexes):
    assert read(text, catalog, indexes).get("no_retraining") is True


def test_without_quantizing_is_a_rule_even_inside_a_question(catalog, indexes):
    assert read("Can we move our 70B model from 4 A100s onto 2 without quantizing it?", catalog, indexes)["lossless"]


@pytest.mark.parametrize(("text", "count"), [
    ("vLLM with --tensor-parallel-size 4 for Qwen 72B on L40S, TTFT is 3 s", 4),
    ('{"model": "llama-70b", "tp": 8, "gpu": "H100"} and we want lower ITL', 8),
    ("Megatron TP=4 PP=2 on A100s for a 30B model", 8),
])
def test_a_parallel_layout_says_how_many_gpus(text, count, catalog, indexes):
    assert read(text, catalog, indexes)["gpu_count"] == count


def test_a_stated_count_beats_the_layout(catalog, indexes):
    assert read("16 H100s, TP=8, two replicas of Llama 70B", catalog, indexes)["gpu_count"] == 16


@pytest.mark.parametrize("text", [
    "2k H100-hours for training are on the table this quarter; Mixtral on 4 H100s in vLLM, 6 req/s",
    "our mobile app's backend is Qwen3-14B on 2x L40S with vLLM and replies take 3 s to start",
])
def test_a_serving_engine_that_runs_makes_it_serving(text, catalog, indexes):
    assert read(text, catalog, indexes)["phase"] == "serving"


def test_a_framework_is_current_when_the_hedge_is_about_something_else(catalog, indexes):
    text = "We serve Llama 70B on 8 H100s with vLLM at maybe 3 req/s; finance wants fewer GPUs"
    assert read(text, catalog, indexes)["framework"] == "vllm"


def test_a_plain_word_like_pipeline_or_generate_is_not_hf_transformers(catalog, indexes):
    text = "we generate labels in a nightly pipeline with SGLang on 2 L40S"
    assert read(text, catalog, indexes)["framework"] == "sglang"


@pytest.mark.parametrize("text", [
    "on-device summaries with Gemma 3 1B take 12 s on a Pixel 8",
    "ios app on an iPhone 15 Pro, llama 3.2 1b, must stay under 3 GB",
])
def test_a_phone_is_an_accelerator_we_have_no_specs_for(text, catalog, indexes):
    assert extract(text, catalog, indexes).unknown_gpu


def test_a_laptop_with_an_apple_chip_is_that_chip(catalog, indexes):
    assert read("gemma-3-4b on my M3 Max laptop via MLC uses 9.8 GB", catalog, indexes)["gpu"] == "apple-m3-max"


@pytest.mark.parametrize(("text", "gpu"), [
    ("we run Llama 70B on AMD GPUs with ROCm and vLLM, TTFT is bad", "mi300x"),
    ("Qwen 7B with MLX on my MacBook, it's slow", "apple-m3-max"),
])
def test_a_vendor_named_without_a_part_assumes_a_part_of_that_vendor(text, gpu, catalog, indexes):
    found = extract(text, catalog, indexes)
    assert "gpu" not in found.values and found.hinted["gpu"][0] == gpu


def test_token_for_token_is_lossless_and_nothing_trained_rules_out_training(catalog, indexes):
    values = read("outputs must match the reference token for token and nothing may be trained", catalog, indexes)
    assert values["lossless"] is True and values["no_retraining"] is True


def test_a_technique_hedged_after_its_name_is_not_in_the_stack(catalog, indexes):
    found = extract("Llama 8B on one H100 with vLLM; FP8 might be an option for us later", catalog, indexes)
    assert "fp8-inference" not in found.stack
