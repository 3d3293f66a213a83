#!/usr/bin/env bash
# Runs the emulator's own test suite with the project's venv (set up on demand).
# Extra arguments go to pytest, e.g. tests/emulator/run-tests.sh -k faults
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${EH_VENV:-$repo/.venv}"
EH_VENV="$venv" bash "$repo/scripts/emulator-setup.sh"
cd "$repo"
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/emulator "$@"
