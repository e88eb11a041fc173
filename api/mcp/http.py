"""``/mcp`` in the HTTP app: the MCP server over streamable HTTP, inside the app's middleware.

The endpoint is a plain route of the FastAPI app, so every request to it has passed the same metrics,
security headers, rate limit and body-size limit as the REST routes. On top of them:

- With ``ACCELSAGE_ADMIN_TOKEN`` set, ``/mcp`` needs ``Authorization: Bearer <token>`` (401 JSON otherwise),
  compared in constant time as the admin routes compare it. Unset, ``/mcp`` is open like the read routes.
- When the connection arrived on a loopback address, the Host and Origin headers must name loopback
  too (the SDK's DNS-rebinding check), so a web page cannot drive a local server through a rebound name.
  Decided per connection rather than from ``ACCELSAGE_HOST``, which ``serve --host`` does not change.

The SDK's session manager runs inside the app's lifespan (:func:`mount_mcp` returns it): a fresh one
each time the lifespan starts, since one manager runs only once.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from api.deps import token_matches
from api.middleware_limits import send_error
from api.settings import Settings
from index.errors import AccelsageError

MCP_PATH = "/mcp"
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*",
                    "http://127.0.0.1", "http://localhost", "http://[::1]"]


def bearer_ok(scope: dict, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>``."""
    given = b""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            given = credentials.strip() if scheme.lower() == b"bearer" else b""
    return token_matches(given, token)


def on_loopback(scope: dict) -> bool:
    """Whether the connection arrived on a loopback address of this machine."""
    server = scope.get("server")
    try:
        return bool(server) and ipaddress.ip_address(server[0]).is_loopback
    except ValueError:  # not an IP address (a test client's "testserver", a Unix socket path)
        return False


class McpEndpoint:
    """The ASGI endpoint at ``/mcp``: token and loopback checks, then the SDK's session manager."""

    def __init__(self, server: Any, token: str | None) -> None:
        from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings

        self.server = server
        self.token = token
        self.loopback_check = TransportSecurityMiddleware(TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=LOOPBACK_HOSTS, allowed_origins=LOOPBACK_ORIGINS))

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        from starlette.requests import Request

        if self.token and not bearer_ok(scope, self.token):
            await send_error(send, 401, "missing or wrong bearer token (ACCELSAGE_ADMIN_TOKEN)", "unauthorized",
                             {"WWW-Authenticate": "Bearer"})
            return
        if on_loopback(scope):
            refused = await self.loopback_check.validate_request(Request(scope))
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.server.session_manager.handle_request(scope, receive, send)


def mount_mcp(app: FastAPI, settings: Settings) -> Callable[[], contextlib.AbstractAsyncContextManager[None]]:
    """Add ``/mcp`` to ``app``; returns the context manager the app's lifespan runs the MCP sessions in."""
    from mcp.server.transport_security import TransportSecuritySettings

    from api.mcp.server import build_server

    def services() -> Any:
        found = getattr(app.state, "services", None)
        if found is None:
            raise AccelsageError("the server is still starting")
        return found

    server = build_server(services)
    app.add_route(MCP_PATH, McpEndpoint(server, settings.admin_token), include_in_schema=False)

    @contextlib.asynccontextmanager
    async def sessions() -> AsyncIterator[None]:
        # Stateless: each request stands alone, so it may land on any worker (ACCELSAGE_WORKERS) or replica
        # and no per-client session state piles up; the tools need no server-to-client messages.
        # The endpoint checks hosts itself (per connection); the SDK still checks the content type.
        server.streamable_http_app(
            streamable_http_path=MCP_PATH, stateless_http=True, max_request_body_size=settings.max_body_bytes,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        async with server.session_manager.run():
            yield

    return sessions
