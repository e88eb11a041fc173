"""The ranking method: modelled effect first, baseline never re-recommended, fit first, quality risk, explicit asks."""

from __future__ import annotations

import pytest

from agent.answer import render_markdown
from agent.candidates import Candidate
from agent.effects import Effect
from agent.ranking import quality_tier, rank_candidates, score_candidate
from agent.workload import Workload
from agent_helpers import catalog, small_answerer

HEADLINE = ("Llama-3-70B on 2x H100, 8k-token prompts, 512 output tokens, 64 concurrent users, "
            "latency matters: what should we use?")
BASELINE = {"flash-attention-2", "paged-attention", "continuous-batching"}


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("ranking") / "r.db")


@pytest.fixture(scope="module")
def headline(answerer):
    return answerer.answer(HEADLINE)


def _ids(answer, n=5):
    return [r.technique for r in answer.recommendations[:n]]


def test_headline_puts_fp8_in_the_top_two_and_no_baseline_technique(headline):
    assert "fp8-inference" in _ids(headline, 2)
    assert BASELINE.isdisjoint(_ids(headline)) and BASELINE.isdisjoint(headline.stack.techniques)
    assert set(headline.baseline) >= {catalog().techniques[t].name for t in ("flash-attention-2", "paged-attention")}


def test_headline_says_the_fitting_stack_first(headline):
    fit = headline.stack.fit
    assert fit and "fp8-inference" in fit
    assert _ids(headline, len(fit)) == fit  # the fitting techniques are the first recommendations
    assert headline.stack.estimate.fits_after is True
    assert headline.fit.index("does not fit") < headline.fit.index("Smallest stack that fits")
    assert catalog().techniques[fit[0]].name in headline.fit
    text = render_markdown(headline)
    assert text.startswith("**Diagnosis:**") and text.index("**Memory first:**") < text.index("**Workload:**")
    assert headline.answer.startswith("First make it fit with")
    assert "4×" in headline.fit  # more GPUs offered with their number


def test_headline_ranks_the_rest_on_the_fitted_setup(headline):
    rest = [r for r in headline.recommendations if r.technique not in headline.stack.fit]
    assert rest and all(r.estimate is None or r.estimate.metric == "latency_ms" for r in rest)
    assert all(r.estimate.fits_after for r in rest if r.estimate)
    # lossy eviction never outranks what the fitted stack already gives without dropping context
    assert "attention-sinks" not in _ids(headline)


@pytest.mark.parametrize("question", [
    "Serve Llama 3.1 70B on 2x H100 with 8k prompts and 64 users without changing outputs",
    "Llama 3.1 8B on one H100 with 32k-token prompts and 128 concurrent users; outputs must not change. Memory is tight.",
    "How do we shrink the KV cache of Llama 3.1 8B on an H100 at 128k context without changing outputs?",
])
def test_lossless_questions_never_recommend_attention_sinks(answerer, question):
    answer = answerer.answer(question)
    assert answer.workload.lossless
    assert answer.recommendations
    assert "attention-sinks" not in _ids(answer, 99) and "attention-sinks" not in answer.stack.techniques
    assert all(catalog().techniques[t].quality.lossless for t in _ids(answer, 99))


@pytest.mark.parametrize("question", [
    "Llama 3.1 8B on one H100, batch 1, single user, latency matters: what should we use?",
    "Mistral 7B on one H100 at batch size 1: how do we cut per-request latency?",
])
def test_small_batch_latency_ranks_speculation_or_cuda_graphs_top_three(answerer, question):
    answer = answerer.answer(question)
    assert answer.workload.batch == 1 and answer.workload.objective == "latency"
    assert {"speculative-decoding", "cuda-graphs"} & set(_ids(answer, 3))
    assert BASELINE.isdisjoint(_ids(answer))


@pytest.mark.parametrize(("question", "family"), [
    ("Llama 3.1 8B on one H100 for chat: should we use speculative decoding?", "speculative-decoding"),
    ("Our inference server waits for the longest request in a batch before starting new ones. Fix?", "scheduling"),
    ("Which attention kernel gets the most out of H100 tensor cores for prefill with long prompts?", "attention-kernel"),
])
def test_what_the_question_asks_about_ranks_first(answerer, question, family):
    assert answerer.answer(question).recommendations[0].family == family


