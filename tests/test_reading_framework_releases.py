"""The stack follows the release the user names, and a default the question proposes switching on is not assumed on."""

from __future__ import annotations

import pytest

from agent.workload import build_indexes, plan_workload


@pytest.fixture(scope="module")
def plan(catalog):
    indexes = build_indexes(catalog)
    return lambda text: plan_workload(text, catalog, indexes=indexes)


@pytest.mark.parametrize("text, on, off", [
    ("Llama 3.1 8B on an L4 under vLLM 0.5.4 with default flags; every chat shares a 2k-token preamble.",
     {"paged-attention", "continuous-batching"}, {"prefix-caching", "chunked-prefill"}),
    ("Mistral 7B with vllm==0.4.2 on an A10G, 12 users.", {"paged-attention"}, {"prefix-caching"}),
    ("Llama 3.1 8B on an L4 under vLLM 0.9 with default flags.", {"prefix-caching", "chunked-prefill"}, set()),
    ("Llama 3.1 8B on an L4 under vLLM with default flags.", {"prefix-caching", "chunked-prefill"}, set()),
])
def test_defaults_follow_the_release_named(plan, text, on, off):
    stack = plan(text).stack
    assert on <= set(stack) and not off & set(stack)
    assert all("default" in stack[t] for t in on)


def test_the_release_is_named_in_the_stack_origin(plan):
    stack = plan("Mistral 7B with vLLM 0.6.3 on an A10G, 12 users.").stack
    assert "0.4 to 0.7" in stack["paged-attention"]


@pytest.mark.parametrize("text, proposed", [
    ("Is prefix caching worth turning on? vLLM on an A100 80GB with Llama 3.1 8B, long multi-turn chats.",
     "prefix-caching"),
    ("We serve Qwen2.5-7B with vLLM on an L40S. Should we enable chunked prefill for the long prompts?",
     "chunked-prefill"),
])
def test_a_default_proposed_for_switching_on_is_not_assumed_to_run(plan, text, proposed):
    assert proposed not in plan(text).stack


def test_asking_whether_a_default_is_needed_keeps_it(plan):
    # no switching-on verb: the default stands and the answer can say it already runs
    assert "paged-attention" in plan("We run vLLM on an H100 with Llama 3.1 8B. Do we need PagedAttention?").stack
