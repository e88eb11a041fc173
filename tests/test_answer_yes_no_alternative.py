"""A yes/no question answered other than yes names, right after the verdict, the change the cost model does see
gaining on the user's objective, so the reader learns what to do instead of only that the asked one is unclear; a
small gain clearly beaten by another change's is answered "marginal" and that change leads."""

from __future__ import annotations

from agent.answer import Estimate, Option, Recommendation
from agent.compare import verdict


def _estimate(speedup):
    return Estimate(metric="throughput_tokens_per_s", unit="tokens/s", before={"throughput_tokens_per_s": 1000.0},
                    after={"throughput_tokens_per_s": 1000.0 * speedup}, speedup=speedup)


def _rec(tech, name, speedup):
    return Recommendation(rank=1, technique=tech, name=name, family="x", score=1.0, why="", estimate=_estimate(speedup))


def test_an_unclear_yes_no_names_the_largest_modelled_gain_before_the_diagnosis():
    asked = Option(technique="early-exit", name="Early exit", estimate=_estimate(1.0), quality="drops information")
    said = verdict("yes-no", [asked], "Decode reads weights.", _rec("fp8-inference", "FP8 inference", 1.32))
    assert said.startswith("Not on the cost model's numbers") and "measure it" in said
    assert "The largest modelled gain here is FP8 inference: ×1.32 on throughput" in said
    assert said.index("FP8 inference") < said.index("Decode reads weights.")


def test_a_yes_says_nothing_of_other_gains():
    asked = Option(technique="fp8-inference", name="FP8 inference", estimate=_estimate(1.3), quality="near-lossless")
    said = verdict("yes-no", [asked], None, _rec("awq", "AWQ", 1.5))
    assert said.startswith("Yes") and "AWQ" not in said


def test_a_no_names_the_alternative():
    asked = Option(technique="flash-attention-3", name="FlashAttention-3", ruled_out="needs Hopper")
    said = verdict("yes-no", [asked], None, _rec("flash-attention-2", "FlashAttention-2", 1.2))
    assert said.startswith("No:") and "FlashAttention-2: ×1.20" in said


def test_a_small_gain_beaten_by_another_change_is_marginal():
    asked = Option(technique="speculative-decoding", name="Speculative decoding", estimate=_estimate(1.08),
                   quality="lossless")
    said = verdict("yes-no", [asked], None, _rec("fp8-inference", "FP8 inference", 1.4))
    assert said.startswith("Marginal: Speculative decoding gives ×1.08")
    assert "FP8 inference gives ×1.40" in said
    # a gain of its own that is not beaten stays a yes
    said = verdict("yes-no", [asked], None, _rec("fp8-inference", "FP8 inference", 1.1))
    assert said.startswith("Yes")
