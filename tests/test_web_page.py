"""The web page in a real headless Chromium (Playwright): ask, watch progress, read the table and its citations.

Skips (with the reason) when no Chromium is found, unless CI=true, where a missing browser fails; which Chromium
is used is set by ACCELSAGE_CHROMIUM (see browser_helpers.py).
"""

from __future__ import annotations

import pytest
from api_helpers import ServerThread, bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from browser_helpers import launch_chromium

from api.app import create_app

QUESTION = "Llama-3.1-8B on one L4, 2k prompts, 16 users: how do I cut per-token latency?"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# how long the page may wait for an answer, a plot or a curve
WAIT_MS = 90_000


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(bundled_state):  # noqa: F811
    # the page is what is tested here, not the server's speed: on a loaded 2-core machine an answer can take longer
    # than the default 20 s limit, so the server gets as long as the page waits
    app = create_app(make_settings(bundled_state, request_timeout_s=WAIT_MS / 1000),
                     query_embedder=query_embedder())
    with ServerThread(app) as running:
        yield running


def test_ask_shows_progress_table_citations_and_plot(browser, server) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.fill("#question", QUESTION)
    page.click("#submit")
    page.wait_for_selector("#recommendations tbody tr", timeout=WAIT_MS)
    progress = page.locator("#progress li").all_inner_texts()
    assert progress[0].startswith("Understood: 1× NVIDIA L4") and any(p.startswith("Retrieved") for p in progress)
    assert any(p.startswith("Estimated") for p in progress)
    rows = page.locator("#recommendations tbody tr")
    assert rows.count() >= 3
    links = page.locator("#recommendations a.citation")
    assert links.count() > 0
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert all(h.startswith("https://arxiv.org/abs/") for h in hrefs)
    page.wait_for_selector("#roofline-figure:not([hidden])", timeout=WAIT_MS)
    assert page.evaluate("document.getElementById('roofline').naturalWidth") > 100
    page.wait_for_selector("#curve-figure:not([hidden])", timeout=WAIT_MS)
    assert page.evaluate("document.getElementById('curve').naturalWidth") > 100
    caption = page.locator("#curve-caption").inner_text()
    assert caption.startswith("Simulated latency–throughput curve") and "requests per point" in caption
    assert "lengths uniform ±50% around 2048/" in caption and "closed loop at concurrency 1, 2, 4" in caption
    roofline_box, curve_box = (page.locator(f"#{name}-figure").bounding_box() for name in ("roofline", "curve"))
    assert curve_box["x"] > roofline_box["x"] + roofline_box["width"] - 1  # beside the roofline, not below it
    assert page.locator("#session-label").inner_text().startswith("session ")
    assert errors == []
    page.close()


def test_follow_up_in_the_same_session(browser, server) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#question", QUESTION)
    page.click("#submit")
    page.wait_for_selector("#recommendations tbody tr", timeout=WAIT_MS)
    session = page.locator("#session-label").inner_text()
    page.fill("#question", "What about on an A100?")
    page.click("#submit")
    # the page's CSP forbids eval, which wait_for_function's string form needs
    page.locator("#workload", has_text="A100").wait_for(timeout=WAIT_MS)
    assert "Llama 3.1 8B" in page.locator("#workload").inner_text()
    assert page.locator("#session-label").inner_text() == session
    page.close()


def test_server_error_message_is_shown(browser, server) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#question", QUESTION)
    page.click("details summary")
    page.fill("#gpu", "H" * 201)  # the API refuses names over 200 characters with a 422
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "gpu" in page.locator("#error").inner_text()
    assert page.locator("#recommendations tbody tr").count() == 0
    page.close()
