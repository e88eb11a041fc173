"""`accelsage serve`: the HTTP API and web page under uvicorn.

Connection hygiene lives here, below the ASGI app: a client that opens a connection and never
finishes its request line and headers is cut off after ``ACCELSAGE_HEADER_TIMEOUT_S`` (uvicorn
itself only times out idle keep-alive connections, and only between complete requests), idle
keep-alive connections after ``ACCELSAGE_KEEP_ALIVE_TIMEOUT_S``, and ``X-Forwarded-For`` is
believed only from the addresses in ``ACCELSAGE_TRUSTED_PROXIES`` (none by default), so a client
cannot pick its own address for the per-client rate limit.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import click
import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEADER_TIMEOUT_S = 10.0


def app_factory():  # noqa: ANN201 - uvicorn calls this in each worker process
    """The app for uvicorn's ``--factory`` mode: settings are read in the worker, not at import time."""
    from api.app import create_app

    return create_app()


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request line and headers.

    The deadline starts when the connection opens, or when the first bytes of a later request on a
    keep-alive connection arrive, and is not pushed back by more bytes (a client that trickles one
    byte a second gets no longer). It ends when h11 has parsed the complete headers; the body is
    bounded by the app's own limits. The seconds come from ``config.header_timeout_s``.
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout_s = float(getattr(config, "header_timeout_s", DEFAULT_HEADER_TIMEOUT_S))
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_deadline()  # part of a request line or headers is buffered
        else:
            self._cancel_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None and self.header_timeout_s > 0:
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(settings: Any, app: Any, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration `accelsage serve` runs with (tests build their servers from it too).

    Args:
        settings: supplies the proxy, keep-alive and header timeouts.
        app: the ASGI app or its import string.
        options: further ``uvicorn.Config`` arguments (host, port, workers, factory, log_level, ...).
    """
    trusted = [address.strip() for address in settings.trusted_proxies if address.strip()]
    config = uvicorn.Config(
        app,
        http=HeaderDeadlineProtocol,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: any local client could then
        # rotate that header to get a fresh rate-limit bucket per request.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        timeout_keep_alive=settings.keep_alive_timeout_s,
        **options,
    )
    config.header_timeout_s = settings.header_timeout_s  # read by HeaderDeadlineProtocol
    return config


def _check_store(settings: Any) -> None:
    """Fail before uvicorn starts, in one line, when the database is damaged (not 'Application startup failed')."""
    from index.state import StateDir
    from index.store_factory import has_store, open_store

    state = StateDir(settings.home)
    if has_store(state, settings.database_url):  # a shared database that does not answer fails here too
        with open_store(state, settings.database_url) as store:
            store.check_sound()


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default: ACCELSAGE_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Port (default: ACCELSAGE_PORT, 8000).")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: ACCELSAGE_WORKERS, 1).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="How much the server logs.")
def serve(host: str | None, port: int | None, workers: int | None, log_level: str) -> None:
    """Serve the REST API, the OpenAI-compatible endpoint and the web page.

    Configuration comes from ACCELSAGE_* environment variables and .env (see README). With
    ACCELSAGE_REFRESH_SCHEDULE set, each worker runs the cron schedule; the refresh lock lets only
    one of them refresh at a time and every worker reloads the new index when it lands.
    """
    from uvicorn.supervisors import Multiprocess

    from api.settings import load_settings

    settings = load_settings()
    _check_store(settings)
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    # worker processes read their settings afresh: tell them how many share the cores (answer pool size)
    os.environ["ACCELSAGE_WORKERS"] = str(workers)
    click.echo(f"accelsage serving on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''})", err=True)
    config = uvicorn_config(settings, "api.commands.serve:app_factory", factory=True, host=host, port=port,
                            workers=workers, log_level=log_level, timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    # what uvicorn.run does, with our Config (it cannot take header_timeout_s)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
    if not server.started and config.workers == 1:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE; its log said why
