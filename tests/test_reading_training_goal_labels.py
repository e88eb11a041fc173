"""The goal behind a label, training time as the goal, memory reported rather than asked about, MFU said at length.

"- goal: 5 samples/s/GPU" is a wish even though the colon ends the clause; "memory fits fine at ~19 GB" is content,
and "GPU memory peaks at 61 GB" is a report, so a training run's time ("cut the hours", "hours per epoch", "fits in a
day") is the goal; "MFU reported by our callback 0.27" is a measured MFU. Phrasings are written for the mechanism.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, objective", [
    ("- now: 2.1 samples/s/GPU fine-tuning Qwen2.5-14B (FSDP, 8x A100 80GB) - goal: 3 samples/s/GPU - peak memory: "
     "70 GB/GPU", "throughput"),
    ("LoRA on Mistral 7B, one RTX 4090, 5 hours per epoch; memory fits fine at ~17 GB. How do we cut the hours?",
     "throughput"),
    ("SFT of Llama 3.1 8B on 8 H100 will miss the deadline. GPU memory per rank peaks at 58 GB, MFU from our logger "
     "is 0.3. We need each epoch to fit in a day.", "throughput"),
])
def test_training_goal(read, text, objective):
    assert read(text).values.get("objective") == objective


def test_mfu_said_after_several_words(read):
    assert read("Full fine-tune on 16 A100s, MFU reported by our callback 0.27.").measured.get("mfu") == \
        pytest.approx(0.27)