def test_a_named_baseline_technique_is_said_to_be_in_the_baseline(answerer):
    answer = answerer.answer("Should we use PagedAttention for Llama 3.1 8B on an H100?")
    assert any("already part of the assumed baseline" in w for w in answer.warnings)


def _cand(tech_id, rank=None):
    return Candidate(catalog().techniques[tech_id], True, False, rank)


def _effect(speedup):
    return Effect("latency_ms", "ms", {"latency_ms": 100.0}, {"latency_ms": 100.0 / speedup}, speedup, True, True)


WORKLOAD = Workload(gpu="h100-sxm", model="llama-3.1-8b", phase="serving", batch=8, objective="latency")


@pytest.mark.parametrize("intents", [{}, {"kv-cache": 0.9, "scheduling": 0.8}])
def test_evidence_and_weak_intent_never_lift_a_technique_without_modelled_gain(intents):
    # best retrieval evidence, weak family pointers, no modelled effect vs a 3% modelled gain and no evidence
    no_effect = _cand("flash-decoding", rank=0)
    small_gain = _cand("cuda-graphs")
    ranked = rank_candidates([no_effect, small_gain], WORKLOAD, intents,
                             {"flash-decoding": _effect(1.0), "cuda-graphs": _effect(1.03)})
    assert [s.technique.id for s in ranked] == ["cuda-graphs", "flash-decoding"]


def test_an_explicit_ask_may_lift_a_technique_without_modelled_gain():
    ranked = rank_candidates([_cand("flash-attention-3"), _cand("cuda-graphs")], WORKLOAD, {"attention-kernel": 1.2},
                             {"flash-attention-3": _effect(1.0), "cuda-graphs": _effect(1.03)},
                             explicit={"attention-kernel"})
    assert ranked[0].technique.id == "flash-attention-3"


@pytest.mark.parametrize(("intents", "counted"), [({}, False), ({"prefix-caching": 2.0}, True)])
def test_prefix_cache_gain_counts_only_when_the_question_implies_shared_prefixes(intents, counted):
    s = score_candidate(_cand("prefix-caching"), WORKLOAD, intents, _effect(1.5))
    assert ("assumed" not in s.parts) is counted
    assert (s.parts["effect"] > 0) is counted


@pytest.mark.parametrize(("tech_id", "tier"), [
    ("flash-attention-2", 0), ("speculative-decoding", 0), ("fp8-inference", 1), ("llm-int8", 1),
    ("kv-cache-quantization", 1), ("awq", 2), ("marlin-kernels", 2), ("aqlm", 3),
    ("attention-sinks", 4), ("wanda", 4), ("early-exit", 4),
])
def test_quality_tiers(tech_id, tier):
    assert quality_tier(catalog().techniques[tech_id]) == tier


def test_dropping_information_costs_more_than_a_near_lossless_format():
    fp8 = score_candidate(_cand("fp8-inference"), WORKLOAD, {}, _effect(1.3))
    sinks = score_candidate(_cand("attention-sinks"), WORKLOAD, {}, _effect(1.3))
    assert fp8.score - sinks.score >= 2.0
    at_any_cost = score_candidate(_cand("attention-sinks"),
                                  Workload(gpu="h100-sxm", model="llama-3.1-8b", objective="memory"), {}, _effect(1.3))
    assert at_any_cost.parts["lossy"] > sinks.parts["lossy"]


@pytest.mark.parametrize(("phase_stated", "asked"), [(True, False), (False, True)])
def test_a_profile_match_crosses_phases_only_when_the_phase_was_a_guess(phase_stated, asked):
    from agent.workload import FieldOrigin

    w = Workload(gpu="a100-80gb", model="llama-3.1-8b", phase="pre-training", batch=8, objective="throughput")
    w.origins["phase"] = FieldOrigin(origin="understood" if phase_stated else "assumed", value="pre-training")
    inference_only = Candidate(catalog().techniques["jacobi-decoding"], False, False, None)
    s = score_candidate(inference_only, w, {}, None, explicit={"jacobi-decoding"})
    assert ("asked" in s.parts) is asked
