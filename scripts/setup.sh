#!/usr/bin/env bash
# Set up a fresh machine for accelsage: a virtualenv in .venv with the locked dependencies.
# Usage: bash scripts/setup.sh   (idempotent; re-running only installs what changed)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# requirements.lock pins every package (torch==2.13.0+cpu among them) so each machine gets the same set
# and pip never resolves a CUDA build of torch.
# pip's own chatter (index warnings, build notes) goes to a log that is shown only when pip fails.
log=.venv/pip-install.log
if ! { .venv/bin/python -m pip install --quiet --upgrade pip \
       && .venv/bin/python -m pip install --quiet -c requirements.lock -e '.[dev]'; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "setup failed: pip could not install the locked dependencies (full log: $log)" >&2
  exit 1
fi
echo "accelsage installed in .venv ($(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("accelsage"))'))"
