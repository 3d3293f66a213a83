#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv for the local AWS emulator and its tests.
# Idempotent: skips the install when the venv's stamp matches requirements.txt.
#   EH_VENV   where the venv lives (default: <repo>/.venv)
#   EH_PYTHON python interpreter to create it with (default: python3.11, else python3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${EH_VENV:-$repo/.venv}"
req="$repo/tests/emulator/requirements.txt"
stamp="$venv/.emulator-requirements.sha256"

py="${EH_PYTHON:-}"
if [[ -z "$py" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
   && "$venv/bin/python" -c 'import moto, boto3, pytest' >/dev/null 2>&1; then
  echo "emulator venv up to date: $venv"
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating venv $venv with $py"
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
echo "$want" > "$stamp"
echo "emulator venv ready: $venv ($("$venv/bin/python" -c 'import moto; print("moto", moto.__version__)'))"
