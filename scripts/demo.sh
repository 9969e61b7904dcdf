#!/usr/bin/env bash
# The main job on the embedded default, headless: check the engine, generate a survey scene.
# Grows with the project (training, distillation, classification, carbonation).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${CMKD_DEMO_OUTPUT:-$ROOT/demo-output}
mkdir -p "$OUT"
QP="$ROOT/scripts/qgis-process"

echo "== 1/2 Engine check"
"$QP" run cmkd:enginecheck -- ITERATIONS=5 TILE_SIZE=256 OUTPUT="$OUT/engine-check.html" \
    | grep -E "Engine Python|torch|Forward pass" || true

echo "== 2/2 Survey scene (earth_carbonation, seed 1, 512 px RGB at 0.25 m)"
S="$OUT/scene"
mkdir -p "$S"
"$QP" run cmkd:simulatesurvey -- PRESET=earth_carbonation SEED=1 SIZE=512 LABELS_PER_CLASS=20 \
    OUTPUT_RGB="$S/rgb.tif" OUTPUT_HSI="$S/hsi.tif" OUTPUT_DEM="$S/dem.tif" \
    OUTPUT_TRUTH="$S/truth.tif" OUTPUT_LABELS="$S/labels.gpkg" OUTPUT_SITES="$S/sites.gpkg" \
    OUTPUT_FOOTPRINT="$S/hsi_footprint.gpkg" OUTPUT_PREVIEW="$S/preview.png" >/dev/null
echo
echo "Demo outputs in $OUT:"
find "$OUT" -maxdepth 2 -type f ! -name '.*' | sort | sed 's/^/  /'
