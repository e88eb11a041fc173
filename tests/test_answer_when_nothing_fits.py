"""When the setup does not fit and no stack makes it fit, the answer says so first, before any speed-up."""

from __future__ import annotations

from agent.answer import Answer, Recommendation
from agent.compose import summary_text


def _rec(rank: int, tech: str) -> Recommendation:
    return Recommendation(rank=rank, technique=tech, name=tech, family="f", score=1.0, why="")


def test_no_fit_is_said_before_the_first_recommendation():
    answer = Answer(question="q", fit="As stated this does not fit: about 160 GiB per GPU is needed against 24 GiB "
                                     "available. No stack of catalog techniques within your constraints makes it fit.",
                    recommendations=[_rec(1, "flexgen"), _rec(2, "chunked-prefill")])
    text = summary_text(answer)
    assert text.startswith("As stated this does not fit")
    assert text.index("does not fit") < text.index("flexgen")


def test_a_setup_that_fits_opens_with_the_decision():
    answer = Answer(question="q", recommendations=[_rec(1, "flexgen")])
    assert summary_text(answer).startswith("Use flexgen")
