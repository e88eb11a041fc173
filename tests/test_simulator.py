"""Serving simulator: hand-checkable runs with a fake iteration cost, then the cost model under load."""

from pathlib import Path

import pytest

from agent.costmodel import InferenceWorkload, ParallelConfig, estimate_inference
from agent.costmodel.arrivals import ClosedLoop, Lengths, Poisson, Trace, read_lengths_file
from agent.costmodel.frontend import TOKENIZE_BATCH_WAIT_S, TOKENIZE_S_PER_TOKEN
from agent.costmodel.iteration import on_grid
from agent.costmodel.memory import memory_breakdown
from agent.costmodel.phases import decode_step_time, iteration_time, prefill_time
from agent.costmodel.serving_stats import Slo, weighted_spread
from agent.costmodel.simulator import EngineConfig, simulate
from agent.costmodel.steady_state import LoadSpec, engine_for, kv_capacity, simulate_estimate, with_simulation
from agent.knowledge.catalog import Catalog
from index.errors import AccelsageError

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)
SERVING = ("flash-attention-2", "paged-attention", "continuous-batching")


class StepCost:
    """Fake iteration cost: `prefill_s` (+ `per_prompt_token_s` a prompt token) when an iteration carries prompt
    tokens, `decode_s` when it only decodes."""

    def __init__(self, prefill_s: float = 0.1, decode_s: float = 0.01, per_prompt_token_s: float = 0.0):
        self.prefill_s, self.decode_s, self.per_token_s = prefill_s, decode_s, per_prompt_token_s

    def time_s(self, decode_seqs, decode_context, prefill_tokens=0, prefill_seqs=0, prefill_context=0.0):
        if prefill_tokens:
            return self.prefill_s + self.per_token_s * prefill_tokens
        return self.decode_s


def fixed(prompt: int, output: int) -> Lengths:
    return Lengths("fixed", prompt, output)


def estimate(techniques=SERVING, model="llama-3.1-8b", gpus=1, **workload):
    workload = {"batch": 8, "prompt_len": 1024, "output_len": 128, **workload}
    return estimate_inference(CATALOG.resolve_gpu("h100"), CATALOG.resolve_model(model),
                              InferenceWorkload(**workload), ParallelConfig(gpus=gpus),
                              [CATALOG.resolve_technique(t) for t in techniques])


# --- hand-checked runs with a fake cost ----------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["static", "continuous", "paged", "chunked", "disaggregated"])
def test_one_client_sees_one_prefill_then_one_decode_step_per_token(policy):
    stats = simulate(EngineConfig(policy=policy, token_budget=512), StepCost(), ClosedLoop(1), fixed(100, 11),
                     requests=5)
    assert stats.requests == 5
    for spread in (stats.ttft_ms, stats.itl_ms, stats.tpot_ms, stats.latency_ms):
        assert spread.p50 == pytest.approx(spread.p99) == pytest.approx(spread.mean)
    assert stats.ttft_ms.p50 == pytest.approx(100.0)
    assert stats.itl_ms.p50 == pytest.approx(10.0)
    assert stats.latency_ms.p50 == pytest.approx(100 + 10 * 10)
    assert stats.output_tokens_per_s == pytest.approx(11 / 0.2)
    assert stats.requests_per_s == pytest.approx(1 / 0.2)
    assert stats.preemptions == 0


@pytest.mark.parametrize("policy, ttft_ms", [
    # the batch {r0, r1} prefills (0.1 s) then decodes until r1's 50th token (49 steps); r2 waits for all of it
    ("static", (0.1 + 49 * 0.01 + 0.1 - 0.001) * 1e3),
    # r2 waits only for the prefill iteration in flight, then has its own
    ("continuous", (0.1 - 0.001 + 0.1) * 1e3),
])
def test_static_batching_makes_a_short_request_wait_for_the_longest(policy, ttft_ms):
    trace = Trace(((0.0, 10, 5), (0.0, 10, 50), (0.001, 10, 5)))
    stats = simulate(EngineConfig(policy=policy), StepCost(), trace, warmup=2)
    assert stats.requests == 1
    assert stats.ttft_ms.p50 == pytest.approx(ttft_ms)


def test_requests_that_arrive_together_prefill_together():
    stats = simulate(EngineConfig(policy="paged"), StepCost(), Trace(((0.0, 10, 2),) * 4))
    assert stats.ttft_ms.p99 == pytest.approx(100.0)


