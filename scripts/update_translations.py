#!/usr/bin/env python3
"""Collect every user-visible string of the plugin into ``i18n/cmkd_plugin_<lang>.ts``.

    .venv/bin/python scripts/update_translations.py ja

Two sources, because many strings are built in loops that ``pylupdate5`` cannot read:
- the live provider (needs QGIS): each algorithm's display name, group, help, parameter and
  output descriptions, under the algorithm's class name as context — the context that
  ``CmkdAlgorithm.tr`` looks up;
- the source code (AST): literal ``self.tr("…")`` (context: the enclosing class),
  ``QCoreApplication.translate("Context", "…")`` and ``tr("…")`` in modules whose own ``tr``
  helper names its context.
Existing translations are kept; new strings are added unfinished; strings no longer used are
marked obsolete. Compile with ``lrelease`` (``scripts/build.py`` does it for the zip).
"""

from __future__ import annotations

import ast
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cmkd_plugin"
QT_SOURCES = [PACKAGE / "plugin.py", PACKAGE / "gui.py", *sorted((PACKAGE / "processing").rglob("*.py"))]


def _module_tr_context(tree: ast.Module) -> str | None:
    """The context of a module-level ``def tr(text)`` that calls ``translate("X", text)``."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "tr":
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "translate"
                        and call.args and isinstance(call.args[0], ast.Constant)):
                    return str(call.args[0].value)
    return None


def static_strings() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in QT_SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_context = _module_tr_context(tree)

        def visit(node: ast.AST, cls: str | None) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    visit(child, child.name)
                    continue
                if isinstance(child, ast.Call) and child.args:
                    func = child.func
                    first = child.args[0]
                    if (isinstance(func, ast.Attribute) and func.attr == "tr" and cls
                            and isinstance(first, ast.Constant) and isinstance(first.value, str)):
                        found.add((cls, first.value))
                    elif (isinstance(func, ast.Name) and func.id == "tr" and module_context
                          and isinstance(first, ast.Constant) and isinstance(first.value, str)):
                        found.add((module_context, first.value))
                    elif (isinstance(func, ast.Attribute) and func.attr == "translate"
                          and len(child.args) >= 2 and isinstance(first, ast.Constant)
                          and isinstance(child.args[1], ast.Constant)
                          and isinstance(child.args[1].value, str)):
                        found.add((str(first.value), child.args[1].value))
                visit(child, cls)

        visit(tree, None)
    return found


def live_strings() -> set[tuple[str, str]]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    sys.path.append("/usr/share/qgis/python/plugins")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from cmkd_plugin.processing.base import GROUPS
    from cmkd_plugin.processing.provider import CmkdProvider

    provider = CmkdProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    found: set[tuple[str, str]] = {("CmkdProvider", provider.name())}
    for alg in provider.algorithms():
        context = type(alg).__name__
        if context == "BundledModel":
            found.add((context, alg.displayName()))
            found.add((context, alg.group()))
            continue
        found.update((context, text) for text in (alg.displayName(), alg.shortHelpString()))
        for definition in alg.parameterDefinitions():
            found.add((context, definition.description()))
        for output in alg.outputDefinitions():
            found.add((context, output.description()))
    found.update(("CmkdAlgorithm", name) for name in GROUPS.values())
    QgsApplication.processingRegistry().removeProvider(provider)
    app.exitQgis()
    return {(c, t) for c, t in found if t and t.strip()}


def without_inherited(live: set[tuple[str, str]],
                      static: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Drop live strings that a base class already holds (``tr`` finds them along the MRO)."""
    from cmkd_plugin.processing.algorithms import ALGORITHMS

    bases = {cls.__name__: [b.__name__ for b in cls.__mro__[1:]] for cls in ALGORITHMS}
    kept = set()
    for context, text in live:
        if any((base, text) in static or (base, text) in live for base in bases.get(context, [])):
            continue
        kept.add((context, text))
    return kept


def update_ts(lang: str, strings: set[tuple[str, str]]) -> Path:
    ts_path = ROOT / "i18n" / f"cmkd_plugin_{lang}.ts"
    existing: dict[tuple[str, str], ET.Element] = {}
    if ts_path.exists():
        for context in ET.parse(ts_path).getroot().iter("context"):
            name = context.findtext("name") or ""
            for message in context.iter("message"):
                existing[(name, message.findtext("source") or "")] = message.find("translation")
    root = ET.Element("TS", version="2.1", language=lang)
    keys = sorted(strings | set(existing))
    for context_name in sorted({c for c, _ in keys}):
        context = ET.SubElement(root, "context")
        ET.SubElement(context, "name").text = context_name
        for c, source in keys:
            if c != context_name:
                continue
            message = ET.SubElement(context, "message")
            ET.SubElement(message, "source").text = source
            old = existing.get((c, source))
            translation = ET.SubElement(message, "translation")
            if old is not None and (old.text or "").strip():
                translation.text = old.text
                if old.get("type") == "unfinished":
                    translation.set("type", "unfinished")
            else:
                translation.set("type", "unfinished")
            if (c, source) not in strings:
                translation.set("type", "obsolete")
    ET.indent(root)
    ts_path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n'
                       + ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")
    return ts_path


if __name__ == "__main__":
    language = sys.argv[1] if len(sys.argv) > 1 else "ja"
    static = static_strings()
    collected = static | without_inherited(live_strings(), static)
    out = update_ts(language, collected)
    print(f"{out}: {len(collected)} strings")
