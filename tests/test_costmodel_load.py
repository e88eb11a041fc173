"""Serving under load: the API server's tokenization queue in front of the engine, hand-checked with a fake
iteration cost, and its place in the simulated estimate."""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.arrivals import ClosedLoop, Lengths, Request, Trace
from agent.costmodel.frontend import TOKENIZE_BATCH_MAX, TOKENIZE_BATCH_WAIT_S, TOKENIZE_S_PER_TOKEN, FrontEnd
from agent.costmodel.simulator import EngineConfig, simulate
from agent.costmodel.steady_state import LoadSpec, engine_for, simulate_estimate
from agent.knowledge.catalog import Catalog

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")


class StepCost:
    """Fake iteration cost: 100 ms when an iteration carries prompt tokens, 10 ms when it only decodes."""

    def time_s(self, decode_seqs, decode_context, prefill_tokens=0, prefill_seqs=0, prefill_context=0.0):
        return 0.1 if prefill_tokens else 0.01


def estimate(techniques=("flash-attention-2", "paged-attention", "continuous-batching"), **workload):
    workload = {"batch": 8, "prompt_len": 1024, "output_len": 128, **workload}
    return estimate_inference(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model("llama-3.1-8b"),
                              InferenceWorkload(**workload), ParallelConfig(gpus=1),
                              [CATALOG.resolve_technique(t) for t in techniques])


def test_front_end_tokenizes_requests_that_arrive_together_in_one_batch():
    front = FrontEnd(s_per_token=1e-3, batch_max=2, wait_s=0.002)
    req = [Request(i, 0.0, 100, 10) for i in range(3)]
    # the first request sets a batch to start after the wait; the others only queue
    assert front.arrive(req[0], 0.0) == pytest.approx(0.002)
    assert front.arrive(req[1], 0.0) is None and front.arrive(req[2], 0.001) is None
    batch, ready = front.start(0.002)
    assert batch == req[:2] and ready == pytest.approx(0.002 + 0.2)  # at most two, 100 ms of tokens each
    # the third waited through the batch: the next one starts as soon as the thread is free
    assert front.finish(ready) == pytest.approx(ready)
    batch, ready_next = front.start(ready)
    assert batch == req[2:] and ready_next == pytest.approx(ready + 0.1)
    assert front.finish(ready_next) is None


def test_a_free_front_end_is_skipped():
    assert not FrontEnd().enabled and FrontEnd(1e-6).enabled


def test_tokenization_adds_to_one_clients_ttft():
    lengths = Lengths("fixed", 100, 11)
    plain = simulate(EngineConfig(), StepCost(), ClosedLoop(1), lengths, requests=5)
    tokenized = simulate(EngineConfig(tokenize_s_per_token=1e-4), StepCost(), ClosedLoop(1), lengths, requests=5)
    assert plain.ttft_ms.mean == pytest.approx(100.0)
    # 2 ms batch wait, then 100 tokens at 0.1 ms each, then the prefill
    assert tokenized.ttft_ms.mean == pytest.approx(2.0 + 10.0 + 100.0)
    assert tokenized.itl_ms.mean == pytest.approx(plain.itl_ms.mean)


def test_a_request_that_arrives_during_a_tokenizer_batch_waits_for_it():
    # 500-token prompts at 0.1 ms a token: 50 ms per prompt; the second is sent 10 ms after the first
    trace = Trace(((0.0, 500, 2), (0.010, 500, 2)))
    stats = simulate(EngineConfig(tokenize_s_per_token=1e-4), StepCost(), trace, requests=2, warmup=0)
    # the first: tokenized 2-52 ms, prefill 52-152 ms; the second: tokenized 52-102 ms, then waits for the
    # first one's prefill and runs 152-252 ms (sent at 10 ms)
    assert stats.ttft_ms.mean == pytest.approx((152.0 + 242.0) / 2)


def test_requests_sent_together_are_tokenized_and_prefilled_together():
    trace = Trace(((0.0, 500, 2), (0.0, 500, 2)))
    stats = simulate(EngineConfig(tokenize_s_per_token=1e-4), StepCost(), trace, requests=2, warmup=0)
    assert stats.ttft_ms.p50 == pytest.approx(stats.ttft_ms.p99) == pytest.approx(2.0 + 100.0 + 100.0)


def test_the_engine_for_an_estimate_tokenizes_at_the_sourced_rate():
    engine, notes = engine_for(estimate().setup, estimate().workload)
    assert engine.tokenize_s_per_token == TOKENIZE_S_PER_TOKEN == pytest.approx(2.2e-6)
    assert (TOKENIZE_BATCH_MAX, TOKENIZE_BATCH_WAIT_S) == (32, 0.002)
    assert any("tokenized" in n for n in notes)


def test_one_client_ttft_is_the_isolated_one_plus_tokenizing_its_prompt():
    est = estimate(batch=1, prompt_len=4096, output_len=64)
    report = simulate_estimate(est, LoadSpec(concurrency=1, requests=20, lengths=Lengths("fixed", 4096, 64)))
    front_ms = (TOKENIZE_BATCH_WAIT_S + 4096 * TOKENIZE_S_PER_TOKEN) * 1e3
    assert report.stats.ttft_ms.mean == pytest.approx(est.ttft_ms + front_ms, rel=0.01)


def test_static_batching_is_simulated_without_a_front_end():
    engine, notes = engine_for(estimate(techniques=("flash-attention-2",)).setup, estimate().workload)
    assert engine.policy == "static" and engine.tokenize_s_per_token == 0.0
    assert not any("tokenized" in n for n in notes)
