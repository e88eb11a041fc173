"""The reader on pasted launch lines and configs, revised GPU counts, and figures that changed or were measured.

Phrasings here are written for the mechanism they test (switch strings from the catalog, a count said after a failed
one, a figure followed by the one it moved to); they are not taken from the eval sets.
"""

from __future__ import annotations

import pytest

from agent.reading.switches import build_switch_index
from agent.workload import plan_workload


@pytest.fixture(scope="module")
def switches(catalog):
    return build_switch_index(catalog)


@pytest.mark.parametrize(("text", "named"), [
    ("vllm serve m --kv-cache-dtype fp8_e4m3", {"kv-cache-quantization"}),
    ("vllm serve m --kv-cache-dtype auto", set()),  # the default value turns nothing on
    ("--quantization gptq --max-num-seqs 64", {"gptq", "continuous-batching"}),  # a shared flag: the value picks
    ("--recompute-granularity selective", {"selective-recomputation"}),
    ("--recompute-granularity full", {"activation-checkpointing"}),
    ('{"zero_optimization": {"stage": 3}}', {"zero-3"}),
    ('{"zero_optimization": {"stage": 1}}', {"zero-1"}),
    ("llama-server -m x.gguf -fa -ctk q4_0", {"flash-attention", "kv-cache-quantization"}),
    ("OLLAMA_KV_CACHE_TYPE=q8_0 ollama serve", {"kv-cache-quantization"}),
    ("--enforce-eager", set()),  # a switch that turns CUDA graphs off names nothing that runs
    ("--speculative-config '{\"model\": \"small\", \"num_speculative_tokens\": 3}'", {"speculative-decoding"}),
])
def test_switches_from_the_catalog_name_what_runs(switches, text, named):
    assert {m.item_id for m in switches.find(text)} == named


def test_every_switch_key_comes_from_a_catalog_switch_string(catalog, switches):
    strings = " ".join(str(v) for t in catalog.techniques.values() for v in (t.frameworks or {}).values())
    assert switches.by_key and all(key in strings for key in switches.by_key)


@pytest.mark.parametrize(("text", "stack"), [
    ("TGI on one L4 with QUANTIZE=awq, Qwen2.5-7B", {"awq"}),
    ("deepspeed stage 2 with gradient checkpoint on 8x A100, Llama-3.1-8B SFT", {"zero-2", "activation-checkpointing"}),
    ("Megatron: --tensor-model-parallel-size 4 --sequence-parallel, 34B dense on 64 H100", {"tensor-parallel", "sequence-parallel"}),
])
def test_pasted_switches_and_plain_aliases_join_the_stack(catalog, indexes, text, stack):
    assert stack <= set(plan_workload(text, catalog, indexes=indexes).stack)


def test_a_framework_word_inside_the_model_name_is_not_the_framework(catalog, indexes):
    w = plan_workload("mistral-nemo 12b through ollama on my laptop", catalog, indexes=indexes)
    assert w.framework == "llama.cpp"


def test_a_framework_named_only_inside_a_question_is_the_one_asked_about(catalog, indexes):
    assert plan_workload("how many users can qwen3-32b serve in vllm on one H100?", catalog, indexes=indexes).framework == "vllm"
    assert plan_workload("Llama-3.1-8B on one H100: should we try SGLang?", catalog, indexes=indexes).framework is None


@pytest.mark.parametrize(("text", "count"), [
    ("it did not fit on one A100 so we use 4 — Llama-3.1-70B, 32 users", 4),
    ("we started on a single L40S; now Qwen2.5-32B runs on two of them with TP", 2),
    ("3 servers, every server has 8 H100, pre-training a 13B model", 24),
    ("our DeepSeek-V3: 2 prefill nodes + 3 decode nodes, 8x H200 per node", 40),
    ("MI300X (4 pieces) for Llama-3.1-70B", 4),
    ("a quad A100 workstation for Llama-3.1-70B", 4),
])
def test_gpu_counts_said_as_revisions_pools_and_per_machine(catalog, indexes, text, count):
    assert plan_workload(text, catalog, indexes=indexes).gpu_count == count


