"""A question whether the setup fits gets yes or no first: the memory per GPU against what the GPU has, the stack
assumed, and the smallest stack that fits when it does not. Phrasings are written for the mechanism."""

from __future__ import annotations

import pytest
from agent_helpers import small_answerer


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("fitq") / "s.db")


def test_a_setup_that_fits_is_answered_yes_with_its_memory(answerer):
    answer = answerer.answer("Can I run Llama 3.1 8B on my RTX 3090 for chat?")
    assert answer.verdict.startswith("Yes, it fits: about ")
    assert "of 24 GiB" in answer.verdict and answer.answer.startswith(answer.verdict)


def test_a_setup_that_does_not_fit_is_answered_no_with_what_makes_it_fit(answerer):
    answer = answerer.answer("Is it possible to fine-tune Llama 3.1 70B on one RTX A6000 48GB, batch 1, seq 2048?")
    assert answer.verdict.startswith("Not as stated: about ")
    assert "; it fits with " in answer.verdict


def test_a_question_that_does_not_ask_about_fitting_gets_no_fit_verdict(answerer):
    answer = answerer.answer("Llama 3.1 8B on an H100 with vLLM: how do we get more tokens per second?")
    assert not (answer.verdict or "").startswith(("Yes, it fits", "Not as stated"))
