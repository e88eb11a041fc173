"""What the question is plainly about comes first: an assumed baseline it describes as missing, another way to fit it
asks for, and a full fine-tune that rules out adapters. Phrasings here are written for the mechanism they test."""

from __future__ import annotations

import pytest
from agent_helpers import small_answerer

from agent.candidates import Candidate, constraint_problem, read_refusals
from agent.quantify import effects_model_for, fit_first
from agent.ranking import W_RELEVANCE, Scored
from agent.stacking import FitPlan
from agent.workload import FieldOrigin, Workload


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("subject") / "s.db")


def _ids(answer, n=5):
    return [r.technique for r in answer.recommendations[:n]]


def test_an_assumed_baseline_the_question_describes_as_missing_is_recommended(answerer):
    # no framework named: a typical engine would run continuous batching, but the symptom says this server does not
    answer = answerer.answer("Our home-grown server only starts the next batch once every request in the current one "
                             "has finished, so short chats queue behind long ones. What fixes that?")
    assert answer.workload.framework is None
    assert "continuous-batching" in _ids(answer, 3)


def test_a_named_framework_keeps_its_defaults_out_of_the_picks(answerer):
    answer = answerer.answer("We run vLLM and short chats queue behind long ones. What fixes that?")
    assert "continuous-batching" not in _ids(answer)


def test_a_full_fine_tune_rules_out_adapter_methods(answerer):
    answer = answerer.answer("The client wants a full fine-tune of every weight of Llama 3.1 8B, not adapters, on two "
                             "RTX 4090s, and the optimizer states do not fit. How do we make it fit?")
    assert "qlora" not in _ids(answer)
    assert "full fine-tune" in answer.excluded.get("qlora", "")


def _scored(catalog, tech_id, score, **parts):
    cand = Candidate(catalog.techniques[tech_id], phase_match=True)
    return Scored(cand, score, {"base": score, **parts})


def test_another_way_to_fit_that_the_question_asks_for_comes_before_the_fitting_stack(catalog):
    fit = FitPlan([catalog.techniques["awq"]])
    prior = [_scored(catalog, "awq", 5.0)]
    offload = _scored(catalog, "flexgen", 20.0, asked=10.0, relevance=W_RELEVANCE)  # the question's own subject
    kernel = _scored(catalog, "chunked-prefill", 18.0, asked=10.0, relevance=W_RELEVANCE)  # asked, but fits nothing
    weak = _scored(catalog, "powerinfer", 12.0, asked=10.0, relevance=0.5 * W_RELEVANCE)  # a weaker match
    order = [s.technique.id for s in fit_first(fit, prior, [offload, kernel, weak])]
    assert order == ["flexgen", "awq", "chunked-prefill", "powerinfer"]


def test_the_fitting_stack_leads_a_question_that_asks_about_its_own_family(catalog):
    fit = FitPlan([catalog.techniques["awq"]])
    prior = [_scored(catalog, "awq", 5.0)]
    same_family = _scored(catalog, "fp6-llm", 20.0, asked=10.0, relevance=W_RELEVANCE)
    ranked = fit_first(fit, prior, [same_family])
    assert [s.technique.id for s in ranked] == ["awq", "fp6-llm"]
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)


def test_experts_in_the_question_keep_expert_methods_for_a_model_known_only_by_size(answerer):
    answer = answerer.answer("Training a ~150B MoE on 512 H100s; the all-to-all for token dispatch is a third of the "
                             "step. What reduces it?")
    assert not any("mixture-of-experts" in why for why in answer.excluded.values())
    assert any(r.family == "moe" for r in answer.recommendations)


def test_a_bare_fp8_names_the_fp8_technique_of_the_phase(answerer):
    answer = answerer.answer("Qwen2.5-32B in bf16 on an L40S barely fits and leaves no room for the KV cache. Is fp8 "
                             "supported on this card, or do we need 4-bit?")
    assert "fp8-inference" in _ids(answer, 2) and "fp8-inference" not in answer.excluded
    on_amd = answerer.answer("Our cluster is MI250X. Can we use fp8 for Llama 2 70B inference like people do on H100?")
    assert "fp8-inference" in on_amd.excluded
    assert "fp8-inference" not in _ids(on_amd)


def test_a_way_to_fit_only_read_close_does_not_lead_when_fitting_is_not_asked(catalog):
    fit = FitPlan([catalog.techniques["fp8-inference"]])
    prior = [_scored(catalog, "fp8-inference", 5.0)]
    offload = _scored(catalog, "flexgen", 20.0, asked=10.0, relevance=W_RELEVANCE)
    # "what is the biggest win?" for an offline job: no family named, memory not the objective
    assert [s.technique.id for s in fit_first(fit, prior, [offload], set())][0] == "fp8-inference"
    # "offload to CPU and disk?": the family is named
    assert [s.technique.id for s in fit_first(fit, prior, [offload], {offload.technique.family})][0] == "flexgen"


def test_a_full_fine_tune_that_failed_does_not_rule_out_adapters():
    assert read_refusals("Llama 3.1 8B on one RTX 3090: full finetune OOMs obviously", set()).full_model == ""
    assert read_refusals("the client wants a full fine-tune of every weight", set()).full_model == "full fine-tune"


def test_adapters_cannot_pre_train(catalog):
    w = Workload(gpu="h100-sxm", model="llama-3.1-8b", phase="pre-training")
    assert "cannot pre-train" in constraint_problem(catalog.techniques["qlora"], w)
    assert constraint_problem(catalog.techniques["qlora"], Workload(gpu="h100-sxm", model="llama-3.1-8b",
                                                                      phase="fine-tuning")) is None


def test_a_framework_default_prefix_cache_is_recommended_when_the_shared_prefix_is_the_subject(answerer):
    # vLLM turns prefix caching on by default, yet a long shared prefix with a slow first token says it is not hitting
    answer = answerer.answer("Every request opens with the same 5k-token system prompt and tool list, then ~150 "
                             "tokens of user text. TTFT is 800 ms on an L40S with vLLM. What can we do?")
    assert answer.workload.framework == "vllm"
    assert "prefix-caching" in _ids(answer, 2)


def test_anything_cheap_asks_for_little_effort_not_a_lower_bill(read):
    assert read("TTFT is 900 ms for Llama 3.1 8B on an L40S with vLLM. anything cheap?").values.get("objective") == "ttft"
    assert read("Llama 3.1 8B on an L40S: which GPU would be cheaper for the same traffic?").values.get(
        "objective") == "cost"


def test_a_personal_card_named_without_a_count_is_not_grown(catalog):
    def workload(gpu, gpu_origin):
        w = Workload(gpu=gpu, gpu_count=1, model="gemma-3-12b", phase="serving", objective="memory", batch=1,
                     prompt_tokens=8192)
        w.origins["gpu_count"] = FieldOrigin(origin="assumed", value=1)
        w.origins["gpu"] = FieldOrigin(origin=gpu_origin, value=gpu)
        return w

    # "Gemma 3 12B on an RTX 4070": the one card they have, even though bf16 does not fit on it; an unknown laptop
    # variant taken as the nearest known card is still the user's one card
    assert effects_model_for(catalog, workload("rtx-4070", "explicit")).workload.gpu_count == 1
    assert effects_model_for(catalog, workload("rtx-4070", "assumed")).workload.gpu_count == 1
    # no GPU named at all: the assumed datacenter GPU's count grows to what holds the model
    big = workload("l4", "assumed")
    big.model = "llama-3.1-70b"
    assert effects_model_for(catalog, big).workload.gpu_count > 1
