"""The load benchmark's lean HTTP client (bench/raw_http.py) against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from raw_http import HttpError, KeepAliveConnection  # noqa: E402


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the handler says otherwise
    connections: list[int] = []

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).connections.append(self.client_address[1])
        if self.path == "/no-length":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        reply = json.dumps({"echo": json.loads(body), "path": self.path}).encode()
        self.send_response(201 if self.path == "/created" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server():
    _Echo.connections = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_keeps_one_connection_across_requests_and_reads_status_and_body(server):
    async def run() -> list[tuple[int, bytes]]:
        connection = KeepAliveConnection("127.0.0.1", server)
        try:
            return [await connection.post_json("/a", {"n": 1}), await connection.post_json("/created", {"n": 2})]
        finally:
            await connection.close()

    first, second = asyncio.run(run())
    assert first[0] == 200 and json.loads(first[1]) == {"echo": {"n": 1}, "path": "/a"}
    assert second[0] == 201 and json.loads(second[1])["echo"] == {"n": 2}
    assert len(set(_Echo.connections)) == 1  # both requests on the same client port


def test_reopens_after_the_server_closes_the_connection(server):
    async def run() -> None:
        connection = KeepAliveConnection("127.0.0.1", server)
        try:
            assert (await connection.post_json("/close", {}))[0] == 200
            assert (await connection.post_json("/a", {}))[0] == 200
        finally:
            await connection.close()

    asyncio.run(run())
    assert len(set(_Echo.connections)) == 2


def test_a_response_it_cannot_read_is_an_error(server):
    async def run() -> None:
        connection = KeepAliveConnection("127.0.0.1", server)
        await connection.post_json("/no-length", {})

    with pytest.raises(HttpError, match="Content-Length"):
        asyncio.run(run())


def test_a_refused_connection_is_an_error():
    async def run() -> None:
        await KeepAliveConnection("127.0.0.1", 1, timeout_s=5).post_json("/a", {})

    with pytest.raises(HttpError):
        asyncio.run(run())
