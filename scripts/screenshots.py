#!/usr/bin/env python3
"""Real screenshots of CMKD Survey in QGIS, for docs/USER_GUIDE.md.

    python3 scripts/screenshots.py            # writes docs/images/*.png

Run by plain Python, it stages the plugin, makes a throw-away QGIS profile with the plugin
enabled and starts the real QGIS desktop under Xvfb with this same file as ``--code``. Inside
QGIS it opens the Processing Toolbox on the CMKD Survey provider, the CMKD Survey menu and the
"Set up engine" dialog, grabs each window and quits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# QGIS runs a --code file through exec(), without __file__; it needs no paths of its own.
ROOT = Path(globals().get("__file__", ".")).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
SCREEN = "1400x900x24"
#: Milliseconds QGIS gets to finish starting before the first grab (plugins, providers, toolbox).
SETTLE_MS = 4000


# --- outside QGIS: prepare and launch ------------------------------------------------------------
def launch() -> int:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build.py"), "stage"], check=True,
                   capture_output=True)
    IMAGES.mkdir(parents=True, exist_ok=True)
    profiles = Path(tempfile.mkdtemp(prefix="cmkd-screens-"))
    ini = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    # Plugin enabled, no first-run tips or news feed, Processing on, a plain window layout.
    ini.write_text(
        "[PythonPlugins]\ncmkd_plugin=true\nprocessing=true\n\n"
        "[qgis]\ncheckVersion=false\nshowTips322=false\nwidgetsOpened=true\n\n"
        "[core]\nNewsFeed\\httpsfeedqgisorg\\disabled=true\n",
        encoding="utf-8")
    runtime = profiles / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, QGIS_PLUGINPATH=str(ROOT / "build" / "plugin"),
               XDG_RUNTIME_DIR=str(runtime), PROJ_DATA=os.environ.get("PROJ_DATA",
                                                                      "/usr/share/proj"),
               CMKD_SCREENSHOT_DIR=str(IMAGES), LANG="en_US.UTF-8")
    env.pop("QT_QPA_PLATFORM", None)  # a real X server (Xvfb), not offscreen
    # QGIS's embedded Python finds its prefix through the first python3 on PATH: with another
    # Python first (pyenv, a venv) it loads that one's library and cannot import qgis.
    env["PATH"] = "/usr/bin:/bin:" + env.get("PATH", "")
    for name in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    try:
        done = subprocess.run(
            ["xvfb-run", "-a", "-s", f"-screen 0 {SCREEN}", "qgis", "--nologo", "--noversioncheck",
             "--profiles-path", str(profiles),
             "--code", str(Path(__file__).resolve())],
            env=env, timeout=180, capture_output=True, text=True)
    finally:
        shutil.rmtree(profiles, ignore_errors=True)
    made = sorted(IMAGES.glob("*.png"))
    for png in made:
        print(png.relative_to(ROOT))
    if done.returncode != 0 or not made:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        return 1
    return 0


# --- inside QGIS: arrange and grab ---------------------------------------------------------------
def _in_qgis() -> None:
    from qgis.core import QgsApplication
    from qgis.PyQt.QtCore import Qt, QTimer
    from qgis.PyQt.QtWidgets import QDockWidget, QMenu
    from qgis.utils import iface

    out = Path(os.environ["CMKD_SCREENSHOT_DIR"])
    keep: list = []  # widgets alive until QGIS quits

    def guarded(step):
        # An exception in QGIS would open a modal error dialog and hang the run: report, quit.
        def run(*args):
            try:
                step(*args)
            except Exception:  # noqa: BLE001 - any failure ends the run
                import traceback

                sys.__stderr__.write("screenshots: " + traceback.format_exc())
                sys.__stderr__.flush()
                os._exit(1)
        return run

    def toolbox():
        window = iface.mainWindow()
        window.resize(1400, 900)
        window.showMaximized()
        dock = window.findChild(QDockWidget, "ProcessingToolbox")
        dock.setVisible(True)
        dock.raise_()
        view = dock.algorithmTree  # processing.gui.ProcessingToolbox's tree of providers
        view.collapseAll()
        model = view.model()
        for row in range(model.rowCount()):
            index = model.index(row, 0)
            if model.data(index) == "CMKD Survey":
                view.expandRecursively(index)
                view.scrollTo(index, view.PositionAtTop)
                for group in range(model.rowCount(index)):
                    parent = model.index(group, 0, index)
                    for leaf in range(model.rowCount(parent)):
                        if model.data(model.index(leaf, 0, parent)) == "Set up engine":
                            view.setCurrentIndex(model.index(leaf, 0, parent))
        QTimer.singleShot(1000, guarded(grab_toolbox))

    def grab_toolbox():
        iface.mainWindow().grab().save(str(out / "toolbox.png"))
        QTimer.singleShot(200, guarded(open_menu))

    def open_menu():
        window = iface.mainWindow()
        bar = window.menuBar()
        for action in bar.actions():
            if action.text().replace("&", "") == "Plugins":
                plugins_menu = action.menu()
                for sub in plugins_menu.actions():
                    if sub.menu() is not None and sub.text().replace("&", "") == "CMKD Survey":
                        menu: QMenu = sub.menu()
                        menu.popup(bar.mapToGlobal(bar.rect().bottomLeft()))
                        keep.append(menu)
                        QTimer.singleShot(800, lambda m=menu: guarded(grab_menu)(m))
                        return
        QTimer.singleShot(100, guarded(open_dialog))

    def grab_menu(menu):
        menu.grab().save(str(out / "menu.png"))
        menu.hide()
        QTimer.singleShot(200, guarded(open_dialog))

    def open_dialog():
        import processing

        dialog = processing.createAlgorithmDialog("cmkd:setupengine", {})
        dialog.resize(1000, 640)
        dialog.show()
        dialog.setWindowState(dialog.windowState() & ~Qt.WindowMinimized)
        keep.append(dialog)
        QTimer.singleShot(1500, lambda: guarded(grab_dialog)(dialog))

    def grab_dialog(dialog):
        dialog.grab().save(str(out / "setup_engine_dialog.png"))
        dialog.close()
        QTimer.singleShot(200, QgsApplication.exit)

    QTimer.singleShot(SETTLE_MS, guarded(toolbox))
    QTimer.singleShot(120_000, lambda: os._exit(2))  # never hang a build


def _inside_qgis() -> bool:
    # QGIS runs a --code file as __main__ too, so ask for the desktop's interface instead.
    try:
        from qgis.utils import iface
    except ImportError:
        return False
    return iface is not None


if _inside_qgis():
    _in_qgis()
elif __name__ == "__main__":
    sys.exit(launch())
