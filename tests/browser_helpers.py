"""Which Chromium the browser tests drive, and launching it (Playwright).

The browser is found in this order: ``ACCELSAGE_CHROMIUM`` (a path or a command name), then ``chromium`` or
``chromium-browser`` on ``PATH`` (Debian's and Ubuntu's package names), then the browser Playwright downloads
itself (``playwright install chromium``). Without one the tests skip with the reason, except under ``CI=true``,
where a missing browser fails: CI (``.ci/run``) installs Debian's ``chromium`` and must run them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ENV = "ACCELSAGE_CHROMIUM"
CHROMIUM_COMMANDS = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL_HINT = (f"install Debian's chromium (apt-get install -y chromium), set {CHROMIUM_ENV} to a Chromium "
                "binary, or run .venv/bin/playwright install chromium")


class ChromiumNotFound(Exception):
    """``ACCELSAGE_CHROMIUM`` names nothing runnable: a setting that is wrong is an error, never a skip."""


def chromium_path(playwright_path: str | None = None) -> str | None:
    """The Chromium to launch, or None when there is none.

    Args:
        playwright_path: where Playwright keeps its own Chromium (``playwright.chromium.executable_path``),
            used when nothing else is found and that file exists.

    Raises:
        ChromiumNotFound: ``ACCELSAGE_CHROMIUM`` is set but is neither an executable file nor a command on PATH.
    """
    configured = os.environ.get(CHROMIUM_ENV, "").strip()
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            return configured
        found = shutil.which(configured)
        if found is None:
            raise ChromiumNotFound(f"{CHROMIUM_ENV}={configured!r} is not an executable file or a command on PATH")
        return found
    for command in CHROMIUM_COMMANDS:
        found = shutil.which(command)
        if found:
            return found
    if playwright_path and Path(playwright_path).is_file():
        return playwright_path
    return None


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium browser from ``chromium_path``; skips the test without one (fails under CI=true)."""
    try:
        path = chromium_path(playwright.chromium.executable_path)
    except ChromiumNotFound as exc:
        pytest.fail(str(exc))
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but no Chromium was found: {INSTALL_HINT}")
        pytest.skip(f"no Chromium found ({INSTALL_HINT})")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
