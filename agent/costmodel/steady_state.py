"""An estimate under load: the engine its techniques describe, simulated at a stated concurrency or QPS.

Stages: :func:`engine_for` reads the batch policy, KV capacity and layout off the estimate's final setup ->
:func:`agent.costmodel.simulator.simulate` serves the load -> :class:`SimulationReport` -> :func:`with_simulation`
puts the simulated steady state at the top of the estimate's JSON and keeps the analytical figures under
``isolated``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agent.costmodel import comm
from agent.costmodel.arrivals import ClosedLoop, Lengths, Load, Poisson, Trace
from agent.costmodel.forward import Setup
from agent.costmodel.frontend import TOKENIZE_S_PER_TOKEN
from agent.costmodel.iteration import CostModelIterations
from agent.costmodel.memory import kv_bytes_per_token_gpu, memory_breakdown, state_bytes_per_seq_gpu
from agent.costmodel.serving_stats import ServingStats, Slo
from agent.costmodel.simulator import MAX_SEQS, EngineConfig, default_warmup, simulate
from agent.costmodel.workload import InferenceWorkload
from index.errors import AccelsageError

# the spread `--lengths spread` means: every prompt and output uniform within ±50% of its mean
DEFAULT_SPREAD = 0.5

ISOLATED_KEYS = ("ttft_ms", "tpot_ms", "latency_ms", "throughput_tokens_per_s")

POLICY_WORDS = {
    "static": "static batching (a batch runs until its longest request ends; arrivals wait for the next batch)",
    "continuous": "continuous batching: new prompts go whole into the decoders' iteration (up to 8192 tokens), "
                  "contiguous KV reserved for the longest output",
    "paged": "continuous batching on paged KV: new prompts go whole into the decoders' iteration (up to 8192 "
             "tokens); the newest sequence is preempted and recomputed when blocks run out",
    "chunked": "chunked prefill: decoders first, prompt chunks fill the rest of each iteration's token budget",
    "disaggregated": "prefill and decode on separate instances; KV sent from one to the other over the link",
}


@dataclass(frozen=True)
class LoadSpec:
    """The load a user states: closed-loop concurrency, Poisson QPS or a trace, with lengths and run size.

    Args:
        lengths: None: spread uniformly ±50% around the workload's lengths, or fixed when the workload says
            all requests are equal (``uniform_lengths``).
    """

    concurrency: int | None = None
    qps: float | None = None
    trace: tuple[tuple[float, int, int], ...] = ()
    lengths: Lengths | None = None
    requests: int = 1000
    warmup: int | None = None
    seed: int = 0
    slo: Slo | None = None

    def load(self) -> Load:
        given = [x for x in (self.concurrency, self.qps, self.trace or None) if x is not None]
        if len(given) != 1:
            raise AccelsageError("give exactly one load: a concurrency, a QPS or a trace")
        if self.trace:
            return Trace(tuple(self.trace))
        return ClosedLoop(int(self.concurrency)) if self.concurrency is not None else Poisson(float(self.qps))

    def lengths_for(self, workload: InferenceWorkload) -> Lengths:
        if self.lengths is not None:
            return self.lengths
        if workload.uniform_lengths:
            return Lengths("fixed", workload.prompt_len, workload.output_len)
        return Lengths("uniform", workload.prompt_len, workload.output_len, DEFAULT_SPREAD)


def lengths_from(choice: str | None, prompt_tokens: int, output_tokens: int, uniform: bool,
                 pairs: tuple[tuple[int, int], ...] = ()) -> Lengths | None:
    """The lengths a user asked for: ``spread`` (uniform ±50% around the means), ``fixed``, listed pairs, or
    None for the default (fixed when ``uniform``, else spread)."""
    if pairs:
        return Lengths("list", prompt_tokens, output_tokens, pairs=tuple(pairs))
    if choice is None:
        return None
    if choice == "fixed":
        return Lengths("fixed", prompt_tokens, output_tokens)
    if choice == "spread":
        return Lengths("uniform", prompt_tokens, output_tokens, DEFAULT_SPREAD)
    raise AccelsageError(f"lengths must be 'spread', 'fixed' or a file of 'prompt,output' lines, got {choice!r}")


# The memory an engine gives its KV cache is a share it is configured with, not all that is left:
# TensorRT-LLM takes KvCacheConfig.free_gpu_memory_fraction, default 0.9, of the memory still free once the engine
# (weights, activation buffers) is loaded (TensorRT-LLM docs, "How to Change KV Cache Behavior");
# vLLM takes --gpu-memory-utilization, default 0.9, of the whole GPU for weights, activations and KV together
# (vLLM engine arguments), so its KV gets that budget less the rest.
KV_FREE_MEMORY_FRACTION = 0.9
GPU_MEMORY_UTILIZATION = 0.9


def kv_capacity(setup: Setup, workload: InferenceWorkload, budget: str = "free") -> tuple[float, int]:
    """(KV tokens one replica holds, most sequences it can run): the engine's share of the memory the memory model
    leaves after weights, activations and runtime overhead on each GPU (every GPU of a replica holds the same share
    of each token).

    Args:
        budget: ``free`` (TensorRT-LLM: a fraction of the memory left) or ``total`` (vLLM: a fraction of the whole
            GPU, less weights, activations and overhead).
    """
    s = setup
    mem = memory_breakdown(s.shape, s.split, s.counts, s.knobs, workload, s.parallel, s.hw.capacity_gb)
    used = mem.weights_gb + mem.activations_gb + mem.overhead_gb
    if budget == "total":
        free = (GPU_MEMORY_UTILIZATION * mem.capacity_gb - used) * 1e9
    else:
        free = KV_FREE_MEMORY_FRACTION * (mem.capacity_gb - used) * 1e9
    if free <= 0:
        return 0.0, 0
    seqs = MAX_SEQS
    state = state_bytes_per_seq_gpu(s.shape, s.knobs, s.parallel)
    if state:  # SSM / linear-attention state: a fixed amount per running sequence
        seqs = max(min(MAX_SEQS, int(free // state)), 0)
        free -= seqs * state
    per_token = kv_bytes_per_token_gpu(s.shape, s.counts, s.knobs, s.parallel)
    return (free / per_token if per_token else math.inf), seqs


def engine_for(setup: Setup, workload: InferenceWorkload,
               prefill_first: bool = False) -> tuple[EngineConfig, list[str]]:
    """The engine the estimate's techniques describe, and notes on what the simulation assumes of it.

    Args:
        prefill_first: whole prompts get iterations of their own while decoders wait (vLLM before V1) instead
            of riding in the decoders' iteration (Orca, TensorRT-LLM in-flight batching).
    """
    k, par = setup.knobs, setup.parallel
    notes = []
    if k.prefill_fraction:
        policy = "disaggregated"
    elif k.chunk_tokens:
        policy = "chunked"
    elif k.continuous_batching:
        policy = "paged" if k.paged_block_tokens else "continuous"
    else:
        policy = "static"
    # vLLM-type engines (prompts in iterations of their own before V1, chunked prefill in V1) budget KV out of the
    # whole GPU; TensorRT-LLM-type ones (in-flight batching) out of what the loaded engine leaves
    vllm_like = policy == "chunked" or (prefill_first and policy in ("continuous", "paged"))
    capacity, seqs = kv_capacity(setup, workload, "total" if vllm_like else "free")
    # in-flight batching on paged KV is TensorRT-LLM's: its default capacity policy never evicts
    no_evict = policy == "paged" and not prefill_first
    replicas, prefill_replicas = par.dp, 0
    if policy == "disaggregated":
        prefill_replicas = min(max(round(par.dp * k.prefill_fraction), 1), max(par.dp - 1, 1))
        replicas = max(par.dp - prefill_replicas, 1)
        if par.dp < 2:
            notes.append(f"disaggregation with one tp x pp replica: simulated as one prefill and one decode instance "
                         f"of {par.tp * par.pp} GPUs each ({2 * par.tp * par.pp} GPUs in all)")
    per_token_bytes = kv_bytes_per_token_gpu(setup.shape, setup.counts, k, par)
    engine = EngineConfig(
        policy=policy, kv_capacity_tokens=capacity, paged=bool(k.paged_block_tokens), replicas=replicas,
        block_tokens=k.paged_block_tokens or 1, max_seqs=max(seqs, 1) if capacity else 1,
        token_budget=k.chunk_tokens or EngineConfig.token_budget, reserve_tokens=workload.max_seq_len,
        prefix_hit_rate=k.prefix_hit_rate, prefill_replicas=max(prefill_replicas, 1), prefill_first=prefill_first,
        kv_transfer_s_per_token=per_token_bytes / (setup.rates.link_gb_s * 1e9) if setup.rates.link_gb_s else 0.0,
        kv_transfer_latency_s=comm.STEP_LATENCY_US * 1e-6,
        # static batching is left without a front end: a static batch forms from whatever waits when the last one
        # ends, so a client re-sending at that instant would always miss it by its tokenization time; real static
        # servers gather a batch over a queue delay, which the simulator does not model
        tokenize_s_per_token=TOKENIZE_S_PER_TOKEN if policy != "static" else 0.0,
        no_evict=no_evict,
    )
    notes.append(POLICY_WORDS[policy] if not (prefill_first and policy in ("continuous", "paged")) else
                 POLICY_WORDS[policy].split(":")[0] + ": new prompts get iterations of their own while the decoders "
                 "wait (vLLM before V1)")
    if engine.tokenize_s_per_token:
        notes.append(f"prompts tokenized by the API server in micro-batches on one thread at "
                     f"{1 / TOKENIZE_S_PER_TOKEN / 1e3:.0f}k tokens/s before the engine sees them (counted in TTFT)")
    notes.append(f"KV cache: {GPU_MEMORY_UTILIZATION:.0%} of GPU memory less weights, activations and overhead "
                 "(vLLM --gpu-memory-utilization)" if vllm_like else
                 f"KV cache: {KV_FREE_MEMORY_FRACTION:.0%} of the memory left after weights, activations and overhead "
                 "(TensorRT-LLM free_gpu_memory_fraction)")
    if no_evict:
        notes.append("a request is admitted only when the KV blocks for its prompt and whole output fit beside the "
                     "running ones' (TensorRT-LLM's default GUARANTEED_NO_EVICT); nothing is preempted")
    if policy != "static":
        notes.append(f"at most {engine.max_seqs} sequences per instance (vLLM's default --max-num-seqs)")
    if k.kv_budget_tokens:
        notes.append("KV eviction caps the decode context in the iteration time, not the KV the simulation holds")
    if k.speculative:
        notes.append("speculative decoding: each decode iteration yields one token in the expected time per token")
    if par.pp > 1:
        notes.append("pipeline stages run one iteration at a time (no micro-batches of different iterations overlap)")
    return engine, notes


@dataclass(frozen=True)
class SimulationReport:
    """What was simulated and what it measured."""

    load: str
    lengths: str
    policy: str
    replicas: int
    prefill_replicas: int
    kv_capacity_tokens: float
    max_seqs: int
    token_budget: int
    seed: int
    stats: ServingStats
    slo: Slo | None = None
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {
            "load": self.load, "lengths": self.lengths, "policy": self.policy, "replicas": self.replicas,
            "prefill_replicas": self.prefill_replicas if self.policy == "disaggregated" else 0,
            "kv_capacity_tokens": round(self.kv_capacity_tokens) if math.isfinite(self.kv_capacity_tokens) else None,
            "max_seqs": self.max_seqs, "token_budget": self.token_budget, "seed": self.seed,
            "slo": {"ttft_ms": self.slo.ttft_ms, "tpot_ms": self.slo.tpot_ms} if self.slo else None,
        }
        out.update(self.stats.to_dict())
        out["assumptions"] = list(self.assumptions)
        return out


def simulate_estimate(estimate: Any, spec: LoadSpec, prefill_first: bool = False) -> SimulationReport:
    """Simulate the estimate's final configuration (all its techniques applied) under the stated load.

    Args:
        estimate: an :class:`agent.costmodel.inference.InferenceEstimate`.
        spec: the load, lengths, run size, seed and SLOs.
        prefill_first: see :func:`engine_for`.
    """
    setup, workload = estimate.setup, estimate.workload
    load, lengths = spec.load(), spec.lengths_for(workload)
    engine, notes = engine_for(setup, workload, prefill_first)
    if not engine.kv_capacity_tokens:
        raise AccelsageError("cannot simulate: the weights leave no memory for the KV cache")
    warmup = spec.warmup if spec.warmup is not None else default_warmup(load, spec.requests)
    stats = simulate(engine, CostModelIterations(setup), load, lengths, spec.requests, warmup, spec.seed, spec.slo)
    notes.insert(0, f"steady state over {stats.requests} requests after {warmup} warm-up ones; load keeps coming "
                    "until the last measured request ends")
    if stats.rejected:
        notes.append(f"{stats.rejected} requests longer than the KV cache holds were refused")
    return SimulationReport(
        load=load.describe(), lengths=lengths.describe() if not isinstance(load, Trace) else "from the trace",
        policy=engine.policy, replicas=engine.replicas, prefill_replicas=engine.prefill_replicas,
        kv_capacity_tokens=engine.kv_capacity_tokens, max_seqs=engine.max_seqs, token_budget=engine.token_budget,
        seed=spec.seed, stats=stats, slo=spec.slo, assumptions=notes,
    )


def with_simulation(estimate_dict: dict, report: SimulationReport) -> dict:
    """The estimate's JSON with the simulated steady state on top: TTFT, TPOT (the median inter-token latency),
    latency at their medians with p90/p99 beside them, simulated throughput; analytical figures under ``isolated``."""
    s = report.stats
    out = dict(estimate_dict)
    out["isolated"] = {key: estimate_dict[key] for key in ISOLATED_KEYS}
    out.update({
        "ttft_ms": round(s.ttft_ms.p50, 4), "ttft_p90_ms": round(s.ttft_ms.p90, 4),
        "ttft_p99_ms": round(s.ttft_ms.p99, 4),
        "tpot_ms": round(s.itl_ms.p50, 4), "tpot_p90_ms": round(s.itl_ms.p90, 4),
        "tpot_p99_ms": round(s.itl_ms.p99, 4),
        "latency_ms": round(s.latency_ms.p50, 3),
        "throughput_tokens_per_s": round(s.output_tokens_per_s, 2),
        "simulation": report.to_dict(),
    })
    return out
