import subprocess
import sys
import textwrap

from qgis.core import QgsApplication, QgsProcessingAlgorithm


def test_provider_registers_with_its_algorithms(cmkd_provider):
    registry = QgsApplication.processingRegistry()
    assert registry.providerById("cmkd") is cmkd_provider
    assert cmkd_provider.name() == "CMKD Survey"
    ids = {alg.id() for alg in cmkd_provider.algorithms()}
    assert "cmkd:enginecheck" in ids
    for alg in cmkd_provider.algorithms():
        assert alg.name() == alg.name().lower() and alg.name().isalnum()
        assert alg.displayName() and alg.group() and alg.shortHelpString()
        assert alg.groupId() == alg.groupId().lower()
        assert isinstance(alg.createInstance(), type(alg))
    assert not cmkd_provider.icon().isNull()


def test_engine_python_setting_is_registered(cmkd_provider):
    from processing.core.ProcessingConfig import ProcessingConfig

    from cmkd_plugin.processing.settings import ENGINE_PYTHON_SETTING

    assert ENGINE_PYTHON_SETTING in ProcessingConfig.settings
    assert ProcessingConfig.settings[ENGINE_PYTHON_SETTING].group == cmkd_provider.name()


def test_engine_python_resolution_order(cmkd_provider, monkeypatch, tmp_path):
    from processing.core.ProcessingConfig import ProcessingConfig

    from cmkd_plugin.processing.settings import ENGINE_PYTHON_SETTING, engine_python

    monkeypatch.setenv("CMKD_ENGINE_PYTHON", "/from/env/python")
    assert engine_python() == ("/from/env/python", "the CMKD_ENGINE_PYTHON environment variable")
    (tmp_path / "py").write_text("")  # the setting's validator wants an existing file
    ProcessingConfig.setSettingValue(ENGINE_PYTHON_SETTING, str(tmp_path / "py"))
    try:
        assert engine_python()[0] == str(tmp_path / "py")
    finally:
        ProcessingConfig.setSettingValue(ENGINE_PYTHON_SETTING, "")
    monkeypatch.delenv("CMKD_ENGINE_PYTHON")
    python, source = engine_python()
    assert source in ("the managed engine environment", "python3 on PATH")


def test_plugin_and_provider_load_without_torch(repo_root):
    # A fresh interpreter: the test process itself may have imported torch elsewhere.
    code = textwrap.dedent("""
        import sys
        from qgis.core import QgsApplication
        app = QgsApplication([], False)
        app.initQgis()
        import cmkd_plugin
        plugin = cmkd_plugin.classFactory(None)
        plugin.initProcessing()
        algs = [a.id() for a in plugin.provider.algorithms()]
        print("ALGS", algs)
        print("HEAVY", sorted(m for m in ("torch", "rasterio", "geopandas") if m in sys.modules))
        plugin.unload()
        app.exitQgis()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(repo_root), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "cmkd:enginecheck" in out.stdout
    assert "HEAVY []" in out.stdout


def test_algorithms_are_processing_algorithms(cmkd_provider):
    for alg in cmkd_provider.algorithms():
        assert isinstance(alg, QgsProcessingAlgorithm)
