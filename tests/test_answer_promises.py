"""Answers keep their promises: a stated constraint holds for every pick, no unrelated filler, an opening that
answers the question asked, and no ×1.00 shown as if it were a measured gain."""

from __future__ import annotations

import pytest

from agent.answer import Answer, Estimate, Recommendation, render_markdown
from agent.candidates import Candidate, lacked_problem, low_bit_format, read_refusals, stated_vendor
from agent.compare import question_form
from agent.compose import decision_line
from agent.effects import Effect
from agent.ranking import Scored, shown_picks, why_text, worth_showing
from agent.workload import Workload
from agent_helpers import catalog, small_answerer

FAMILIES = sorted({t.family for t in catalog().techniques.values()})


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("promises") / "a.db")


def _tech(tech_id: str):
    return catalog().techniques[tech_id]


# --- constraints hold for every listed recommendation -------------------------------------------------------

def test_a_missing_draft_model_rules_out_draft_model_speculation_for_every_pick(answerer):
    answer = answerer.answer("Gemma-2-9B on a single L4 for one user. There's no draft model we could pair with it "
                             "and we cannot fine-tune or train anything. How do we get each token out sooner?")
    picks = [r.technique for r in answer.recommendations]
    assert picks and "speculative-decoding" not in picks
    assert "draft model" in answer.excluded["speculative-decoding"]
    assert not any(_tech(t).requires.retraining for t in picks)


def test_a_refused_family_is_absent_from_every_pick_and_said_why(answerer):
    answer = answerer.answer("Llama 3.1 8B on an A10G. We would rather not quantize it. How do we speed up decode?")
    picks = [r.technique for r in answer.recommendations]
    assert picks and not any(_tech(t).family == "quantization" or low_bit_format(_tech(t)) for t in picks)
    assert "ruled out" in answer.excluded["awq"]


def test_a_named_vendor_holds_for_every_pick_when_the_gpu_is_not_named(answerer):
    answer = answerer.answer("We serve Llama 3.1 8B on AMD GPUs with ROCm. How do we cut decode latency?")
    picks = [r.technique for r in answer.recommendations]
    assert picks and all("amd" in _tech(t).runs_on for t in picks), picks
    assert any("AMD" in why for why in answer.excluded.values())


@pytest.mark.parametrize(("text", "vendor"), [
    ("our ROCm cluster", "amd"), ("AMD Instinct cards", "amd"), ("a MacBook with MLX", "apple"),
    ("CUDA 12 on the cluster", "nvidia"), ("a GPU of some kind", None), ("ROCm or CUDA, either", None),
])
def test_the_vendor_is_read_from_its_name_or_stack(text, vendor):
    assert stated_vendor(text) == vendor


@pytest.mark.parametrize(("text", "lacked", "refused"), [
    ("we have no draft model and no budget", ("draft model",), set()),
    ("without any calibration data on hand", ("calibration data",), set()),
    ("we can't quantize this model", (), {"quantization"}),
    ("quantization broke our eval", (), {"quantization"}),
    ("we'd rather not quantize", (), {"quantization"}),
    ("our model is not quantized yet; should we?", (), set()),
    ("no budget, no time", (), set()),
    ("does quantization hurt quality here?", (), set()),
    ("we don't quantize today; should we?", (), set()),
])
def test_refusals_are_read_in_the_users_words(text, lacked, refused):
    found = read_refusals(text, FAMILIES)
    assert (found.lacked, set(found.families)) == (lacked, refused)


def test_a_lacked_component_rules_out_only_what_needs_it():
    refusals = read_refusals("we have no draft model", FAMILIES)
    assert lacked_problem(_tech("speculative-decoding"), refusals)
    assert lacked_problem(_tech("lookahead-decoding"), refusals) is None  # "no draft model" is its selling point
    calibration = read_refusals("there is no calibration data", FAMILIES)
    assert lacked_problem(_tech("gptq"), calibration) and lacked_problem(_tech("paged-attention"), calibration) is None


# --- no filler ---------------------------------------------------------------------------------------------

def _scored(tech_id: str, speedup: float | None, **parts: float) -> Scored:
    effect = (Effect(metric="tpot_ms", unit="ms", before={}, after={}, speedup=speedup, fits_before=True, fits_after=True)
              if speedup is not None else None)
    return Scored(Candidate(_tech(tech_id), True), sum(parts.values()), dict(parts), effect)


