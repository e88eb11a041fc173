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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(bundled_state):  # noqa: F811
    app = create_app(make_settings(bundled_state), query_embedder=query_embedder())
    with ServerThread(app) as running:
        yield running


def test_ask_shows_progress_table_citations_and_plot(browser, server) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.fill("#question", QUESTION)
    page.click("#submit")
    page.wait_for_selector("#recommendations tbody tr", timeout=60_000)
    progress = page.locator("#progress li").all_inner_texts()
    assert progress[0].startswith("Understood: 1× NVIDIA L4") and any(p.startswith("Retrieved") for p in progress)
    assert any(p.startswith("Estimated") for p in progress)
    rows = page.locator("#recommendations tbody tr")
    assert rows.count() >= 3
    links = page.locator("#recommendations a.citation")
    assert links.count() > 0
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert all(h.startswith("https://arxiv.org/abs/") for h in hrefs)
    page.wait_for_selector("#roofline-figure:not([hidden])", timeout=60_000)
    assert page.evaluate("document.getElementById('roofline').naturalWidth") > 100
    assert page.locator("#session-label").inner_text().startswith("session ")
    assert errors == []
    page.close()


def test_follow_up_in_the_same_session(browser, server) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#question", QUESTION)
    page.click("#submit")
    page.wait_for_selector("#recommendations tbody tr", timeout=60_000)
    session = page.locator("#session-label").inner_text()
    page.fill("#question", "What about on an A100?")
    page.click("#submit")
    # the page's CSP forbids eval, which wait_for_function's string form needs
    page.locator("#workload", has_text="A100").wait_for(timeout=60_000)
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
