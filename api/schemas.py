"""Request and response bodies of the HTTP API (our own pydantic models; the answer itself is ``agent.answer.Answer``).

Every size a client controls has a bound here, so a huge or odd value is a 422 before any work starts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.answer import Answer

PHASES = ("serving", "offline-batch", "edge", "pre-training", "fine-tuning")
OBJECTIVES = ("ttft", "tpot", "latency", "throughput", "memory", "cost", "quality")
# Bounds on numbers a client sends: far above any real deployment, low enough that nothing overflows.
MAX_TOKENS = 10_000_000
MAX_GPUS = 4096  # the same cap as agent/costmodel/workload.WORKLOAD_RANGES
MAX_BATCH = 1_000_000
# a simulated estimate runs within the request time limit: ~1.5 s of CPU per 10k requests
MAX_SIM_REQUESTS = 20_000
MAX_SIM_CONCURRENCY = 10_000
Tokens = Annotated[int, Field(ge=1, le=MAX_TOKENS)]
NAME_CHARS = 200


class ErrorDetail(BaseModel):
    """What went wrong, in one line, and its kind (validation_error, not_found, rate_limited, ...)."""

    message: str
    type: str


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"message", "type"}}``."""

    error: ErrorDetail


class WorkloadFields(BaseModel):
    """Explicit workload facts; each one set here wins over what the question says."""

    gpu: str | None = Field(None, max_length=NAME_CHARS, description="GPU id or alias, e.g. 'H100', 'A100 80GB'.")
    gpus: int | None = Field(None, ge=1, le=MAX_GPUS, description="Number of GPUs.")
    model: str | None = Field(None, max_length=NAME_CHARS, description="Model id or alias, e.g. 'llama-3.1-70b'.")
    prompt_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="Prompt/context tokens per request.")
    output_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="Output tokens per request.")
    batch: int | None = Field(None, ge=1, le=MAX_BATCH, description="Concurrent requests or sequences per step.")
    qps: float | None = Field(None, gt=0, le=1e7, description="Requests per second.")
    phase: Literal[PHASES] | None = Field(None, description="What the GPUs do.")  # type: ignore[valid-type]
    objective: Literal[OBJECTIVES] | None = Field(None, description="What to improve.")  # type: ignore[valid-type]
    framework: str | None = Field(None, max_length=NAME_CHARS, description="Framework in use, e.g. 'vllm'.")
    lossless: bool | None = Field(None, description="Only techniques that keep outputs unchanged.")
    no_retraining: bool | None = Field(None, description="Only techniques that need no (re)training.")

    def overrides(self) -> dict[str, Any]:
        """The set fields, named as ``Answerer.answer(overrides=...)`` expects."""
        values = self.model_dump(exclude_none=True, include=set(WorkloadFields.model_fields))
        if "gpus" in values:
            values["gpu_count"] = values.pop("gpus")
        # False means "no constraint", the same as leaving the flag off on the command line.
        return {k: v for k, v in values.items() if v is not False}


