"""The serving front end in the simulator: the API server that turns each request's text into tokens before
the engine can schedule it.

An OpenAI-compatible server tokenizes prompts on the CPU before handing them to the engine. vLLM's server does it
in micro-batches on one worker thread (vllm/utils/async_utils.py, AsyncMicrobatchTokenizer: the requests pending
when a batch starts, at most 32, gathered for up to 2 ms after the first, encoded in one call on a single-thread
executor). So requests that arrive together reach the engine together, a little later, and a request that
arrives while a batch is being tokenized waits for it. TTFT is measured from the client's send, so this time is
in it. Assumed: NIM and other OpenAI-compatible servers tokenize the same way with the same Hugging Face
tokenizers; a batch costs the sum of its prompts' tokens at the single-core rate (no gain from batching counted).
Offline benchmarks that feed token ids (trtllm-bench, the analytical estimate) have no such stage.
"""

from __future__ import annotations

from collections import deque

from agent.costmodel.arrivals import Request

# Seconds to tokenize one prompt token on one CPU core: 100k tokens in about 220 ms (~450k tokens/s), measured
# with vLLM 0.19's tokenizer path (A. Luo, "CPU-GPU co-design for agentic inference on MI300X", 2026-05-14,
# https://andyluo7.github.io/llm/amd/mi300x/vllm/lmcache/performance/2026/05/14/cpu-gpu-codesign-agentic-inference-mi300x/,
# key summary). The same post finds JSON parsing, hashing and detokenization tiny next to it; they are not counted.
TOKENIZE_S_PER_TOKEN = 0.220 / 100_000
# vLLM's AsyncMicrobatchTokenizer defaults: max_batch_size 32, batch_wait_timeout_s 0.002
TOKENIZE_BATCH_MAX = 32
TOKENIZE_BATCH_WAIT_S = 0.002


class FrontEnd:
    """One API server's tokenizer thread: a queue of requests, tokenized in micro-batches one after another.

    Args:
        s_per_token: CPU seconds per prompt token (0: the front end takes no time and is skipped).
        batch_max: most requests tokenized in one batch.
        wait_s: how long a batch waits after its first request for others to join.
    """

    def __init__(self, s_per_token: float = 0.0, batch_max: int = TOKENIZE_BATCH_MAX,
                 wait_s: float = TOKENIZE_BATCH_WAIT_S):
        self.s_per_token, self.batch_max, self.wait_s = s_per_token, batch_max, wait_s
        self.queue: deque[tuple[float, Request]] = deque()
        self.busy = False
        self.start_pending = False

    @property
    def enabled(self) -> bool:
        return self.s_per_token > 0

    def arrive(self, req: Request, now_s: float) -> float | None:
        """Queue a request sent at `now_s`; returns when a batch should start if none is running or due."""
        self.queue.append((now_s, req))
        if self.busy or self.start_pending:
            return None
        self.start_pending = True
        return now_s + self.wait_s

    def start(self, now_s: float) -> tuple[list[Request], float]:
        """Take the next batch; returns its requests and when their tokens are ready."""
        batch = [self.queue.popleft()[1] for _ in range(min(self.batch_max, len(self.queue)))]
        self.busy, self.start_pending = True, False
        return batch, now_s + sum(r.prompt_tokens for r in batch) * self.s_per_token

    def finish(self, now_s: float) -> float | None:
        """The batch in flight is done; returns when the next one should start, if requests are waiting."""
        self.busy = False
        if not self.queue:
            return None
        self.start_pending = True
        return max(now_s, self.queue[0][0] + self.wait_s)
