#!/usr/bin/env bash
# Prepare build/wheelhouse/: every wheel that requirements/engine.txt needs (torch, safetensors and
# their dependencies), so "Set up engine" can be tested offline (WHEELS_FOLDER, pip --no-index).
#
#   bash scripts/make_wheelhouse.sh [FOLDER]     # default build/wheelhouse
#
# pip download uses the machine's pip configuration (here torch's CPU wheel is found on local disk);
# nothing is fetched at test time: tests only read this folder. Safe to run again: pip skips
# wheels already there, and a stamp skips the whole step when the requirements did not change.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/build/wheelhouse}
PY=${CMKD_WHEELHOUSE_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3

stamp="$DEST/.cmkd-requirements.sha"
want=$(cat "$ROOT/requirements/engine.txt" "$ROOT/requirements/constraints.txt" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && ls "$DEST"/torch-*.whl >/dev/null 2>&1; then
  exit 0
fi
mkdir -p "$DEST"
echo "make_wheelhouse: downloading the engine's wheels into $DEST"
"$PY" -m pip download -q --disable-pip-version-check --only-binary=:all: \
    -c "$ROOT/requirements/constraints.txt" -r "$ROOT/requirements/engine.txt" -d "$DEST"
echo "$want" > "$stamp"
