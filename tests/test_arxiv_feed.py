"""The arXiv feed against the fake server: batching, retries, malformed entries, titles, allow-list."""

from __future__ import annotations

import httpx
import pytest
from fake_arxiv import FakeArxiv, FakePaper, fake_arxiv, make_feed  # noqa: F401 (fixture)

from ingest.arxiv_feed import ArxivFeed, normalise_title, split_id, title_ratio
from ingest.transport import FetchError, HostNotAllowed


class SleepLog:
    """Records requested sleeps instead of waiting; paired with a frozen clock."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(round(seconds, 6))


def _extra_papers(n: int) -> list[FakePaper]:
    return [FakePaper(arxiv_id=f"2501.{10000 + i}", title=f"Extra paper number {i}", topic=f"topic {i}") for i in range(n)]


def test_metadata_has_latest_versions(fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.bump("2307.08691")
    batch = make_feed(fake_arxiv).fetch_metadata(["2406.16858", "2307.08691v1"])
    assert {i: p.version for i, p in batch.papers.items()} == {"2406.16858": "v1", "2307.08691": "v2"}
    assert batch.papers["2307.08691"].pdf_url.endswith("/pdf/2307.08691v2")
    assert batch.papers["2406.16858"].first_author == "Lovelace"
    assert batch.skipped == {}


@pytest.mark.parametrize("page_size, n_ids, calls", [(2, 5, 3), (100, 101, 2), (500, 150, 2)])
def test_id_lookups_are_batched(fake_arxiv: FakeArxiv, page_size: int, n_ids: int, calls: int) -> None:
    extra = _extra_papers(n_ids)
    fake_arxiv.add(*extra)
    batch = make_feed(fake_arxiv, page_size=page_size).fetch_metadata([p.arxiv_id for p in extra])
    assert len(batch.papers) == n_ids
    assert fake_arxiv.counts["api:id_list"] == calls


@pytest.mark.parametrize(
    "script, sleeps",
    [
        ([429], [0.5]),
        ([503, 502], [0.5, 1.0]),
        (["empty"], [0.5]),
        (["empty", 429, "empty"], [0.5, 1.0, 2.0]),
    ],
)
def test_retries_with_exponential_backoff(fake_arxiv: FakeArxiv, script: list, sleeps: list[float]) -> None:
    fake_arxiv.enqueue("api", *script)
    sleep = SleepLog()
    feed = make_feed(fake_arxiv, backoff_s=0.5, sleep=sleep)
    batch = feed.fetch_metadata(["2406.16858"])
    assert list(batch.papers) == ["2406.16858"]
    assert sleep.calls == sleeps
    assert fake_arxiv.counts["api"] == len(script) + 1


def test_retries_used_up_skip_the_batch_with_a_reason(fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.enqueue("api", 429, 429)
    batch = make_feed(fake_arxiv, retries=1).fetch_metadata(["2406.16858"])
    assert batch.papers == {}
    assert "giving up" in batch.skipped["2406.16858"] and "HTTP 429" in batch.skipped["2406.16858"]


def test_non_retryable_status_is_not_retried(fake_arxiv: FakeArxiv) -> None:
    feed = make_feed(fake_arxiv)
    with pytest.raises(FetchError, match="HTTP 404"):
        feed.download_pdf(f"{fake_arxiv.base_url}/pdf/9999.99999v1")
    assert fake_arxiv.counts["pdf"] == 1


@pytest.mark.parametrize("kind, reason", [("no-dates", "no usable entry"), ("no-pdf", "no PDF link")])
def test_malformed_entry_is_skipped_with_reason(fake_arxiv: FakeArxiv, kind: str, reason: str) -> None:
    fake_arxiv.papers["2307.08691"].malformed = kind
    batch = make_feed(fake_arxiv).fetch_metadata(["2406.16858", "2307.08691", "2309.06180"])
    assert sorted(batch.papers) == ["2309.06180", "2406.16858"]
    assert list(batch.skipped) == ["2307.08691"] and reason in batch.skipped["2307.08691"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("EAGLE-2: Faster Inference!", "eagle 2 faster inference"),
        ("  Attention   Is All\nYou Need ", "attention is all you need"),
        ("Régularisation naïve", "regularisation naive"),
        ("FP8-LM: (Training) FP8 LLMs", "fp8 lm training fp8 llms"),
    ],
)
def test_normalise_title(raw: str, expected: str) -> None:
    assert normalise_title(raw) == expected


@pytest.mark.parametrize(
    "query_title, accepted",
    [
        ("EAGLE-2: Faster Inference of Language Models with Dynamic Draft Trees", "2406.16858"),
        ("eagle 2 - faster inference of language models with dynamic draft-trees", "2406.16858"),
        ("EAGLE-2: Fäster Inference of Language Models with Dynamic Draft Tree", "2406.16858"),
        ("EAGLE-3: Scaling up Inference Acceleration of Large Language Models via Training-Time Test", None),
        ("Dynamic Trees", None),
        ("Completely unrelated quantum chemistry", None),
    ],
)
def test_title_search_accepts_only_close_matches(fake_arxiv: FakeArxiv, query_title: str, accepted: str | None) -> None:
    match = make_feed(fake_arxiv).resolve_title(query_title)
    assert match.arxiv_id == accepted
    if accepted is None:
        assert match.reason.startswith("unresolved")
    else:
        assert match.ratio >= 0.9
    assert any(path.startswith("/api/query?search_query=ti%3A") for path in fake_arxiv.log)


def test_title_ratio_is_symmetric_in_formatting() -> None:
    assert title_ratio("FlashAttention-2", "flashattention 2") == 1.0


def test_watch_query_returns_newest_first(fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.add(
        FakePaper("2502.00001", "Older watched paper", "old topic", published="2025-02-01T00:00:00Z", watch=True),
        FakePaper("2503.00002", "Newer watched paper", "new topic", published="2025-03-01T00:00:00Z", watch=True),
    )
    found = make_feed(fake_arxiv).watch('abs:"speculative decoding"', max_results=5)
    assert [p.arxiv_id for p in found] == ["2503.00002", "2502.00001"]
    assert "sortBy=submittedDate" in fake_arxiv.log[-1]


def test_api_host_must_be_allowed(fake_arxiv: FakeArxiv) -> None:
    with pytest.raises(HostNotAllowed, match="not in the allowed hosts"):
        ArxivFeed(fake_arxiv.api_url, ["export.arxiv.org"], delay_s=0)
    assert fake_arxiv.counts["api"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example.com/pdf/2406.16858v1",
        "file:///etc/passwd",
        "http://127.0.0.1.evil.example.com/x.pdf",
    ],
)
def test_foreign_pdf_url_is_refused_without_fetching(fake_arxiv: FakeArxiv, url: str) -> None:
    with pytest.raises(HostNotAllowed, match="refusing to fetch"):
        make_feed(fake_arxiv).download_pdf(url)
    assert fake_arxiv.log == []


def test_redirect_to_foreign_host_is_refused(fake_arxiv: FakeArxiv) -> None:
    feed = make_feed(fake_arxiv)
    with pytest.raises(HostNotAllowed, match="evil.example.com"):
        feed.download_pdf(f"{fake_arxiv.base_url}/redirect?to=http://evil.example.com/x.pdf")
    local = f"{fake_arxiv.base_url}/pdf/2406.16858v1"
    assert feed.download_pdf(f"{fake_arxiv.base_url}/redirect?to={local}").startswith(b"%PDF")
    assert fake_arxiv.counts["redirect"] == 2 and fake_arxiv.counts["pdf"] == 1


def test_politeness_delay_between_every_request(fake_arxiv: FakeArxiv) -> None:
    sleep = SleepLog()
    feed = make_feed(fake_arxiv, delay_s=0.2, sleep=sleep, clock=lambda: 100.0)
    meta = feed.fetch_metadata(["2406.16858"]).papers["2406.16858"]
    feed.download_pdf(meta.pdf_url)
    feed.resolve_title("Dynamic Trees")
    # A frozen clock means no time passes: each later request waits the full delay. (The arxiv
    # client's own pacing sleeps on the real clock before API pages; it never shortens ours.)
    assert sleep.calls == [0.2, 0.2]


def test_one_keep_alive_connection(fake_arxiv: FakeArxiv) -> None:
    feed = make_feed(fake_arxiv)
    batch = feed.fetch_metadata(["2406.16858", "2307.08691"])
    for paper in batch.papers.values():
        feed.download_pdf(paper.pdf_url)
    feed.resolve_title("FlashAttention-2")
    assert len(fake_arxiv.client_ports) == 4 and len(set(fake_arxiv.client_ports)) == 1


@pytest.mark.parametrize(
    "raw, expected",
    [("2406.16858v2", ("2406.16858", "v2")), ("2406.16858", ("2406.16858", None)), ("cs/0112017v1", ("cs/0112017", "v1"))],
)
def test_split_id(raw: str, expected: tuple[str, str | None]) -> None:
    assert split_id(raw) == expected


def test_split_id_rejects_slugs() -> None:
    with pytest.raises(ValueError):
        split_id("deepseek-v3-2-exp")


def test_shared_http_client_cannot_bypass_the_allow_list(fake_arxiv: FakeArxiv) -> None:
    with httpx.Client(follow_redirects=True) as http:
        feed = make_feed(fake_arxiv, http=http)
        with pytest.raises(HostNotAllowed):
            feed.download_pdf(f"{fake_arxiv.base_url}/redirect?to=http://evil.example.com/x.pdf")


@pytest.mark.parametrize("action", ["oversized", "unsized"])
def test_a_download_over_the_size_limit_is_refused_and_not_retried(fake_arxiv: FakeArxiv, action: str) -> None:
    feed = make_feed(fake_arxiv, max_bytes=1_000_000)
    fake_arxiv.enqueue("pdf", action)
    with pytest.raises(FetchError, match="1 MB download limit"):
        feed.download_pdf(f"{fake_arxiv.base_url}/pdf/2406.16858v1")
    assert fake_arxiv.counts["pdf"] == 1
    # the connection is still usable: the next download (under the limit) arrives whole
    assert feed.download_pdf(f"{fake_arxiv.base_url}/pdf/2406.16858v1").startswith(b"%PDF")


def test_the_size_limit_counts_the_bytes_sent(fake_arxiv: FakeArxiv) -> None:
    pdf = fake_arxiv.pdf_bytes(fake_arxiv.papers["2406.16858"])
    url = f"{fake_arxiv.base_url}/pdf/2406.16858v1"
    assert make_feed(fake_arxiv, max_bytes=len(pdf)).download_pdf(url) == pdf
    with pytest.raises(FetchError, match="download limit"):
        make_feed(fake_arxiv, max_bytes=len(pdf) - 1).download_pdf(url)


def test_a_compressed_download_arrives_decoded(fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.enqueue("pdf", "gzip")
    pdf = fake_arxiv.pdf_bytes(next(iter(fake_arxiv.papers.values())))
    assert make_feed(fake_arxiv).download_pdf(f"{fake_arxiv.base_url}/pdf/2406.16858v1") == pdf


def test_a_transport_that_hands_the_body_over_read_is_still_capped() -> None:
    body = b"%PDF-1.4 " + b"0" * 2000
    mock = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)))
    feed = ArxivFeed("http://127.0.0.1/api/query", ["127.0.0.1"], delay_s=0, http=mock, max_bytes=len(body))
    assert feed.download_pdf("http://127.0.0.1/pdf/1") == body
    feed.transport.max_bytes = len(body) - 1
    with pytest.raises(FetchError, match="download limit"):
        feed.download_pdf("http://127.0.0.1/pdf/1")
