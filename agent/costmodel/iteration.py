"""Time of one engine iteration for the serving simulator: the cost model's roofline, remembered on a coarse grid.

A simulation of 10k requests runs tens of thousands of iterations; each roofline evaluation costs ~50 us, so
they are remembered on a grid: values up to 16 exactly, larger counts and contexts on a geometric grid of
12 steps per doubling (a value snapped to it moves by at most 3%, well inside the model's own uncertainty; the
prompt tokens and the decode context are interpolated between grid points instead). A result depends only on
the grid, never on which iteration first asked for a point.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Protocol

from agent.costmodel.forward import Setup
from agent.costmodel.phases import iteration_time

EXACT_BELOW = 16
STEPS_PER_DOUBLING = 12


class IterationCost(Protocol):
    """Seconds one iteration of one replica takes for its batch."""

    def time_s(self, decode_seqs: int, decode_context: float, prefill_tokens: int = 0, prefill_seqs: int = 0,
               prefill_context: float = 0.0) -> float:
        """Args: decode sequences and their mean context; prefill tokens, the prompts they belong to and the
        mean position their chunks end at."""
        ...


def decode_run_s(cost: IterationCost, decode_seqs: int, context: float, steps: int) -> list[float]:
    """Durations of `steps` decode-only iterations back to back, each decoder one token longer each step
    (a cost may offer a faster ``decode_run_s`` of its own)."""
    own = getattr(cost, "decode_run_s", None)
    if own is not None:
        return own(decode_seqs, context, steps)
    return [cost.time_s(decode_seqs, context + i) for i in range(steps)]


def on_grid(x: float) -> float:
    """``x`` moved to the memo grid: whole numbers up to 16, then 12 geometric steps per doubling."""
    return _grid_point(int(x + 0.5))


@lru_cache(maxsize=1 << 16)
def _grid_point(n: int) -> float:
    if n <= EXACT_BELOW:
        return float(n)
    return round(2 ** (round(math.log2(n) * STEPS_PER_DOUBLING) / STEPS_PER_DOUBLING), 3)


def between_grid(x: float) -> tuple[float, float, float]:
    """(grid point at or below ``x``, grid point at or above, weight of the upper one) for linear interpolation."""
    return _bracket(int(x + 0.5))


@lru_cache(maxsize=1 << 16)
def _bracket(n: int) -> tuple[float, float, float]:
    if n <= EXACT_BELOW:
        return float(n), float(n), 0.0
    k = math.log2(n) * STEPS_PER_DOUBLING
    lo = round(2 ** (math.floor(k) / STEPS_PER_DOUBLING), 3)
    hi = round(2 ** (math.ceil(k) / STEPS_PER_DOUBLING), 3)
    return lo, hi, (n - lo) / (hi - lo) if hi > lo else 0.0


class CostModelIterations:
    """Iteration times of one replica from :func:`agent.costmodel.phases.iteration_time`, remembered per grid point.

    The two values that move an iteration's time most, the prompt tokens it computes and the decoders' context,
    are interpolated linearly between their neighbouring grid points (so a prompt of 5000 tokens costs what 5000
    do, not what the nearest grid point does); decode and prefill sequence counts and the prefill context are
    taken at their grid point.
    """

    def __init__(self, setup: Setup):
        self.setup = setup
        self._memo: dict[tuple, float] = {}
        # KV eviction keeps at most this many tokens per sequence: decode attends to no more (as in `evaluate`)
        self._context_cap = setup.knobs.kv_budget_tokens or math.inf

    def _at(self, key: tuple) -> float:
        seconds = self._memo.get(key)
        if seconds is None:
            seconds = self._memo[key] = iteration_time(self.setup, *key).total_s
        return seconds

    def _decode(self, seqs: float, context: float) -> float:
        lo, hi, w = between_grid(min(context, self._context_cap))
        low = self._at((seqs, lo))
        return low + w * (self._at((seqs, hi)) - low) if w else low

    def time_s(self, decode_seqs: int, decode_context: float, prefill_tokens: int = 0, prefill_seqs: int = 0,
               prefill_context: float = 0.0) -> float:
        seqs = on_grid(decode_seqs)
        if not prefill_tokens:
            return self._decode(seqs, decode_context)
        if decode_seqs:
            c_lo, c_hi, c_w = between_grid(min(decode_context, self._context_cap))
        else:
            c_lo = c_hi = 0.0
            c_w = 0.0
        t_lo, t_hi, t_w = between_grid(prefill_tokens)
        rest = (on_grid(prefill_seqs), on_grid(prefill_context))

        def at_tokens(tokens: float) -> float:
            low = self._at((seqs, c_lo, tokens, *rest))
            return low + c_w * (self._at((seqs, c_hi, tokens, *rest)) - low) if c_w else low

        low = at_tokens(t_lo)
        return low + t_w * (at_tokens(t_hi) - low) if t_w else low

    def decode_run_s(self, decode_seqs: int, context: float, steps: int) -> list[float]:
        """Durations of `steps` decode steps from `context` on (each decoder one token longer each step)."""
        seqs, decode = on_grid(decode_seqs), self._decode
        return [decode(seqs, context + i) for i in range(steps)]

    @property
    def evaluations(self) -> int:
        """Distinct grid points evaluated so far."""
        return len(self._memo)
