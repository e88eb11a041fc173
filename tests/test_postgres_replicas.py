"""Two `accelsage serve` replicas on one PostgreSQL store: the same answers, and no failed query through a refresh.

Each replica is a process with its own state directory (its own FAISS index); the refresh runs in a
third process with a state directory of its own, as the refresh job on another machine would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from corpus_fixtures import write_card
from pg_helpers import free_port, pg_url, refresh_in_child, start_serve  # noqa: F401  (pg_url is a fixture)

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data"
QUESTION = "Llama-3-70B on 2x H100, 8k-token prompts, 512 output tokens, latency matters: what should we use?"
NEW_CARD_QUERY = "quantised mixture of experts routing keeps every expert on one GPU"
START_TIMEOUT_S = 120
PICKUP_TIMEOUT_S = 90
PAPERS = [
    {"id": "2406.16858", "title": "EAGLE-2: Faster Inference of Language Models with Dynamic Draft Trees",
     "arxiv_id": "2406.16858", "first_author": "Li", "year": 2024, "topic": "speculative-decoding", "kind": "paper",
     "card": "2406.16858.md"},
    {"id": "megakernel-blog", "title": "A Blog Post About One Fused Decoding Kernel", "kind": "blog",
     "card": "megakernel-blog.md"},
]


def _write_cards(cards: Path) -> None:
    write_card(cards, "2406.16858", PAPERS[0]["title"], {
        "Problem": "Drafting a fixed tree of candidate tokens wastes verification work on unlikely branches.",
        "Idea": "The draft tree grows where the draft model is confident, using its scores as acceptance estimates.",
    })
    write_card(cards, "megakernel-blog", PAPERS[1]["title"], {
        "Problem": "Launching many small kernels per decoding step leaves the GPU idle between launches.",
        "Idea": "One persistent kernel runs the whole forward pass of a decoding step.",
    })


def _refresh(root: Path, cards: Path, papers: list[dict], url: str) -> None:
    child = refresh_in_child(root, cards, papers, url)
    out, _ = child.communicate(timeout=300)
    assert child.returncode == 0, out


def _wait_ready(base: str, process) -> None:  # noqa: ANN001
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            ready = httpx.get(f"{base}/readyz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.3)
            continue
        assert ready.status_code == 200, f"replica {base} is up but not ready: {ready.text}"
        return
    output = process.stdout.read().decode() if process.poll() is not None else "(still running)"
    raise AssertionError(f"replica {base} never became ready: {output[-2000:]}")


def _answer(client: httpx.Client, base: str) -> dict:
    response = client.post(f"{base}/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200, response.text
    answer = response.json()
    answer.pop("timings_ms", None)  # how long each stage took differs from process to process
    return answer


def _top_paper(client: httpx.Client, base: str, query: str) -> str | None:
    response = client.get(f"{base}/v1/search", params={"q": query, "k": 3})
    response.raise_for_status()
    hits = response.json()["hits"]
    return hits[0]["paper_id"] if hits else None


class _Traffic:
    """Questions and searches sent to every replica in a loop, counting failures, until stopped."""

    def __init__(self, bases: list[str]) -> None:
        self.bases = bases
        self.sent = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                for base in self.bases:
                    for method, path, options in (
                        ("POST", "/v1/ask", {"json": {"question": QUESTION}}),
                        ("GET", "/v1/search", {"params": {"q": "dynamic draft tree", "k": 5}}),
                    ):
                        try:
                            status = client.request(method, f"{base}{path}", **options).status_code
                        except httpx.HTTPError as exc:
                            status = f"{exc.__class__.__name__}: {exc}"
                        self.sent += 1
                        if status != 200:
                            self.failures.append(f"{method} {base}{path}: {status}")

    def __enter__(self) -> "_Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(120)


def test_replicas_answer_alike_and_no_query_fails_through_a_refresh(tmp_path, pg_url) -> None:  # noqa: F811
    cards = tmp_path / "cards"
    _write_cards(cards)
    _refresh(tmp_path / "refresh-job", cards, PAPERS, pg_url)
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    replicas = [start_serve(port, home=str(tmp_path / f"replica-{i}"), database_url=pg_url, data_dir=str(DATA),
                            index_watch_s="0.2", answer_processes="0", rate_limit_per_min="0",
                            request_timeout_s="300")  # a replica's first answer embeds the technique profiles
                for i, port in enumerate(ports)]
    try:
        for base, process in zip(bases, replicas):
            _wait_ready(base, process)
        with httpx.Client(timeout=300) as client:
            # both read the shared corpus (an empty SQLite file of their own would find nothing)
            assert [_top_paper(client, base, "dynamic draft tree") for base in bases] == ["2406.16858"] * 2
            first = [_answer(client, base) for base in bases]
            assert first[0] == first[1] and first[0]["recommendations"]
            assert [_top_paper(client, base, NEW_CARD_QUERY) for base in bases] != ["moe-note"] * 2

            write_card(cards, "moe-note", "A Note on Mixture of Experts Routing",
                       {"Idea": "Quantised mixture of experts routing keeps every expert on one GPU."})
            with _Traffic(bases) as traffic:
                _refresh(tmp_path / "refresh-job", cards, PAPERS, pg_url)  # a third process, as on another machine
                deadline = time.monotonic() + PICKUP_TIMEOUT_S
                while [_top_paper(client, base, NEW_CARD_QUERY) for base in bases] != ["moe-note"] * 2:
                    assert time.monotonic() < deadline, "a replica did not pick up the new corpus"
                    time.sleep(0.2)
            assert traffic.failures == [] and traffic.sent > 0
            after = [_answer(client, base) for base in bases]
            assert after[0] == after[1]
    finally:
        for process in replicas:
            process.terminate()
        for process in replicas:
            process.wait(30)