@pytest.mark.parametrize("prefill_first, gap_ms", [
    (False, 100.0),  # Orca / in-flight batching: r1's prompt rides in r0's next iteration (0.1 s)
    (True, 110.0),   # vLLM before V1: r1's prompt gets an iteration of its own, then r0 decodes
])
def test_a_new_prompt_stalls_the_decoders_for_one_iteration(prefill_first, gap_ms):
    trace = Trace(((0.0, 10, 30), (0.105, 10, 2)))
    stats = simulate(EngineConfig(policy="paged", prefill_first=prefill_first), StepCost(), trace, requests=1,
                     warmup=0)  # r0 only
    assert stats.itl_ms.p50 == pytest.approx(10.0)
    assert stats.itl_ms.p99 == pytest.approx(gap_ms)


def test_chunked_prefill_cuts_the_itl_tail_that_long_prompts_cause():
    cost = StepCost(prefill_s=0.01, per_prompt_token_s=1e-5)  # a 4000-token prompt stalls decoders for 40 ms
    run = dict(cost=cost, load=ClosedLoop(8), lengths=fixed(4000, 50), requests=200)
    whole = simulate(EngineConfig(policy="paged"), **run)
    chunked = simulate(EngineConfig(policy="chunked", token_budget=512), **run)
    assert whole.itl_ms.p99 >= 50.0  # a whole-prompt iteration (>= 50 ms) between two tokens
    assert chunked.itl_ms.p99 <= (0.01 + 512e-5) * 1e3 + 1e-9  # never more than one budget
    assert chunked.itl_ms.p99 < whole.itl_ms.p99 / 2


def test_tiny_kv_cache_preempts_and_still_serves_everyone():
    run = dict(cost=StepCost(), load=ClosedLoop(8), lengths=fixed(100, 50), requests=50)
    tight = simulate(EngineConfig(policy="paged", kv_capacity_tokens=400, block_tokens=1), **run)
    roomy = simulate(EngineConfig(policy="paged", kv_capacity_tokens=100_000, block_tokens=1), **run)
    assert tight.preemptions > 0 and roomy.preemptions == 0
    assert tight.requests == roomy.requests == 50
    assert tight.kv_utilisation_peak <= 1.0 and tight.kv_utilisation_mean > roomy.kv_utilisation_mean
    assert tight.latency_ms.mean > roomy.latency_ms.mean


def test_contiguous_kv_limits_the_batch_instead_of_preempting():
    stats = simulate(EngineConfig(policy="continuous", kv_capacity_tokens=300), StepCost(), ClosedLoop(8),
                     fixed(100, 50), requests=50)
    assert stats.preemptions == 0
    assert stats.kv_utilisation_peak == pytest.approx(1.0)  # two reservations of 150 at a time


def test_a_request_longer_than_the_cache_is_refused():
    stats = simulate(EngineConfig(policy="paged", kv_capacity_tokens=120, block_tokens=1), StepCost(),
                     Trace(((0.0, 100, 50), (0.0, 50, 10))))
    assert stats.rejected == 1 and stats.requests == 1


def test_poisson_at_low_qps_sees_the_isolated_prefill():
    stats = simulate(EngineConfig(policy="paged"), StepCost(), Poisson(0.1), fixed(100, 10), requests=200)
    assert stats.ttft_ms.p50 == pytest.approx(100.0, rel=0.01)


def test_poisson_beyond_capacity_queues_without_bound():
    cost = StepCost(prefill_s=0.0, per_prompt_token_s=1e-3)  # 10 prompts of 100 tokens a second at most
    run = dict(cost=cost, load=Poisson(50.0), lengths=fixed(100, 10))
    short = simulate(EngineConfig(policy="paged"), requests=100, **run)
    long = simulate(EngineConfig(policy="paged"), requests=400, **run)
    assert long.ttft_ms.p50 > 2 * short.ttft_ms.p50 > 2000


def test_same_seed_same_result_other_seed_other_result():
    def run(seed):
        return simulate(EngineConfig(policy="chunked", token_budget=256, kv_capacity_tokens=3000, block_tokens=16),
                        StepCost(per_prompt_token_s=1e-4), Poisson(20.0), Lengths("uniform", 400, 60, 0.5),
                        requests=300, seed=seed).to_dict()

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_disaggregation_adds_the_transfer_to_ttft():
    engine = EngineConfig(policy="disaggregated", kv_transfer_s_per_token=1e-4)
    stats = simulate(engine, StepCost(), ClosedLoop(1), fixed(100, 11), requests=5)
    assert stats.ttft_ms.p50 == pytest.approx(100 + 100 * 1e-4 * 1e3)
    assert stats.itl_ms.p99 == pytest.approx(10.0)


