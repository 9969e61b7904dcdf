"""``cmkd:setupengine`` and the "engine missing" messages inside a real QgsApplication."""

from __future__ import annotations

import processing
import pytest
from qgis.core import QgsProcessingException, QgsSettings

from cmkd_plugin.processing import runner
from cmkd_plugin.processing.settings import (
    ENGINE_PYTHON_QSETTINGS_KEY,
    ENGINE_PYTHON_SETTING,
    configured_engine_python,
    managed_engine_python,
)

SETUP_NAME = '"Set up engine" (cmkd:setupengine)'


@pytest.fixture()
def no_engine(monkeypatch, tmp_path):
    """Nothing configured and no python3 on PATH: a fresh machine that has only QGIS."""
    from processing.core.ProcessingConfig import ProcessingConfig

    if managed_engine_python().exists():
        pytest.skip("this test profile has a managed engine environment")
    before = configured_engine_python()
    ProcessingConfig.setSettingValue(ENGINE_PYTHON_SETTING, "")
    monkeypatch.setenv("CMKD_ENGINE_PYTHON", "auto")
    empty_path = tmp_path / "empty-path"
    empty_path.mkdir()
    monkeypatch.setenv("PATH", str(empty_path))
    runner.forget_engine_status()
    yield
    ProcessingConfig.setSettingValue(ENGINE_PYTHON_SETTING, before)
    runner.forget_engine_status()


def test_setupengine_is_registered_with_its_parameters(cmkd_provider):
    alg = cmkd_provider.algorithm("setupengine")
    assert alg is not None and alg.displayName() == "Set up engine"
    names = {p.name(): p for p in alg.parameterDefinitions()}
    assert set(names) == {"BASE_PYTHON", "TARGET_FOLDER", "WHEELS_FOLDER", "DEVICE"}
    assert all(names[k].flags() & names[k].FlagOptional
               for k in ("BASE_PYTHON", "TARGET_FOLDER", "WHEELS_FOLDER"))
    assert names["DEVICE"].defaultValue() == 0 and len(names["DEVICE"].options()) == 2
    assert {o.name() for o in alg.outputDefinitions()} >= {"ENGINE_PYTHON", "TORCH_BUILD"}


def test_without_engine_every_algorithm_names_setupengine(cmkd_provider, no_engine):
    from cmkd_plugin.processing.base import CmkdAlgorithm

    checked = 0
    # Models shipped by the provider (cmkd:fullworkflow) gate through their CMKD children.
    for alg in [a for a in cmkd_provider.algorithms() if isinstance(a, CmkdAlgorithm)]:
        ok, message = alg.canExecute()
        if alg.name() == "setupengine":
            assert ok, message  # the one algorithm that must run without an engine
            continue
        assert not ok, alg.name()
        assert SETUP_NAME in message and "not set up" in message, message
        assert message.endswith(".") and message[:-1].count(". ") == 0, message
        checked += 1
    assert checked >= 6


def test_run_without_engine_fails_before_writing(cmkd_provider, no_engine, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(QgsProcessingException, match=r"Set up engine\" \(cmkd:setupengine\)"):
        processing.run("cmkd:enginecheck", {"OUTPUT": str(out / "report.json")})
    assert list(out.iterdir()) == []


def test_failed_setup_reports_the_step_and_stores_nothing(cmkd_provider, tmp_path, monkeypatch):
    from processing.core.ProcessingConfig import ProcessingConfig

    before = configured_engine_python()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0-py3-none-any.whl").write_bytes(b"not a wheel")
    target = tmp_path / "engine"
    with pytest.raises(QgsProcessingException, match="Step 'Installing the engine's packages"):
        processing.run("cmkd:setupengine", {"WHEELS_FOLDER": str(wheels),
                                            "TARGET_FOLDER": str(target), "DEVICE": 1})
    assert list(target.iterdir()) == []
    assert configured_engine_python() == before
    assert ProcessingConfig.getSetting(ENGINE_PYTHON_SETTING) == before
    assert QgsSettings().value(ENGINE_PYTHON_QSETTINGS_KEY, "") in ("", before, None)


def test_menu_lists_setupengine_first(cmkd_provider, qgis_iface):
    from cmkd_plugin.gui import add_menu_actions, remove_menu_actions

    actions = add_menu_actions(qgis_iface, cmkd_provider)
    try:
        assert actions[0].text() == "Set up engine…"
        assert len(actions) == len(cmkd_provider.algorithms())
    finally:
        remove_menu_actions(qgis_iface, actions)
