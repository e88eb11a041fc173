"""Goals said through their consequences, loads said the way trainers and non-native writers say them, and today's
figures said around the metric instead of next to it.

An invoice, GPUs paid for but idle, or "run it on 2 of those 4 cards" ask for lower cost; the pace of the text once it
flows ("reading speed", "every word waits", "freezes mid-answer") is time per output token; "the first token comes
fast" says that metric is fine, while a complaint after a metric ("is what bugs me, once it starts it's ok") keeps it
the goal. A request rate reported as a figure describes traffic, not a goal. Training batches are global: the stated
global figure, or the per-device batch times the GPUs times gradient accumulation. Phrasings are written for the
mechanisms.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, objective", [
    # cost, said through money or idle hardware
    ("the cloud invoice for our Qwen2.5-32B endpoint was $18k last month, about 6 req/s at peak on 4 L40S. "
     "nobody complains about speed, I just need it lower", "cost"),
    ("We keep 8 H100s for a 13B model and peak traffic is ~3 req/s. It feels like paying for GPUs that do nothing.",
     "cost"),
    ("Llama 3.1 70B on 8x A100 with vLLM. Could we serve it on 4 of those 8 cards and hand the rest to training?",
     "cost"),
    ("What is the fewest L40S that can serve Mistral Small at 4 req/s with TTFT under 1 s?", "cost"),
    ("our nightly tagger is not latency sensitive at all; the problem is that it occupies 4 A100s full-time. qwen2.5-7b",
     "cost"),
    # the stream's pace
    ("testers say replies come out at reading speed on our Gemma 2 27B box (2x L40S, vLLM). make them faster", "tpot"),
    ("qwen2.5-14b on 2 A10G with vllm, 30 users at the same time, every word is waiting long, how to improve", "tpot"),
    ("the chat text freezes mid-answer whenever a long PDF gets pasted by another user. Llama 3.1 8B, one L4, vLLM",
     "tpot"),
    ("support agents say the answer types out slower than the old bot; the first token comes fast, it's everything "
     "after. Mistral 7B on one A10G, TGI", "tpot"),
    ("the customer wants the streams faster: Llama 3.1 8B on one H100, 20 users, each stream ~35 tok/s", "tpot"),
    # the wait before anything, with contentment after it that belongs to the stream
    ("Phi-3 mini on an RTX 3060, single user, 3k-token prompts. The wait before the answer starts is what bugs me, "
     "once it starts it's ok.", "ttft"),
    ("Dashboards track time to first paint of the answer: 2.1 s average. Llama 3.1 8B on one L40S, vLLM.", "ttft"),
    # only getting it to run at all
    ("any way to get Llama 3.1 70B to even load on 2x RTX 3090? speed doesn't matter, it just has to run for a demo",
     "memory"),
])
def test_goal_said_through_consequences(read, text, objective):
    assert read(text).values.get("objective") == objective


def test_we_bill_per_token_is_not_our_bill(read):
    found = read("We bill customers per token and each job only has to come back within 10 minutes, so we'd trade "
                 "per-request speed for more tokens through each H200. Llama 3.1 70B on 8 H200s.")
    assert found.values.get("objective") == "throughput"


@pytest.mark.parametrize("text, batch", [
    ("Capacity question: DeepSeek-V3 on 16 H200s, 2k in / 500 out, we need to hold 12k concurrent users.", 12000),
    ("SFT of qwen2.5-7b on 8 A100, deepspeed zero2, micro batch 4 per card, grad accumulation 8, so global batch is "
     "256. one step takes 30 s", 256),
    ("LoRA on Llama 3.1 8B with 2x RTX 4090, per_device_train_batch_size=8, gradient_accumulation_steps=4, seq 1024",
     64),
    ("Llama 3.2 3B on a T4 in colab, HF generate, 1 prompt at a time, ~1500 tokens in", 1),
    ("we deploy qwen3-8b in office with 2 piece RTX 4080, when 40 people use same time it is slow", 40),
])
def test_batch_as_trainers_and_teams_say_it(read, text, batch):
    assert read(text).values.get("batch") == batch


def test_a_count_of_prompts_is_no_prompt_length(read):
    found = read("Llama 3.2 3B on a T4 in colab, HF generate, 1 prompt at a time, ~1500 tokens in, 30 s per answer")
    assert found.values.get("prompt_tokens") == 1500


@pytest.mark.parametrize("text, count", [
    ("we deploy qwen3-8b in office with 2 piece RTX 4080, use vllm", 2),
    ("Mistral Nemo on an RTX 4090 box with vLLM, prompts about 3k tokens", 1),  # a desktop holds one card
    ("Llama 3.1 70B on an H100 box with vLLM", 8),  # a server of data-centre GPUs holds eight
])
def test_gpu_count_of_boxes_and_pieces(read, text, count):
    found = read(text)
    assert found.values.get("gpu_count", found.hinted.get("gpu_count", (None,))[0]) == count


@pytest.mark.parametrize("text, key, ms", [
    ("after the caller stops talking there's ~0.9 s of silence before the TTS gets its first token. Llama 3.2 3B, L4",
     "ttft_ms", 900.0),
    ("prompts grow to 16k tokens and each step waits ~3 s before the first token comes back. Llama 3.3 70B, 4 H100",
     "ttft_ms", 3000.0),
    ("ollama with qwen2.5:7b on my 4080, only me, I wait for the whole completion, ~5 s each", "latency_ms", 5000.0),
    ("falcon-40b on 2x L40, TGI: p50 first token 1.2 s, ~25 tok/s after that", "tpot_ms", 40.0),
])
def test_todays_figure_said_around_its_metric(read, text, key, ms):
    assert read(text).measured.get(key) == pytest.approx(ms)


def test_advertised_speed_is_the_target(read):
    found = read("Our premium tier is sold on streaming speed: the pricing page says 'up to 80 tokens/s'. Llama 3.1 8B "
                 "on one H200 gives 40 tok/s per stream at 64 concurrent.")
    assert found.values.get("slo_tpot_ms") == pytest.approx(12.5)
    assert found.measured.get("tpot_ms") == pytest.approx(25.0)


def test_tolerated_wait_is_a_target_and_todays_figure_still_read(read):
    found = read("Our UX study says people tolerate up to 2 s before the first characters show. Qwen2.5-32B on 2x A100 "
                 "(vLLM) gives 3.4 s median with 8k-token prompts.")
    assert found.values.get("slo_ttft_ms") == 2000.0
    assert found.measured.get("ttft_ms") == 3400.0


@pytest.mark.parametrize("text", [
    "qwen2.5-7b on one L4 via vllm generates math solutions for our training data: 200 in, 2,000 out, 32 in flight.",
    "need to run 9 eval suites (~50k prompts) through llama 3.1 70b on our 8x A100 node, as long as it's done by "
    "friday",
])
def test_jobs_without_users_are_offline(read, text):
    assert read(text).values.get("phase") == "offline-batch"


def test_veto_on_changed_outputs_is_lossless(read):
    found = read("FP8 would be cheaper but the eval team vetoed anything that changes outputs. Llama 3.1 70B on 4 H100, "
                 "TTFT p95 is what I'm judged on.")
    assert found.values.get("lossless") is True
