"""The one place every arXiv request (API page or PDF) goes through.

It enforces, for every request and every redirect hop: the host allow-list (a refused URL is never
fetched), the politeness delay between requests (arXiv asks for one request per 3 s on one
connection), and retries with exponential backoff on 429, 5xx, connection errors and arXiv's
empty pages (HTTP 200 with no entries where entries were expected). A response body over the size
limit is refused while it streams in, so a huge or endless download never fills memory.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from index.errors import AccelsageError

log = logging.getLogger(__name__)

_ATOM_ENTRY = "{http://www.w3.org/2005/Atom}entry"
_MAX_REDIRECTS = 5
_MAX_RETRY_AFTER_S = 120.0
DEFAULT_MAX_BYTES = 100_000_000  # arXiv PDFs are rarely over 50 MB
_CHUNK_BYTES = 1 << 16
USER_AGENT = "accelsage-refresh/0.1 (research corpus; polite client)"


class HostNotAllowed(AccelsageError):
    """A URL points at a host outside the configured allow-list; it was not fetched."""


class FetchError(AccelsageError):
    """A request failed for good (non-retryable status, or retries used up).

    ``reason`` says what went wrong without the URL ("HTTP 503 after 5 tries"), for messages that
    name many requests at once (a batch of 100 ids shares one API URL).
    """

    def __init__(self, message: str, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason or message


class _Retryable(Exception):
    """A failure worth another try after a backoff."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


def host_of(url: str) -> str:
    """Lower-cased host name of ``url`` ('' when it has none)."""
    return (urlsplit(url).hostname or "").lower()


def count_entries(body: bytes) -> int | None:
    """Number of Atom ``<entry>`` elements in ``body``; None when it is not parseable XML."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    return sum(1 for _ in root.iter(_ATOM_ENTRY))


def expects_entries(url: str) -> bool:
    """Whether an API page at ``url`` must hold entries: an id-list lookup or a later page."""
    query = parse_qs(urlsplit(url).query)
    ids = [i for i in ",".join(query.get("id_list", [])).split(",") if i.strip()]
    start = query.get("start", ["0"])[0]
    return bool(ids) or (start.isdigit() and int(start) > 0)


class PoliteTransport:
    """Rate-limited, allow-listed, retrying GET over one keep-alive ``httpx.Client``.

    Args:
        allowed_hosts: host names that may be fetched (exact match, case-insensitive).
        delay_s: least time between the start of two requests.
        retries: extra tries after the first on a retryable failure.
        backoff_s: first backoff; doubles each retry (defaults to ``delay_s``).
        max_bytes: largest response body accepted (as sent, before any content decoding).
        http: an ``httpx.Client`` to use; by default one with a single connection.
        sleep, clock: injectable for tests (record sleeps instead of waiting).
    """

    def __init__(
        self,
        allowed_hosts: list[str] | tuple[str, ...],
        delay_s: float = 3.0,
        retries: int = 4,
        backoff_s: float | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed_hosts = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())
        self.delay_s = max(float(delay_s), 0.0)
        self.retries = max(int(retries), 0)
        self.backoff_s = self.delay_s if backoff_s is None else max(float(backoff_s), 0.0)
        self.max_bytes = max(int(max_bytes), 1)
        self._owns_http = http is None
        self.http = http or httpx.Client(
            timeout=httpx.Timeout(60.0, connect=15.0),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )
        self._sleep = sleep
        self._clock = clock
        self._last_request_at: float | None = None
        self.requests_sent = 0

    def check_host(self, url: str) -> None:
        """Raise :class:`HostNotAllowed` unless ``url`` is http(s) on an allowed host."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or host not in self.allowed_hosts:
            allowed = ", ".join(sorted(self.allowed_hosts)) or "none"
            raise HostNotAllowed(f"refusing to fetch {url}: host '{host}' is not in the allowed hosts ({allowed})")

    def get(self, url: str, *, expect_entries: bool = False) -> httpx.Response:
        """GET ``url`` with the allow-list, delay and retries applied; returns a 200 response.

        Args:
            url: the address to fetch.
            expect_entries: the body is an Atom feed that must hold at least one entry.

        Raises:
            HostNotAllowed: the URL (or a redirect target) is outside the allow-list.
            FetchError: a non-retryable status, a body over ``max_bytes``, or every try failed.
        """
        self.check_host(url)
        for attempt in range(self.retries + 1):
            try:
                return self._try_once(url, expect_entries)
            except _Retryable as exc:
                if attempt == self.retries:
                    raise FetchError(f"giving up on {url} after {attempt + 1} tries: {exc}",
                                     reason=f"giving up after {attempt + 1} tries: {exc}") from None
                wait_s = self.backoff_s * (2**attempt)
                if exc.retry_after_s is not None:
                    wait_s = max(wait_s, min(exc.retry_after_s, _MAX_RETRY_AFTER_S))
                log.info("retrying %s in %.1f s (%s)", url, wait_s, exc)
                if wait_s > 0:
                    self._sleep(wait_s)
        raise AssertionError("unreachable")

    def _try_once(self, url: str, expect_entries: bool) -> httpx.Response:
        """One try: follow redirects by hand so every hop is allow-listed and paced."""
        for _ in range(_MAX_REDIRECTS + 1):
            self.check_host(url)
            response = self._send(url)
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            return self._classify(url, response, expect_entries)
        raise FetchError(f"too many redirects fetching {url}", reason="too many redirects")

    def _send(self, url: str) -> httpx.Response:
        """Wait out the politeness delay, then send; connection errors are retryable."""
        if self._last_request_at is not None:
            wait_s = self.delay_s - (self._clock() - self._last_request_at)
            if wait_s > 0:
                self._sleep(wait_s)
        try:
            # Redirects are followed by _try_once, hop by hop, never by httpx behind the allow-list.
            with self.http.stream("GET", url, follow_redirects=False) as response:
                if response.is_stream_consumed:  # a transport that hands the body over read (httpx.MockTransport)
                    self._check_size(url, len(response.content))
                    return response
                body = self._read_capped(url, response)
            # a complete response again, with the raw bytes: httpx decodes them (if encoded) on .content
            return httpx.Response(response.status_code, headers=response.headers, content=body,
                                  request=response.request)
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error: {exc.__class__.__name__}: {exc}") from None
        finally:
            self._last_request_at = self._clock()
            self.requests_sent += 1

    def _read_capped(self, url: str, response: httpx.Response) -> bytes:
        """The raw body, refused as soon as it is declared or found to be over ``max_bytes``."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit():
            self._check_size(url, int(declared))
        parts, size = [], 0
        for part in response.iter_raw(_CHUNK_BYTES):
            size += len(part)
            if size > self.max_bytes:
                raise FetchError(f"{url} sent more than the {self.max_bytes / 1e6:g} MB download limit; "
                                 "stopped reading")
            parts.append(part)
        return b"".join(parts)

    def _check_size(self, url: str, size: int) -> None:
        if size > self.max_bytes:
            raise FetchError(f"{url} is {size / 1e6:.1f} MB, over the {self.max_bytes / 1e6:g} MB download limit")

    @staticmethod
    def _classify(url: str, response: httpx.Response, expect_entries: bool) -> httpx.Response:
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after_s(response))
        if status != 200:
            raise FetchError(f"HTTP {status} from {url}", status=status, reason=f"HTTP {status}")
        if expect_entries and not count_entries(response.content):
            raise _Retryable("empty page (HTTP 200 with no entries)")
        return response

    def close(self) -> None:
        """Close the HTTP client if this transport created it."""
        if self._owns_http:
            self.http.close()


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None
