"""The reader on pasted structure: markdown tables, tickets, bullets, configs, tool output, and numbers written loosely.

``rewrite_layout`` turns layout into plain clauses; the readers then find lengths, load, targets and measured figures
in them. Phrasings here are written for the mechanism they test, not taken from the eval sets.
"""

from __future__ import annotations

import pytest

from agent.reading.layout import rewrite_layout
from agent.workload import build_indexes, extract


@pytest.fixture(scope="module")
def read(catalog):
    indexes = build_indexes(catalog)

    def reader(text: str) -> tuple[dict, dict]:
        found = extract(text, catalog, indexes)
        return found.values, found.measured

    return reader


@pytest.mark.parametrize("text", [
    "Llama-3-70B on 2x H100, 8k prompts, 512 output tokens, 64 concurrent users: what should we use?",
    "TTFT is 2 s. We want it under 800 ms. Prompts are ~3k tokens.\nOutputs are short.",
    "we run vLLM (0.6) with --max-num-seqs 64; is 'prefix caching' worth it?",
])
def test_plain_prose_comes_back_unchanged(text):
    assert rewrite_layout(text) == text


@pytest.mark.parametrize(("text", "plain"), [
    ("rps≈12 and TTFT ≤ 600 ms", "rps~12 and TTFT <= 600 ms"),
    ("prompts ∼2k, outputs ～300", "prompts ~2k, outputs ~300"),
    ("throughput ≥ 40 tok/s", "throughput >= 40 tok/s"),
    ("80\u00a0GB and 24\u2009GB and 16\u202fGB", "80 GB and 24 GB and 16 GB"),
    ("we’re at “8k” prompts", "we're at \"8k\" prompts"),
    ("８ｋ prompts on ２ GPUs", "8k prompts on 2 GPUs"),
])
def test_pasted_unicode_becomes_ascii(text, plain):
    assert rewrite_layout(text) == plain


def test_two_column_table_reads_as_key_value_clauses():
    table = "| setting | value |\n|---|---|\n| prompt length | 6k |\n| rate | 9 rps |"
    assert rewrite_layout(table) == "prompt length: 6k.\nrate: 9 rps."


def test_header_table_pairs_each_header_with_its_cell():
    table = "| metric | goal | now |\n|:---|---:|---:|\n| TTFT p99 | 700 ms | 1.1 s |\n| TPOT p99 | 25 ms | 31 ms |"
    assert rewrite_layout(table) == "TTFT p99: goal 700 ms, now 1.1 s.\nTPOT p99: goal 25 ms, now 31 ms."


def test_table_without_outer_pipes_is_a_table():
    table = "metric | goal | now\n--- | --- | ---\nITL p50 | 20 ms | 26 ms\nthat's on one L4."
    assert rewrite_layout(table) == "ITL p50: goal 20 ms, now 26 ms.\nthat's on one L4."


def test_unit_in_a_header_moves_to_the_number():
    table = "| users | ITL p50 (ms) | tokens/s (total) |\n|---|---|---|\n| 8 | 14.0 | 560 |"
    assert rewrite_layout(table) == "users 8, ITL p50 14.0 ms, tokens/s (total) 560."


def test_two_column_sweep_keeps_its_headers():
    table = "| users | ITL p50 (ms) |\n|---|---|\n| 8 | 14.0 |\n| 32 | 19.5 |"
    assert rewrite_layout(table) == "users 8, ITL p50 14.0 ms.\nusers 32, ITL p50 19.5 ms."


@pytest.mark.parametrize(("prose", "first"), [
    ("we run 32.", "batch 32, ITL p50 19 ms, TTFT p50 300 ms."),
    ("we run at 32 in production", "batch 32, ITL p50 19 ms, TTFT p50 300 ms."),
    ("which batch is best?", "batch 8, ITL p50 14 ms, TTFT p50 90 ms."),  # no row named: the order stays
    ("we moved from 3.2 to 8.5", "batch 8, ITL p50 14 ms, TTFT p50 90 ms."),  # a part of a longer number is not a row
])
def test_row_the_prose_points_at_comes_first(prose, first):
    text = "| batch | ITL p50 (ms) | TTFT p50 (ms) |\n|---|---|---|\n| 8 | 14 | 90 |\n| 32 | 19 | 300 |\n" + prose
    assert rewrite_layout(text).splitlines()[0] == first


