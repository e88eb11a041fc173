"""Speeds said as people measure them, memory shares with the card's own figure, and whose activity a phase word is.

"200 tokens in 8 seconds" and "every 2 seconds I get 40 tokens" are one stream's pace; "25 tokens per second minimum"
is a target; "each slot crawls" and "words per second" are about the stream; a traded metric ("we'd trade 100 ms of
TTFT for smooth streams") is not the goal; "half the card (L40S, 48GB)" takes half the user's figure; words in brackets
describe the served model ("our fine-tune of Mistral 7B (full fine-tune)"); "the rest run a training job" is someone
else's work. Phrasings are written for the mechanisms.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, objective", [
    ("One RTX 4090 holds an embedder and the LLM, and the LLM must leave 5 GB free. Qwen2.5-7B with vllm serve, 6 "
     "users. Replies stream too slowly; what speeds up per-token generation within that budget?", "tpot"),
    ("Phi-3-medium on 2x T4 with bitsandbytes 4-bit. generation is like 5 tok/s. any path to faster tokens?", "tpot"),
    ("llama-server with --parallel 4 on a 4070, each slot crawls at 12 t/s when busy. how to make each slot generate "
     "faster?", "tpot"),
    ("the help bot prints about 5 words per second per user; llama-3.1-70b awq on 4x L40S with vllm. what gets us "
     "faster streaming?", "tpot"),
    ("First token in ~250ms, great, but streams stall whenever a long document lands. We'd trade 50ms of TTFT for "
     "smooth streams. Mistral Small 24B on one H100, sglang.", "tpot"),
    ("kiosk app on a Jetson AGX Orin: the first answer takes 2 s to start showing, want it snappier", "ttft"),
    ("Qwen2.5-7B on a T4: 150 tokens in 6 seconds, single stream, HF fp16. It must get 2x faster for the demo.",
     "tpot"),
])
def test_goal_from_how_speed_is_felt(read, text, objective):
    assert read(text).values.get("objective") == objective


@pytest.mark.parametrize("text, key, value", [
    ("Llama-2-70b-chat on 4x A100 with TGI: every 3 seconds I get ~60 tokens on a stream.", "tpot_ms", 50.0),
    ("Qwen2.5-7B on a T4: 150 tokens in 6 seconds, single stream, HF fp16.", "tpot_ms", 40.0),
    ("llama-server --parallel 4 on a 4070, each slot crawls at 12.5 t/s when busy", "tpot_ms", 80.0),
    ("kiosk app on a Jetson AGX Orin: the first answer takes 2 s to start showing", "ttft_ms", 2000.0),
])
def test_pace_read_as_measured(read, text, key, value):
    assert read(text).measured.get(key) == pytest.approx(value)


@pytest.mark.parametrize("text, ms", [
    ("Contract says 30 tokens per second minimum per stream. Llama 3.1 70B on 4x A100, TGI.", 33.333),
    ("we deploy qwen2.5-72b in 4 card A800. each user get 15 token per second, boss ask for 30 token per second at "
     "least", 33.333),
])
def test_per_stream_speed_target(read, text, ms):
    assert read(text).values.get("slo_tpot_ms") == pytest.approx(ms, abs=0.01)


def test_concurrency_with_about(read):
    assert read("vllm on 4 A800, concurrency is about 40, answers slow").values.get("batch") == 40


@pytest.mark.parametrize("text, gb", [
    ("we can spare half the card (L40S, 48GB) for the summarizer; the other half is a vision model. Mistral Nemo", 24.0),
    ("We're allowed two thirds of an RTX A6000 (48GB) for the LLM; the last third runs TTS. Mistral 7B GPTQ", 32.0),
    ("We get a third of an L40S (16 GB) for the chatbot. Phi-4-mini.", 16.0),
])
def test_memory_share_of_the_stated_card(read, text, gb):
    assert read(text).values.get("memory_budget_gb") == gb


@pytest.mark.parametrize("text, phase", [
    ("We serve our in-house fine-tune of Qwen2.5-7B (full fine-tune, same architecture) on one L4 with vLLM, ~8 req/s.",
     "serving"),
    ("3 of our 8 A100 cards are free, the rest run a training job. want to serve mixtral on the free ones, 20 users.",
     "serving"),
    ("we run Llama 3.3 70B for batch reasoning jobs on 8 H100s; only $ per million tokens matters", "offline-batch"),
    ("DeepSeek-V3 on 16 H100s for batch evals that nobody watches live, 4k in 1k out", "offline-batch"),
])
def test_whose_activity_the_phase_is(read, text, phase):
    assert read(text).values.get("phase") == phase
