"""The README is the user's manual: every command and every setting must be in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.cli import COMMANDS
from api.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_cli_command_is_documented(command: str) -> None:
    assert re.search(rf"accelsage {re.escape(command)}\b", README), f"README does not show `accelsage {command}`"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    env_name = f"ACCELSAGE_{field.upper()}"
    assert env_name in README, f"README does not document {env_name}"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_has_a_description(field: str) -> None:
    assert Settings.model_fields[field].description


def test_readme_quick_start_has_exactly_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.S)
    assert len(blocks) == 2
    assert "scripts/setup.sh" in blocks[0] and "accelsage ask" in blocks[0]
    assert "pytest" in blocks[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    test_command = re.findall(r"```bash\n(.*?)```", README, flags=re.S)[1].strip()
    assert test_command in ci
