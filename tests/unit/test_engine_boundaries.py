"""The engine never imports qgis; the light modules the QGIS side uses never import torch."""

import ast
import subprocess
import sys
from pathlib import Path

import cmkd_plugin.engine

ENGINE = Path(cmkd_plugin.engine.__file__).parent
LIGHT = ["errors", "feedback", "protocol", "atomic", "launcher", "paths", "cli", "commands"]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
    return names


def test_engine_never_imports_qgis():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) >= 8
    offenders = {
        str(f.relative_to(ENGINE)): sorted(m for m in _imported_modules(f)
                                           if m.split(".")[0] in ("qgis", "processing", "PyQt5"))
        for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_ast_check_would_catch_an_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from qgis.core import QgsProject\n    return QgsProject\n")
    assert "qgis.core" in _imported_modules(bad)


def test_light_modules_do_not_import_torch():
    code = (
        "import sys\n"
        + "".join(f"import cmkd_plugin.engine.{m}\n" for m in LIGHT)
        + "heavy = sorted(m for m in ('torch', 'rasterio', 'geopandas') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(ENGINE.parent.parent))
    assert out.stdout.strip() == ""


def test_cli_help_lists_commands_without_heavy_imports():
    out = subprocess.run([sys.executable, "-m", "cmkd_plugin.engine", "--help"],
                         capture_output=True, text=True, cwd=str(ENGINE.parent.parent))
    assert out.returncode == 0
    assert "enginecheck" in out.stdout
