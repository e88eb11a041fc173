"""Changes asked for in one phrase: "from A to B", the model they move to, a bare target after today's figure, a
spec's figure, a speed wished "or more", and a benchmark client's length flags. Phrasings are written for the
mechanisms."""

from __future__ import annotations

import pytest


def test_from_a_to_b_gives_today_and_the_target(read):
    found = read("Objective: bring ITL for our Qwen2.5-14B (v2.5 checkpoint) from ~30 ms to under 15 ms on one H100.")
    assert found.values.get("slo_tpot_ms") == 15
    assert found.measured.get("tpot_ms") == 30


def test_a_rise_is_not_a_target(read):
    found = read("TTFT went from 200 ms to 900 ms after the rollout. Llama 3.1 8B on an L4.")
    assert "slo_ttft_ms" not in found.values


@pytest.mark.parametrize("text, model", [
    ("We want to upgrade from Qwen2.5-14B to Qwen2.5-32B on the same 2x L40S. Is that feasible?", "qwen2.5-32b"),
    ("Llama 3.2 3B runs today; we would like Llama 3.1 8B on the same Jetson AGX Orin.", "llama-3.1-8b"),
    ("Llama 3.1 8B is slow compared to Llama 3.2 3B on our L4.", "llama-3.1-8b"),
])
def test_the_model_they_move_to(read, text, model):
    assert read(text).values.get("model") == model


def test_a_bare_target_beside_todays_figure(read):
    found = read("Llama 3.1 8B on 1x H100, vllm: TTFT 80 ms (target 180, fine), TPOT 13 ms (target 9). 2k/256.")
    assert found.values.get("slo_ttft_ms") == 180
    assert found.values.get("slo_tpot_ms") == 9


def test_a_spec_figure_is_a_target(read):
    found = read("We serve Llama 3.1 405B on 8x MI300X in FP8. TPOT is 70 ms and the product spec says 45.")
    assert found.values.get("slo_tpot_ms") == 45


def test_a_speed_wished_or_more(read):
    found = read("DeepSeek V3 on 16 H800 with sglang. Each user sees about 20 tokens per second, we want 35 or more.")
    assert found.values.get("slo_tpot_ms") == pytest.approx(1000 / 35, abs=0.01)


def test_benchmark_client_length_flags(read):
    found = read("python -m sglang.bench_serving --num-prompts 800 --random-input 2048 --random-output 256 "
                 "--max-concurrency 32 against Qwen3-32B on 2x H200")
    assert (found.values.get("prompt_tokens"), found.values.get("output_tokens")) == (2048, 256)
    assert found.values.get("batch") == 32


@pytest.mark.parametrize("text, running", [
    ("we quantized Qwen2.5-72B to GPTQ 4-bit and serve it with vLLM on 2x A100; at batch 48 it is slower than bf16", True),
    ("should we convert Qwen2.5-72B to GPTQ for our 2x A100?", False),
])
def test_a_conversion_already_made_runs(read, text, running):
    assert ("gptq" in read(text).stack) is running


def test_a_line_that_must_fully_appear_in_time(read):
    found = read("Our shop assistant runs on the customer's own PC (RTX 4060 8GB), Phi-3-mini. Shoppers leave if a "
                 "reply (~80 tokens) takes longer than 2 s to fully appear. The storefront app keeps ~3 GB VRAM.")
    assert found.values.get("slo_latency_ms") == 2000
    assert found.values.get("output_tokens") == 80
    assert found.values.get("objective") == "latency"
    assert found.values.get("phase") == "edge"
