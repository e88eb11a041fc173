"""One engine replica in the serving simulator: its queue, its KV cache and what one iteration does to them.

A batch policy (:mod:`agent.costmodel.scheduler`) decides what the next iteration runs; the replica applies
it. Decoding sequences advance in lockstep (every decode iteration gives each of them one token), so they
are kept lazily: a sequence's output count follows from the replica's decode-step counter, its finish is a
heap entry, and the replica keeps only the sum of their contexts. An iteration then costs work in
proportion to the requests that start, finish or are preempted, not to the batch size.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

from agent.costmodel.arrivals import Request


@dataclass(eq=False)
class Job:
    """A request inside the engine.

    ``ctx`` is the context whose KV is stored while the job is not decoding; ``target`` is the context its
    current prefill must reach (the prompt, or prompt plus output so far when a preempted job is recomputed).
    """

    req: Request
    measured: bool
    ctx: int
    target: int
    reserve: int                    # KV tokens a contiguous cache holds for it from admission to finish
    generated: int = 0              # output tokens so far (while decoding: as of joining, see Replica.generated)
    join_step: int = 0
    epoch: int = 0                  # bumped on preemption: stale finish-heap entries are skipped
    first_token_s: float | None = None
    last_token_s: float = 0.0
    finish_s: float | None = None
    preemptions: int = 0
    rejected: bool = False

    @property
    def prompt_left(self) -> int:
        return self.target - self.ctx


@dataclass
class Batch:
    """What one iteration runs: prefill chunks (job, tokens) and, when ``decode``, one token for every decoder."""

    prefill: list[tuple[Job, int]] = field(default_factory=list)
    decode: bool = False
    padded_seqs: int = 0      # static batching: sequences that occupy the batch, finished or not
    padded_prompt: int = 0    # static batching: every prompt padded to the longest
    ends: list[float] = field(default_factory=list)  # a run of decode-only steps: when each one ends


@dataclass
class ReplicaLog:
    """What the statistics need from one replica: per-iteration times, tokens and KV, and the ITL samples."""

    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    kv_used: list[float] = field(default_factory=list)   # mean over the iteration (a run of steps grows it)
    kv_top: list[float] = field(default_factory=list)    # at its last step
    # a decode iteration gives every measured sequence that was already decoding one gap of (end - last end)
    itl_gaps: list[float] = field(default_factory=list)
    itl_weights: list[int] = field(default_factory=list)
    itl_samples: list[float] = field(default_factory=list)  # gaps of sequences that just joined or resumed
    preemption_times: list[float] = field(default_factory=list)


class Replica:
    """Queue, running set and KV cache of one engine instance (tp x pp GPUs).

    Args:
        kv_capacity: KV tokens the instance holds (``inf`` for a prefill pool that hands KV on at once).
        block_tokens: paged-KV block; a sequence wastes half a block on average. 1: exact tokens.
        max_seqs: most sequences running at once (vLLM --max-num-seqs).
        paged: KV grows with the context (paged); otherwise each job reserves ``Job.reserve`` at admission.
        hands_off: a prefill-pool instance: a job leaves as soon as its prompt is prefilled.
    """

    def __init__(self, index: int, kv_capacity: float, block_tokens: int, max_seqs: int, paged: bool,
                 hands_off: bool = False):
        self.index = index
        self.kv_capacity = kv_capacity
        self.waste = block_tokens / 2 if block_tokens > 1 else 0.0
        self.max_seqs = max_seqs
        self.paged = paged
        self.hands_off = hands_off
        self.waiting: deque[Job] = deque()
        self.prefilling: list[Job] = []
        self.decoding: dict[int, Job] = {}  # in admission order: the last one is preempted first
        self._finishes: list[tuple[int, int, int, Job]] = []
        self._joiners: list[tuple[Job, int]] = []
        self.steps = 0             # decode iterations run
        self.sum_ctx = 0           # context of all decoders, as of `steps`
        self.measured_decoders = 0
        self.kv_held = 0.0         # KV outside the decoders' lazily grown contexts
        self.last_decode_end: float | None = None
        self.busy = False
        self.wake_pending = False  # a plan is due at this instant, once every simultaneous event is in
        self.policy = None         # set by the simulator: plans this replica's iterations
        self.batch: Batch | None = None
        self.run_token = 0         # identifies the DONE event of the iteration in flight
        self._started = 0.0
        self.log = ReplicaLog()

    # --- what the policies read ---------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return len(self.prefilling) + len(self.decoding)

    @property
    def outstanding(self) -> int:
        return len(self.waiting) + self.running

    @property
    def kv_used(self) -> float:
        if self.paged:
            return self.kv_held + self.sum_ctx + len(self.decoding) * self.waste
        return self.kv_held

    def kv_free(self) -> float:
        return self.kv_capacity - self.kv_used

    def generated(self, job: Job) -> int:
        """Output tokens of a decoding job so far."""
        return job.generated + self.steps - job.join_step

    def admission_kv(self, job: Job, tokens: int) -> float:
        """KV a waiting job needs to start with `tokens` of prompt (contiguous: its whole reservation)."""
        return job.ctx + tokens + self.waste if self.paged else job.reserve

    def fits_alone(self, job: Job) -> bool:
        """Whether the job can ever run here: its whole life in an empty cache."""
        if self.paged:
            return job.req.prompt_tokens + job.req.output_tokens + self.waste <= self.kv_capacity
        return job.reserve <= self.kv_capacity

    # --- what the policies change ---------------------------------------------------------------------------
    def admit(self, job: Job) -> None:
        """Waiting -> running, holding KV for what it has (paged) or its whole reservation (contiguous)."""
        self.kv_held += job.ctx + self.waste if self.paged else job.reserve
        if job.prompt_left > 0:
            self.prefilling.append(job)
        else:  # arrived with its KV (disaggregated decode pool): decodes from this iteration on
            self._join(job)

    def schedule_prefill(self, job: Job, tokens: int) -> tuple[Job, int]:
        """Claim KV for `tokens` more prompt tokens of a running job."""
        if self.paged:
            self.kv_held += tokens
        return job, tokens

    def make_room(self, tokens: float, now: float) -> None:
        """Preempt the most recently admitted jobs (their KV is dropped and recomputed later) until `tokens` fit."""
        while self.kv_used + tokens > self.kv_capacity and self.running > 1:
            if self.prefilling:
                self._preempt(self.prefilling.pop(), now, was_decoding=False)
            else:
                self._preempt(self.decoding.pop(next(reversed(self.decoding))), now, was_decoding=True)

    def _preempt(self, job: Job, now: float, was_decoding: bool) -> None:
        """Drop a running job's KV and put it first in the queue; its prompt and output so far are recomputed."""
        if was_decoding:
            done = self.generated(job)
            if job.join_step < self.steps:  # it decoded since joining: its last token came with the last step
                job.last_token_s = self.last_decode_end
            self.sum_ctx -= job.req.prompt_tokens + done
            self.measured_decoders -= job.measured
            job.generated = done
            if not self.paged:
                self.kv_held -= job.reserve
        else:
            self._release(job)
        job.ctx, job.target = 0, job.req.prompt_tokens + job.generated
        job.epoch += 1
        job.preemptions += 1
        self.waiting.appendleft(job)
        self.log.preemption_times.append(now)

    def _release(self, job: Job) -> None:
        """Free the KV of a job that is not decoding."""
        self.kv_held -= job.ctx + self.waste if self.paged else job.reserve

    def _join(self, job: Job) -> None:
        """Start decoding: the job's context moves into the lazily grown decode sum."""
        if self.paged:
            self.kv_held -= job.ctx + self.waste
        job.join_step = self.steps
        self.decoding[job.req.id] = job
        self.sum_ctx += job.req.prompt_tokens + job.generated
        self.measured_decoders += job.measured
        heapq.heappush(self._finishes,
                       (self.steps + job.req.output_tokens - job.generated, job.req.id, job.epoch, job))
        self._joiners.append((job, job.epoch))

    # --- one iteration --------------------------------------------------------------------------------------
    def shape(self, batch: Batch) -> tuple[int, float, int, int, float]:
        """The iteration's batch as the cost model sees it (see ``IterationCost.time_s``)."""
        n = len(self.decoding) if batch.decode else 0
        decode_seqs = max(batch.padded_seqs, n) if n else 0
        context = self.sum_ctx / n if n else 0.0
        if not batch.prefill:
            return decode_seqs, context, 0, 0, 0.0
        seqs = len(batch.prefill)
        if batch.padded_prompt:
            end = max(job.ctx + tokens for job, tokens in batch.prefill)
            return decode_seqs, context, seqs * batch.padded_prompt, seqs, float(end)
        tokens = sum(t for _, t in batch.prefill)
        end = sum((job.ctx + t) * t for job, t in batch.prefill) / tokens
        return decode_seqs, context, tokens, seqs, end

    def decode_run_limit(self) -> int:
        """Decode-only steps that can follow one another unchanged from now: up to and including the step at
        which the next decoder finishes, and no more than the free KV lets every decoder grow (paged)."""
        heap = self._finishes
        while heap and (heap[0][3].epoch != heap[0][2] or heap[0][1] not in self.decoding):
            heapq.heappop(heap)  # entries of preempted jobs
        limit = heap[0][0] - self.steps if heap else 1
        if self.paged and self.decoding and math.isfinite(self.kv_capacity):
            limit = min(limit, int(self.kv_free() // len(self.decoding)))
        return max(limit, 1)

    def start(self, batch: Batch, now: float) -> None:
        self.busy, self.batch, self._started = True, batch, now
        self.log.kv_used.append(self.kv_used)

    def complete(self, end: float) -> tuple[list[Job], list[Job]]:
        """Apply the iteration (or run of decode steps) in flight at its end.

        Returns:
            (finished jobs, jobs handed to the decode pool).
        """
        batch, finished, handed = self.batch, [], []
        tokens = 0
        log = self.log
        if batch.decode and self.decoding:
            ends = batch.ends or [end]
            tokens += len(self.decoding) * len(ends)
            growth = len(self.decoding) * (len(ends) - 1) if self.paged else 0
            log.kv_used[-1] += growth / 2
            log.kv_top.append(log.kv_used[-1] + growth / 2)
            self._decode_steps(ends, finished)
        else:
            log.kv_top.append(log.kv_used[-1])
        for job, chunk in batch.prefill:
            job.ctx += chunk
            if job.ctx < job.target:
                continue
            self.prefilling.remove(job)
            tokens += 1  # the forward that completes a prompt yields the next token
            job.generated += 1
            if job.generated > 1 and job.measured:  # a recomputed job resumes
                log.itl_samples.append(end - job.last_token_s)
            if job.first_token_s is None and not (self.hands_off and job.generated < job.req.output_tokens):
                job.first_token_s = end
            job.last_token_s = end
            if job.generated >= job.req.output_tokens:
                self._release(job)
                job.finish_s = end
                finished.append(job)
            elif self.hands_off:
                self._release(job)
                handed.append(job)
            else:
                self._join(job)
        log.starts.append(self._started)
        log.ends.append(end)
        log.tokens.append(tokens)
        self.busy, self.batch = False, None
        return finished, handed

    def _decode_steps(self, ends: list[float], finished: list[Job]) -> None:
        """Every decoder gets one token at each of `ends`; jobs that reach their output length finish."""
        first, log = ends[0], self.log
        continuing = self.measured_decoders
        if self._joiners:
            joined = [job for job, epoch in self._joiners if job.epoch == epoch and job.req.id in self.decoding]
            continuing -= sum(job.measured for job in joined)
            log.itl_samples.extend(first - job.last_token_s for job in joined if job.measured)
            self._joiners = []
        if continuing and self.last_decode_end is not None:
            log.itl_gaps.append(first - self.last_decode_end)
            log.itl_weights.append(continuing)
        if len(ends) > 1 and self.measured_decoders:
            log.itl_gaps.extend(b - a for a, b in zip(ends, ends[1:]))
            log.itl_weights.extend([self.measured_decoders] * (len(ends) - 1))
        self.steps += len(ends)
        self.sum_ctx += len(self.decoding) * len(ends)
        end = self.last_decode_end = ends[-1]
        heap = self._finishes
        while heap and heap[0][0] <= self.steps:
            _, rid, epoch, job = heapq.heappop(heap)
            if job.epoch != epoch or rid not in self.decoding:
                continue
            del self.decoding[rid]
            self.sum_ctx -= job.req.prompt_tokens + job.req.output_tokens
            self.measured_decoders -= job.measured
            if not self.paged:
                self.kv_held -= job.reserve
            job.generated = job.req.output_tokens
            job.finish_s = job.last_token_s = end
            finished.append(job)
