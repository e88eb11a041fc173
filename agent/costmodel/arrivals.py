"""What the serving simulator is fed: request lengths and when requests arrive.

Lengths and arrival gaps come from separate seeded streams (``random.Random``), so the same seed gives the
same requests whatever the load, and changing the QPS does not change the lengths.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from index.errors import AccelsageError

LENGTH_KINDS = ("fixed", "uniform", "lognormal", "list")

# a lognormal draw is clipped at this many times its median, so one freak request does not dominate a run
LOGNORMAL_CLIP = 8.0


@dataclass(frozen=True)
class Request:
    """One request: when it arrives (None until a closed-loop client sends it) and its lengths in tokens."""

    id: int
    arrival_s: float | None
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Lengths:
    """How request lengths are drawn.

    Args:
        kind: ``fixed`` (every request the means), ``uniform`` (each length uniform within ±spread of its mean),
            ``lognormal`` (mean kept, ``spread`` is sigma of the log) or ``list`` (``pairs`` in order, repeated).
        prompt_tokens: mean prompt length.
        output_tokens: mean output length.
        spread: relative half-width (uniform) or sigma (lognormal).
        pairs: (prompt, output) pairs for ``list``.
    """

    kind: str = "fixed"
    prompt_tokens: int = 1024
    output_tokens: int = 256
    spread: float = 0.5
    pairs: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in LENGTH_KINDS:
            raise AccelsageError(f"lengths must be one of {', '.join(LENGTH_KINDS)}, got {self.kind!r}")
        if self.kind == "list" and not self.pairs:
            raise AccelsageError("a length list needs at least one (prompt, output) pair")
        if any(p < 1 or o < 1 for p, o in self.pairs) or self.prompt_tokens < 1 or self.output_tokens < 1:
            raise AccelsageError("prompt and output lengths must be at least 1")
        if not 0 <= self.spread < (1 if self.kind == "uniform" else 3):
            raise AccelsageError(f"length spread {self.spread} out of range")

    @property
    def max_output_tokens(self) -> int:
        """The longest output a request can ask for (what an engine without paging reserves KV for)."""
        if self.kind == "list":
            return max(o for _, o in self.pairs)
        if self.kind == "uniform":
            return math.floor(self.output_tokens * (1 + self.spread) + 0.5)
        if self.kind == "lognormal":
            return math.ceil(self.output_tokens * LOGNORMAL_CLIP)
        return self.output_tokens

    def describe(self) -> str:
        if self.kind == "uniform":
            return f"uniform ±{self.spread:.0%} around {self.prompt_tokens}/{self.output_tokens}"
        if self.kind == "lognormal":
            return f"lognormal (sigma {self.spread:g}) around {self.prompt_tokens}/{self.output_tokens}"
        if self.kind == "list":
            return f"{len(self.pairs)} listed (prompt, output) pairs, in order"
        return f"fixed {self.prompt_tokens}/{self.output_tokens}"

    def draw(self, seed: int) -> Iterator[tuple[int, int]]:
        """An endless, seeded stream of (prompt, output) lengths."""
        rng = random.Random(f"lengths-{seed}")
        index = 0
        while True:
            if self.kind == "list":
                yield self.pairs[index % len(self.pairs)]
            elif self.kind == "uniform":
                yield self._uniform(rng, self.prompt_tokens), self._uniform(rng, self.output_tokens)
            elif self.kind == "lognormal":
                yield self._lognormal(rng, self.prompt_tokens), self._lognormal(rng, self.output_tokens)
            else:
                yield self.prompt_tokens, self.output_tokens
            index += 1

    def _uniform(self, rng: random.Random, mean: int) -> int:
        return max(1, math.floor(rng.uniform(mean * (1 - self.spread), mean * (1 + self.spread)) + 0.5))

    def _lognormal(self, rng: random.Random, mean: int) -> int:
        mu = math.log(mean) - self.spread ** 2 / 2  # keeps the mean at `mean`
        value = min(rng.lognormvariate(mu, self.spread), math.exp(mu) * LOGNORMAL_CLIP)
        return max(1, math.floor(value + 0.5))


def read_lengths_file(path: Path) -> tuple[tuple[int, int], ...]:
    """Pairs from a file of ``prompt,output`` lines (blank lines and ``#`` comments skipped)."""
    pairs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.replace(";", ",").split(",")]
        try:
            prompt, output = (int(f) for f in fields)
        except ValueError:
            raise AccelsageError(f"{path}:{number}: want 'prompt,output' in tokens, got {line!r}") from None
        if prompt < 1 or output < 1:
            raise AccelsageError(f"{path}:{number}: lengths must be at least 1")
        pairs.append((prompt, output))
    if not pairs:
        raise AccelsageError(f"{path}: no 'prompt,output' lines")
    return tuple(pairs)


