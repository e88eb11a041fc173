"""The combined stack never grows worse than it already is: a technique whose gain the stack would lose by
adding it is left out, with the reason. The combination rule is checked against a table of combined gains standing
in for the cost model (the rule is about the greedy choice, not the numbers)."""

from __future__ import annotations

from agent.candidates import Candidate
from agent.effects import Effect
from agent.ranking import Scored
from agent.stacking import build_stack
from agent.workload import Workload

# combined speed-ups by technique set: chunked prefill helps alone and with CUDA graphs, but with speculative
# decoding the pair is worse than speculative decoding alone
GAINS = {frozenset({"speculative-decoding"}): 2.0, frozenset({"chunked-prefill"}): 1.2,
         frozenset({"speculative-decoding", "chunked-prefill"}): 1.7, frozenset({"cuda-graphs"}): 1.1,
         frozenset({"speculative-decoding", "cuda-graphs"}): 2.1}


class TableModel:
    def effect(self, techniques):
        gain = GAINS.get(frozenset(t.id for t in techniques), 1.0)
        return Effect("tpot_ms", "ms", {"tpot_ms": 10.0}, {"tpot_ms": 10.0 / gain}, gain, True, True)


def _scored(catalog, tech_id, score):
    cand = Candidate(catalog.techniques[tech_id], phase_match=True)
    return Scored(cand, score, {"effect": score}, TableModel().effect([catalog.techniques[tech_id]]))


def test_a_technique_that_lowers_the_combined_gain_stays_out(catalog):
    w = Workload(gpu="h100-sxm", model="llama-3.1-8b", phase="serving", objective="tpot")
    ranked = [_scored(catalog, "speculative-decoding", 3.0), _scored(catalog, "chunked-prefill", 2.0),
              _scored(catalog, "cuda-graphs", 1.0)]
    stack = build_stack(ranked, w, TableModel())
    assert stack.techniques == ["speculative-decoding", "cuda-graphs"]
    assert stack.excluded["chunked-prefill"] == "lowers the combined estimate"
    assert stack.estimate.speedup == 2.1



class SlowingModel(TableModel):
    TABLE = {frozenset({"speculative-decoding"}): 2.0, frozenset({"prefix-caching"}): 0.6,
             frozenset({"speculative-decoding", "prefix-caching"}): 1.2}

    def effect(self, techniques):
        gain = self.TABLE.get(frozenset(t.id for t in techniques), 1.0)
        return Effect("tpot_ms", "ms", {"tpot_ms": 10.0}, {"tpot_ms": 10.0 / gain}, gain, True, True)


def test_a_technique_the_question_points_at_stays_out_when_it_slows_the_stack(catalog):
    # asked about (intent), but the model shows it slowing the stack down: it does not join, whatever was asked
    w = Workload(gpu="h100-sxm", model="llama-3.1-8b", phase="serving", objective="tpot")
    model = SlowingModel()
    first = Scored(Candidate(catalog.techniques["speculative-decoding"], True), 3.0, {"effect": 3.0},
                   model.effect([catalog.techniques["speculative-decoding"]]))
    asked = Scored(Candidate(catalog.techniques["prefix-caching"], True), 2.5, {"intent": 1.5},
                   model.effect([catalog.techniques["prefix-caching"]]))
    stack = build_stack([first, asked], w, model)
    assert stack.techniques == ["speculative-decoding"]
    assert stack.excluded["prefix-caching"] == "lowers the combined estimate"
