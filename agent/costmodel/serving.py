"""Serving metrics of one configuration: TTFT, TPOT, latency, throughput, memory, max batch, bounds."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agent.costmodel import comm
from agent.costmodel.forward import Setup
from agent.costmodel.memory import MemoryBreakdown, kv_bytes_per_token_gpu, max_batch, memory_breakdown
from agent.costmodel.phases import decode_step_time, mixed_step_time, prefill_time, token_step_time
from agent.costmodel.roofline import PhaseTime
from agent.costmodel.workload import InferenceWorkload


@dataclass
class Metrics:
    """The numbers one configuration yields (per deployment; memory per GPU)."""

    ttft_ms: float
    tpot_ms: float
    latency_ms: float
    throughput_tokens_per_s: float
    memory: MemoryBreakdown
    max_batch: int
    bound: dict[str, str]
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "ttft_ms": round(self.ttft_ms, 4), "tpot_ms": round(self.tpot_ms, 4),
            "latency_ms": round(self.latency_ms, 3),
            "throughput_tokens_per_s": round(self.throughput_tokens_per_s, 2),
            "memory": self.memory.to_dict(), "max_batch": self.max_batch, "bound": dict(self.bound),
            "breakdown": self.breakdown,
        }


def _terms_ms(phase: PhaseTime) -> dict[str, float]:
    """Per-term milliseconds plus the FLOPs and bytes of the phase (per GPU), for tables and plots."""
    out = {f"{k}_ms": round(v * 1e3, 4) for k, v in phase.by_term.items()}
    out.update(total_ms=round(phase.total_s * 1e3, 4), flops=phase.flops, bytes=phase.bytes)
    return out


def _static(s: Setup, w: InferenceWorkload, seqs: int, context: float):
    """Static batching: the whole batch prefills, then decodes until its longest request ends."""
    prefill = prefill_time(s, seqs, w.prompt_len)
    step, per_step = token_step_time(s, seqs, context)
    tpot = step.total_s / per_step
    # outputs spread uniformly up to twice the mean: the batch runs until its longest request. The prefill
    # forward already yields each request's first token, so decode runs one step fewer than the output length
    # (gptSessionBenchmark's out_tps = output_len x batch / total latency counts that token too)
    longest = w.output_len if w.uniform_lengths else w.output_len * 2 * seqs / (seqs + 1)
    steps = max(longest - 1, 0.0)
    cycle = prefill.total_s + steps * tpot
    return prefill, step, prefill.total_s, tpot, seqs * w.output_len / cycle


def _continuous(s: Setup, w: InferenceWorkload, seqs: int, context: float):
    """Continuous batching: new prompts are prefilled one at a time between decode steps."""
    prefill = prefill_time(s, 1, w.prompt_len)
    step, per_step = token_step_time(s, seqs, context)
    k = s.knobs
    if k.prefill_fraction:
        # the prefill pool batches its share of the arriving prompts into one forward
        group = max(1, round(seqs * k.prefill_fraction))
        pooled = prefill_time(s, group, w.prompt_len).total_s / group
        # disaggregated pools: decode never waits for prefill; each pool has its share of the GPUs
        tpot = step.total_s / per_step
        transfer = comm.p2p_s(w.prompt_len * kv_bytes_per_token_gpu(s.shape, s.counts, k, s.parallel),
                              s.rates.link_gb_s)
        decode_rate = (1 - k.prefill_fraction) * seqs / tpot
        prefill_rate = k.prefill_fraction * w.output_len / pooled
        return prefill, step, prefill.total_s + transfer, tpot, min(decode_rate, prefill_rate)
    if k.chunk_tokens:
        # prompt tokens per decode step: each step yields per_step tokens a sequence, so sequences (and the prompts
        # that replace them) turn over per_step times as fast under speculation
        need = seqs * per_step * w.prompt_len * (1 - k.prefix_hit_rate) / w.output_len
        # the token budget covers the step's decode tokens too (vLLM schedules decodes first, as the simulator does)
        budget = max(k.chunk_tokens - seqs, 1)
        chunk = min(budget, need)
        mixed = mixed_step_time(s, seqs, context, chunk, w.prompt_len)
        plain = decode_step_time(s, seqs, context)
        # prefill rides along the decode weight read: only its marginal cost is added per step
        marginal = max(mixed.total_s - plain.total_s, 0.0) * need / chunk
        tpot = (step.total_s + marginal) / per_step
        ttft = math.ceil(w.prompt_len * (1 - k.prefix_hit_rate) / budget) * mixed.total_s
        return prefill, mixed, ttft, tpot, seqs / tpot
    # a step yields per_step tokens a sequence; every output_len tokens a sequence leaves and a prompt is prefilled
    tpot = step.total_s / per_step + seqs / w.output_len * prefill.total_s
    return prefill, step, prefill.total_s, tpot, seqs / tpot


def evaluate(s: Setup, w: InferenceWorkload) -> Metrics:
    """Metrics of one configuration for the workload (the batch is shared evenly by dp replicas)."""
    dp = s.parallel.dp
    seqs = -(-w.batch // dp)
    context = w.prompt_len + w.output_len / 2
    if s.knobs.kv_budget_tokens:
        context = min(context, s.knobs.kv_budget_tokens)
    schedule = _continuous if s.knobs.continuous_batching else _static
    prefill, step, ttft_s, tpot_s, rate = schedule(s, w, seqs, context)
    memory = memory_breakdown(s.shape, s.split, s.counts, s.knobs, w, s.parallel, s.hw.capacity_gb)
    biggest = max_batch(s.shape, s.split, s.counts, s.knobs, w, s.parallel, s.hw.capacity_gb)
    return Metrics(
        ttft_ms=ttft_s * 1e3,
        tpot_ms=tpot_s * 1e3,
        latency_ms=(ttft_s + (w.output_len - 1) * tpot_s) * 1e3,
        throughput_tokens_per_s=rate * dp * min(w.batch / (seqs * dp), 1.0),
        memory=memory,
        max_batch=biggest,
        bound={"prefill": prefill.bound, "decode": step.bound},
        breakdown={"prefill": _terms_ms(prefill), "decode_step": _terms_ms(step)},
    )
