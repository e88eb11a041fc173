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
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c requirements.lock -e '.[dev]'
echo "accelsage installed in .venv ($(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("accelsage"))'))"
