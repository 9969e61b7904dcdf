"""Japanese translation: complete, placeholders intact, loaded from QGIS's locale setting."""

import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TS = ROOT / "i18n" / "cmkd_plugin_ja.ts"


def _messages():
    for context in ET.parse(TS).getroot().iter("context"):
        for message in context.iter("message"):
            yield context.findtext("name"), message.findtext("source"), message.find("translation")


def test_every_string_is_translated_and_keeps_its_placeholders():
    messages = [m for m in _messages() if m[2].get("type") != "obsolete"]
    assert len(messages) > 100
    for context, source, translation in messages:
        assert translation.get("type") != "unfinished" and (translation.text or "").strip(), \
            (context, source)
        assert translation.text.count("{}") == source.count("{}"), (context, source)
        # File filters must keep their patterns or the file dialogs stop filtering.
        assert re.findall(r"\(\*\.[a-z0-9]+\)", translation.text) == \
            re.findall(r"\(\*\.[a-z0-9]+\)", source)


def test_the_ts_file_holds_every_string_the_plugin_shows(tmp_path):
    """Re-extract (scripts/update_translations.py) into a copy: nothing new may appear."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / 'scripts')!r})
        import update_translations as u
        static = u.static_strings()
        found = static | u.without_inherited(u.live_strings(), static)
        import xml.etree.ElementTree as ET
        have = set()
        for c in ET.parse({str(TS)!r}).getroot().iter("context"):
            for m in c.iter("message"):
                if m.find("translation").get("type") != "obsolete":
                    have.add((c.findtext("name"), m.findtext("source")))
        print("MISSING", sorted(found - have))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(ROOT), timeout=300)
    assert out.returncode == 0, out.stderr
    assert "MISSING []" in out.stdout, out.stdout


def test_translator_loads_under_a_japanese_locale(repo_root):
    staged = subprocess.run([sys.executable, str(ROOT / "scripts" / "build.py"), "stage"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert (Path(staged) / "i18n" / "cmkd_plugin_ja.qm").exists()
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from qgis.core import QgsApplication, QgsSettings
        app = QgsApplication([], False)
        app.initQgis()
        QgsSettings().setValue("locale/userLocale", "ja_JP")
        import cmkd_plugin
        plugin = cmkd_plugin.classFactory(None)
        plugin.initProcessing()
        alg = plugin.provider.algorithm("enginecheck")
        print("NAME", alg.displayName())
        print("GROUP", alg.group())
        print("PARAM", alg.parameterDefinition("ITERATIONS").description())
        plugin.unload()
        app.exitQgis()
    """)
    out = subprocess.run([sys.executable, "-c", code, str(Path(staged).parent)],
                         capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QGIS_CUSTOM_CONFIG_PATH":
                              str(ROOT / "build" / "translation-test-config")})
    assert out.returncode == 0, out.stderr
    assert "NAME エンジンを確認" in out.stdout
    assert "GROUP 診断" in out.stdout
    assert "PARAM 計測する順伝播の回数" in out.stdout
