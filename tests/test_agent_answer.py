"""The default (no-LLM) answer: JSON shape, ranking, hardware and constraint filters, memory fit, citations."""

from __future__ import annotations

import pytest

from agent.answer import render_markdown
from agent_helpers import catalog, small_answerer

EXAMPLE = ("Llama-3-70B on 2x H100, 8k-token prompts, 512 output tokens, 64 concurrent users, "
           "latency matters — what should we use?")


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("answer") / "a.db")


@pytest.fixture(scope="module")
def example(answerer):
    return answerer.answer(EXAMPLE)


def test_json_shape(example):
    data = example.model_dump(mode="json")
    assert {"question", "workload", "recommendations", "stack", "answer", "warnings"} <= set(data)
    assert {"gpu", "gpu_count", "model", "prompt_tokens", "output_tokens", "batch", "objective", "assumed", "fields"} <= set(data["workload"])
    rec = data["recommendations"][0]
    assert {"rank", "technique", "name", "why", "estimate", "caveats", "frameworks", "papers", "citations"} <= set(rec)
    assert {"before", "after", "speedup"} <= set(rec["estimate"])
    assert {"arxiv_id", "title"} <= set(rec["papers"][0])


def test_example_workload_is_understood(example):
    w = example.workload
    assert (w.gpu, w.gpu_count, w.model, w.prompt_tokens, w.output_tokens, w.batch, w.objective) == (
        "h100-sxm", 2, "llama-3.1-70b", 8192, 512, 64, "latency")
    assert {"gpu", "gpu_count", "model", "prompt_tokens", "output_tokens", "batch"}.isdisjoint(w.assumed)


def test_recommendations_are_ranked_catalog_techniques(example):
    recs = example.recommendations
    assert [r.rank for r in recs] == list(range(1, len(recs) + 1)) and len(recs) == 5
    assert all(r.technique in catalog().techniques for r in recs)
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    assert {r.family for r in recs} & {"kv-cache", "attention-kernel", "scheduling", "quantization"}


def test_estimates_are_cost_model_ratios(example):
    for rec in example.recommendations:
        est = rec.estimate
        if est is None or est.speedup is None:
            continue
        before, after = est.before[est.metric], est.after[est.metric]
        ratio = after / before if est.metric.startswith("throughput") else before / after
        assert est.speedup == pytest.approx(ratio, rel=2e-3)


def test_citations_exist_in_the_store_and_come_from_backing_papers(answerer, example):
    cited = [(rec, c) for rec in example.recommendations for c in rec.citations]
    assert cited
    for rec, cit in cited:
        row = answerer.store.get_chunks([cit.chunk_id])[0]
        assert row["paper_id"] == cit.paper_id and " ".join(row["text"].split()).startswith(cit.text.rstrip("."))
        assert cit.paper_id in catalog().techniques[rec.technique].papers


def test_does_not_fit_is_said_first(answerer):
    answer = answerer.answer("Serve Llama 3.1 70B on a single RTX 4090 for one user")
    assert answer.fit and "does not fit" in answer.fit
    text = render_markdown(answer)
    assert text.startswith("**Diagnosis:**") and "do not fit" in answer.diagnosis
    assert text.index("**Memory first:**") < text.index("**Workload:**")
    assert answer.recommendations[0].estimate.metric == "memory.total_gb"


def test_memory_is_said_in_gib_with_words_not_keys(answerer):
    answer = answerer.answer("Llama 3.1 70B on one H100, 8k prompts, 512 output tokens, 64 users, latency matters")
    text = render_markdown(answer)
    # an 80 GB H100 holds 80 GiB (85.9e9 bytes): capacity is shown in GiB, with the unit
    assert "against 80 GiB available" in answer.fit and "85.9" not in text
    assert "Estimate: memory per GPU: " in text and " GiB (×" in text
    for internal in ("memory.total_gb", "GB per GPU", "latency_ms"):
        assert internal not in render_markdown(answer).replace(answer.answer, "")  # the summary line is service.py's


def test_assumed_fields_are_said_in_words(answerer):
    text = render_markdown(answerer.answer("How do I speed up Llama 3.1 8B on an A100?"))
    (assumed,) = [line for line in text.splitlines() if line.startswith("*Assumed:*")]
    assert "prompt length 2048 tokens" in assumed and "output length 256 tokens" in assumed
    assert "=" not in assumed and "_" not in assumed


@pytest.mark.parametrize(("name", "value", "words"), [
    ("qps", 2.5, "request rate 2.5 requests/s"),
    ("lossless", True, "lossless outputs"),
    ("no_retraining", True, "no retraining"),
    ("memory_budget_gb", 21.47, "memory budget 20 GiB"),
    ("prompt_tokens", 8192, "prompt length 8192 tokens"),
])
def test_each_workload_field_has_words(name, value, words):
    from agent.answer import _assumed_text

    assert _assumed_text(name, value) == words


