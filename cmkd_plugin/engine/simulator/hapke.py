"""Reflectance <-> single-scattering albedo (Hapke 1981) for intimate mixing.

Intimate (particulate) mixtures are linear in single-scattering albedo ``w``, not in reflectance
(Mustard & Pieters 1989). We use Hapke's bidirectional reflectance factor for isotropic
scatterers without opposition effect, with Chandrasekhar's H function in Hapke's closed-form
approximation ``H(x) = (1 + 2x) / (1 + 2x sqrt(1 - w))``, at the laboratory geometry of the
library spectra (incidence 30 deg, emergence 0 deg). Both directions use that same geometry, so
the choice affects only how non-linear the mixing is, never a pure spectrum.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

INCIDENCE_DEG = 30.0
EMERGENCE_DEG = 0.0


def _h(x: float, w: np.ndarray) -> np.ndarray:
    return (1.0 + 2.0 * x) / (1.0 + 2.0 * x * np.sqrt(1.0 - w))


def ssa_to_reflectance(w: np.ndarray) -> np.ndarray:
    """Bidirectional reflectance factor of a particulate surface of single-scattering albedo ``w``."""
    w = np.clip(np.asarray(w, dtype=np.float64), 0.0, 1.0)
    mu0 = np.cos(np.radians(INCIDENCE_DEG))
    mu = np.cos(np.radians(EMERGENCE_DEG))
    # Reflectance factor REFF = r / (mu0 / pi) with Hapke's r = w/(4 pi) mu0/(mu0+mu) H(mu0) H(mu).
    return w / 4.0 / (mu0 + mu) * _h(mu0, w) * _h(mu, w)


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    # Dense monotone table; inverse by interpolation is exact to ~1e-6 in reflectance.
    w = 1.0 - np.geomspace(1.0, 1e-7, 20001)
    w = np.concatenate([w, [1.0]])
    return w, ssa_to_reflectance(w)


def reflectance_to_ssa(reflectance: np.ndarray) -> np.ndarray:
    """Single-scattering albedo whose :func:`ssa_to_reflectance` is ``reflectance`` (clipped)."""
    w, r = _table()
    return np.interp(np.asarray(reflectance, dtype=np.float64), r, w)


def intimate_mix(reflectances: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Reflectance of an intimate mixture.

    Args:
        reflectances: ``(n_components, n_wavelengths)`` reflectance of each pure component.
        fractions: ``(n_components,)`` relative geometric cross-sections, summing to 1.

    Returns:
        ``(n_wavelengths,)`` reflectance of the mixture.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    fractions = fractions / fractions.sum()
    w = reflectance_to_ssa(reflectances)
    return ssa_to_reflectance(np.tensordot(fractions, w, axes=1))
