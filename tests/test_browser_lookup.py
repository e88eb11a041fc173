"""Which Chromium the browser tests launch: ACCELSAGE_CHROMIUM, then chromium / chromium-browser on PATH, then
Playwright's own download."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser_helpers import ChromiumNotFound, chromium_path, launch_chromium


def _executable(folder: Path, name: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(("on_path", "setting", "playwright_has_one", "expected"), [
    (["chromium", "chromium-browser"], "custom", True, "custom"),  # the setting wins
    (["chromium-browser"], "chromium-browser", False, "path:chromium-browser"),  # a command name works too
    (["chromium", "chromium-browser"], None, True, "path:chromium"),
    (["chromium-browser"], None, True, "path:chromium-browser"),  # Ubuntu's name
    ([], None, True, "playwright"),
    ([], None, False, None),
])
def test_chromium_is_found_in_order(tmp_path, monkeypatch, on_path, setting, playwright_has_one, expected) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    found = {f"path:{name}": _executable(bin_dir, name) for name in on_path}
    found["custom"] = _executable(tmp_path / "opt", "my-chromium")
    found["playwright"] = str(tmp_path / "ms-playwright" / "chrome")
    if playwright_has_one:
        _executable(tmp_path / "ms-playwright", "chrome")
    monkeypatch.setenv("PATH", str(bin_dir))
    if setting is None:
        monkeypatch.delenv("ACCELSAGE_CHROMIUM", raising=False)
    else:
        monkeypatch.setenv("ACCELSAGE_CHROMIUM", found.get(setting, setting))
    assert chromium_path(found["playwright"]) == (found[expected] if expected else None)


@pytest.mark.parametrize("setting", ["/nowhere/chromium", "no-such-browser-command"])
def test_a_wrong_setting_is_an_error_not_a_skip(monkeypatch, setting: str) -> None:
    monkeypatch.setenv("ACCELSAGE_CHROMIUM", setting)
    with pytest.raises(ChromiumNotFound, match="ACCELSAGE_CHROMIUM"):
        chromium_path()


@pytest.mark.browser
def test_the_setting_launches_a_chromium_anywhere(tmp_path, monkeypatch) -> None:
    real = os.environ.get("ACCELSAGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if real is None:
        pytest.skip("no Chromium on this machine to link to")
    elsewhere = tmp_path / "browsers" / "chromium-under-test"
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(Path(real).resolve())
    monkeypatch.setenv("ACCELSAGE_CHROMIUM", str(elsewhere))
    monkeypatch.setenv("PATH", "/nonexistent")  # nothing but the setting can be found
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            page.set_content("<p id=x>ok</p>")
            assert page.inner_text("#x") == "ok"
        finally:
            browser.close()
