"""Request limits and response hardening as pure ASGI middleware.

Limits: body size (413) and a per-client token bucket (429). Both answer with the API's JSON error
shape themselves, before any route runs, so an oversized or abusive request costs nothing beyond
reading at most ``max_body_bytes``. The client is the connection's peer address: uvicorn replaces
it from ``X-Forwarded-For`` only for the proxies in ``ACCELSAGE_TRUSTED_PROXIES``.

Hardening: :class:`SecurityHeaders` adds ``X-Content-Type-Options: nosniff`` to every response and a
Content-Security-Policy plus ``X-Frame-Options: DENY`` to HTML ones. Being pure ASGI, it never
buffers a streamed (server-sent events) response.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

# Probes and scrapes are never rate limited: a busy load balancer must not mark the server down.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_TRACKED_CLIENTS = 10_000


async def send_error(send: Callable[..., Any], status: int, message: str, kind: str,
                     headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON error response from inside middleware."""
    body = json.dumps({"error": {"message": message, "type": kind}}).encode("utf-8")
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


# The web page (api/static): its own script, stylesheet and the roofline PNG, fetch() to the API;
# nothing inline, nothing from elsewhere, never framed. Citation links to arXiv are plain navigation.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """``nosniff`` on every response; on HTML, ``X-Frame-Options: DENY`` and a CSP (``PAGE_CSP`` unless the
    route set its own, as ``/docs`` does)."""

    def __init__(self, app: Callable[..., Any], page_csp: str = PAGE_CSP) -> None:
        self.app = app
        self.page_csp = page_csp.encode()

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_hardened(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-content-type-options"]
                headers.append((b"x-content-type-options", b"nosniff"))
                names = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.lower().startswith(b"text/html"):
                    if b"content-security-policy" not in names:
                        headers.append((b"content-security-policy", self.page_csp))
                    if b"x-frame-options" not in names:
                        headers.append((b"x-frame-options", b"DENY"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_hardened)


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413, whether announced by Content-Length or streamed in chunks.

    The body is read (up to the limit) before the app runs and replayed to it; the limit is small
    (tens of KB), so holding it in memory is cheaper than aborting a half-consumed request.
    """

    def __init__(self, app: Callable[..., Any], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = f"request body is larger than the limit of {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await send_error(send, 400, "invalid Content-Length header", "bad_request")
                    return
                if announced > self.max_bytes:
                    await send_error(send, 413, too_large, "request_too_large")
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_error(send, 413, too_large, "request_too_large")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect like the real channel

        await self.app(scope, replay, send)


class TokenBuckets:
    """One token bucket per client key: ``rate_per_s`` refill, ``capacity`` burst; thread-safe and bounded."""

    def __init__(self, rate_per_min: float, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_min / 60.0
        self.capacity = float(capacity)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token; returns 0 when allowed, else the seconds until a token is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate_per_s)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate_per_s
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > MAX_TRACKED_CLIENTS:  # forget the longest-idle clients
                self._buckets.popitem(last=False)
        return wait


class RateLimit:
    """429 with ``Retry-After`` once a client address has spent its bucket."""

    def __init__(self, app: Callable[..., Any], buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(client[0] if client else "unknown")
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            await send_error(send, 429, f"rate limit exceeded: retry in {seconds} s", "rate_limited",
                             {"Retry-After": str(seconds)})
            return
        await self.app(scope, receive, send)
