"""arXiv metadata, title resolution, watch queries and PDF download through one polite transport.

Each :class:`ArxivFeed` owns one ``arxiv.Client`` (its ``query_url_format`` points at the configured
API URL, nothing patched globally) whose HTTP goes through :class:`~ingest.transport.PoliteTransport`,
so API pages and PDFs share one connection, one delay clock, one allow-list and one retry policy.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

import arxiv
import httpx

from ingest.transport import FetchError, PoliteTransport, expects_entries

log = logging.getLogger(__name__)

MAX_IDS_PER_CALL = 100
TITLE_MATCH_MIN_RATIO = 0.9
# New-style (2406.16858v2) and old-style (cs/0112017v1) arXiv ids, version optional.
_ARXIV_ID = re.compile(r"^(?P<base>\d{4}\.\d{4,5}|[a-z][a-z.\-]*/\d{7})(?P<version>v\d+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ArxivPaper:
    """What the refresh needs to know about one arXiv paper at its latest version."""

    arxiv_id: str  # without version
    version: str  # "v2"
    title: str
    authors: tuple[str, ...]
    summary: str
    published: datetime | None
    updated: datetime | None
    pdf_url: str

    @property
    def first_author(self) -> str | None:
        """Surname-ish last token of the first author's name."""
        return self.authors[0].split()[-1] if self.authors and self.authors[0].split() else None


@dataclass
class MetadataBatch:
    """Result of an id lookup: papers found, and ids skipped with a reason."""

    papers: dict[str, ArxivPaper] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TitleMatch:
    """Outcome of a title search: the accepted id, or None with the reason it was rejected."""

    arxiv_id: str | None
    ratio: float
    found_title: str | None
    reason: str


def split_id(raw: str) -> tuple[str, str | None]:
    """``"2406.16858v2"`` -> ``("2406.16858", "v2")``; raises ValueError on a non-arXiv id."""
    match = _ARXIV_ID.match(raw.strip())
    if not match:
        raise ValueError(f"not an arXiv id: {raw!r}")
    return match.group("base"), (match.group("version") or None)


