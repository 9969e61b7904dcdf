"""Illumination spectrum and atmospheric effects on the 1 nm endmember grid.

The HSI product is apparent surface reflectance after an (imperfect) atmospheric correction, so
only *residuals* of the atmosphere remain in it; the RGB camera records radiance and sees the
whole atmosphere (largely cancelled by white balance). All absorption features are Gaussian
approximations at the documented band positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUN_TEMPERATURE_K = 5778.0

#: Earth water-vapour / oxygen absorption: (centre nm, FWHM nm, optical depth at nadir, moist air).
EARTH_ABSORPTION = (
    (762.0, 8.0, 0.9),     # O2 A band
    (940.0, 60.0, 0.9),    # H2O
    (1140.0, 80.0, 0.9),   # H2O
    (1380.0, 110.0, 6.0),  # H2O, nearly opaque
    (1880.0, 150.0, 7.0),  # H2O, nearly opaque
    (2500.0, 120.0, 2.0),  # H2O wing at the end of the range
)
#: Mars CO2 absorption (centre nm, FWHM nm, optical depth).
MARS_ABSORPTION = (
    (1435.0, 20.0, 0.3),
    (1575.0, 30.0, 0.15),
    (2010.0, 25.0, 1.0),
    (1960.0, 22.0, 0.5),
    (2060.0, 22.0, 0.6),
)


def _gauss(wl: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    return np.exp(-0.5 * ((wl - centre) / (fwhm / 2.3548)) ** 2)


def solar_irradiance(wavelength_nm: np.ndarray) -> np.ndarray:
    """Relative solar spectral irradiance: a 5778 K black body (normalised to 1 at 550 nm)."""
    lam = wavelength_nm * 1e-9
    c2 = 1.4388e-2  # m K
    b = lam**-5 / np.expm1(c2 / (lam * SUN_TEMPERATURE_K))
    lam0 = 550e-9
    return b / (lam0**-5 / np.expm1(c2 / (lam0 * SUN_TEMPERATURE_K)))


def absorption_depth(kind: str, wavelength_nm: np.ndarray) -> np.ndarray:
    """Gaseous optical depth at nadir for ``kind`` "earth" or "mars"."""
    table = EARTH_ABSORPTION if kind == "earth" else MARS_ABSORPTION
    tau = np.zeros_like(wavelength_nm, dtype=np.float64)
    for centre, fwhm, depth in table:
        tau += depth * _gauss(wavelength_nm, centre, fwhm)
    return tau


@dataclass(frozen=True)
class Atmosphere:
    """Atmospheric state of one acquisition."""

    kind: str                  # "earth" or "mars"
    aerosol_optical_depth: float  # at 550 nm (Mars: dust)
    residual_scale: float      # relative error of the gas correction in the HSI (signed)
    haze_reflectance: float    # additive path reflectance at 550 nm left in the HSI

    def transmittance(self, wavelength_nm: np.ndarray, airmass: float) -> np.ndarray:
        """Direct-beam transmittance along sun path + nadir view (for the camera)."""
        tau_gas = absorption_depth(self.kind, wavelength_nm)
        if self.kind == "earth":
            rayleigh = 0.0088 * (wavelength_nm / 1000.0) ** -4.05
            aerosol = self.aerosol_optical_depth * (wavelength_nm / 550.0) ** -1.3
        else:
            rayleigh = np.zeros_like(wavelength_nm)
            # Martian dust extinction is nearly grey across the VNIR-SWIR.
            aerosol = self.aerosol_optical_depth * (wavelength_nm / 550.0) ** -0.2
        # Scattered light partly reaches the ground as skylight: count half of it as lost.
        return np.exp(-(tau_gas + 0.5 * (rayleigh + aerosol)) * airmass)

    def residual(self, wavelength_nm: np.ndarray) -> np.ndarray:
        """Multiplicative residual ``1 + e(lambda)`` of an imperfect gas correction in the HSI."""
        tau = absorption_depth(self.kind, wavelength_nm)
        # The error grows with the gas depth but saturates where the band is opaque.
        return 1.0 + self.residual_scale * (1.0 - np.exp(-tau))

    def path_spectrum(self, wavelength_nm: np.ndarray, dust_reflectance: np.ndarray | None) -> np.ndarray:
        """Additive haze reflectance left in the HSI (blue Rayleigh veil on Earth, dust on Mars)."""
        if self.kind == "mars" and dust_reflectance is not None:
            shape = dust_reflectance / np.interp(550.0, wavelength_nm, dust_reflectance)
        else:
            shape = (wavelength_nm / 550.0) ** -4.0
        return self.haze_reflectance * shape


def bad_band_mask(kind: str, band_centres_nm: np.ndarray) -> np.ndarray:
    """True for usable bands, False where the atmosphere is nearly opaque (ENVI ``bbl``)."""
    tau = absorption_depth(kind, np.asarray(band_centres_nm, dtype=np.float64))
    return np.exp(-2.0 * tau) > 0.2