@pytest.mark.parametrize(("line", "clauses"), [
    ("OPS-9 | Qwen2.5-7B / 2x A10G | p95 ITL 48ms | owner: me",
     "OPS-9. Qwen2.5-7B / 2x A10G. p95 ITL 48ms. owner: me."),
    ("step=300 | TFLOPs=120.5 | MFU=0.39", "step=300. TFLOPs=120.5. MFU=0.39."),
])
def test_pipe_separated_line_becomes_clauses(line, clauses):
    assert rewrite_layout(line) == clauses


@pytest.mark.parametrize(("text", "plain"), [
    ('{"max_tokens": 300, "stream": true}', "{max_tokens: 300, stream: true}"),
    ('args: ["--max-num-seqs", "24", "--enforce-eager"]', "args: [--max-num-seqs 24, \"--enforce-eager\"]"),
    ("Mean TTFT (ms): 412.5", "Mean TTFT: 412.5 ms"),
    ("ttft_p99_ms=950 peak_mem_gib: 61", "ttft p99: 950 ms peak mem: 61 gib"),
])
def test_config_keys_read_as_plain_settings(text, plain):
    assert rewrite_layout(text) == plain


# (text, values expected among those read, measured figures expected)
LENGTHS_AND_LOAD = [
    ("Qwen3-8B on an L4, input ca. 3000 tokens, output ca. 400", {"prompt_tokens": 3000, "output_tokens": 400}),
    ("input approx. 6k tokens, output approx. 700", {"prompt_tokens": 6144, "output_tokens": 700}),
    ("nightly job, ~25 tokens each in and out, 40M rows", {"prompt_tokens": 25, "output_tokens": 25}),
    ("Llama-3.1-70B on 4x H100, 16 concurrent, 2k in. latency matters", {"prompt_tokens": 2048, "batch": 16}),
    ("in=2048 out=256 on one H100", {"prompt_tokens": 2048, "output_tokens": 256}),
    ("prompts ～２ｋ tokens, outputs ≈300 tokens", {"prompt_tokens": 2048, "output_tokens": 300}),
    ("- load: rps≈9, spiky\n- engine: vLLM", {"qps": 9.0}),
    ("traffic is ~1,200 RPM at peak", {"qps": 20.0}),
    ("it's only me and two teammates sending requests", {"batch": 3}),
    ("avg prompt len ≈ 900, avg completion len ≈ 120", {"prompt_tokens": 900, "output_tokens": 120}),
    ("| setting | value |\n|---|---|\n| ISL / OSL | 2,000 / 400 |\n| concurrent users | 24 |",
     {"prompt_tokens": 2000, "output_tokens": 400, "batch": 24}),
    ("| prompt tokens | output tokens | concurrency |\n|---|---|---|\n| 2,500 | 300 | 16 |",
     {"prompt_tokens": 2500, "output_tokens": 300, "batch": 16}),
]
SETTINGS_AND_TOOL_OUTPUT = [
    ('curl ... -d \'{"model": "qwen2.5-7b", "max_tokens": 300, "stream": true}\'', {"output_tokens": 300}),
    ('extraArgs: ["--tensor-parallel-size", "2", "--max-num-seqs", "24"]', {"batch": 24}),
    ("OLLAMA_NUM_PARALLEL=3 ollama serve", {"batch": 3}),
    ("MAX_INPUT_TOKENS=3000\nMAX_TOTAL_TOKENS=3500", {"prompt_tokens": 3000}),
    ("genai-perf profile -m m --concurrency 12 --synthetic-input-tokens-mean 2500 --output-tokens-mean 150",
     {"prompt_tokens": 2500, "output_tokens": 150, "batch": 12}),
    ("vllm bench serve --max-concurrency 20 --random-input-len 1500 --random-output-len 120",
     {"prompt_tokens": 1500, "output_tokens": 120, "batch": 20}),
    ("prompt eval count:    900 token(s)\neval count:           250 token(s)",
     {"prompt_tokens": 900, "output_tokens": 250}),
    ('{"prompt_tokens": 812, "completion_tokens": 143, "total_tokens": 955}',
     {"prompt_tokens": 812, "output_tokens": 143}),
]


@pytest.mark.parametrize(("text", "values"), LENGTHS_AND_LOAD + SETTINGS_AND_TOOL_OUTPUT)
def test_lengths_and_load_read_from_loose_numbers_and_settings(read, text, values):
    got, _ = read(text)
    assert {k: got.get(k) for k in values} == values