@pytest.mark.parametrize(("text", "key", "value"), [
    ("ITL went from 20ms -> 28ms after the upgrade, Llama-3.1-8B on H100", "tpot_ms", 28.0),
    ("Llama-3.1-8B on one L4; our tpot feels slow (~60ms)", "tpot_ms", 60.0),
    ("70B pretraining on 64 H100: MFU was 0.45 on one node and drops to 0.31 on eight", "mfu", 0.31),
    ("our MFU sits by 35 percent, 8B on 16 A100", "mfu", 0.35),
    ("each user only gets 10 tokens/s, Qwen2.5-7B on one 4090 with vLLM", "tpot_ms", 100.0),
    ("Output token throughput (tok/s): 1800.5\nLlama-3.1-8B on one L40S", "throughput_tok_s", 1800.5),
    ("one answer of about 200 tokens needs 6 seconds, Llama-3.1-8B on A10G", "latency_ms", 6000.0),
])
def test_measured_figures_in_loose_phrasings(catalog, indexes, text, key, value):
    assert plan_workload(text, catalog, indexes=indexes).measured.get(key) == pytest.approx(value)


def test_prompt_time_per_token_is_not_the_time_per_output_token(catalog, indexes):
    text = ("prompt eval time = 5000.00 ms / 4000 tokens (1.25 ms per token)\n"
            "eval time = 9000.00 ms / 300 runs (30.00 ms per token)\nQwen2.5-14B on an M2 Ultra, llama.cpp")
    assert plan_workload(text, catalog, indexes=indexes).measured.get("tpot_ms") == pytest.approx(30.0)


@pytest.mark.parametrize(("text", "lossless"), [
    ("Qwen3-32B on 2x H200, quantisation is not approved by our quality team", True),  # British spelling
    ("Llama-3.1-70B on 8x H100. Anything but quantization. 40 users", True),
    ("no int4/fp4 tricks on the weights; DeepSeek-V3 on 16 H200", True),
    ("we don't use quantization yet, Llama-3.1-8B on one L4, how to speed up?", False),  # describes the stack
    ("we are not using int4 right now; Qwen2.5-7B on an A10G", False),
])
def test_lossy_compression_ruled_out_reads_as_lossless(catalog, indexes, text, lossless):
    assert plan_workload(text, catalog, indexes=indexes).lossless is lossless


@pytest.mark.parametrize(("text", "single", "count"), [
    ("can't use more than one GPU per replica (policy); Qwen2.5-32B on H100", True, 1),
    ("Llama-3.1-8B LoRA on one RTX A6000 and there's no way we get a second card", True, 1),
    ("we don't want to buy another GPU; 2x 3090 with Llama-3.1-70B AWQ", False, 2),
    ("we bought a second card last week: 2x 4090 with Qwen2.5-32B", False, 2),
])
def test_no_more_gpus_said_as_a_rule(catalog, indexes, text, single, count):
    w = plan_workload(text, catalog, indexes=indexes)
    assert (w.single_gpu, w.gpu_count) == (single, count)


@pytest.mark.parametrize(("text", "objective"), [
    ("can we even run Llama-3.1-70B on one L40S?", "memory"),  # a feasibility question
    ("Gemma-2-27B went to AWQ and quality dropped; we want the best quality that still fits in 24GB", "quality"),
    ("the nightly job must fit the new 3-hour window; Llama-3.1-8B on one A100", "throughput"),
    ("a 300M model served on a T4 at 300 rps, 32 tokens in and out. latency is king", "latency"),
    ("nobody cares about latency here, we just push 2M prompts through Qwen2.5-7B on 4x L4", "throughput"),
    ("Qwen3-8B on my M4 Max: it takes too long until the first word appears", "ttft"),
])
def test_objective_from_feasibility_questions_and_the_nearest_strong_word(catalog, indexes, text, objective):
    assert plan_workload(text, catalog, indexes=indexes).objective == objective


@pytest.mark.parametrize(("text", "field", "value"), [
    ("Qwen3-4B router on one L4, in 300 / out 6, 50 rps", "output_tokens", 6),
    ("Mistral-7B on one A100, in ~200 tok / out 4 tok, 2M rows per night", "prompt_tokens", 200),
    ("each about 5k tokens in, ~40 tokens of labels out; Llama-3.1-8B on one H100", "output_tokens", 40),
    ("we score ~60k prompts of ~700 tokens with Llama-3.1-8B on 2x T4", "prompt_tokens", 700),
    ("the first token arrives after 2 seconds for prompts of 30 000 tokens, Mistral Small on 2 H100", "prompt_tokens", 30000),
    ("about 25 analysts using it concurrently, Qwen2.5-72B on 4x H100", "batch", 25),
    ("vllm, concurrent is 80, Qwen2.5-7B on one 4090", "batch", 80),
    ("--max-num-seqs=96 on one H100 with Llama-3.1-8B", "batch", 96),
    ("the response takes about 15 seconds for 300 tokens, Gemma-3-12B on one A6000", "output_tokens", 300),
])
def test_lengths_and_load_in_loose_phrasings(catalog, indexes, text, field, value):
    assert getattr(plan_workload(text, catalog, indexes=indexes), field) == value
