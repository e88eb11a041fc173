"""Multi-turn: follow-ups re-plan with the change and keep the rest of the workload."""

from __future__ import annotations

import pytest

from agent.answer import render_markdown
from agent.service import Conversation
from agent_helpers import small_answerer


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("conv") / "a.db")


def test_follow_ups_change_one_fact_and_keep_the_others(answerer):
    conv = Conversation()
    first = conv.ask(answerer, "Llama-3-70B on 2x H100, 8k-token prompts, 512 output tokens, 64 users, latency matters")
    second = conv.ask(answerer, "what about on A100?")
    third = conv.ask(answerer, "and with 4 GPUs?")
    facts = [(a.workload.gpu, a.workload.gpu_count, a.workload.model, a.workload.prompt_tokens, a.workload.batch)
             for a in (first, second, third)]
    assert facts == [("h100-sxm", 2, "llama-3.1-70b", 8192, 64),
                     ("a100-80gb", 2, "llama-3.1-70b", 8192, 64),
                     ("a100-80gb", 4, "llama-3.1-70b", 8192, 64)]
    assert conv.questions == [first.question, second.question, third.question]


def test_follow_up_replans_hardware_dependent_choices(answerer):
    conv = Conversation()
    h100 = conv.ask(answerer, "Serve Llama 3.1 8B on an H100 with FP8 for more throughput")
    a100 = conv.ask(answerer, "what about on A100?")
    assert "fp8-inference" in [r.technique for r in h100.recommendations]
    assert "fp8-inference" in a100.excluded and "fp8-inference" not in [r.technique for r in a100.recommendations]


def test_explicit_override_in_a_follow_up(answerer):
    conv = Conversation()
    conv.ask(answerer, "Llama 3.1 8B on one H100, 4k prompts, throughput")
    answer = conv.ask(answerer, "and now?", overrides={"batch": 128})
    assert (answer.workload.batch, answer.workload.prompt_tokens, answer.workload.fields["batch"].origin) == (128, 4096, "explicit")


def test_separate_conversations_do_not_leak(answerer):
    a, b = Conversation(), Conversation()
    a.ask(answerer, "Llama-3-70B on 8x H100")
    answer = b.ask(answerer, "what about on A100?")
    assert answer.workload.model != "llama-3.1-70b" or answer.workload.fields["model"].origin == "assumed"
    assert answer.workload.fields["gpu_count"].origin == "assumed"


def test_a_conversation_asks_back_one_question_about_what_was_assumed(answerer):
    conversation = Conversation()
    first = conversation.ask(answerer, "how do I make inference faster?")
    assert first.follow_up and first.follow_up.startswith("Which GPU") and first.follow_up == first.clarify[0]
    assert "One question back" in render_markdown(first)
    second = conversation.ask(answerer, "Llama 3.1 70B on 4x H100, 8k prompts, 32 users, serving")
    assert second.follow_up is None or not second.follow_up.startswith("Which GPU")


def test_a_single_answer_lists_what_to_clarify_without_asking_back(answerer):
    answer = answerer.answer("how do I make inference faster?")
    assert answer.clarify and answer.follow_up is None
