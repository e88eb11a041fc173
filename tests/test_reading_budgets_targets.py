"""Memory budgets, latency targets and today's figures written the many ways engineers write them.

A budget may be a cap ("20 GB is our hard ceiling"), a grant ("the container is allowed 18 GB"), a share of the card
("at most 40% of the GPU memory", "--gpu-memory-utilization 0.5") or what is left of it ("leave 6 GB free"); a share
or a remainder needs the GPU's memory, so it is worked out after the hardware reader. Targets come as lists ("the
targets are 1.2 s and 40 ms"), per-user rates, ms per token with the bound after it, and bounds without a unit.
Phrasings here are written for the mechanism they test, not taken from the eval sets.
"""

from __future__ import annotations

import pytest

from agent.knowledge.catalog import Catalog



def _card_gb(catalog: Catalog, gpu_id: str) -> float:
    return catalog.gpus[gpu_id].memory_gib


@pytest.mark.parametrize("text, budget_gb", [
    ("Our inference container is allowed 18 GB on the L40S. Can Mistral 7B run with 16k context?", 18),
    ("The embedding model shares the A10, so the chat model can use 12 GB tops.", 12),
    ("20 GB is our hard ceiling per replica; Llama 3.1 8B on an A100 80GB.", 20),
    ("Please get the footprint down to 30 GiB on each H100, we serve Qwen2.5-14B.", 30),
    ("We rent a MIG 2g.20gb instance of an A100 and want to serve Phi-3-mini.", 20),
    ("The browser kills the page above ~2 GB, so Qwen2.5-0.5B in WebGPU has to fit.", 2),
    ("The fine-tune must stay inside 45 GB on the H100 because a profiler runs beside it.", 45),
    ("tenant quota: hard limit of 16GB GPU memory per pod, Llama 3.2 3B, 4 users.", 16),
])
def test_a_cap_or_grant_stated_in_gb_is_the_budget(read, text, budget_gb):
    assert read(text).values.get("memory_budget_gb") == budget_gb


@pytest.mark.parametrize("text, gpu_id, fraction", [
    ("Cluster rule: a pod may use at most 40% of the GPU memory. H100 SXM 80GB, Llama 3.1 8B.", "h100-sxm", 0.4),
    ("vllm serve Qwen/Qwen2.5-7B-Instruct --gpu-memory-utilization 0.5 on one L4", "l4", 0.5),
    ("On our shared A100 80GB each team gets no more than a quarter of the card.", "a100-80gb", 0.25),
    ("python -m sglang.launch_server --mem-fraction-static 0.6 on an L40S with Llama 3.1 8B", "l40s", 0.6),
])
def test_a_share_of_the_card_is_taken_of_the_gpus_memory(read, catalog, text, gpu_id, fraction):
    found = read(text)
    assert found.values.get("gpu") == gpu_id
    assert found.values.get("memory_budget_gb") == pytest.approx(fraction * _card_gb(catalog, gpu_id), abs=0.1)


@pytest.mark.parametrize("text, gpu_id, kept_gb", [
    ("On my RTX 4090 I leave 6 GB free for the desktop apps. Which 13B quant fits?", "rtx-4090", 6),
    ("The ASR model already takes ~9 GB on our L4 and the LLM gets what's left.", "l4", 9),
    ("Finance reserves 8 GB on each H100 80GB for a risk model; we serve Llama 3.1 70B on 4 of them.", "h100-sxm", 8),
])
def test_memory_kept_for_others_leaves_the_rest_of_the_card(read, catalog, text, gpu_id, kept_gb):
    found = read(text)
    assert found.values.get("gpu") == gpu_id
    assert found.values.get("memory_budget_gb") == pytest.approx(_card_gb(catalog, gpu_id) - kept_gb, abs=0.1)


@pytest.mark.parametrize("text", [
    "vllm serve meta-llama/Llama-3.1-8B-Instruct --gpu-memory-utilization 0.9 on an H100",  # the usual setting
    "Llama 3.1 8B uses 90% of VRAM on my RTX 4090 and I don't know why.",  # a measurement
    "It OOMs at 79 GB on rank 0 of our 8x A800 node.",  # where it failed, not a cap
])
def test_a_usual_setting_or_a_measurement_is_not_a_budget(read, text):
    assert "memory_budget_gb" not in read(text).values


