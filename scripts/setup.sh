#!/usr/bin/env bash
# Creates .venv (if missing) and installs the package with its test tools.
# Installs the CPU build of torch (torch==2.13.0) only when no torch is importable yet,
# so that plain `torch` does not pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/pip install --quiet "torch==2.13.0"
fi
if ! .venv/bin/python -c "import modeling_gpt1, pytest" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.installed ]; then
    .venv/bin/pip install --quiet -e ".[dev]"
    touch .venv/.installed
fi
