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
