#!/usr/bin/env python3
"""Assemble the installable plugin.

    python3 scripts/build.py stage [PLUGINS_DIR]   # build/plugin/cmkd_plugin/ (or PLUGINS_DIR/…)
    python3 scripts/build.py zip     # dist/cmkd_plugin.zip (Plugin Manager > Install from ZIP)

The staged folder is the zip's root folder: the ``cmkd_plugin`` package plus ``metadata.txt``,
``resources/``, ``requirements/`` (for setting up an engine) and compiled translations ``i18n/*.qm``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "plugin" / "cmkd_plugin"
DIST = ROOT / "dist" / "cmkd_plugin.zip"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.ts")


def compile_translations(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for ts in sorted((ROOT / "i18n").glob("*.ts")):
        lrelease = shutil.which("lrelease") or "/usr/lib/qt5/bin/lrelease"
        subprocess.run([lrelease, "-silent", str(ts), "-qm", str(target / (ts.stem + ".qm"))],
                       check=True)


def stage(target: Path = STAGE) -> Path:
    """Assemble the plugin folder at ``target`` (``…/cmkd_plugin``), replacing what was there."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / "cmkd_plugin", target, ignore=IGNORE)
    shutil.copy2(ROOT / "metadata.txt", target / "metadata.txt")
    shutil.copytree(ROOT / "resources", target / "resources", ignore=IGNORE)
    shutil.copytree(ROOT / "requirements", target / "requirements", ignore=IGNORE)
    for doc in ("README.md", "LICENSE"):
        if (ROOT / doc).exists():
            shutil.copy2(ROOT / doc, target / doc)
    compile_translations(target / "i18n")
    return target


def make_zip() -> Path:
    staged = stage()
    DIST.parent.mkdir(parents=True, exist_ok=True)
    tmp = DIST.with_suffix(".zip.partial")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(staged.rglob("*")):
            zf.write(path, path.relative_to(staged.parent).as_posix())
    tmp.replace(DIST)
    return DIST


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "zip"
    if what == "stage":
        # Optional second argument: a plugins folder to stage into (tests stage a private copy).
        print(stage(Path(sys.argv[2]) / "cmkd_plugin") if len(sys.argv) > 2 else stage())
    elif what == "zip":
        print(make_zip())
    else:
        sys.exit(f"usage: {sys.argv[0]} stage|zip")
