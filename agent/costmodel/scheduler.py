"""Batch policies of the serving simulator: what a replica runs in its next iteration.

Each policy looks at one replica (:class:`agent.costmodel.replica.Replica`) when it is free, admits waiting
jobs, preempts when the KV cache runs out, and returns the :class:`Batch` of the next iteration (or None
when there is nothing to run). Queues are first come, first served; an admission that does not fit stops
the queue (no overtaking), as in vLLM.
"""

from __future__ import annotations

import math
from typing import Protocol

from agent.costmodel.replica import Batch, Job, Replica

POLICIES = ("static", "continuous", "paged", "chunked", "disaggregated")

# Tokens one iteration may carry when prompts go in whole: TensorRT-LLM's default max_num_tokens (8192).
# A prompt longer than this still goes, alone.
PREFILL_TOKEN_BUDGET = 8192

# Free KV a paged engine keeps when admitting new prompts, so running sequences can still grow:
# vLLM's block-manager watermark (0.01 of the blocks).
ADMISSION_WATERMARK = 0.01


class Policy(Protocol):
    """Plans the next iteration of one replica."""

    name: str
    paged: bool

    def plan(self, r: Replica, now: float) -> Batch | None: ...


def admit_whole_prompts(r: Replica, budget: int, watermark: float = 0.0,
                        growth: float = 0.0) -> list[tuple[Job, int]]:
    """Admit waiting jobs in order while their KV, the batch size and the token budget allow; whole prompts
    (the first one even when it alone exceeds the budget).

    Args:
        budget: prompt tokens this iteration may take.
        watermark: share of the KV kept free when admitting beside running jobs.
        growth: KV the running decoders take this iteration.
    Jobs that arrive with their KV (disaggregated decode pool) join the decoders instead of prefilling.
    """
    picked: list[tuple[Job, int]] = []
    tokens = 0
    while r.waiting and r.running < r.max_seqs:
        job = r.waiting[0]
        need = job.prompt_left
        if picked and tokens + need > budget:
            break
        reserve = watermark * r.kv_capacity if r.running else 0.0  # an empty replica takes any job that fits
        if r.admission_kv(job, need) > r.kv_free() - growth - reserve:
            break
        r.waiting.popleft()
        r.admit(job)
        if need > 0:
            picked.append(r.schedule_prefill(job, need))
            tokens += need
    return picked


class Static:
    """Static batching: a batch forms when the replica is free, prefills together (prompts padded to the
    longest) and decodes until its longest request ends; arrivals meanwhile wait for the next batch."""

    name, paged = "static", False

    def __init__(self) -> None:
        self.batch_size = 0

    def plan(self, r: Replica, now: float) -> Batch | None:
        if r.decoding:
            return Batch(decode=True, padded_seqs=self.batch_size)
        picked = admit_whole_prompts(r, budget=1 << 62)
        if not picked:
            return None
        self.batch_size = len(picked)
        return Batch(prefill=picked, padded_seqs=len(picked), padded_prompt=max(t for _, t in picked))


class Continuous:
    """Continuous (iteration-level) batching, Orca-style: every iteration carries all running decoders plus the
    whole prompts of newly admitted requests, within a token budget that counts the decode tokens too (Orca's
    selective batching; TensorRT-LLM's in-flight batching with max_num_tokens). A contiguous cache reserves
    the longest output at admission, so nothing is ever preempted.

    Args:
        token_budget: tokens one iteration may carry, decode tokens included.
        prefill_first: vLLM before V1 instead: new prompts get iterations of their own and the decoders wait.
    """

    name, paged, watermark = "continuous", False, 0.0

    def __init__(self, token_budget: int = PREFILL_TOKEN_BUDGET, prefill_first: bool = False):
        self.token_budget, self.prefill_first = token_budget, prefill_first

    def plan(self, r: Replica, now: float) -> Batch | None:
        if self.prefill_first:
            picked = admit_whole_prompts(r, self.token_budget, self.watermark)
            if picked:
                return Batch(prefill=picked)
            if not r.decoding:
                return None
            r.make_room(len(r.decoding) if r.paged else 0, now)
            return Batch(decode=True)
        growth = len(r.decoding) if r.paged else 0
        r.make_room(growth, now)
        picked = admit_whole_prompts(r, self.token_budget - len(r.decoding), self.watermark, growth)
        if not picked and not r.decoding:
            return None
        return Batch(prefill=picked, decode=bool(r.decoding))


