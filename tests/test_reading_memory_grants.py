"""Memory budgets said as a grant, a rule, a key or a share the user worked out.

"no job may take more than 60G per card", "each job sees about 100 GB", "we have about 12GB for the LLM", "in the
other ~50 GB", "so I've got 24 GB per card", "max memory: 45 gb", "while still fitting in the card's 48 GB" are caps; a
share of a card named by its model ("a third of an L40S") takes the figure worked out beside it when one is given, and
a card size the user states ("the rest of the 24 GB card") is the one the remainder is taken from. "that's 56 GB" is
not a card size. Phrasings are written for the mechanism.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, budget", [
    ("Cluster rule: no pod may use more than 40G per card. Fine-tune Llama 3.1 8B on 2 A100 80GB?", 40),
    ("Each job sees about 90 GB per MI300X after the scheduler's reserve. Mixtral 8x7B serving.", 90),
    ("One A10G; the OCR model already sits there, so we have about 10GB for the LLM. Phi-3-mini.", 10),
    ("Our ranker takes ~20 GB per H100; Llama 3.1 8B would go in the other ~60 GB.", 60),
    ("Two L40S, but another team's job holds half of each, so I've got 22 GB per card. QLoRA on Mistral 7B.", 22),
    ("deploy:\n  model: Qwen/Qwen2.5-14B-Instruct\n  gpu: H100 80GB x1\n  max_memory_gb: 50\nbest tokens/s?", 50),
    ("Qwen2.5-32B on an RTX 6000 Ada: quality dropped after AWQ. How do we get it back while still fitting in the "
     "card's 48 GB?", 48),
    ("We get a quarter of an H100 (20 GB) for the chatbot; Phi-4-mini, 1k prompts.", 20),
    ("Whisper already uses 8 GB on the L4. Is there room in the rest of the 24 GB card for Gemma 2 2B?", 16),
    ("Infra lets each container allocate at most 70% of HBM. On an H100 80GB that's 56 GB. Llama 3.1 8B?", 56),
])
def test_memory_budget(read, text, budget):
    assert read(text).values.get("memory_budget_gb") == pytest.approx(budget, rel=0.03)
