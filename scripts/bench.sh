#!/usr/bin/env bash
# Runs every benchmark script (scripts/bench_*.py); their results go into the README's table.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$ROOT/bench-output"
for b in "$ROOT"/scripts/bench_*.py; do
  [ -e "$b" ] || continue
  echo "== $(basename "$b")"
  "$ROOT/.venv/bin/python" "$b" --output-dir "$ROOT/bench-output"
done
