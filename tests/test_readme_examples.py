"""Every example command in the README runs and succeeds on the bundled corpus."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from api_helpers import bundled_state  # noqa: F401  (session fixture)

from api.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLES_BLOCK = re.search(r"^Examples.*?```bash\n(.*?)```", README, flags=re.S | re.M).group(1)
EXAMPLES = [line for line in EXAMPLES_BLOCK.splitlines() if line.startswith(".venv/bin/accelsage ")]


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("line", EXAMPLES)
def test_readme_example_runs(line: str, bundled_state, tmp_path, monkeypatch, capsys) -> None:  # noqa: F811
    monkeypatch.setenv("ACCELSAGE_HOME", str(bundled_state.root))
    monkeypatch.setenv("ACCELSAGE_DATA_DIR", str(ROOT / "data"))
    monkeypatch.chdir(tmp_path)  # --plot FILE lands here
    args = shlex.split(line)[1:]
    assert main(args) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip()
    if "--plot" in args:
        assert (tmp_path / args[args.index("--plot") + 1]).stat().st_size > 0
