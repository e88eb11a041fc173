"""The goal in the words users, tickets and managers use: degraded answers are a quality goal, silence before the
reply is time to first token, a trickle of words is time per token, hardware per customer or smaller cards is cost,
and "only there so we notice regressions" or "same traffic" keep a metric from being the goal. Phrasings are written
for the mechanisms.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, objective", [
    # quality: what degraded answers look like
    ("Our Qwen2.5 7B fine-tune was trained at 4k and falls apart on 16k-token manuals. Speed is not the concern.",
     "quality"),
    ("Since the AWQ switch the summaries drop key facts. Llama 3.1 8B on one L4, vLLM. I don't mind it being slower.",
     "quality"),
    ("We need at least 70 on our internal eval; the int4 build of Llama 3.3 70B scores 66. Latency is fine.", "quality"),
    ("The LoRA adapter trails a full fine-tune by 4 points on our benchmark. Mistral 7B on one H100. What closes that "
     "gap?", "quality"),
    ("qwen2.5 32b Q3 on my mac feels noticeably dumber than the API version; I'd trade some tok/s for answers that "
     "match", "quality"),
    ("fp8 pre-training of a 3B with Megatron on 16 H100s: lm loss jumps then goes nan after 10k steps; step time is "
     "fine either way", "quality"),
    # time to first token, said as silence
    ("The voice bot has to start speaking within 400 ms after the caller stops; now there's a dead pause. Llama 3.2 3B "
     "on one L4.", "ttft"),
    ("The notes app looks frozen for several seconds, then the reply types out quickly. Qwen3 8B in Ollama on an M3 "
     "Max, ~5k tokens of context.", "ttft"),
    ("Output speed isn't the issue. It's the initial silence after hitting send on a big paste. Qwen2.5 32B on 8 "
     "H100s, vLLM.", "ttft"),
    # time per token, said as a trickle
    ("readers finish a sentence and wait for the next words to trickle in. Mistral Small on one H100, two users.",
     "tpot"),
    ("phi-4-mini on a Jetson AGX Orin with llama.cpp. Once it starts talking it does about 7 tokens a second. Can it "
     "talk faster?", "tpot"),
    ("I'm not after throughput, and TTFT is whatever. How fast each token comes out for one user is what counts. "
     "Qwen3-32B on one A100.", "tpot"),
    # cost
    ("The dashboard shows TTFT (p50 380 ms) and dollars per day; TTFT is only there so we notice regressions. "
     "Leadership wants the daily dollars down. Mistral Small on 4x L40S.", "cost"),
    ("Users are happy with speed. The goal is serving the same traffic, ~10 req/s, on fewer GPUs. Mistral 7B on 6 "
     "A10G.", "cost"),
    ("Our classifier (Llama 3.1 8B) has its own A100 at ~40 req/s, 300 in / 10 out. Latency has lots of slack. Is "
     "there a cheaper way to serve it, maybe smaller cards?", "cost"),
    ("Speed is fine. Quality is fine. The problem: we stand up a g5.12xlarge per customer for Llama 3.1 8B and most "
     "send a few requests an hour.", "cost"),
    # memory: only getting it onto the card
    ("One RTX 3060 12GB, Mistral NeMo 12B for PDFs. Can it be squeezed onto the card at all?", "memory"),
    ("Slow is fine. I just need Mixtral 8x7B to load on a single 24GB RTX 4090 without crashing.", "memory"),
    # latency
    ("Aggregate throughput is fine, ~2,000 tok/s, we only note it. The ask is cutting the wall time of each request. "
     "Mistral 7B on one A100, 16 in flight.", "latency"),
])
def test_goal_in_plain_words(read, text, objective):
    assert read(text).values.get("objective") == objective


def test_tokens_a_second_is_a_rate(read):
    found = read("TTFT is fine (~200 ms). Llama 3.1 70B on 8x A100, TGI: each user gets about 25 tokens a second.")
    assert found.measured.get("tpot_ms") == pytest.approx(40.0)


def test_todays_figure_after_a_label(read):
    found = read("Target: TTFT under 400 ms at p50. Today: 1.3 s p50 with gemma-3-27b on one H100, vLLM.")
    assert found.measured.get("ttft_ms") == 1300.0
    assert found.values.get("objective") == "ttft"
