"""Serving simulator, KV capacity policy: TensorRT-LLM's GUARANTEED_NO_EVICT admission and the share of GPU
memory each engine gives its KV cache (hand-checked with a fake iteration cost, then through `engine_for`)."""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.arrivals import ClosedLoop, Lengths, Trace
from agent.costmodel.memory import memory_breakdown
from agent.costmodel.simulator import EngineConfig, simulate
from agent.costmodel.steady_state import (
    GPU_MEMORY_UTILIZATION,
    KV_FREE_MEMORY_FRACTION,
    engine_for,
    kv_capacity,
)
from agent.knowledge.catalog import Catalog

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")
SERVING = ("flash-attention-2", "paged-attention", "continuous-batching")


class StepCost:
    """Fake iteration cost: 0.1 s when an iteration carries prompt tokens, 0.01 s when it only decodes."""

    def time_s(self, decode_seqs, decode_context, prefill_tokens=0, prefill_seqs=0, prefill_context=0.0):
        return 0.1 if prefill_tokens else 0.01


def estimate(techniques=SERVING):
    return estimate_inference(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-3.1-8b"),
                              InferenceWorkload(batch=8, prompt_len=1024, output_len=128), ParallelConfig(gpus=1),
                              [CATALOG.resolve_technique(t) for t in techniques])


# --- GUARANTEED_NO_EVICT ------------------------------------------------------------------------------------

def test_no_evict_admits_a_request_only_when_its_whole_life_fits():
    # 100 + 50 tokens in blocks of 16 reserve 160; a 250-token cache holds one such life at a time
    engine = EngineConfig(policy="paged", no_evict=True, kv_capacity_tokens=250, block_tokens=16)
    stats = simulate(engine, StepCost(), Trace(((0.0, 100, 50), (0.0, 100, 50))))
    # the first: prefill 0.1 s, then 49 decode steps of 0.01 s -> done at 0.59 s; the second prefills after it
    assert stats.ttft_ms.mean == pytest.approx((100 + 690) / 2)
    assert stats.latency_ms.mean == pytest.approx((590 + 1180) / 2)
    assert stats.preemptions == 0


def test_max_utilization_admits_both_and_preempts_where_no_evict_waits():
    run = dict(cost=StepCost(), load=Trace(((0.0, 100, 50), (0.0, 100, 50))))
    packed = simulate(EngineConfig(policy="paged", kv_capacity_tokens=250, block_tokens=16), **run)
    assert packed.ttft_ms.mean == pytest.approx(100)  # both prompts in the first iteration
    assert packed.preemptions > 0  # two contexts of 150 (+ half a block each) outgrow 250 tokens


def test_no_evict_never_preempts_and_books_whole_lives():
    stats = simulate(EngineConfig(policy="paged", no_evict=True, kv_capacity_tokens=400, block_tokens=16),
                     StepCost(), ClosedLoop(8), Lengths("fixed", 100, 50), requests=50)
    assert stats.preemptions == 0 and stats.requests == 50
    assert stats.kv_utilisation_peak == pytest.approx(320 / 400)  # two lives of 160 at a time


def test_prompts_first_engines_keep_preempting():
    engine = EngineConfig(policy="paged", no_evict=True, prefill_first=True, kv_capacity_tokens=250, block_tokens=16)
    stats = simulate(engine, StepCost(), Trace(((0.0, 100, 50), (0.0, 100, 50))))
    assert stats.preemptions > 0  # vLLM before V1: no such capacity policy


# --- which engine the techniques describe -------------------------------------------------------------------

@pytest.mark.parametrize("techniques, prefill_first, no_evict, budget", [
    (SERVING, False, True, "free"),                          # in-flight batching: TensorRT-LLM
    (SERVING, True, False, "total"),                         # prompts first: vLLM before V1
    (SERVING + ("chunked-prefill",), False, False, "total"),  # chunked prefill: vLLM V1
])
def test_the_engine_type_picks_its_capacity_policy_and_kv_budget(techniques, prefill_first, no_evict, budget):
    est = estimate(techniques)
    engine, notes = engine_for(est.setup, est.workload, prefill_first)
    assert engine.no_evict is no_evict
    assert engine.kv_capacity_tokens == kv_capacity(est.setup, est.workload, budget)[0]
    assert any("GUARANTEED_NO_EVICT" in n for n in notes) is no_evict


def test_kv_budgets_are_the_engines_memory_shares():
    est = estimate()
    s = est.setup
    mem = memory_breakdown(s.shape, s.split, s.counts, s.knobs, est.workload, s.parallel, s.hw.capacity_gb)
    per_token = 2 * 32 * 8 * 128 * 2  # K and V, 32 layers, 8 KV heads of 128, bf16
    used = mem.weights_gb + mem.activations_gb + mem.overhead_gb
    assert kv_capacity(s, est.workload, "free")[0] == pytest.approx(
        KV_FREE_MEMORY_FRACTION * (mem.capacity_gb - used) * 1e9 / per_token)
    assert kv_capacity(s, est.workload, "total")[0] == pytest.approx(
        (GPU_MEMORY_UTILIZATION * mem.capacity_gb - used) * 1e9 / per_token)
    assert kv_capacity(s, est.workload, "total")[0] < kv_capacity(s, est.workload, "free")[0]