def test_a_pick_without_gain_bottleneck_or_ask_is_not_shown():
    # an offload system for a bandwidth-bound latency question: no modelled gain, relieves capacity only
    assert not worth_showing(_scored("flexgen", None, relevance=9.0), {"memory-bandwidth"})
    assert worth_showing(_scored("flexgen", 1.3), {"memory-bandwidth"})  # a material modelled gain
    assert worth_showing(_scored("flash-decoding", None, relevance=7.0), {"memory-bandwidth"})  # relieves the limit
    assert not worth_showing(_scored("megakernel", 1.03, relevance=3.0), {"memory-bandwidth"})  # weak on both
    assert worth_showing(_scored("megakernel", 1.0, asked=10.0), set())  # the question asks about it


def test_a_different_architecture_is_not_shown_unless_the_question_is_about_it():
    assert not worth_showing(_scored("multi-head-latent-attention", None, asked=10.0, relevance=4.0), {"memory-bandwidth"})
    assert worth_showing(_scored("multi-head-latent-attention", None, asked=14.0, relevance=10.0), set())


def test_fewer_picks_are_shown_rather_than_unrelated_ones():
    ranked = [_scored("speculative-decoding", 2.5, relevance=9.0), _scored("flexgen", None, relevance=9.0)]
    assert [s.technique.id for s in shown_picks(ranked, {"memory-bandwidth"})] == ["speculative-decoding"]
    assert [s.technique.id for s in shown_picks(ranked[1:], {"memory-bandwidth"})] == ["flexgen"]  # never empty


# --- openings answer the question asked --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "mentions", "form"), [
    ("We run vLLM with chunked prefill switched on. What's our next step?", [("chunked-prefill", 15)], None),
    ("How does paged attention raise serving throughput?", [("paged-attention", 9)], None),
    ("Would speculative decoding pay off at batch 2?", [("speculative-decoding", 6)], "yes-no"),
    ("FP8 on an L40S, sensible?", [("fp8-inference", 0)], "yes-no"),
    ("Serving on H100s with FlashInfer. AWQ or FP8 for the weights?", [("flashinfer", 21), ("awq", 33),
                                                                       ("fp8-inference", 40)], "choice"),
])
def test_the_form_comes_from_the_sentence_that_asks(text, mentions, form):
    assert question_form(text, mentions)[0] == form


def test_a_what_next_question_with_a_named_stack_opens_with_a_decision(answerer):
    answer = answerer.answer("We serve Llama 3.1 8B on an H100 with vLLM and prefix caching already on. "
                             "What should we change next to cut latency?")
    assert answer.verdict is None
    assert not answer.answer.startswith(("Yes", "No", "Not for", "Unclear")) and answer.answer.startswith("Use ")


def test_a_yes_no_question_about_a_named_option_still_opens_yes_or_no(answerer):
    answer = answerer.answer("Llama 3.1 8B on one A100 80GB at batch 1. Would FP8 weights speed up decode there?")
    assert answer.answer.startswith(("Yes:", "No:", "Not for", "Unclear", "Likely"))
    assert answer.options and answer.options[0].technique == "fp8-inference"


# --- no ×1.00 printed as a measured gain -------------------------------------------------------------------

def _flat_rec() -> Recommendation:
    est = Estimate(metric="tpot_ms", unit="ms", before={"tpot_ms": 10.0}, after={"tpot_ms": 10.0}, speedup=1.0)
    return Recommendation(rank=1, technique="paged-attention", name="PagedAttention", family="kv-cache", score=1.0,
                          why="", estimate=est)


def test_no_modelled_change_is_said_in_words_not_as_x1_00():
    rec = _flat_rec()
    assert "not modelled" in decision_line(rec) and "×1.00" not in decision_line(rec)
    text = render_markdown(Answer(question="q", recommendations=[rec], answer=decision_line(rec)))
    assert "×1.00" not in text and "no modelled change" in text


def test_the_why_of_an_unmodelled_pick_says_what_decides_it():
    w = Workload(gpu="h100-sxm", model="llama-3.1-8b", objective="tpot")
    text = why_text(_scored("paged-attention", 1.0, relevance=9.0), w)
    assert "not modelled for this workload" in text and "What decides it:" in text
