"""A length said as an average beats a cap or maximum beside it, and a cap every answer reaches is the length.
Phrasings are written for the mechanism."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, key, tokens", [
    ("Mixtral on 2 A100s, vLLM. max_tokens is 2048 but outputs average only ~280 tokens; inputs ~1.5k.",
     "output_tokens", 280),
    ("Batch job over 2M abstracts: prompts average 900 tokens (max 4k), on 8 H100s.", "prompt_tokens", 900),
    ("we resend the chat every turn; by the last turn it's 8k tokens, about 4k averaged over all turns", "prompt_tokens",
     4096),
    ("summaries are capped at 150 tokens and almost all of them hit the cap; Llama 3.1 8B on one L4", "output_tokens",
     150),
])
def test_average_or_reached_cap_is_the_length(read, text, key, tokens):
    assert read(text).values.get(key) == tokens


@pytest.mark.parametrize("text, key, tokens", [
    ("Support bot on TGI, 1x A10G. Prompts between 600 and 1000 tokens, answers 100-300.", "prompt_tokens", 800),
    ("Support bot on TGI, 1x A10G. Prompts between 600 and 1000 tokens, answers 100-300.", "output_tokens", 200),
    ("two 3090s with exllamav2, 3 users, contexts usually 2-4k", "prompt_tokens", 3000),
])
def test_a_length_range_reads_as_its_middle(read, text, key, tokens):
    assert read(text).values.get(key) == tokens