def normalise_title(title: str) -> str:
    """Lowercase, accents and punctuation stripped, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", title)
    no_accents = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = re.sub(r"[^\w\s]|_", " ", no_accents.lower())
    return " ".join(cleaned.split())


def title_ratio(a: str, b: str) -> float:
    """difflib similarity of two titles after :func:`normalise_title`."""
    return difflib.SequenceMatcher(None, normalise_title(a), normalise_title(b)).ratio()


def to_paper(result: arxiv.Result) -> ArxivPaper:
    """Validate one ``arxiv.Result``; raises ValueError naming what is wrong with it."""
    short_id = result.get_short_id()
    base, version = split_id(short_id)
    if version is None:
        raise ValueError(f"entry {short_id} has no version")
    title = " ".join((result.title or "").split())
    if not title:
        raise ValueError(f"entry {short_id} has no title")
    if not result.pdf_url:
        raise ValueError(f"entry {short_id} has no PDF link")
    return ArxivPaper(
        arxiv_id=base,
        version=version,
        title=title,
        authors=tuple(a.name for a in result.authors if a.name),
        summary=" ".join((result.summary or "").split()),
        published=result.published,
        updated=result.updated,
        pdf_url=result.pdf_url,
    )


def _base_id(short_id: str) -> str:
    try:
        return split_id(short_id)[0]
    except ValueError:
        return short_id


class _TransportSession:
    """Stands in for the ``requests.Session`` of one ``arxiv.Client``: every GET goes to the transport."""

    def __init__(self, transport: PoliteTransport) -> None:
        self.transport = transport

    def get(self, url: str, headers: dict | None = None, **_: object) -> httpx.Response:
        return self.transport.get(url, expect_entries=expects_entries(url))

    def close(self) -> None:
        """Nothing to close: the transport owns the connection."""


class ArxivFeed:
    """Client for the arXiv API (or a compatible fake) and for arXiv PDFs.

    Args:
        api_url: the query endpoint, e.g. ``https://export.arxiv.org/api/query``.
        allowed_hosts: hosts that may be fetched; the API URL's host must be one of them.
        delay_s: seconds between requests (arXiv asks for 3).
        retries: extra tries on 429, 5xx, connection errors and empty pages.
        page_size: results per API page (at most 100 ids per id-list call either way).
        http: an ``httpx.Client`` to share; by default one single-connection client.
        backoff_s, max_bytes, sleep, clock: retry backoff base, largest response body, and test hooks,
            passed to the transport.
    """

    def __init__(
        self,
        api_url: str,
        allowed_hosts: list[str] | tuple[str, ...],
        delay_s: float = 3.0,
        retries: int = 4,
        page_size: int = 100,
        http: httpx.Client | None = None,
        **transport_options: object,
    ) -> None:
        self.transport = PoliteTransport(allowed_hosts, delay_s=delay_s, retries=retries, http=http, **transport_options)
        self.transport.check_host(api_url)
        self.page_size = max(1, min(int(page_size), 2000))
        # Retries and pacing live in the transport; the client's own retry loop would skip the backoff.
        self.client = arxiv.Client(page_size=self.page_size, delay_seconds=delay_s, num_retries=0)
        self.client.query_url_format = f"{api_url}?{{}}"
        self.client._session.close()
        self.client._session = _TransportSession(self.transport)

    def fetch_metadata(self, arxiv_ids: list[str]) -> MetadataBatch:
        """Latest-version metadata for ``arxiv_ids`` (with or without version), in batches of <= 100.

        A malformed or missing entry, or a batch that failed for good, lands in ``skipped`` with a
        reason instead of raising; a refused host still raises :class:`HostNotAllowed`.
        """
        batch_result = MetadataBatch()
        wanted = list(dict.fromkeys(split_id(i)[0] for i in arxiv_ids))
        step = min(self.page_size, MAX_IDS_PER_CALL)
        for start in range(0, len(wanted), step):
            batch = wanted[start : start + step]
            try:
                results = list(self.client.results(arxiv.Search(id_list=batch, max_results=len(batch))))
            except FetchError as exc:
                # one line for the batch in the log (with the URL); each paper gets the short reason
                log.warning("arXiv lookup of %d ids failed: %s", len(batch), exc)
                reason = f"arXiv lookup failed for a batch of {len(batch)} ids: {exc.reason}"
                batch_result.skipped.update({i: reason for i in batch})
                continue
            self._collect(results, batch, batch_result)
        return batch_result

    @staticmethod
    def _collect(results: list[arxiv.Result], batch: list[str], into: MetadataBatch) -> None:
        for result in results:
            try:
                paper = to_paper(result)
            except ValueError as exc:
                log.warning("skipping arXiv entry: %s", exc)
                base = _base_id(result.get_short_id())
                if base in batch:
                    into.skipped[base] = f"malformed arXiv entry: {exc}"
                continue
            if paper.arxiv_id in batch:
                into.papers[paper.arxiv_id] = paper
        for arxiv_id in batch:
            if arxiv_id not in into.papers and arxiv_id not in into.skipped:
                into.skipped[arxiv_id] = "arXiv returned no usable entry for this id (missing or malformed)"

    def resolve_title(self, title: str, max_results: int = 5) -> TitleMatch:
        """Search ``ti:"..."`` and accept the best hit only if the normalised titles match closely."""
        query_title = normalise_title(title)
        if not query_title:
            return TitleMatch(None, 0.0, None, "unresolved: empty title")
        search = arxiv.Search(query=f'ti:"{query_title}"', max_results=max_results)
        try:
            results = list(self.client.results(search))
        except FetchError as exc:
            return TitleMatch(None, 0.0, None, f"unresolved: title search failed: {exc}")
        best: tuple[float, arxiv.Result] | None = None
        for result in results:
            ratio = title_ratio(title, result.title or "")
            if best is None or ratio > best[0]:
                best = (ratio, result)
        if best is None:
            return TitleMatch(None, 0.0, None, "unresolved: no arXiv results for the title")
        ratio, result = best
        if ratio < TITLE_MATCH_MIN_RATIO:
            return TitleMatch(None, ratio, result.title, f"unresolved: closest title '{result.title}' (ratio {ratio:.2f})")
        try:
            base, _ = split_id(result.get_short_id())
        except ValueError as exc:
            return TitleMatch(None, ratio, result.title, f"unresolved: {exc}")
        return TitleMatch(base, ratio, result.title, "matched")

    def watch(self, query: str, max_results: int = 20) -> list[ArxivPaper]:
        """Newest submissions matching ``query`` (arXiv query syntax); malformed entries skipped."""
        search = arxiv.Search(query=query, max_results=max_results, sort_by=arxiv.SortCriterion.SubmittedDate)
        papers = []
        for result in self.client.results(search):
            try:
                papers.append(to_paper(result))
            except ValueError as exc:
                log.warning("watch query %r: skipping entry: %s", query, exc)
        return papers

    def download_pdf(self, url: str) -> bytes:
        """The bytes at ``url`` (allow-listed, paced, retried like every other request)."""
        return self.transport.get(url).content

    def close(self) -> None:
        """Release the HTTP connection (when this feed created it)."""
        self.transport.close()

    def __enter__(self) -> "ArxivFeed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