def test_disaggregation_removes_prefill_interference_from_itl():
    # spread outputs, so prompts arrive while others decode
    run = dict(cost=StepCost(), load=ClosedLoop(8), lengths=Lengths("uniform", 1000, 50, 0.5), requests=100)
    together = simulate(EngineConfig(policy="paged"), **run)
    apart = simulate(EngineConfig(policy="disaggregated", kv_transfer_s_per_token=1e-6), **run)
    assert together.itl_ms.p99 >= 100.0  # a prefill iteration between two tokens
    # a KV handed over mid-step waits for that step, then its own: at most two decode steps
    assert apart.itl_ms.p99 <= 20.0 + 1e-9


def test_warmup_requests_are_left_out():
    stats = simulate(EngineConfig(policy="paged"), StepCost(), ClosedLoop(4), fixed(100, 5), requests=20)
    assert stats.requests == 20 and stats.warmup == 4  # the first wave of the four clients


def test_goodput_counts_requests_within_the_slos():
    run = dict(cost=StepCost(), load=ClosedLoop(1), lengths=fixed(100, 11), requests=5)
    ok = simulate(EngineConfig(), slo=Slo(ttft_ms=150, tpot_ms=10.5), **run)
    missed = simulate(EngineConfig(), slo=Slo(ttft_ms=50), **run)
    assert ok.slo_attainment == 1.0 and ok.goodput_requests_per_s == pytest.approx(ok.requests_per_s)
    assert missed.slo_attainment == 0.0 and missed.goodput_requests_per_s == 0.0


def test_weighted_percentiles():
    spread = weighted_spread([(10.0, 98), (50.0, 1), (100.0, 1)])
    assert (spread.p50, spread.p90, spread.p99) == (10.0, 10.0, 50.0)
    assert spread.mean == pytest.approx((980 + 50 + 100) / 100)


# --- lengths and arrivals --------------------------------------------------------------------------------------

def test_uniform_lengths_stay_within_the_spread_around_the_mean():
    draws = Lengths("uniform", 1000, 200, 0.5).draw(seed=1)
    pairs = [next(draws) for _ in range(2000)]
    assert all(500 <= p <= 1500 and 100 <= o <= 300 for p, o in pairs)
    assert sum(o for _, o in pairs) / len(pairs) == pytest.approx(200, rel=0.03)


def test_lognormal_lengths_keep_the_mean():
    draws = Lengths("lognormal", 1000, 200, 0.5).draw(seed=1)
    outputs = [next(draws)[1] for _ in range(5000)]
    assert sum(outputs) / len(outputs) == pytest.approx(200, rel=0.05)


def test_listed_lengths_are_used_in_order(tmp_path):
    path = tmp_path / "lengths.csv"
    path.write_text("# prompt,output\n100,10\n\n200, 20\n")
    pairs = read_lengths_file(path)
    draws = Lengths("list", pairs=pairs).draw(seed=0)
    assert [next(draws) for _ in range(3)] == [(100, 10), (200, 20), (100, 10)]


@pytest.mark.parametrize("text", ["100\n", "a,b\n", "0,5\n", "", "1,2,3\n"])
def test_bad_length_files_are_refused(tmp_path, text):
    path = tmp_path / "lengths.csv"
    path.write_text(text)
    with pytest.raises(AccelsageError):
        read_lengths_file(path)


# --- the cost model under load ---------------------------------------------------------------------------------

def test_iteration_time_matches_the_phase_functions():
    setup = estimate().setup
    assert iteration_time(setup, 16, 1100.0).total_s == pytest.approx(decode_step_time(setup, 16, 1100.0).total_s)
    assert iteration_time(setup, 0, 0.0, 1024, 1, 1024).total_s == pytest.approx(
        prefill_time(setup, 1, 1024).total_s)
    mixed = iteration_time(setup, 16, 1100.0, 512, 1, 768).total_s
    assert decode_step_time(setup, 16, 1100.0).total_s < mixed < (
        decode_step_time(setup, 16, 1100.0).total_s + prefill_time(setup, 1, 512).total_s)