@dataclass(frozen=True)
class ClosedLoop:
    """``concurrency`` clients, each sending its next request the moment its previous one finishes."""

    concurrency: int

    def describe(self) -> str:
        return f"closed loop, concurrency {self.concurrency}"


@dataclass(frozen=True)
class Poisson:
    """Open-loop arrivals at ``qps`` requests per second, exponential gaps."""

    qps: float

    def describe(self) -> str:
        return f"Poisson arrivals at {self.qps:g} requests/s"


@dataclass(frozen=True)
class Trace:
    """Given arrivals: (arrival_s, prompt_tokens, output_tokens) rows, taken in arrival order; their lengths win."""

    rows: tuple[tuple[float, int, int], ...]

    def describe(self) -> str:
        return f"trace of {len(self.rows)} requests"


Load = ClosedLoop | Poisson | Trace


def check_load(load: Load) -> None:
    """Reject loads that cannot be simulated."""
    if isinstance(load, ClosedLoop) and load.concurrency < 1:
        raise AccelsageError("concurrency must be at least 1")
    if isinstance(load, Poisson) and not load.qps > 0:
        raise AccelsageError("qps must be positive")
    if isinstance(load, Trace):
        if not load.rows:
            raise AccelsageError("a trace needs at least one request")
        if any(a < 0 or p < 1 or o < 1 for a, p, o in load.rows):
            raise AccelsageError("trace rows want arrival_s >= 0 and lengths >= 1")


class RequestSource:
    """Hands out requests in id order: open-loop ones with their arrival times, closed-loop ones without.

    Args:
        load: closed loop, Poisson or trace.
        lengths: how lengths are drawn (ignored for a trace).
        seed: seeds the length and arrival streams.
        limit: most requests handed out (a trace stops at its end).
    """

    def __init__(self, load: Load, lengths: Lengths, seed: int, limit: int):
        check_load(load)
        self.load = load
        self._lengths = lengths.draw(seed)
        self._gaps = random.Random(f"arrivals-{seed}")
        self._next_id = 0
        self._clock_s = 0.0
        self._rows = sorted(load.rows) if isinstance(load, Trace) else ()
        self.limit = min(limit, len(self._rows)) if isinstance(load, Trace) else limit

    @property
    def exhausted(self) -> bool:
        return self._next_id >= self.limit

    def next(self, now_s: float | None = None) -> Request | None:
        """The next request; a closed-loop one arrives at ``now_s`` (when its client sends it)."""
        if self.exhausted:
            return None
        rid = self._next_id
        self._next_id += 1
        if isinstance(self.load, Trace):
            arrival, prompt, output = self._rows[rid]
            return Request(rid, float(arrival), int(prompt), int(output))
        prompt, output = next(self._lengths)
        if isinstance(self.load, Poisson):
            self._clock_s += self._gaps.expovariate(self.load.qps)
            return Request(rid, self._clock_s, prompt, output)
        return Request(rid, now_s, prompt, output)
