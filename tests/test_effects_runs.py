"""The effects model runs each distinct technique set once: repeated, reordered and rebuilt lists give fresh numbers."""

import gc
from pathlib import Path

import pytest

from agent.effects import EffectModel
from agent.workload import build_indexes, plan_workload
from agent.knowledge.catalog import Catalog

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")
QUESTION = "Llama-3.1-70B on 4x H100, 8k prompts, 512 output tokens, 32 concurrent users; TTFT is too slow"


def _model() -> EffectModel:
    return EffectModel(CATALOG, plan_workload(QUESTION, CATALOG, None, None, build_indexes(CATALOG)))


def _technique(tid: str):
    return CATALOG.techniques[tid]


@pytest.mark.parametrize("tids", [["speculative-decoding"], ["chunked-prefill", "prefix-caching"],
                                  ["awq", "kv-cache-quantization"]])
def test_repeated_and_reordered_sets_give_the_fresh_effect(tids: list[str]) -> None:
    techniques = [_technique(t) for t in tids if t in CATALOG.techniques]
    model = _model()
    first = model.effect(techniques)
    assert model.effect(list(techniques)) == first
    assert model.effect(techniques[::-1]) == _model().effect(techniques[::-1])
    assert model.baseline() == _model().baseline()


def test_a_rebuilt_technique_with_other_params_is_run_afresh() -> None:
    """A variant made on the fly (and dropped) never takes an earlier object's cached estimate."""
    model = _model()
    tech = _technique("prefix-caching")
    for hit_rate in (0.1, 0.5, 0.9):
        variant = tech.model_copy(update={"cost_model": tech.cost_model.model_copy(update={"params": {"hit_rate": hit_rate}})})
        assert model.effect([variant]) == _model().effect([variant])
        del variant
        gc.collect()
