"""A lean HTTP/1.1 keep-alive client on asyncio streams, for load generation on the machine under test.

The load client shares the cores with the server it measures, so every millisecond of CPU it spends is
taken from the server. httpx.AsyncClient spent about 3.8 ms of CPU per request in bench/load_ask.py; this
client writes one request and reads one ``Content-Length`` response per call, with no pooling, redirects,
cookies or chunked bodies (the server's JSON routes always send a length).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class HttpError(Exception):
    """The connection failed or the response could not be read."""


class KeepAliveConnection:
    """One connection to ``host:port``, opened on first use and reopened when the server closes it."""

    def __init__(self, host: str, port: int, timeout_s: float = 60.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, payload: Any) -> tuple[int, bytes]:
        """POST ``payload`` as JSON; returns (status code, body bytes)."""
        body = json.dumps(payload).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        try:
            return await asyncio.wait_for(self._exchange(head + body), self.timeout_s)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
            await self.close()
            raise HttpError(f"{exc.__class__.__name__}: {exc}") from exc

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(request)
        await self._writer.drain()
        assert self._reader is not None
        header = await self._reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" not in fields:
            raise ValueError(f"response without Content-Length (status {status})")
        content = await self._reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, content

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