class AskRequest(WorkloadFields):
    """A question plus optional explicit workload fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "question": "Llama-3.1-70B on 2x H100, 8k prompts, 64 users: how do I cut TTFT?", "gpu": "H100"}]})

    question: str = Field(..., min_length=1, max_length=20_000, description="The question, in English.")


class ChatRequest(WorkloadFields):
    """One turn of a server-side conversation."""

    message: str = Field(..., min_length=1, max_length=20_000, description="This turn's question or follow-up.")
    session_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{8,64}$", description="Continue this session; omit to start a new one.")
    stream: bool = Field(False, description="Stream progress and the answer as server-sent events.")


class ChatResponse(BaseModel):
    """The answer to one chat turn and the session to continue it."""

    session_id: str
    turn: int
    answer: Answer
    markdown: str


class SearchHit(BaseModel):
    """One retrieved passage."""

    chunk_id: int
    paper_id: str
    arxiv_id: str | None
    title: str
    text: str
    page: int | None
    section: str | None
    source: str
    score: float
    lexical_rank: int | None
    dense_rank: int | None
    url: str | None = Field(None, description="https://arxiv.org/abs/<id> when the paper is on arXiv.")


class SearchResponse(BaseModel):
    """Hits for a query, best first."""

    query: str
    mode: str
    hits: list[SearchHit]


class PaperOut(BaseModel):
    """A paper in the corpus (store row), the techniques it backs and its arXiv link."""

    paper_id: str
    arxiv_id: str | None = None
    title: str = ""
    first_author: str | None = None
    year: int | None = None
    venue: str | None = None
    topic: str | None = None
    kind: str | None = None
    version: str | None = None
    source: str | None = None
    updated_at: str | None = None
    url: str | None = None
    techniques: list[str] = Field(default_factory=list)
    chunks: int | None = Field(None, description="Passages of this paper in the corpus (detail view only).")


class ListEnvelope(BaseModel):
    """A list in the OpenAI-style envelope, so generic clients (and ``openai.models.list()``) read it."""

    object: Literal["list"] = "list"
    data: list[Any]


class EstimateRequest(BaseModel):
    """The inputs of `accelsage estimate`, as JSON."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"gpu": "H100", "model": "llama-3.1-8b", "batch": 8,
                                                              "techniques": ["flash-attention-2"]}]})

    gpu: str = Field(..., min_length=1, max_length=NAME_CHARS, description="GPU id or alias.")
    model: str = Field(..., min_length=1, max_length=NAME_CHARS, description="Model id or alias.")
    gpus: int = Field(1, ge=1, le=4096, description="GPUs in the deployment.")
    tp: int = Field(1, ge=1, le=4096, description="Tensor-parallel size.")
    pp: int = Field(1, ge=1, le=4096, description="Pipeline-parallel stages.")
    ep: int = Field(1, ge=1, le=4096, description="Expert-parallel size (MoE).")
    dtype: str = Field("bf16", max_length=16, description="Weights: bf16, fp16, fp8, int8, int4.")
    kv_dtype: str | None = Field(None, max_length=16, description="KV cache: bf16, fp8, int8, int4.")
    batch: int = Field(1, ge=1, le=MAX_BATCH, description="Concurrent requests (whole deployment).")
    prompt: int = Field(1024, ge=1, le=MAX_TOKENS, description="Prompt tokens per request.")
    output: int = Field(256, ge=1, le=MAX_TOKENS, description="Output tokens per request.")
    max_seq_len: int | None = Field(None, ge=1, le=2 * MAX_TOKENS, description="Tokens a contiguous KV cache reserves.")
    techniques: list[Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]] = Field(
        default_factory=list, max_length=32, description="Technique ids/aliases, in order.")
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Technique param overrides: {technique: {name: value}}.")
    peak_only: bool = Field(False, description="Plain roofline: spec peaks, no efficiencies or overheads.")
    # load: with `concurrency` or `qps` the final configuration is simulated (the JSON of `--concurrency`/`--qps`)
    concurrency: int | None = Field(None, ge=1, le=MAX_SIM_CONCURRENCY,
                                    description="Simulate this many closed-loop clients; `batch` defaults to it.")
    qps: float | None = Field(None, gt=0, le=1e6, description="Simulate Poisson arrivals at this many requests/s.")
    lengths: Literal["spread", "fixed"] | None = Field(
        None, description="Simulated lengths: spread (uniform ±50% around prompt/output) or fixed; default spread, "
                          "fixed with uniform_lengths.")
    length_pairs: list[tuple[Tokens, Tokens]] | None = Field(
        None, min_length=1, max_length=10_000,
        description="Simulated (prompt, output) lengths, used in order (the CLI's --lengths FILE).")
    uniform_lengths: bool = Field(False, description="All requests exactly prompt/output long (static-batch runs).")
    requests: int = Field(1000, ge=1, le=MAX_SIM_REQUESTS, description="Requests the simulation measures.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the simulated lengths and arrivals.")
    slo_ttft_ms: float | None = Field(None, gt=0, description="TTFT target for the simulated goodput.")
    slo_tpot_ms: float | None = Field(None, gt=0, description="TPOT target for the simulated goodput.")


class RefreshRequest(BaseModel):
    """What a refresh covers."""

    arxiv: bool = Field(False, description="Also fetch arXiv metadata, full text and watch queries.")


class RefreshJob(BaseModel):
    """A refresh started through the API: its state and, once done, the run report."""

    run_id: str
    status: Literal["queued", "running", "ok", "partial", "error", "busy", "interrupted"]
    trigger: str = Field(..., description="'api' or 'schedule'.")
    arxiv: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    store_run_id: int | None = Field(None, description="The id of this run in the store's refresh_runs table.")
    message: str | None = None
    report: dict[str, Any] | None = None
    status_url: str | None = None


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
