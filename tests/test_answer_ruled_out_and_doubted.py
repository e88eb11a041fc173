"""A technique the question names but this setup cannot run hands the question to its family; a GPU count the reader
only assumed does not rule out multi-GPU techniques; a framework default the question plainly describes as failing
stays a candidate, with a warning to check how it is set. Phrasings are written for the mechanisms."""

from __future__ import annotations

import pytest
from agent_helpers import small_answerer

from agent.candidates import select_candidates
from agent.quantify import effects_model_for, pool_problem
from agent.workload import plan_workload


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("ruled-out") / "s.db")


def _ids(answer, n=5):
    return [r.technique for r in answer.recommendations[:n]]


def test_a_named_technique_this_gpu_cannot_run_hands_the_question_to_its_family(answerer, catalog):
    answer = answerer.answer("Would turning on FP8 help our Llama 3.1 70B deployment on 4x A100 80GB? vLLM, "
                             "multi-turn chat, mostly decode.")
    assert "fp8-inference" in answer.excluded
    families = [catalog.techniques[t].family for t in _ids(answer)]
    assert "quantization" in families


def test_an_assumed_gpu_count_keeps_multi_gpu_techniques(catalog):
    w = plan_workload("Qwen2.5-32B on H100, sglang: decode stalls whenever long documents arrive.", catalog)
    assert w.origin("gpu_count") == "assumed"
    selection = select_candidates(w, catalog, "decode stalls whenever long documents arrive", [], set())
    assert "pd-disaggregation" not in selection.excluded
    assert pool_problem(effects_model_for(catalog, w)) is None


def test_a_stated_single_gpu_still_rules_them_out(catalog):
    w = plan_workload("Qwen2.5-32B on exactly one H100, sglang: decode stalls whenever long documents arrive.",
                      catalog)
    assert w.gpu_count == 1 and w.origin("gpu_count") != "assumed"
    selection = select_candidates(w, catalog, "decode stalls whenever long documents arrive", [], set())
    assert "pd-disaggregation" in selection.excluded


def test_a_default_the_question_describes_as_failing_stays_a_candidate(answerer):
    answer = answerer.answer("vLLM with Llama 3.1 8B on one H100: whenever someone sends a 40k-token prompt, "
                             "p99 inter-token latency jumps to 500 ms and every other user's stream stops. How do we "
                             "fix it?")
    assert "chunked-prefill" in _ids(answer, 3)
    assert any("is assumed on" in w and "Chunked prefill" in w for w in answer.warnings)


def test_a_default_is_not_doubted_without_a_reported_problem(answerer):
    answer = answerer.answer("Would FP8 help our Llama 3.1 70B on 4x A100 80GB? vLLM, multi-turn chat.")
    assert not any("is assumed on" in w for w in answer.warnings)


def test_a_plural_gpu_name_implies_several_gpus(read):
    assert read("we pretrain a 7B on A100s and the loss goes NaN").multi_gpu_hint
    assert not read("we pretrain a 1B on an A100 and the loss goes NaN").multi_gpu_hint


def test_serving_layout_is_replicas_for_throughput_and_tp_for_latency(catalog):
    from agent.effects import _serving_tp

    fast = plan_workload("Llama 3.1 8B on 8x H100, we want lower time per output token", catalog)
    bulk = plan_workload("offline batch job, Llama 3.1 8B on 8x H100, only total throughput matters", catalog)
    big = plan_workload("offline batch job, Llama 3.1 70B on 8x H100, only total throughput matters", catalog)
    gpu = catalog.gpus["h100-sxm"]
    assert _serving_tp(fast, gpu, fast.model_shape(catalog)) == 8
    assert _serving_tp(bulk, gpu, bulk.model_shape(catalog)) == 1  # 16 GB of weights: every GPU is a replica
    assert _serving_tp(big, gpu, big.model_shape(catalog)) == 4  # 141 GB: the fewest GPUs leaving half free


def test_a_load_per_gpu_is_summed_over_the_gpus(read):
    assert read("offline job, we run batch 128 per GPU on 4x L40S with Llama 3.1 8B").values.get("batch") == 512
    assert read("batch 128 on one L40S with Llama 3.1 8B").values.get("batch") == 128


def test_no_draft_model_rules_out_every_technique_that_needs_one(catalog):
    from agent.candidates import lacked_problem, read_refusals

    refusals = read_refusals("We have no draft model and cannot train one.", {t.family for t in catalog.techniques.values()})
    needing = ("speculative-decoding", "specinfer", "online-speculative-decoding")
    assert all(lacked_problem(catalog.techniques[t], refusals) for t in needing)
    assert lacked_problem(catalog.techniques["lookahead-decoding"], refusals) is None


def test_the_problem_keeps_the_digits_of_words_and_drops_figures(catalog):
    from agent.service import problem_statement
    from agent.workload import build_indexes

    said = problem_statement("training a 1.3b gpt in plain fp32 on 16x V100, int8 is out, step time 4.2 s", build_indexes(catalog))
    assert "fp32" in said and "int8" in said
    assert "1.3" not in said and "4.2" not in said


def test_the_flash_attn_package_names_flashattention_2(read):
    assert "flash-attention-2" in read("FSDP on 8x MI300X; attention is already the CK flash-attn kernel.").stack
