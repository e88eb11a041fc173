"""Training named beside a served model's work, and GPU fleets written as instances, nodes or glued counts.

A question whose figures and goals are all a served model's (TTFT, TPOT, users at once, requests per second, tokens
in and out) is about serving even when it names fine-tuning as an option, a habit or the model's origin; with a
training run's own words (epochs, step time, MFU, optimizer, the run) training stays the phase. Fleets: "8 A10G
instances (one GPU each)" is eight GPUs; "(8 H100 each), 2 nodes" is sixteen; "4x V100 32GB per node, 1 node" is
four (the memory size is not a count); "2x3090" names two RTX 3090s; "one GPU instead of two" proposes one and keeps
the two in use. Phrasings are written for the mechanism.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, phase", [
    ("We may fine-tune anything we want (adapters, draft heads, all allowed). Qwen2.5-32B on 4x H100, 48 users at "
     "once, inter-token latency is the complaint.", "serving"),
    ("Each customer gets their own Llama 3.2 1B fine-tune at ~2 req/s; how many fit on one L40S before ITL passes "
     "50 ms?", "serving"),
    ("Our research group pre-trained this 7B model ourselves; now it serves a chatbot on 2x A10G and TTFT is 3 s.",
     "serving"),
    # the training run's own words keep training the phase
    ("LoRA fine-tuning of Llama 3.1 8B on one A100, 3 h per epoch; users of the chatbot want the new version sooner.",
     "fine-tuning"),
    ("Supervised fine-tuning on 20k chat examples, Mistral 7B on 2x L4; we want the run to finish overnight.",
     "fine-tuning"),
])
def test_phase_of_served_model(read, text, phase):
    assert read(text).values.get("phase") == phase


@pytest.mark.parametrize("text, count", [
    ("Mistral 7B runs on 5 A10G instances (one GPU each) behind a load balancer.", 5),
    ("Node pool of a3-highgpu-8g machines (8 H100 each), 3 nodes, serving Llama 3.1 405B.", 24),
    ("Old cluster: 4x V100 32GB per node, 1 node, running Llama 2 13B.", 4),
    ("2x3090 with exllamav2 running Llama 3.3 70B.", 2),
    ("Could one GPU do the work instead of two? Qwen2.5-14B on 2x L4 today.", 2),
])
def test_fleet_count(read, text, count):
    assert read(text).values.get("gpu_count") == count
