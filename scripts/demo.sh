#!/usr/bin/env bash
# The main job on the embedded default, headless: check the engine, generate a survey scene.
# Grows with the project (training, distillation, classification, carbonation).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${CMKD_DEMO_OUTPUT:-$ROOT/demo-output}
mkdir -p "$OUT"
QP="$ROOT/scripts/qgis-process"

echo "== 1/2 Engine check"
"$QP" run cmkd:enginecheck -- ITERATIONS=5 TILE_SIZE=256 OUTPUT="$OUT/engine-check.html" | grep -E "Engine Python|torch|Forward pass" || true

if "$QP" list 2>/dev/null | grep -q "cmkd:simulatesurvey"; then
  echo "== 2/2 Survey scene (earth_carbonation, seed 1)"
  "$QP" run cmkd:simulatesurvey -- PRESET=earth_carbonation SEED=1 SIZE=512 \
      OUTPUT_FOLDER="$OUT/scene" >/dev/null
fi
echo
echo "Demo outputs in $OUT:"
find "$OUT" -maxdepth 2 -type f ! -name '.*' | sort | sed 's/^/  /'
