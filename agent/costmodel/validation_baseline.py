"""Run the validation cases through the cost model as it was at an older git ref (a temporary worktree).

The case runner (agent/costmodel/validation*.py) is today's, copied into the worktree, so new case kinds and
fields are read the same way; everything it calls (estimators, GPU and model data) is the ref's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from index.errors import AccelsageError

RUNNER_GLOB = "validation*.py"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def baseline_values(ref: str, cases_path: Path, repo: Path, timeout_s: float = 600) -> dict:
    """{"values": {case id: value or None}, "errors": {...}, "code": path} from the cost model at `ref`.

    Raises AccelsageError when `ref` is not a commit of `repo` or the older code cannot start.
    """
    resolved = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if resolved.returncode != 0:
        raise AccelsageError(f"unknown git ref {ref!r}")
    tmp = Path(tempfile.mkdtemp(prefix="accelsage-baseline-"))
    tree = tmp / "tree"
    added = _git(repo, "worktree", "add", "--detach", str(tree), resolved.stdout.strip())
    if added.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AccelsageError(f"git worktree add failed: {added.stderr.strip()}")
    try:
        for runner in (repo / "agent" / "costmodel").glob(RUNNER_GLOB):
            shutil.copy(runner, tree / "agent" / "costmodel" / runner.name)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        run = subprocess.run([sys.executable, "-m", "agent.costmodel.validation_json", str(Path(cases_path).resolve())],
                             cwd=tree, env=env, capture_output=True, text=True, timeout=timeout_s)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            raise AccelsageError(f"the cost model at {ref} could not run the cases: {last}")
        out = json.loads(run.stdout)
        if not Path(out["code"]).is_relative_to(tree):
            raise AccelsageError(f"the baseline imported {out['code']}, not the worktree at {ref}")
        return out
    finally:
        _git(repo, "worktree", "remove", "--force", str(tree))
        _git(repo, "worktree", "prune")
        shutil.rmtree(tmp, ignore_errors=True)
