"""Service hardening on a small corpus: readiness sees a damaged index file, security headers and CSP, /docs
offline, half-open connections cut off, X-Forwarded-For trusted only from configured proxies.

Servers here run the way `accelsage serve` runs them (``api.commands.serve.uvicorn_config``) on 127.0.0.1.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx
import pytest
from api_helpers import ServerThread, make_settings
from corpus_fixtures import bundled_model_path, session_embedder, write_card
from fastapi.testclient import TestClient

from api.app import create_app
from api.commands.serve import uvicorn_config
from index.state import StateDir
from ingest.refresh import refresh
from ingest.sources import PaperEntry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_state(tmp_path_factory: pytest.TempPathFactory) -> StateDir:
    """Two cards, refreshed for real (numpy embedder): enough for a ready server."""
    root = tmp_path_factory.mktemp("hardening")
    cards = root / "cards"
    write_card(cards, "megakernel-blog", "A Blog Post About One Fused Decoding Kernel", {
        "Idea": "One persistent kernel runs the whole forward pass and overlaps weight loads with compute."})
    write_card(cards, "paged-notes", "Notes on Paged KV Caches", {
        "Idea": "The KV cache lives in fixed-size blocks, so memory is not reserved for the longest sequence."})
    papers = [PaperEntry(id="megakernel-blog", title="A Blog Post About One Fused Decoding Kernel", kind="blog"),
              PaperEntry(id="paged-notes", title="Notes on Paged KV Caches", kind="blog")]
    state = StateDir(root / "state")
    refresh(state, papers, cards, embedder_factory=session_embedder, model_path=bundled_model_path())
    return state


def _app(state: StateDir, **overrides: object):
    return create_app(make_settings(state, **overrides), query_embedder=session_embedder().inner)


class Served(ServerThread):
    """A uvicorn server configured like `accelsage serve`, on a free 127.0.0.1 port, in a thread."""

    def __init__(self, app, settings) -> None:  # noqa: ANN001
        super().__init__(app, uvicorn_config(settings, app, log_level="warning", lifespan="on"))


def _served(state: StateDir, **overrides: object) -> Served:
    settings = make_settings(state, **overrides)
    return Served(create_app(settings, query_embedder=session_embedder().inner), settings)


# --- readiness and the index file ---------------------------------------------------------------


def _flip_index_bytes(state: StateDir) -> None:
    with open(state.index_path, "r+b") as handle:
        handle.seek(300)
        original = handle.read(32)
        handle.seek(300)
        handle.write(bytes(b ^ 0xA5 for b in original))


def test_index_damaged_before_start_is_rebuilt_not_served(small_state: StateDir, tmp_path: Path) -> None:
    from api_helpers import copy_state

    state = copy_state(small_state, tmp_path / "state")
    _flip_index_bytes(state)
    with TestClient(_app(state)) as client:
        searcher = client.app.state.services.searcher
        assert searcher.rebuilt_reason == "index file checksum does not match its meta (file damaged)"
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["index_file_ok"] is True
        hits = client.get("/v1/search", params={"q": "fixed-size blocks for the KV cache", "mode": "dense", "k": 1})
        assert hits.json()["hits"][0]["paper_id"] == "paged-notes"


def test_readyz_reports_an_index_file_damaged_while_serving(small_state: StateDir, tmp_path: Path) -> None:
    from api_helpers import copy_state

    state = copy_state(small_state, tmp_path / "state")
    with TestClient(_app(state)) as client:
        assert client.get("/readyz").status_code == 200
        _flip_index_bytes(state)
        ready = client.get("/readyz")
        checks = ready.json()["checks"]
        assert ready.status_code == 503 and ready.json()["status"] == "not-ready"
        assert checks["index_file_ok"] is False and "checksum" in checks["index_file_problem"]


# --- security headers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(small_state: StateDir):
    with TestClient(_app(small_state, rate_limit_per_min=600, max_body_bytes=2048)) as test_client:
        yield test_client


@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/healthz", {}),
    ("GET", "/v1/gpus", {}),
    ("GET", "/static/app.js", {}),
    ("GET", "/openapi.json", {}),
    ("GET", "/v1/not-here", {}),
    ("POST", "/v1/ask", {"content": b"x" * 4096, "headers": {"Content-Type": "application/json"}}),
])
def test_every_response_says_nosniff(client, method: str, path: str, kwargs: dict) -> None:
    response = client.request(method, path, **kwargs)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers  # not HTML


def test_web_page_has_a_csp_that_fits_what_it_loads(client) -> None:
    response = client.get("/")
    csp = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == csp["style-src"] == csp["img-src"] == csp["connect-src"] == "'self'"
    # everything the page loads is a same-origin path, and nothing is inline
    html = response.text
    assert re.findall(r'<script src="([^"]+)"', html) == ["/static/app.js"]
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) == ["/static/style.css"]
    assert "<script>" not in html and "style=" not in html
    js = client.get("/static/app.js").text
    assert "/v1/estimate/roofline.png" in js and "innerHTML" not in js.replace("never innerHTML", "")


def test_docs_work_offline_from_local_files(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert not re.search(r"""(src|href)=["']https?://""", html)  # no CDN
    for asset, kind in (("/static/swagger-ui/swagger-ui-bundle.js", "javascript"),
                        ("/static/swagger-ui/swagger-ui.css", "text/css")):
        assert f'"{asset}"' in html
        loaded = client.get(asset)
        assert loaded.status_code == 200 and kind in loaded.headers["content-type"] and len(loaded.content) > 100_000
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]{44}';", csp)
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN
    assert (Path(__file__).resolve().parents[1] / "api/static/swagger-ui/LICENSE").read_text().startswith(
        "\n                                 Apache License")


