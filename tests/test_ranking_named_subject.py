"""A technique the question names is its subject: it leads over a profile match that only reads close, and a
comparison of two ways to fit ("AWQ or GPTQ?") fits with one of them and measures both in the same place; a label
that loses a non-ASCII letter when normalised names nothing.
Phrasings here are written for the mechanism they test."""

from __future__ import annotations

import pytest
from agent_helpers import small_answerer

from agent.candidates import Candidate, named_techniques
from agent.ranking import ASKED, ASKED_BY_ID, rank_candidates
from agent.workload import Workload


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    return small_answerer(tmp_path_factory.mktemp("named") / "s.db")


def _ids(answer, n=5):
    return [r.technique for r in answer.recommendations[:n]]


def test_a_named_technique_outranks_a_profile_only_match(catalog):
    w = Workload(gpu="h100-sxm", model="llama-3.1-8b", phase="pre-training", objective="throughput")
    named = Candidate(catalog.techniques["flash-attention-3"], phase_match=True, named=True)
    close = Candidate(catalog.techniques["flex-attention"], phase_match=True)
    relevance = {"flex-attention": 0.6, "flash-attention-3": 0.2, "zero-2": 0.1, "zero-3": 0.1}
    explicit = {"flex-attention", "flash-attention-3"}
    ranked = rank_candidates([close, named], w, {}, {}, explicit=explicit, relevance=relevance)
    assert [s.technique.id for s in ranked] == ["flash-attention-3", "flex-attention"]
    assert "asked" not in next(s for s in ranked if s.technique.id == "flex-attention").parts
    # without the name, the closer profile counts as asked by its own id
    plain = Candidate(catalog.techniques["flash-attention-3"], phase_match=True)
    ranked = rank_candidates([close, plain], w, {}, {}, explicit=explicit, relevance=relevance)
    assert next(s for s in ranked if s.technique.id == "flex-attention").parts["asked"] == ASKED + ASKED_BY_ID


def test_an_unversioned_name_keeps_its_later_versions_asked(catalog):
    w = Workload(gpu="mi300x", model="llama-3.1-8b", phase="pre-training", objective="throughput")
    v1 = Candidate(catalog.techniques["flash-attention"], phase_match=True, named=True)
    v2 = Candidate(catalog.techniques["flash-attention-2"], phase_match=True)
    ranked = rank_candidates([v1, v2], w, {}, {}, explicit={"flash-attention-2"},
                             relevance={"flash-attention-2": 0.8, "flash-attention": 0.3, "zero-2": 0.1})
    assert "asked" in next(s for s in ranked if s.technique.id == "flash-attention-2").parts


def test_a_comparison_of_two_ways_to_fit_fits_with_one_of_them(answerer):
    answer = answerer.answer("GPTQ or AWQ for Qwen2.5-7B on one RTX 3060 12GB? I'm the only user.")
    assert answer.workload.batch == 1
    assert answer.fit and ("GPTQ" in answer.fit or "AWQ" in answer.fit)
    options = {o.technique: o for o in answer.options}
    assert set(options) == {"gptq", "awq"}
    # each is measured in the fit stack's place, not one on top of the other
    assert options["gptq"].estimate.speedup == pytest.approx(options["awq"].estimate.speedup, rel=0.05)
    assert options["awq"].estimate.speedup > 1.5


def test_a_label_that_loses_a_non_ascii_letter_names_nothing(catalog):
    # Mirage's alias "μGraphs" would read as the plain word "graphs"
    assert "mirage" not in named_techniques("it has to play well with cuda graphs on the H100", catalog)
    assert "mirage" in named_techniques("would Mirage find better fused kernels?", catalog)


def test_a_name_inside_a_longer_name_is_that_longer_name(catalog):
    assert named_techniques("Is FlashAttention-3 worth the switch from FA2?", catalog) >= {"flash-attention-3"}
    assert "flash-attention" not in named_techniques("Is FlashAttention-3 worth the switch?", catalog)
    # said on its own as well, it is named
    assert "flash-attention" in named_techniques("flash attention or flash attention 2?", catalog)