@pytest.mark.parametrize(("text", "values"), [
    ("Mean TTFT (ms): 412.5\nOutput token throughput (tok/s): 1820.4", {"output_tokens": None}),
    ("Throughput: 12.4 requests/s, 6350.2 total tokens/s, 1587.5 output tokens/s", {"output_tokens": None}),
    ("P99 ITL (ms): 61.0\nOutput tokens: not logged", {"output_tokens": None}),
])
def test_a_rate_is_not_a_length(read, text, values):
    got, _ = read(text)
    assert {k: got.get(k) for k in values} == values


@pytest.mark.parametrize(("text", "values", "measured"), [
    ("| metric | goal | now |\n|---|---|---|\n| TTFT p99 | 700 ms | 1.1 s |\n| TPOT p99 | 25 ms | 31 ms |",
     {"slo_ttft_ms": 700.0, "slo_tpot_ms": 25.0}, {"ttft_ms": 1100.0, "tpot_ms": 31.0}),
    ("metric | target | today\n--- | --- | ---\nITL p95 | 30 ms | 44 ms", {"slo_tpot_ms": 30.0}, {"tpot_ms": 44.0}),
    # each part of a ticket is its own clause: the "vs" of one part does not make the engine of another a proposal
    ("OPS-17 | Qwen2.5-7B / 2x A10G / SGLang | p95 ITL 48ms measured vs SLO 30ms | prompts 1.2k",
     {"slo_tpot_ms": 30.0, "framework": "sglang"}, {"tpot_ms": 48.0}),
    ("| batch | ITL p50 (ms) | tok/s (total) |\n|---:|---:|---:|\n| 8 | 14.0 | 560 |\n| 32 | 19.5 | 1,640 |\n"
     "we serve at 32 concurrent today.", {"batch": 32}, {"tpot_ms": 19.5, "throughput_tok_s": 1640.0}),
    ("| run | GPUs | tokens/s (total) | MFU |\n|---|---|---|---|\n| base | 32x H100 | 96k | 0.36 |", {},
     {"throughput_tok_s": 96000.0, "mfu": 0.36}),
    ("step: 20  loss: 3.1  tps: 2,100  mfu: 41.2%", {}, {"throughput_tok_s": 2100.0, "mfu": 0.412}),
    ("ttft_p99_ms: 950\ntpot_p50_ms: 22", {}, {"ttft_ms": 950.0, "tpot_ms": 22.0}),
])
def test_targets_and_figures_read_from_tables_tickets_and_logs(read, text, values, measured):
    got, figures = read(text)
    assert {k: got.get(k) for k in values} == values
    assert {k: figures.get(k) for k in measured} == measured


@pytest.mark.parametrize(("text", "values", "measured"), [
    # a threshold the question asks about is the target; a per-user speed target agrees with it
    ("how many users before ITL goes above 40ms? we want at least 25 tok/s per user", {"slo_tpot_ms": 40.0}, {}),
    ("how many concurrent chats until p99 TTFT exceeds 2 s on one H100?", {"slo_ttft_ms": 2000.0}, {}),
    # a wished speed after one stream's speed: the time per token it asks for
    ("single stream on a 4090 runs ~22 tok/s. could we get to 40?", {"slo_tpot_ms": 25.0}, {"tpot_ms": 45.455}),
    ("we need 30+ tok/s per user, currently 18", {"slo_tpot_ms": 33.333}, {"tpot_ms": 55.556}),
    ("ITL today 45 ms vs target 30 ms on 2x A10G", {"slo_tpot_ms": 30.0}, {"tpot_ms": 45.0}),  # held before, kept
    ("memory limit 40GB for the model server", {"memory_budget_gb": 40.0}, {}),
    ("VRAM cap: 20 GB on the shared card", {"memory_budget_gb": 20.0}, {}),
])
def test_target_told_apart_from_todays_figure(read, text, values, measured):
    got, figures = read(text)
    assert {k: got.get(k) for k in values} == values
    assert {k: figures.get(k) for k in measured} == measured


def test_a_count_after_a_speed_is_not_a_wished_speed(read):
    got, figures = read("single stream at ~22 tok/s. we expect 30 users next month")
    assert "slo_tpot_ms" not in got and figures.get("tpot_ms") == 45.455
