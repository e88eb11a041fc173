"""Workloads pasted as command lines and configs, and GPUs counted as parts of a machine.

A flag's value, a port or an address counts no GPUs ("--port 8080 RTX 4080" is one card); "4 of its 8 GPUs" and
"half of an 8-GPU box" are the part in use; a trainer's batch flags multiply into the global batch ("GBS 512" is it
outright); short and expert-layout model names ("L3.1-8B", "mixtral 8x22") name their model; a framework's own
commands, flags and image names say which framework runs. Phrasings are written for the mechanisms.
"""

from __future__ import annotations

import pytest


def _count(found):
    return found.values.get("gpu_count", found.hinted.get("gpu_count", (None,))[0])


@pytest.mark.parametrize("text, count", [
    ("llama-server -m qwen3-8b-q4_k_m.gguf --parallel 2 --port 8080 one RTX 4080 16GB, team tool", 1),
    ("python -m sglang.bench_one_batch --batch-size 1 --output-len 32 a single rtx 3060 12GB -> 9.8 ms per token", 1),
    ("genai-perf profile -m llama-3.1-8b --concurrency 64 -u localhost:8000 server: triton on one L40S", 1),
    ("vllm bench --num-prompts 1500 8xH100 node, TP=8, p99 TTFT 9 s", 8),
    ("--dist-init-addr 10.0.0.2:5000 --nnodes 2 two H200 nodes (8 each), DeepSeek-V3", 16),
    ("Llama 3.3 70B on an H100 node, we use 4 of its 8 GPUs; TTFT 900 ms", 4),
    ("3 of our 8 L40S cards are free this week, the rest train. serve qwen2.5-14b on the free ones", 3),
    ("we get half of an 8-GPU H200 box for chat, gpt-oss-120b", 4),
    ("Two VMs (8 H100 GPUs each) over InfiniBand, DeepSeek-V3 with SGLang", 16),
])
def test_gpu_count_from_commands_and_shares(read, text, count):
    assert _count(read(text)) == count


def test_a_share_asked_about_is_not_todays_count(read):
    found = read("Mixtral 8x7B runs on 4x A100 80GB, TP=4. Could we run it on 2 of those 4 cards instead?")
    assert _count(found) == 4


@pytest.mark.parametrize("text, batch", [
    ("torchrun --nproc_per_node 8 train.py --per_device_train_batch_size 4 --gradient_accumulation_steps 8 on 8x A100",
     256),
    ("QLoRA on one RTX 4090, per_device_train_batch_size 2, gradient_accumulation_steps 8, seq len 2048", 16),
    ("NeMo pretraining of a 1B model on 16 H100s. GBS 1024, MBS 8, seq 2048", 1024),
    ("LoRA on 16x H100, per-device batch 2, grad accum 2, so global 64", 64),
    ("Qwen2.5-7B SFT on 8x L40S, micro batch 2, accum 8 -> global 128", 128),
])
def test_training_batch_from_flags_and_shorthand(read, text, batch):
    assert read(text).values.get("batch") == batch


@pytest.mark.parametrize("text, model", [
    ("L3.1-8B in ollama on my laptop, tokens at 20 tok/s", "llama-3.1-8b"),
    ("l3.1 70b on 4 A100s with vllm", "llama-3.1-70b"),
    ("mixtral 8x22 instruct on 4x H200, TRT-LLM, overnight eval", "mixtral-8x22b"),
])
def test_short_and_expert_layout_model_names(read, text, model):
    assert read(text).values.get("model") == model


@pytest.mark.parametrize("text, framework", [
    ("python -m sglang.bench_one_batch --model-path meta-llama/Llama-3.2-1B-Instruct on an RTX 3060", "sglang"),
    ("image ghcr.io/huggingface/text-generation-inference:2.4.1 on 2x A100 80GB, NUM_SHARD=2", "tgi"),
    ("--tensor-parallel-size 2 --pipeline-parallel-size 2 for llama-3.1-70b on 4 L40S", "vllm"),
    ("After upgrading to vLLM 0.9 our TPOT went from 18 ms to 27 ms on 2x H100", "vllm"),
])
def test_framework_from_its_commands(read, text, framework):
    assert read(text).values.get("framework") == framework
