"""The goal is what the question asks, read in its own sentence and in plain words.

A question sentence ("What would cut the GPU bill?") carries the goal even when a figure for another metric sits
earlier in the text; a metric the user tolerates ("latency can get a bit worse", "the 7 tok/s I can live with") is
set aside; goals said as work to finish ("raise the ceiling", "halve the number of T4s") are read; a count in
millions of items is a batch job; a training cluster that sits idle or a fine-tune planned for next quarter is not
today's phase; memory today is read from "78 of 80 GB" and "mem 71.2GB"; "on one L40S instead of two" keeps the two in
use; a figure that moved ("from 1.1 s to 3.6 s", "600ms last week, 2.1s now") is read at its later value; a
technique that fails for the user ("FlashAttention only supports Ampere") is not in their stack.
Phrasings are written for the mechanism.
"""

from __future__ import annotations

import pytest



@pytest.mark.parametrize("text, objective", [
    # the asked sentence wins over a figure only reported
    ("Our Llama 3.1 8B endpoint on 2x L4 holds p95 TTFT under 2 s. Which change would cut the GPU bill?", "cost"),
    ("Qwen2.5-14B on one A100 at 6 req/s, 1k prompts. Could a single L4 carry it instead of two of them?", "cost"),
    # a tolerated metric is not the goal
    ("Mistral 7B on 4x A10G, and the CFO wants the number of cards halved. Latency can get a bit worse, nobody minds.",
     "cost"),
    ("Gemma 2 27B on an M2 Ultra. The first reply takes a minute to start; 8 tok/s while it writes I can live with. "
     "How do I shorten that wait before the first token?", "ttft"),
    ("Phi-3-medium on an L40S. Users don't mind waiting a moment for the reply to start, but the text streams slower "
     "than people read.", "tpot"),
    # goals said as the work to get through
    ("Llama 3.1 8B, vLLM on 2x A100: queues build at the evening peak. What raises the ceiling?", "throughput"),
    ("Qwen3-8B on one H100 with SGLang. How much more load can this card take before we add another?", "throughput"),
    ("Phi-3-mini on T4s for tagging tickets; we want to halve the number of T4s we pay for.", "cost"),
    ("Llama 3.2 3B chatbot on one L4, single user at a time. Make the tokens come out faster.", "tpot"),
    ("DeepSeek-R1-Distill-Qwen-14B on one H100: how do we make the reasoning go faster for each user?", "tpot"),
    # "only does N" is a complaint, not "the only thing"; what is traded away is not the goal
    ("Per-user speed is fine (~50 tok/s) but the 4x H100 box only does 2,000 tok/s in all; we'd trade some per-user "
     "speed for more total tokens.", "throughput"),
    # "is it possible" asks whether it fits, unless a time limit is what has to be possible
    ("Is it possible to fine-tune Mistral 7B with LoRA on one 24GB card? Budget is this card.", "memory"),
    ("Qwen2.5-32B on 2x L4. Is it possible for a 1.2k-token answer to come back within 20 s?", "latency"),
])
def test_asked_and_tolerated_goals(read, text, objective):
    assert read(text).values.get("objective") == objective


@pytest.mark.parametrize("text", [
    "Summarise 3 million support transcripts with Llama 3.1 8B on 8x L40S by Friday; each is ~1k tokens in, 100 out.",
    "Mistral 7B rewriting 12 million listings on 4x H100; no one is waiting for any single answer.",
])
def test_item_counts_in_millions_are_batch_jobs(read, text):
    assert read(text).values.get("phase") == "offline-batch"


@pytest.mark.parametrize("text", [
    "We'll fine-tune next quarter; right now we serve stock Qwen3-14B on one L40S with vLLM for 30 users.",
    "We own the weights and can fine-tune if we like. Llama 3.1 70B on 8x H100 serves our chat at 50 users.",
])
def test_training_later_or_allowed_is_not_the_phase(read, text):
    assert read(text).values.get("phase") == "serving"


@pytest.mark.parametrize("text, gb", [
    ("Pre-training a 3B model on 32x H100: we sit at 74 of 80 GB per GPU and OOM at longer sequences.", 74.0),
    ("Full fine-tune of Mistral 7B on 8x A100 80GB, memory has headroom (47/80 GB), but MFU is 24%.", 47.0),
    ("step 800 | loss 2.1 | MFU 31% | mem 66.5GB, torchtitan on 16x H100, 8B model from scratch.", 66.5),
    ("Megatron on 24 H100, memory isn't a concern (~38 GB/GPU), can we raise tokens/s?", 38.0),
])
def test_memory_in_use_read_from_shares_and_logs(read, text, gb):
    assert read(text).measured.get("memory_gb") == gb


@pytest.mark.parametrize("text, prompt_tokens", [
    ("Llama-3.1-70B on 2x H100: an offline job of 2M prompts overnight, throughput only.", None),
    ("nightly scoring of 100k prompts with opt-66b on one RTX A6000", None),
    # within the model's window a figure before "prompts" stays a length, as people write it
    ("Llama 3.1 8B on one H100 with 128k prompts, what decode speed?", 131072),
    ("opt-66b on one RTX A6000, 100k-token prompts", 102400),
])
def test_a_count_of_prompts_beyond_the_models_window_is_not_a_length(read, text, prompt_tokens):
    assert read(text).values.get("prompt_tokens") == prompt_tokens


@pytest.mark.parametrize("text, count", [
    ("Could our Qwen3-32B chat run on 2 L40S instead of the 4 it uses today?", 4),
    ("A small accuracy loss is fine if it lets us serve Mistral Small on one L40S instead of two.", 2),
    ("Mixtral on 4x H100 with vLLM at 20 req/s; what limits throughput?", 4),
])
def test_a_proposed_count_with_instead_of_keeps_the_count_in_use(read, text, count):
    assert read(text).values.get("gpu_count") == count


@pytest.mark.parametrize("text, ttft_ms", [
    ("Qwen2.5-72B on 2x H100: since the template grew, p95 TTFT went from 1.2 s to 3.4 s.", 3400.0),
    ("Llama 3.1 70B on 4x H100 with vLLM: p50 TTFT was 500ms last week, 1.9s now.", 1900.0),
])
def test_a_figure_that_moved_is_read_at_its_later_value(read, text, ttft_ms):
    assert read(text).measured.get("ttft_ms") == ttft_ms


@pytest.mark.parametrize("text, technique", [
    ("Fine-tuning Llama 3.2 3B on a T4: FlashAttention only supports Ampere GPUs or newer, it says.", "flash-attention"),
    ("We tried to enable CUDA graphs but CUDA graphs fail with our custom op. Mistral 7B on an L4.", "cuda-graphs"),
])
def test_a_technique_that_fails_for_the_user_is_not_in_their_stack(read, text, technique):
    assert technique not in read(text).stack
