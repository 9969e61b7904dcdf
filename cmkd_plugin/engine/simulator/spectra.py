"""Endmember spectra on a 1 nm grid: measured USGS splib07 spectra, band-parameter models, mixtures.

The data live in ``resources/spectra/`` (see ``PROVENANCE.md`` there): measured reflectance in
``usgs_splib07_selected.npz``, band parameters with their citations, VNIR extensions and mixture
recipes in ``modelled_spectra.json``. This module only evaluates them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import EngineSetupError
from ..paths import resources_dir
from .hapke import intimate_mix

#: The master wavelength grid of every endmember spectrum (nm), that of the USGS extraction.
WAVELENGTH_NM = np.arange(350.0, 2501.0, 1.0)
MEASURED_FILE = "usgs_splib07_selected.npz"
MODELLED_FILE = "modelled_spectra.json"


def _spectra_dir():
    folder = resources_dir() / "spectra"
    for name in (MEASURED_FILE, MODELLED_FILE):
        if not (folder / name).is_file():
            raise EngineSetupError(
                f"The spectral library file '{folder / name}' is missing; the plugin installation "
                "is incomplete: reinstall it (developers: run scripts/extract_spectra.py)."
            )
    return folder


def band_model(params: dict[str, Any], wavelength_nm: np.ndarray = WAVELENGTH_NM) -> np.ndarray:
    """Evaluate a Modified-Gaussian-Model spectrum (continuum times Gaussian bands in energy).

    Args:
        params: ``continuum_nm_reflectance`` ([[nm, R], ...]) and ``bands`` (each with
            ``centre_nm``, ``fwhm_nm``, ``strength_ln``), as in ``modelled_spectra.json``.
        wavelength_nm: where to evaluate it.

    Returns:
        Reflectance at ``wavelength_nm``.
    """
    anchors = np.asarray(params["continuum_nm_reflectance"], dtype=np.float64)
    continuum = np.interp(wavelength_nm, anchors[:, 0], anchors[:, 1])
    energy = 1.0 / wavelength_nm
    log_absorption = np.zeros_like(wavelength_nm, dtype=np.float64)
    for band in params.get("bands", []):
        centre, fwhm = float(band["centre_nm"]), float(band["fwhm_nm"])
        sigma = (1.0 / (centre - fwhm / 2.0) - 1.0 / (centre + fwhm / 2.0)) / 2.3548
        log_absorption += float(band["strength_ln"]) * np.exp(
            -((energy - 1.0 / centre) ** 2) / (2.0 * sigma**2))
    return continuum * np.exp(log_absorption)


def _extend_vnir(measured: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Fill the unmeasured short-wavelength part with the band model, joined without a step."""
    ok = np.isfinite(measured)
    start = int(np.argmax(ok))
    blend = int(params.get("blend_nm", 30))
    model = band_model(params)
    # Scale the model to the measured level at the junction (mean of the first 10 nm measured).
    junction = slice(start, start + 10)
    model *= np.mean(measured[junction]) / np.mean(model[junction])
    out = measured.copy()
    out[:start] = model[:start]
    ramp = np.linspace(0.0, 1.0, blend, endpoint=False)
    seg = slice(start, start + blend)
    out[seg] = (1.0 - ramp) * model[seg] + ramp * measured[seg]
    return out


def _fill_edges(spectrum: np.ndarray) -> np.ndarray:
    # A few nm at either end are missing in some records; hold the nearest measured value.
    ok = np.isfinite(spectrum)
    idx = np.arange(spectrum.size)
    return np.interp(idx, idx[ok], spectrum[ok])


@lru_cache(maxsize=1)
def library() -> dict[str, np.ndarray]:
    """Every named endmember spectrum (reflectance on :data:`WAVELENGTH_NM`), read-only arrays."""
    folder = _spectra_dir()
    with np.load(folder / MEASURED_FILE, allow_pickle=False) as data:
        grid = data["wavelength_nm"].astype(np.float64)
        if grid.size != WAVELENGTH_NM.size or np.abs(grid - WAVELENGTH_NM).max() > 1e-3:
            raise EngineSetupError(f"'{folder / MEASURED_FILE}' is not on the 350-2500 nm 1 nm grid; "
                                   "re-run scripts/extract_spectra.py.")
        measured = {str(n): r.astype(np.float64) for n, r in zip(data["name"], data["reflectance"])}
    spec = json.loads((folder / MODELLED_FILE).read_text(encoding="utf-8"))
    out: dict[str, np.ndarray] = {}
    extensions = spec["vnir_extensions"]
    for name, refl in measured.items():
        if name in extensions:
            refl = _extend_vnir(refl, extensions[name])
        out[name] = _fill_edges(refl)
    for name, params in spec["minerals"].items():
        out[name] = band_model(params)
    # Recipes may use earlier recipes (soil uses basalt): evaluate in file order.
    for name, recipe in spec["mixtures"].items():
        if name == "about":
            continue
        comps = recipe["components"]
        out[name] = intimate_mix(np.stack([out[c] for c in comps]), np.array(list(comps.values())))
    for arr in out.values():
        np.clip(arr, 0.0, 1.0, out=arr)
        arr.setflags(write=False)
    return out


def spectrum(name: str) -> np.ndarray:
    """Reflectance of endmember ``name`` on :data:`WAVELENGTH_NM` (a read-only array)."""
    lib = library()
    if name not in lib:
        raise KeyError(f"No endmember spectrum '{name}'; known: {', '.join(sorted(lib))}")
    return lib[name]
