#!/usr/bin/env bash
# Provides the Python environment that runs trainer/image/train.py outside a container: the
# trainer's selftest and the local executor use it. Idempotent: the venv is rebuilt only when
# requirements.txt changed since the last successful install. Prints the venv's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/trainer-venv"
req="$root/trainer/image/requirements.txt"
stamp="$venv/.requirements-installed"
python="${PYTHON:-python3}"

if [[ -f "$stamp" ]] && cmp -s "$req" "$stamp"; then
  echo "$venv"
  exit 0
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "trainer-env: $python must be Python 3.10 or newer" >&2
  exit 1
fi
echo "trainer-env: installing $req into $venv (torch from PyPI: several GB, minutes)" >&2
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet -r "$req" >&2
cp "$req" "$stamp"
echo "$venv"
