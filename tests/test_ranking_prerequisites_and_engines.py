"""What may come first: a prerequisite before what needs it, no offloading when the model fits with room, and a
penalty for what the user's engine has no switch for."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.candidates import Candidate, Selection, without_needless_offload
from agent.knowledge.catalog import Catalog
from agent.ranking import NOT_IN_ENGINE, Scored, prerequisites_first, score_candidate
from agent.workload import FieldOrigin, Workload

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")


def _scored(*ids: str) -> list[Scored]:
    return [Scored(Candidate(CATALOG.techniques[t], True), 10.0 - i) for i, t in enumerate(ids)]


def test_chunked_prefill_needs_continuous_batching():
    assert "continuous-batching" in CATALOG.techniques["chunked-prefill"].relations.requires


def test_prerequisite_moves_before_what_needs_it():
    ranked = prerequisites_first(_scored("chunked-prefill", "cuda-graphs", "continuous-batching"), set())
    assert [s.technique.id for s in ranked] == ["continuous-batching", "chunked-prefill", "cuda-graphs"]


def test_prerequisite_already_running_changes_nothing():
    ranked = prerequisites_first(_scored("chunked-prefill", "continuous-batching"), {"continuous-batching"})
    assert [s.technique.id for s in ranked] == ["chunked-prefill", "continuous-batching"]


def _stated(**fields) -> Workload:
    w = Workload(**fields)
    for name in fields:
        w.origins[name] = FieldOrigin(origin="explicit")
    return w


def _baseline(total_gb: float, cap_gb: float) -> dict:
    return {"memory": {"total_gb": total_gb, "capacity_gb": cap_gb, "fits": total_gb <= cap_gb}}


def test_offload_left_out_when_the_model_fits_with_room():
    selection = Selection([Candidate(CATALOG.techniques["flexgen"], True), Candidate(CATALOG.techniques["awq"], True)], {})
    without_needless_offload(selection, _stated(gpu="a100-80gb", objective="throughput"), _baseline(30, 80))
    assert [c.technique.id for c in selection.candidates] == ["awq"]
    assert "already fits" in selection.excluded["flexgen"]


@pytest.mark.parametrize("workload, baseline", [
    (_stated(gpu="a100-80gb", objective="throughput"), _baseline(75, 80)),  # tight: offload may buy batch room
    (_stated(gpu="a100-80gb", objective="memory"), _baseline(30, 80)),      # memory is the goal
    (Workload(gpu="h100-sxm", objective="throughput"), _baseline(30, 80)),  # the GPU is only assumed
])
def test_offload_kept_when_it_may_matter(workload, baseline):
    selection = Selection([Candidate(CATALOG.techniques["flexgen"], True)], {})
    without_needless_offload(selection, workload, baseline)
    assert [c.technique.id for c in selection.candidates] == ["flexgen"]


def test_offload_named_in_the_question_stays():
    selection = Selection([Candidate(CATALOG.techniques["flexgen"], True, named=True)], {})
    without_needless_offload(selection, _stated(gpu="a100-80gb", objective="throughput"), _baseline(30, 80))
    assert selection.candidates


def test_a_technique_the_engine_lacks_pays_a_penalty():
    w = _stated(gpu="jetson-agx-orin", framework="llama.cpp", objective="tpot", phase="edge")
    tech = CATALOG.techniques["squeezellm"]
    assert "llama.cpp" not in tech.frameworks
    scored = score_candidate(Candidate(tech, True), w, {}, None, set(), set())
    assert scored.parts.get("engine") == NOT_IN_ENGINE


def test_batches_of_a_static_size_are_the_batch(read):
    assert read("HF generate() with static batches of 16 on one A100").values.get("batch") == 16


def test_engine_names_match_across_spellings():
    # the catalog writes llama_cpp and tensorrt_llm where the reader writes llama.cpp and tensorrt-llm
    w = _stated(gpu="rtx-4090", framework="llama.cpp", objective="tpot")
    tech = next(t for t in CATALOG.techniques.values() if "llama_cpp" in t.frameworks)
    scored = score_candidate(Candidate(tech, True), w, {}, None, set(), set())
    assert "engine" not in scored.parts


def test_an_integrated_device_rules_out_multi_gpu_techniques_when_the_count_is_assumed():
    from agent.candidates import select_candidates

    w = Workload(gpu="jetson-agx-orin", model="llama-3.2-3b", objective="tpot", phase="edge")
    w.origins["gpu"] = FieldOrigin(origin="explicit")
    selection = select_candidates(w, CATALOG, "tensor parallel across the DLAs on a Jetson?", [], {"tensor-parallel"})
    assert "tensor-parallel" in selection.excluded
