#!/usr/bin/env bash
# `make demo`: the whole CMKD mission headless on the embedded default.
#   a simulated earth_carbonation survey (a seed the bundled models never saw) →
#   bundled teacher and student map it (without bundled models: trained here first) →
#   a short distillation (training you can watch) →
#   accuracy against the truth → carbonation rate and per-site CO2 uptake →
#   a QGIS project, a rendered map and an HTML report, all in one folder.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${CMKD_DEMO_OUTPUT:-$ROOT/demo-output}
SIZE=${CMKD_DEMO_SIZE:-512}
EPOCHS=${CMKD_DEMO_EPOCHS:-3}
MODELS=${CMKD_DEMO_MODELS:-$ROOT/resources/models}
QP="$ROOT/scripts/qgis-process"
if [ -z "${CMKD_PLUGIN_DIR:-}" ]; then  # stage once, not at every qgis-process call
  python3 "$ROOT/scripts/build.py" stage > /dev/null
  export CMKD_PLUGIN_DIR="$ROOT/build/plugin"
fi
rm -rf "$OUT"
mkdir -p "$OUT"/{scene,teacher,student,training,carbon}
TIMINGS="$OUT/timings.tsv"
: > "$TIMINGS"

step() {  # step "name" cmd...  — runs a step, prints and records its wall time
  local name=$1; shift
  local t0=$EPOCHREALTIME
  echo "== $name"
  "$@"
  awk -v n="$name" -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%s\t%.1f\n", n, b - a }' \
      | tee -a "$TIMINGS" | awk -F'\t' '{ print "   " $2 " s" }'
}
quiet() { "$@" > /dev/null; }
tofile() { local f=$1; shift; "$@" > "$f"; }

S="$OUT/scene"
step "engine check" quiet "$QP" run cmkd:enginecheck -- ITERATIONS=5 TILE_SIZE=256 \
    OUTPUT="$OUT/engine-check.html"
step "simulate survey" quiet "$QP" run cmkd:simulatesurvey -- PRESET=earth_carbonation SEED=1 \
    SIZE="$SIZE" LABELS_PER_CLASS=20 OUTPUT_RGB="$S/rgb.tif" OUTPUT_HSI="$S/hsi.tif" \
    OUTPUT_DEM="$S/dem.tif" OUTPUT_TRUTH="$S/truth.tif" OUTPUT_LABELS="$S/labels.gpkg" \
    OUTPUT_SITES="$S/sites.gpkg" OUTPUT_FOOTPRINT="$S/hsi_footprint.gpkg" \
    OUTPUT_PREVIEW="$S/preview.png"
TEACHER="$MODELS/earth_carbonation_teacher.cmkd"
STUDENT="$MODELS/earth_carbonation_student.cmkd"
BUNDLED=yes
if [ ! -f "$TEACHER" ] || [ ! -f "$STUDENT" ]; then
  # Bundled models are made by scripts/train_default_models.py; without them, train here.
  echo "(no bundled models in $MODELS: training a teacher and a student on this scene)"
  BUNDLED=no
  TEACHER="$OUT/training/teacher.cmkd"
  STUDENT="$OUT/training/student.cmkd"
  step "train teacher ($EPOCHS epochs)" quiet "$QP" run cmkd:trainteacher -- \
      RGB="$S/rgb.tif" HSI="$S/hsi.tif" DEM="$S/dem.tif" LABELS="$S/labels.gpkg" \
      EPOCHS="$EPOCHS" SEED=0 OUTPUT_MODEL="$TEACHER" OUTPUT_REPORT="$OUT/training/teacher.html"
  step "distil student ($EPOCHS epochs)" quiet "$QP" run cmkd:distillstudent -- \
      TEACHER="$TEACHER" RGB="$S/rgb.tif" HSI="$S/hsi.tif" DEM="$S/dem.tif" \
      LABELS="$S/labels.gpkg" EPOCHS="$EPOCHS" SEED=0 OUTPUT_MODEL="$STUDENT" \
      OUTPUT_REPORT="$OUT/training/report.html"
fi
for who in teacher student; do
  model=$TEACHER
  [ "$who" = student ] && model=$STUDENT
  extra=()
  [ "$who" = teacher ] && extra=(HSI="$S/hsi.tif" DEM="$S/dem.tif")
  step "classify ($who)" tofile "$OUT/$who/classify.json" "$QP" --json run cmkd:classify -- \
      MODEL="$model" RGB="$S/rgb.tif" "${extra[@]}" \
      OUTPUT_CLASSES="$OUT/$who/classes.tif" OUTPUT_PROBABILITIES="$OUT/$who/probabilities.tif" \
      OUTPUT_CONFIDENCE="$OUT/$who/confidence.tif"
  step "evaluate ($who)" quiet "$QP" run cmkd:evaluate -- CLASSES="$OUT/$who/classes.tif" \
      REFERENCE="$S/truth.tif" OUTPUT_REPORT="$OUT/$who/evaluation.html"
done
if [ "$BUNDLED" = yes ]; then
  step "distil a student from the bundled teacher ($EPOCHS epochs)" \
      "$QP" run cmkd:distillstudent -- TEACHER="$TEACHER" RGB="$S/rgb.tif" HSI="$S/hsi.tif" \
      DEM="$S/dem.tif" LABELS="$S/labels.gpkg" EPOCHS="$EPOCHS" SEED=0 \
      OUTPUT_MODEL="$OUT/training/student.cmkd" OUTPUT_REPORT="$OUT/training/report.html" \
      | grep -E "epoch|_OA|RETENTION" || true
fi
step "carbonation" quiet "$QP" run cmkd:carbonation -- \
    PROBABILITIES="$OUT/student/probabilities.tif" SITES="$S/sites.gpkg" SITE_ID_FIELD=site_id \
    OUTPUT_RATE="$OUT/carbon/rate.tif" OUTPUT_UNCERTAINTY="$OUT/carbon/uncertainty.tif" \
    OUTPUT_SITES="$OUT/carbon/site_uptake.gpkg"
step "project, map and report" env QT_QPA_PLATFORM=offscreen PROJ_DATA=/usr/share/proj \
    "$ROOT/.venv/bin/python" "$ROOT/scripts/demo_report.py" "$OUT" --bundled-models "$BUNDLED"

echo
echo "Demo finished. Open in QGIS: $OUT/cmkd-demo.qgz"
echo "  map:    $OUT/map.png"
echo "  report: $OUT/report.html"
echo "  all outputs:"
find "$OUT" -type f \( -name '*.tif' -o -name '*.gpkg' -o -name '*.cmkd' -o -name '*.html' -o -name '*.png' -o -name '*.qgz' \) \
    ! -name '.*' | sort | sed "s|^$OUT/|    |"
