"""Prefill, decode and mixed steps of one replica, pipeline stages and speculation included."""

from __future__ import annotations

import math

from agent.costmodel import comm
from agent.costmodel.forward import Setup, attention_op, comm_op, elementwise_op, forward_time, gemm_op, with_offload
from agent.costmodel.roofline import PhaseTime, time_ops


def _pipeline(s: Setup, stage: PhaseTime, micro: int, tokens_per_micro: float) -> PhaseTime:
    """Time for `micro` micro-batches through pp stages: (m + p - 1) stage slots plus stage-boundary sends."""
    pp = s.parallel.pp
    if pp == 1:
        return stage.scaled(micro)
    out = stage.scaled(micro + pp - 1)
    send = comm.p2p_s(tokens_per_micro * s.shape.hidden_size * s.knobs.act_bytes, s.rates.link_gb_s)
    out.by_term["communication"] += (pp - 1) * send
    out.total_s += (pp - 1) * send
    return out


def prefill_time(s: Setup, seqs: int, prompt_len: int) -> PhaseTime:
    """Prefill of `seqs` prompts processed together (prefix-cache hits skip their tokens)."""
    k = s.knobs
    new = max(prompt_len * (1 - k.prefix_hit_rate), 1.0)
    cached = prompt_len - new
    if k.chunk_tokens and new > k.chunk_tokens:
        chunks = math.ceil(new / k.chunk_tokens)
        mid = cached + new / 2 + k.chunk_tokens / 2
        stage = forward_time(s, seqs, k.chunk_tokens, mid, decode=False)
        return _pipeline(s, stage, chunks, seqs * k.chunk_tokens)
    micro = max(seqs, 1) if s.parallel.pp > 1 else 1  # each prompt its own micro-batch through the stages
    stage = forward_time(s, seqs / micro, new, prompt_len, decode=False)
    return _pipeline(s, stage, micro, seqs / micro * new)


def decode_step_time(s: Setup, seqs: int, context: float, q_len: int = 1) -> PhaseTime:
    """One decode (or verify, q_len > 1) step for `seqs` sequences: pp stage slots in sequence."""
    pp = s.parallel.pp
    micro = max(min(seqs, pp), 1)
    stage = forward_time(s, seqs / micro, q_len, context + q_len - 1, decode=True)
    if pp == 1:
        return stage
    out = stage.scaled(pp)
    send = comm.p2p_s(seqs / micro * q_len * s.shape.hidden_size * s.knobs.act_bytes, s.rates.link_gb_s)
    out.by_term["communication"] += (pp - 1) * send
    out.total_s += (pp - 1) * send
    return out


def expected_tokens_per_step(acceptance: float, draft_tokens: int) -> float:
    """Expected tokens one speculative verify step yields: (1 - a^(k+1)) / (1 - a)."""
    if acceptance >= 1:
        return draft_tokens + 1.0
    return (1 - acceptance ** (draft_tokens + 1)) / (1 - acceptance)


def token_step_time(s: Setup, seqs: int, context: float) -> tuple[PhaseTime, float]:
    """(time of one generation step, tokens it yields per sequence), speculation included."""
    base = decode_step_time(s, seqs, context)
    if not s.knobs.speculative:
        return base, 1.0
    a, k, ratio, verified = s.knobs.speculative
    verify = decode_step_time(s, seqs, context, q_len=verified)  # every candidate of the draft, chain or tree
    draft = base.scaled(k * ratio)
    return verify.plus(draft), expected_tokens_per_step(a, k)


def mixed_step_time(s: Setup, seqs: int, context: float, prefill_tokens: float, prompt_len: int) -> PhaseTime:
    """A chunked-prefill step: the decode batch and `prefill_tokens` of a prompt share one weight read."""
    if prefill_tokens <= 0:
        return decode_step_time(s, seqs, context)
    pp = s.parallel.pp
    ops = [
        gemm_op(s, 1, seqs + prefill_tokens, False, seqs + prefill_tokens),
        attention_op(s, seqs, 1, context, True),
        attention_op(s, 1, prefill_tokens, prompt_len / 2 + prefill_tokens / 2, False),
        elementwise_op(s, 1, seqs + prefill_tokens, False),
    ]
    if s.parallel.tp > 1 or s.parallel.ep > 1:
        ops.append(comm_op(s, 1, seqs + prefill_tokens, False, s.rates.link_gb_s))
    stage = with_offload(s, time_ops(ops, s.rates, s.knobs.overhead_factor, s.knobs.comm_hidden_fraction))
    return stage.scaled(pp) if pp > 1 else stage


def iteration_time(s: Setup, decode_seqs: float, decode_context: float, prefill_tokens: float = 0.0,
                   prefill_seqs: float = 0.0, prefill_context: float = 0.0) -> PhaseTime:
    """One engine iteration of one replica: a decode batch and prefill chunks in one forward (the simulator's step).

    Args:
        s: the estimate setup.
        decode_seqs: sequences generating one token each.
        decode_context: their mean context (tokens attended to).
        prefill_tokens: prompt tokens computed in this iteration, all chunks together.
        prefill_seqs: prompts those tokens belong to.
        prefill_context: mean position the chunks end at (cached tokens plus the chunk: the keys attended to).
    Returns:
        The iteration's roofline time. Decode only: :func:`token_step_time` per token yielded (speculation
        spread evenly over the tokens). Prefill only: the unchunked forward of :func:`prefill_time`.
        Mixed: one weight read for all tokens, the LM head once per sequence (unlike :func:`mixed_step_time`,
        which counts it once per step).
    """
    if prefill_tokens <= 0:
        step, per_step = token_step_time(s, decode_seqs, decode_context)
        return step.scaled(1 / per_step) if per_step != 1 else step
    seqs_p = max(prefill_seqs, 1.0)
    q_len = prefill_tokens / seqs_p
    if decode_seqs <= 0:
        micro = seqs_p if s.parallel.pp > 1 else 1.0  # each prompt its own micro-batch through the stages
        stage = forward_time(s, seqs_p / micro, q_len, prefill_context, decode=False)
        return _pipeline(s, stage, micro, seqs_p / micro * q_len)
    seqs, tokens = decode_seqs + seqs_p, decode_seqs + prefill_tokens
    ops = [
        gemm_op(s, seqs, tokens / seqs, False, tokens),
        attention_op(s, decode_seqs, 1, decode_context, True),
        attention_op(s, seqs_p, q_len, prefill_context, False),
        elementwise_op(s, 1, tokens, False),
    ]
    if s.parallel.tp > 1 or s.parallel.ep > 1:
        ops.append(comm_op(s, 1, tokens, False, s.rates.link_gb_s))
    stage = time_ops(ops, s.rates, s.knobs.overhead_factor, s.knobs.comm_hidden_fraction)
    return stage.scaled(s.parallel.pp) if s.parallel.pp > 1 else stage