class Paged(Continuous):
    """Continuous batching on a paged KV cache (vLLM, TensorRT-LLM): KV grows block by block, prompts are
    admitted while free blocks last (above a watermark), and when the decoders' next tokens find no free
    block the most recently admitted sequence is preempted and later recomputed."""

    name, paged = "paged", True

    def __init__(self, token_budget: int = PREFILL_TOKEN_BUDGET, prefill_first: bool = False,
                 watermark: float = ADMISSION_WATERMARK):
        super().__init__(token_budget, prefill_first)
        self.watermark = watermark


class NoEvict(Continuous):
    """TensorRT-LLM in-flight batching under its default capacity policy, GUARANTEED_NO_EVICT: a request is
    admitted only when the paged blocks for its whole life (prompt plus max_tokens) fit beside what every running
    request may still grow to, so a started request is never paused or recomputed (TensorRT-LLM performance
    tuning guide, "Useful Runtime Options", Capacity Scheduler Policy: GUARANTEED_NO_EVICT is the default;
    MAX_UTILIZATION packs more and may pause). The replica books each job's ``reserve`` (its prompt and output
    rounded up to whole blocks, see the simulator) at admission, as a contiguous cache does."""

    name = "paged"


class Chunked:
    """Chunked prefill (Sarathi-Serve; vLLM V1's default): each iteration has a token budget; every decoder
    gets its token first, the rest goes to prompt chunks in arrival order, so a long prompt never stalls the
    decoders for more than one budget. On a paged cache the most recently admitted job is preempted when
    the decoders' next tokens find no free block."""

    name = "chunked"

    def __init__(self, token_budget: int, paged: bool = True):
        self.token_budget, self.paged = token_budget, paged

    def plan(self, r: Replica, now: float) -> Batch | None:
        decoders = len(r.decoding)
        growth = decoders if r.paged else 0  # a contiguous cache reserved the growth at admission
        r.make_room(growth, now)
        left = self.token_budget - decoders
        room = r.kv_free() - growth if r.paged else math.inf  # KV left for prompt tokens
        parts: list[tuple[Job, int]] = []
        for job in r.prefilling:
            chunk = int(min(job.prompt_left, left, room))
            if chunk <= 0:
                break
            parts.append(r.schedule_prefill(job, chunk))
            left -= chunk
            room -= chunk
        while r.waiting and left > 0 and r.running < r.max_seqs:
            job = r.waiting[0]
            after = room - r.admission_kv(job, 0) if r.paged else r.kv_free() - job.reserve
            chunk = int(min(job.prompt_left, left, after if r.paged else math.inf))
            if after < 0 or (job.prompt_left and chunk <= 0):
                break
            r.waiting.popleft()
            r.admit(job)
            if r.paged:
                room = after
            if chunk > 0:
                parts.append(r.schedule_prefill(job, chunk))
                left -= chunk
                room -= chunk
            elif r.paged:
                room -= 1  # joined the decoders: one more token this iteration
        if not parts and not r.decoding:
            return None
        return Batch(prefill=parts, decode=bool(r.decoding))


class PrefillOnly:
    """The prefill pool of a disaggregated deployment: whole prompts in arrival order, batched up to the token
    budget; each job leaves with its KV once its prompt is done (the replica hands it to a decode instance)."""

    name, paged = "prefill", False

    def __init__(self, token_budget: int = PREFILL_TOKEN_BUDGET):
        self.token_budget = token_budget

    def plan(self, r: Replica, now: float) -> Batch | None:
        picked = admit_whole_prompts(r, self.token_budget)
        return Batch(prefill=picked) if picked else None