@pytest.mark.parametrize("x, point", [(1, 1.0), (16, 16.0), (16.4, 16.0)])
def test_small_values_stay_exact_on_the_grid(x, point):
    assert on_grid(x) == point


@pytest.mark.parametrize("x", [17, 100, 1234.5, 65_000])
def test_larger_values_move_at_most_three_percent_on_the_grid(x):
    assert on_grid(x) == pytest.approx(x, rel=0.03)


def test_kv_capacity_is_what_the_memory_model_leaves():
    est = estimate()
    s = est.setup
    mem = memory_breakdown(s.shape, s.split, s.counts, s.knobs, est.workload, s.parallel, s.hw.capacity_gb)
    per_token = 2 * 32 * 8 * 128 * 2  # K and V, 32 layers, 8 KV heads of 128, bf16
    free = 0.9 * (mem.capacity_gb - mem.weights_gb - mem.activations_gb - mem.overhead_gb)  # TensorRT-LLM's share
    tokens, seqs = kv_capacity(s, est.workload)
    assert tokens == pytest.approx(free * 1e9 / per_token)
    assert seqs == 256


@pytest.mark.parametrize("techniques, policy", [
    (("flash-attention-2",), "static"),
    (("flash-attention-2", "continuous-batching"), "continuous"),
    (SERVING, "paged"),
    (SERVING + ("chunked-prefill",), "chunked"),
])
def test_the_techniques_pick_the_batch_policy(techniques, policy):
    est = estimate(techniques)
    assert engine_for(est.setup, est.workload)[0].policy == policy


def test_disaggregation_splits_the_replicas():
    est = estimate(SERVING + ("pd-disaggregation",), gpus=4)
    engine, _ = engine_for(est.setup, est.workload)
    assert engine.policy == "disaggregated"
    assert (engine.prefill_replicas, engine.replicas) == (1, 3)  # prefill_fraction 0.3 of 4 replicas
    assert engine.kv_transfer_s_per_token > 0


def test_one_client_matches_the_isolated_estimate():
    est = estimate(batch=1, prompt_len=1024, output_len=128)
    report = simulate_estimate(est, LoadSpec(concurrency=1, requests=20, lengths=Lengths("fixed", 1024, 128)))
    # the API server's tokenization of the prompt comes on top of the engine's prefill
    front_ms = (TOKENIZE_BATCH_WAIT_S + 1024 * TOKENIZE_S_PER_TOKEN) * 1e3
    assert report.stats.ttft_ms.p50 == pytest.approx(est.ttft_ms + front_ms, rel=0.01)
    # the analytical TPOT also spreads one prefill over the tokens (~2% here); alone, no prefill interferes
    assert report.stats.itl_ms.mean == pytest.approx(est.tpot_ms, rel=0.03)
    assert report.stats.itl_ms.mean < est.tpot_ms


def test_concurrency_makes_ttft_wait_behind_other_prefills():
    est = estimate(prompt_len=2048, output_len=128)
    report = simulate_estimate(est, LoadSpec(concurrency=32, requests=300))
    assert report.stats.ttft_ms.mean > 1.2 * est.ttft_ms  # the isolated figure: one prompt alone
    assert report.stats.ttft_ms.p99 > 2 * est.ttft_ms
    assert report.stats.itl_ms.p99 > 2 * report.stats.itl_ms.p50  # prefill stalls in the tail


def test_with_simulation_keeps_the_analytical_figures_under_isolated():
    est = estimate()
    data = with_simulation(est.to_dict(), simulate_estimate(est, LoadSpec(concurrency=8, requests=100)))
    assert data["isolated"] == {k: est.to_dict()[k] for k in ("ttft_ms", "tpot_ms", "latency_ms",
                                                              "throughput_tokens_per_s")}
    sim = data["simulation"]
    assert data["tpot_ms"] == sim["itl_ms"]["p50"] and data["tpot_p99_ms"] == sim["itl_ms"]["p99"]
    assert data["ttft_ms"] == sim["ttft_ms"]["p50"]
    assert sim["policy"] == "paged" and sim["requests"] == 100 and sim["kv_capacity_tokens"] > 0


@pytest.mark.parametrize("spec", [LoadSpec(), LoadSpec(concurrency=4, qps=1.0)])
def test_a_load_is_one_of_concurrency_qps_or_trace(spec):
    with pytest.raises(AccelsageError):
        spec.load()