@pytest.mark.parametrize(("metric", "before", "after", "unit", "text"), [
    ("memory.total_gb", 165.0, 131.0, "GB per GPU", "memory per GPU: 154 → 122 GiB"),
    ("latency_ms", 87098.0, 50949.0, "ms", "end-to-end latency: 87,098 → 50,949 ms"),
    ("throughput_tokens_per_s", 1200.0, 2400.0, "tokens/s", "throughput: 1,200 → 2,400 tokens/s"),
])
def test_changes_read_as_words_and_units(metric, before, after, unit, text):
    from agent.answer import change_text

    assert change_text(metric, before, after, unit) == text


@pytest.mark.parametrize(("question", "check"), [
    ("Speed up Llama 3.1 8B serving on an H100 without changing outputs",
     lambda t: t.quality.lossless),
    ("Faster decode for Llama 3.1 8B on an H100, no retraining",
     lambda t: not t.requires.retraining),
    ("Serve Llama 3.1 8B on a single GPU (one L40S) with lower latency",
     lambda t: not t.requires.multi_gpu),
])
def test_constraints_filter_every_recommendation(answerer, question, check):
    answer = answerer.answer(question)
    assert answer.recommendations
    assert all(check(catalog().techniques[r.technique]) for r in answer.recommendations)
    assert all(check(catalog().techniques[t]) for t in answer.stack.techniques)


def test_fp8_needs_compute_capability_8_9(answerer):
    on_a100 = answerer.answer("Serve Llama 3.1 8B on an A100 with FP8 for more throughput")
    assert "fp8-inference" in on_a100.excluded and "8.9" in on_a100.excluded["fp8-inference"]
    assert any("FP8" in w and "ruled out" in w for w in on_a100.warnings)
    on_h100 = answerer.answer("Serve Llama 3.1 8B on an H100 with FP8 for more throughput")
    assert "fp8-inference" not in on_h100.excluded
    assert "fp8-inference" in [r.technique for r in on_h100.recommendations]


def test_stack_respects_catalog_conflicts(example):
    techs = [catalog().techniques[t] for t in example.stack.techniques]
    assert techs
    for a in techs:
        for b in techs:
            assert b.id not in a.relations.conflicts_with


def test_explicit_fields_override_the_question(answerer):
    answer = answerer.answer(EXAMPLE, overrides={"gpu": "A100", "gpu_count": 4, "objective": "throughput"})
    w = answer.workload
    assert (w.gpu, w.gpu_count, w.objective) == ("a100-80gb", 4, "throughput")
    assert w.fields["gpu"].origin == "explicit"


def test_assumed_facts_are_reported_and_asked_for(answerer):
    answer = answerer.answer("How do I make LLM inference faster?")
    assert {"gpu", "model"} <= set(answer.workload.assumed)
    assert any(q.startswith("Which GPU") for q in answer.clarify)


def test_markdown_names_every_recommendation_and_citation(example):
    text = render_markdown(example)
    for rec in example.recommendations:
        assert rec.name in text
        for cit in rec.citations:
            assert (cit.arxiv_id or cit.paper_id) in text


def test_the_fit_search_lowers_an_assumed_batch_before_giving_up(answerer):
    answer = answerer.answer("Llama 3 70B in 2-bit on a single 24GB RTX 4090, is it possible?")
    w = answer.workload
    assert answer.stack.fit and w.fields["batch"].origin == "assumed" and w.batch < 16
    assert "largest batch" in w.fields["batch"].note


def test_a_choice_question_gets_the_named_options_side_by_side_and_a_verdict(answerer):
    answer = answerer.answer("Llama 3.1 70B on 4x H100 with vLLM, 32 users, latency matters: AWQ or FP8?")
    assert [o.technique for o in answer.options] == ["awq", "fp8-inference"]
    assert answer.verdict and answer.answer.startswith(answer.verdict)
    best = max(answer.options, key=lambda o: o.estimate.speedup if o.estimate and o.estimate.speedup else 1.0)
    assert answer.verdict.startswith(best.name)


@pytest.mark.parametrize(("question", "start"), [
    ("Is FP8 worth it for Llama 3.1 8B on an A100?", "No:"),
    ("We run vLLM on an H100 with Llama 3.1 8B. Do we need PagedAttention?", "No:"),
])
def test_a_yes_no_question_is_answered_yes_or_no_first(answerer, question, start):
    answer = answerer.answer(question)
    assert answer.verdict.startswith(start) and answer.answer.startswith(answer.verdict)


def test_a_prompt_beyond_the_trained_context_puts_context_extension_first(answerer):
    # Llama 2 7B was trained on 4k tokens: at 32k the stack is not usable until its context is extended.
    # The memory-fit stack (8 assumed users x 32k of KV cache) is always said first (quantify.fit_first);
    # the first recommendation after it is a training-free context extension with the feasibility term.
    answer = answerer.answer("extend Llama 2 7B from 4k to 32k context on an A100 without retraining")
    recs = [r for r in answer.recommendations if "smallest stack that makes this setup fit" not in r.why]
    tech = catalog().techniques[recs[0].technique]
    assert tech.family == "long-context" and tech.cost_model.transform == "context_extension"
    assert not tech.requires.retraining
    assert "makes that length usable" in recs[0].why