@pytest.mark.parametrize("text, slos, measured", [
    ("We track TTFT and ITL on the dashboard. The targets are 1.2 s and 40 ms.",
     {"slo_ttft_ms": 1200.0, "slo_tpot_ms": 40.0}, {}),
    ("We see 700 ms TTFT and 30 ms per output token; the goals are 500 ms and 25 ms respectively.",
     {"slo_ttft_ms": 500.0, "slo_tpot_ms": 25.0}, {"ttft_ms": 700.0, "tpot_ms": 30.0}),
    ("Expected: >= 30 tok/s/user. Actual: 12 tok/s/user. Qwen3-8B on one L40S.",
     {"slo_tpot_ms": 33.333}, {"tpot_ms": 83.333}),
    ("For this nightly job a 120 ms/token SLO would be fine.", {"slo_tpot_ms": 120.0}, {}),
    ("we're at ~40 ms/token, product wants 20", {"slo_tpot_ms": 20.0}, {"tpot_ms": 40.0}),
    ("Before the driver update: 30 ms/token. After: 45 ms/token. Need to get back to 30.",
     {"slo_tpot_ms": 30.0}, {"tpot_ms": 45.0}),
    ("~15 tok/s with Ollama on my laptop today, would like to double that.",
     {"slo_tpot_ms": 33.333}, {"tpot_ms": 66.667}),
    ("gpu,batch,ttft_ms,tpot_ms\nh100,16,450,22\nNeed tpot <= 15 and ttft can go up to 900.",
     {"slo_tpot_ms": 15.0, "slo_ttft_ms": 900.0}, {"ttft_ms": 450.0, "tpot_ms": 22.0}),
])
def test_targets_in_lists_rates_and_bare_numbers(read, text, slos, measured):
    found = read(text)
    for name, value in slos.items():
        assert found.values.get(name) == pytest.approx(value, abs=0.01), name
    for name, value in measured.items():
        assert found.measured.get(name) == pytest.approx(value, abs=0.01), name


@pytest.mark.parametrize("text, name, value", [
    ("Need p95 end-to-end under 2 s for the summaries. Currently ~3.5 s.", "latency_ms", 3500.0),
    ("target 30 ms TPOT on the A100, we're at 45.", "tpot_ms", 45.0),
    ("Need lower TTFT on our L40S; currently 900 ms.", "ttft_ms", 900.0),
    # a guard: "end to end" names the latency, yet the figure before it is its value, not the timeout after it
    ("Each call takes 9 s end to end and the gateway times out at 5 s.", "latency_ms", 9000.0),
    ("Typical context 2k, ~450 ms total today, want 250 ms or less.", "latency_ms", 450.0),
    ("llama-bench: pp512 = 900 t/s, tg128 = 20 t/s for a 7B Q4 model.", "tpot_ms", 50.0),
])
def test_todays_figure_said_apart_from_its_metric(read, text, name, value):
    assert read(text).measured.get(name) == pytest.approx(value)


def test_prefill_speed_is_not_the_generation_throughput(read):
    found = read("Avg prompt throughput: 5000.0 tokens/s, Avg generation throughput: 800.5 tokens/s, Running: 20 reqs")
    assert found.measured.get("throughput_tok_s") == 800.5


@pytest.mark.parametrize("text, slos, measured", [
    ("targets:\n  ttft_p95_ms: 800\n  tpot_p95_ms: 30\nmeasured:\n  ttft_p95_ms: 1400\n  tpot_p95_ms: 28",
     {"slo_ttft_ms": 800.0, "slo_tpot_ms": 30.0}, {"ttft_ms": 1400.0, "tpot_ms": 28.0}),
    ('vllm:e2e_request_latency_seconds{quantile="0.5"} 4.2\nvllm:time_to_first_token_seconds{quantile="0.9"} 0.35',
     {}, {"latency_ms": 4200.0, "ttft_ms": 350.0}),
    ("Metric            │    mean\nTTFT (ms)         │ 1,250.5\nITL (ms)          │    33.1\n"
     "Request latency (ms) │ 9,400.0", {}, {"ttft_ms": 1250.5, "tpot_ms": 33.1, "latency_ms": 9400.0}),
])
def test_yaml_blocks_prometheus_samples_and_box_tables(read, text, slos, measured):
    found = read(text)
    for name, value in slos.items():
        assert found.values.get(name) == pytest.approx(value), name
    for name, value in measured.items():
        assert found.measured.get(name) == pytest.approx(value), name


@pytest.mark.parametrize("text, prompt, output", [
    ("Gemma 2 9B, prompts 3k / outputs 300; the KV cache must hold 24 sequences.", 3072, 300),
    ("FSDP fine-tune of Llama 3.1 8B, seq 2048, micro-batch 2.", 2048, None),
    ("For each ticket we generate a 12 token tag with Phi-3-mini.", None, 12),
    ("One reply (ca. 400 tokens) takes forever on my 3090.", None, 400),
    ("Qwen2.5-32B on 2x A6000, 6k doc in, ~700 out.", 6144, 700),
    ("We don't generate much (~90 tokens) but the system prompt is long.", None, 90),
])
def test_lengths_written_loosely(read, text, prompt, output):
    found = read(text)
    if prompt is not None:
        assert found.values.get("prompt_tokens") == prompt
    if output is not None:
        assert found.values.get("output_tokens") == output
