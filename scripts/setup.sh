#!/usr/bin/env bash
# Set up a fresh machine for accelsage: a virtualenv in .venv with the locked dependencies.
# Usage: bash scripts/setup.sh   (idempotent; re-running only installs what changed)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$PYTHON" -m venv .venv
else
  echo "using the existing .venv"
fi
# requirements.lock pins every package (torch==2.13.0+cpu among them) so each machine gets the same set
# and pip never resolves a CUDA build of torch.
# On a terminal pip shows its own progress bars. Otherwise (CI, a pipe) pip's chatter (index
# warnings, build notes) goes to a log that is shown only when pip fails.
log=.venv/pip-install.log
pip_step() {  # pip_step MESSAGE PIP-ARGS...: print MESSAGE, then run pip (progress on a TTY, a log otherwise)
  echo "$1"
  shift
  if [ -t 1 ]; then
    .venv/bin/python -m pip install "$@" && return 0
    echo "setup failed: pip could not install the locked dependencies (see pip's output above)" >&2
  else
    .venv/bin/python -m pip install --quiet "$@" >>"$log" 2>&1 && return 0
    tail -n 40 "$log" >&2
    echo "setup failed: pip could not install the locked dependencies (full log: $log)" >&2
  fi
  exit 1
}
: >"$log"
pip_step "upgrading pip" --upgrade pip
pip_step "installing locked dependencies (about 2 GB, a few minutes; quick when already installed)…" \
  -c requirements.lock -e '.[dev]'
echo "accelsage installed in .venv ($(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("accelsage"))'))"
