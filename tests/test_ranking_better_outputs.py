"""Quality as the goal with a lossy format running: lossier techniques are left out, a format of the same kind that
loses less (FP8 or 8-bit weights where 4-bit ones run) comes first, and a better method at the same bits stays."""

from __future__ import annotations

from pathlib import Path

from agent.candidates import Candidate
from agent.knowledge.catalog import Catalog
from agent.ranking import QUALITY_UP, for_better_outputs, rank_candidates
from agent.workload import Workload

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")


def _workload(**stack: str) -> Workload:
    w = Workload(gpu="l4", model="llama-3.1-8b", objective="quality")
    w.stack.update(stack)
    return w


def _cands(*ids: str) -> list[Candidate]:
    return [Candidate(CATALOG.techniques[t], True) for t in ids]


def test_lossier_formats_are_left_out_when_a_lossy_one_runs():
    excluded: dict[str, str] = {}
    kept = for_better_outputs(_cands("aqlm", "gptq", "fp8-inference"), _workload(awq="stated"), CATALOG, excluded)
    assert [c.technique.id for c in kept] == ["gptq", "fp8-inference"]  # same bits stay, 2-bit AQLM goes
    assert "loses more output quality" in excluded["aqlm"]


def test_nothing_left_out_when_nothing_lossy_runs():
    excluded: dict[str, str] = {}
    kept = for_better_outputs(_cands("aqlm", "fp8-inference"), _workload(), CATALOG, excluded)
    assert len(kept) == 2 and not excluded


def test_a_less_lossy_format_on_the_same_knob_comes_first():
    ranked = rank_candidates(_cands("gptq", "fp8-inference"), _workload(awq="stated"), {}, {}, catalog=CATALOG)
    assert ranked[0].technique.id == "fp8-inference"
    assert ranked[0].parts["better-outputs"] == QUALITY_UP
