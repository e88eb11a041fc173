"""Discrete-event simulation of an inference engine under load, timed by the cost model's iterations.

Pipeline: requests (:mod:`arrivals`) -> dispatch to a replica -> the replica's batch policy plans an iteration
(:mod:`scheduler`) -> the iteration's time (:mod:`iteration`, the roofline) -> the replica applies it
(:mod:`replica`) -> statistics (:mod:`serving_stats`). :func:`simulate` only runs the event loop between them.

A plain event loop (a heap of (time, rank, sequence, event)) rather than SimPy: an engine replica is one server
whose iterations are atomic, so the only events are arrivals, iteration ends and KV transfers; a heap keeps
that deterministic (ties broken by insertion order), dependency-free and fast enough for 10k requests in
well under two seconds, where SimPy's generator processes would cost several microseconds per event and
add a dependency for no modelling gain.

What it captures that the analytical estimate cannot: queueing behind other requests, the wait for the
iteration in flight, prefills contending with each other and stalling decodes, KV capacity limiting the batch
(and preemption), and the spread (median, tail) of TTFT and inter-token latency.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass

from agent.costmodel.arrivals import ClosedLoop, Lengths, Load, Request, RequestSource, Trace
from agent.costmodel.frontend import FrontEnd
from agent.costmodel.iteration import IterationCost, decode_run_s
from agent.costmodel.replica import Batch, Job, Replica
from agent.costmodel.scheduler import (
    POLICIES,
    PREFILL_TOKEN_BUDGET,
    Chunked,
    Continuous,
    NoEvict,
    Paged,
    Policy,
    PrefillOnly,
    Static,
)
from agent.costmodel.serving_stats import ServingStats, Slo, summarise
from index.errors import AccelsageError

# vLLM's default --max-num-seqs: the most sequences one engine runs at once
MAX_SEQS = 256

ARRIVE, DONE, KV_ARRIVED, WAKE, TOKENIZE, TOKENIZED = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class EngineConfig:
    """The serving engine being simulated.

    Args:
        policy: static, continuous, paged, chunked or disaggregated (see :mod:`agent.costmodel.scheduler`).
        kv_capacity_tokens: KV tokens one replica (one decode instance) holds.
        paged: for chunked and the disaggregated decode pool, whether KV is paged (grows with the context,
            preemption when it runs out) or reserved for the longest output at admission.
        replicas: engine instances sharing the load (data parallel); disaggregated: decode instances.
        block_tokens: paged-KV block size (a sequence wastes half a block on average).
        max_seqs: most sequences one instance runs at once.
        token_budget: tokens one iteration may carry, decode tokens included (chunked prefill: its chunk budget).
        reserve_tokens: KV a contiguous cache reserves per request; None: its prompt plus the longest output.
        prefix_hit_rate: share of each prompt found in a prefix cache (not recomputed).
        prefill_replicas: disaggregated: instances in the prefill pool.
        prefill_first: continuous and paged: new prompts get iterations of their own while the decoders wait
            (vLLM before V1) instead of joining the decoders' iteration (Orca, TensorRT-LLM in-flight batching).
        kv_transfer_s_per_token: disaggregated: seconds to move one token's KV from a prefill to a decode
            instance (all of an instance's GPUs send their shards at once); transfers from one prefill
            instance queue on its link.
        kv_transfer_latency_s: fixed cost per transfer.
        no_evict: paged: admit a request only when the blocks for its whole life fit beside what the running ones may
            still grow to, and never preempt (TensorRT-LLM's default GUARANTEED_NO_EVICT capacity policy); False:
            admit while blocks are free and preempt when they run out (vLLM, TensorRT-LLM's MAX_UTILIZATION).
        tokenize_s_per_token: CPU seconds the API server spends per prompt token before the engine sees the
            request (micro-batches on one thread for the whole deployment, see :mod:`agent.costmodel.frontend`);
            0: no front end.
    """

    policy: str = "paged"
    kv_capacity_tokens: float = math.inf
    paged: bool = True
    replicas: int = 1
    block_tokens: int = 16
    max_seqs: int = MAX_SEQS
    token_budget: int = PREFILL_TOKEN_BUDGET
    reserve_tokens: int | None = None
    prefix_hit_rate: float = 0.0
    prefill_replicas: int = 1
    prefill_first: bool = False
    kv_transfer_s_per_token: float = 0.0
    kv_transfer_latency_s: float = 0.0
    tokenize_s_per_token: float = 0.0
    no_evict: bool = False

    def policy_for(self) -> Policy:
        """A fresh policy object for one (decode) replica."""
        if self.policy == "static":
            return Static()
        if self.policy == "continuous":
            return Continuous(self.token_budget, self.prefill_first)
        if self.policy == "chunked":
            return Chunked(self.token_budget, self.paged)
        if self.policy == "paged":
            if self.no_evict and not self.prefill_first:
                return NoEvict(self.token_budget)
            return Paged(self.token_budget, self.prefill_first)
        if self.policy == "disaggregated":  # the decode pool; prompts arrive prefilled
            return Paged() if self.paged else Continuous()
        raise AccelsageError(f"unknown batch policy {self.policy!r}: one of {', '.join(POLICIES)}")


class _Pools:
    """The replicas and their policies: one pool, or a prefill pool feeding a decode pool."""

    def __init__(self, engine: EngineConfig):
        if engine.replicas < 1 or engine.max_seqs < 1 or engine.token_budget < 1:
            raise AccelsageError("replicas, max_seqs and token_budget must be at least 1")
        self.decode = [self._replica(i, engine, engine.policy_for(), engine.kv_capacity_tokens)
                       for i in range(engine.replicas)]
        self.prefill: list[Replica] = []
        if engine.policy == "disaggregated":
            n = len(self.decode)
            self.prefill = [self._replica(n + i, engine, PrefillOnly(engine.token_budget), math.inf, hands_off=True)
                            for i in range(max(engine.prefill_replicas, 1))]
        self.entry = self.prefill or self.decode
        self.all = self.decode + self.prefill

    def _replica(self, index: int, engine: EngineConfig, policy: Policy, capacity: float,
                 hands_off: bool = False) -> Replica:
        replica = Replica(index, capacity, engine.block_tokens if policy.paged else 1, engine.max_seqs,
                          policy.paged, hands_off)
        replica.policy = policy
        return replica

    @staticmethod
    def least_loaded(pool: list[Replica]) -> Replica:
        return min(pool, key=lambda r: (r.outstanding, r.index))


def default_warmup(load: Load, requests: int) -> int:
    """Requests left out of the statistics at the start: a tenth of the run, and at least the first closed-loop
    wave (all clients start together)."""
    if isinstance(load, Trace):
        return 0
    first_wave = load.concurrency if isinstance(load, ClosedLoop) else 0
    return max(requests // 10, first_wave)


def simulate(engine: EngineConfig, cost: IterationCost, load: Load, lengths: Lengths = Lengths(),
             requests: int = 1000, warmup: int | None = None, seed: int = 0, slo: Slo | None = None) -> ServingStats:
    """Serve a load on the engine and measure its steady state.

    Args:
        engine: policy, KV capacity and layout of the engine.
        cost: seconds per iteration (the cost model, or a fake in tests).
        load: closed loop, Poisson or trace.
        lengths: request lengths (a trace brings its own).
        requests: requests measured (a trace: at most its length minus the warm-up).
        warmup: requests left out first; default :func:`default_warmup`.
        seed: seeds lengths and arrivals: the same seed gives the same result.
        slo: targets for goodput.
    Returns:
        ServingStats over the measured requests. Load keeps coming (closed-loop clients keep sending, Poisson
        arrivals keep arriving) until the last measured request ends, so the measurement has no drain tail.
    """
    if requests < 1:
        raise AccelsageError("requests must be at least 1")
    warmup = default_warmup(load, requests) if warmup is None else warmup
    if isinstance(load, Trace):
        limit = len(load.rows)
        if warmup >= limit:
            raise AccelsageError(f"warm-up ({warmup}) leaves none of the trace's {limit} requests to measure")
        requests = min(requests, limit - warmup)
        max_output = max(row[2] for row in load.rows)
    else:
        limit = warmup + 2 * requests + (load.concurrency if isinstance(load, ClosedLoop) else 0)
        max_output = lengths.max_output_tokens
    return _Run(engine, cost, RequestSource(load, lengths, seed, limit), warmup, requests, max_output).run(slo)


class _Run:
    """State of one simulation: the event heap, the pools and the jobs."""

    def __init__(self, engine: EngineConfig, cost: IterationCost, source: RequestSource, warmup: int,
                 requests: int, max_output: int):
        self.engine, self.cost, self.source = engine, cost, source
        self.closed = isinstance(source.load, ClosedLoop)
        self.measured_ids = range(warmup, warmup + requests)
        self.warmup = warmup
        self.pools = _Pools(engine)
        self.max_output = max_output
        self.heap: list[tuple[float, bool, int, int, object]] = []
        self.seq = 0
        self.left = requests
        self.measured: list[Job] = []
        self.finished: list[tuple[float, Job]] = []
        self.link_free = {r.index: 0.0 for r in self.pools.prefill}
        self.frontend = FrontEnd(engine.tokenize_s_per_token)

    def push(self, time_s: float, kind: int, payload: object) -> None:
        # at one instant, wake-ups come after every other event (even ones pushed later), in insertion order
        heapq.heappush(self.heap, (time_s, kind == WAKE, self.seq, kind, payload))
        self.seq += 1

    def run(self, slo: Slo | None) -> ServingStats:
        if self.closed:
            for _ in range(self.source.load.concurrency):
                self._send(0.0)
        else:
            self._send(None)
        while self.left > 0:
            if not self.heap:
                raise RuntimeError("serving simulation stalled with measured requests unfinished")
            now, _, _, kind, payload = heapq.heappop(self.heap)
            if kind == ARRIVE:
                if not self.closed:
                    self._send(None)
                if self.frontend.enabled:
                    self._front_end_next(self.frontend.arrive(payload, now))
                else:
                    self._arrive(payload, now)
            elif kind == TOKENIZE:
                batch, ready = self.frontend.start(now)
                self.push(ready, TOKENIZED, batch)
            elif kind == TOKENIZED:
                for req in payload:
                    self._arrive(req, now)
                self._front_end_next(self.frontend.finish(now))
            elif kind == DONE:
                self._iteration_done(*payload, now)
            elif kind == WAKE:
                payload.wake_pending = False
                if not payload.busy:
                    self._start(payload, now)
            else:
                job, replica = payload
                job.first_token_s = job.first_token_s if job.first_token_s is not None else now
                job.last_token_s = now
                self._enqueue(replica, job, now)
        return summarise(self.measured, self.finished, self.pools.all, self.warmup, slo)

    def _front_end_next(self, start_s: float | None) -> None:
        if start_s is not None:
            self.push(start_s, TOKENIZE, None)

    def _send(self, now: float | None) -> None:
        req = self.source.next(now)
        if req is not None:
            self.push(req.arrival_s, ARRIVE, req)

    def _new_job(self, req: Request) -> Job:
        e = self.engine
        cached = min(int(req.prompt_tokens * e.prefix_hit_rate), req.prompt_tokens - 1)
        if e.no_evict and e.policy == "paged" and not e.prefill_first:
            # blocks for the prompt and the whole output the request may ask for (a benchmark client's max_tokens)
            reserve = -(-(req.prompt_tokens + req.output_tokens) // e.block_tokens) * e.block_tokens
        else:
            reserve = e.reserve_tokens or req.prompt_tokens + self.max_output
        job = Job(req, req.id in self.measured_ids, ctx=cached, target=req.prompt_tokens, reserve=reserve)
        if job.measured:
            self.measured.append(job)
        return job

    def _arrive(self, req: Request, now: float) -> None:
        self._enqueue(self.pools.least_loaded(self.pools.entry), self._new_job(req), now)

    def _enqueue(self, replica: Replica, job: Job, now: float) -> None:
        if not replica.fits_alone(job):
            job.rejected = True
            self._finish(job, now)
            return
        replica.waiting.append(job)
        if not replica.busy:
            self._wake(replica, now)
        elif len(replica.batch.ends) > 1 and replica.policy.name != "static":
            self._cut_run(replica, now)  # static batching: arrivals wait for the whole batch anyway

    def _start(self, replica: Replica, now: float) -> None:
        batch = replica.policy.plan(replica, now)
        if batch is None:
            return
        replica.start(batch, now)
        decode_seqs, context, *prefill = replica.shape(batch)
        end = now + self.cost.time_s(decode_seqs, context, *prefill)
        if batch.decode and not batch.prefill:
            end = self._decode_run(replica, batch, decode_seqs, context, end)
        replica.run_token += 1
        self.push(end, DONE, (replica, replica.run_token))

    def _decode_run(self, replica: Replica, batch: Batch, decode_seqs: int, context: float, end: float) -> float:
        """Plan decode-only steps back to back in one event until a decoder finishes or the KV would overflow;
        work that arrives meanwhile cuts the run at the step then in flight (see :meth:`_enqueue`), so the
        result equals one event a step."""
        ends = [end]
        # every decoder's context grows by one token a step
        for seconds in decode_run_s(self.cost, decode_seqs, context + 1, replica.decode_run_limit() - 1):
            end += seconds
            ends.append(end)
        batch.ends = ends
        return end

    def _cut_run(self, replica: Replica, now: float) -> None:
        """New work for a replica in a run of decode steps: end the run with the step in flight at `now`."""
        ends = replica.batch.ends
        keep = bisect.bisect_left(ends, now) + 1
        if keep < len(ends):
            del ends[keep:]
            replica.run_token += 1
            self.push(ends[-1], DONE, (replica, replica.run_token))

    def _iteration_done(self, replica: Replica, token: int, now: float) -> None:
        if token != replica.run_token:
            return  # a run that was cut short ends at another event
        finished, handed = replica.complete(now)
        for job in finished:
            self._finish(job, now)
        for job in handed:
            self._transfer(replica, job, now)
        if finished and self.closed:
            self._wake(replica, now)  # plan once the clients' next requests (sent now) are in
        else:
            self._start(replica, now)

    def _wake(self, replica: Replica, now: float) -> None:
        """Plan the replica's next iteration after every other event at this instant: requests that arrive
        together are batched together."""
        if not replica.wake_pending:
            replica.wake_pending = True
            self.push(now, WAKE, replica)

    def _transfer(self, source: Replica, job: Job, now: float) -> None:
        """Send a prefilled job's KV to the least-loaded decode instance over the prefill instance's link."""
        e = self.engine
        begin = max(now, self.link_free[source.index])
        arrive = begin + e.kv_transfer_latency_s + job.ctx * e.kv_transfer_s_per_token
        self.link_free[source.index] = arrive
        self.push(arrive, KV_ARRIVED, (job, self.pools.least_loaded(self.pools.decode)))

    def _finish(self, job: Job, now: float) -> None:
        self.finished.append((now, job))
        if job.measured:
            self.left -= 1
        if self.closed:
            self._send(now)