@pytest.mark.browser
def test_docs_and_page_render_in_chromium_without_csp_violations(small_state: StateDir) -> None:
    from browser_helpers import launch_chromium
    from playwright.sync_api import sync_playwright

    with _served(small_state) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            problems: list[str] = []
            # a CSP violation is a console error "Refused to load/execute/apply ..."; the browser's own
            # /favicon.ico probe (404) is an error too, but not one of the page's
            page.on("console", lambda msg: problems.append(msg.text)
                    if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            outside: list[str] = []
            page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(server.url) else None)
            missing: list[str] = []
            page.on("response", lambda resp: missing.append(resp.url) if resp.status >= 400 else None)
            page.goto(server.url + "/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            assert page.locator(".opblock-summary-path").count() > 10
            page.goto(server.url + "/")
            page.wait_for_selector("#question")
            assert outside == [] and missing == []
            assert problems == []
        finally:
            browser.close()


# --- connections whose headers never finish ------------------------------------------------------


def _closed_within(sock: socket.socket, limit_s: float) -> float | None:
    """Seconds until the server closed ``sock`` (recv gives b''), or None if it was still open at ``limit_s``."""
    start = time.monotonic()
    sock.settimeout(limit_s)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return time.monotonic() - start
    except socket.timeout:
        return None
    except ConnectionResetError:
        return time.monotonic() - start


@pytest.mark.parametrize("first_bytes", [b"", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "])
def test_half_open_connection_is_closed_after_the_header_timeout(small_state: StateDir, first_bytes: bytes) -> None:
    with _served(small_state, header_timeout_s=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(first_bytes)
            elapsed = _closed_within(sock, 5.0)
        assert elapsed is not None and 0.3 < elapsed < 2.5
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200  # normal requests unaffected


def test_trickling_headers_do_not_extend_the_deadline(small_state: StateDir) -> None:
    with _served(small_state, header_timeout_s=1.0) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Drip: " + b"a" * 40
            start, closed = time.monotonic(), False
            for byte in request:  # one byte every 0.1 s: would take 8 s
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                time.sleep(0.1)
                if time.monotonic() - start > 3:
                    break
            closed = closed or _closed_within(sock, 1.0) is not None
        assert closed and time.monotonic() - start < 4


def test_keep_alive_connection_with_a_partial_second_request_is_closed(small_state: StateDir) -> None:
    with _served(small_state, header_timeout_s=0.5, keep_alive_timeout_s=30) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.settimeout(5)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # the next request stalls mid-headers
            elapsed = _closed_within(sock, 5.0)
        assert elapsed is not None and elapsed < 2.5


# --- X-Forwarded-For and the rate limit -----------------------------------------------------------


def _statuses_with_rotating_forwarded_for(server: Served, requests: int) -> list[int]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        return [http.get("/v1/gpus", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                for n in range(requests)]


def test_rotating_x_forwarded_for_does_not_escape_the_rate_limit(small_state: StateDir) -> None:
    with _served(small_state, rate_limit_per_min=60, rate_limit_burst=3) as server:
        statuses = _statuses_with_rotating_forwarded_for(server, 6)
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429, 429]


def test_a_trusted_proxy_gets_one_bucket_per_forwarded_client(small_state: StateDir) -> None:
    with _served(small_state, rate_limit_per_min=60, rate_limit_burst=3, trusted_proxies=["127.0.0.1"]) as server:
        statuses = _statuses_with_rotating_forwarded_for(server, 6)
    assert statuses == [200] * 6
