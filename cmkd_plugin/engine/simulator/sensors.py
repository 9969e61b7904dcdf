"""Sensor models: the hyperspectral band set and the RGB camera.

The HSI band set defaults to an AVIRIS-like 224 bands evenly spaced over 400-2500 nm with an
FWHM of 1.1 band spacings (Green et al. 1998, Remote Sens. Environ. 65, 227-248).

The RGB camera is a Bayer CMOS sensor with an IR-cut filter: channel responses are Gaussian
approximations of the measured sensitivities of consumer cameras (Jiang, Liu, Gu, Suesstrunk 2013,
"What is the space of spectral sensitivity functions for digital color cameras?", IEEE WACV,
28 cameras: peaks near 600 / 535 / 460 nm, widths ~80-100 nm FWHM), followed by von-Kries white
balance on a white reference, exposure, the sRGB transfer curve (IEC 61966-2-1) and 8-bit
quantisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HsiBands:
    """Band centres and full widths at half maximum (nm)."""

    centres_nm: np.ndarray
    fwhm_nm: np.ndarray

    @classmethod
    def even(cls, count: int, first_nm: float = 400.0, last_nm: float = 2500.0) -> "HsiBands":
        """``count`` bands evenly spaced from ``first_nm`` to ``last_nm`` (centres rounded to 0.1 nm)."""
        centres = np.round(np.linspace(first_nm, last_nm, count), 1)
        spacing = (last_nm - first_nm) / max(count - 1, 1)
        fwhm = np.full(count, round(1.1 * spacing, 2))
        return cls(centres, fwhm)

    def response_matrix(self, wavelength_nm: np.ndarray) -> np.ndarray:
        """``(bands, wavelengths)`` Gaussian spectral response functions, each row summing to 1."""
        sigma = self.fwhm_nm[:, None] / 2.3548
        srf = np.exp(-0.5 * ((wavelength_nm[None, :] - self.centres_nm[:, None]) / sigma) ** 2)
        return srf / srf.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Camera:
    """A Bayer RGB camera: channel sensitivities, IR-cut filter, noise and exposure."""

    centres_nm: tuple[float, float, float] = (600.0, 535.0, 460.0)
    fwhm_nm: tuple[float, float, float] = (85.0, 95.0, 80.0)
    ir_cut_nm: float = 660.0        # 50 % point of the IR-cut filter edge
    ir_cut_width_nm: float = 12.0   # logistic edge width
    exposure: float = 1.6           # linear value of a flat white reflector (clipped at 1)
    read_noise: float = 0.002       # linear units, per pixel
    shot_noise: float = 0.0004      # variance per unit linear signal

    def response(self, wavelength_nm: np.ndarray) -> np.ndarray:
        """``(3, wavelengths)`` relative spectral sensitivity of R, G, B (peak 1, IR-cut applied)."""
        c = np.asarray(self.centres_nm)[:, None]
        s = np.asarray(self.fwhm_nm)[:, None] / 2.3548
        curves = np.exp(-0.5 * ((wavelength_nm[None, :] - c) / s) ** 2)
        cut = 1.0 / (1.0 + np.exp((wavelength_nm - self.ir_cut_nm) / self.ir_cut_width_nm))
        return curves * cut[None, :]

    def white_balanced_matrix(self, wavelength_nm: np.ndarray,
                              irradiance: np.ndarray) -> np.ndarray:
        """``(3, wavelengths)`` weights mapping a reflectance spectrum to white-balanced linear RGB.

        A perfect white reflector under ``irradiance`` maps to (1, 1, 1) before exposure.
        """
        raw = self.response(wavelength_nm) * irradiance[None, :]
        return raw / raw.sum(axis=1, keepdims=True)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """sRGB transfer curve (IEC 61966-2-1), input and output in [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * np.power(linear, 1.0 / 2.4) - 0.055)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_encode`."""
    encoded = np.clip(np.asarray(encoded, dtype=np.float64), 0.0, 1.0)
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def hsi_noise_sigma(band_centres_nm: np.ndarray, reflectance: np.ndarray,
                    transmittance: np.ndarray, irradiance: np.ndarray) -> np.ndarray:
    """Standard deviation of HSI noise in reflectance units, per band and pixel.

    Read noise plus photon noise, both relative to the signal reaching the detector (solar
    irradiance times the two-way atmospheric transmittance of each band), so noise rises in the
    SWIR and explodes in the opaque water-vapour bands, as in real imaging spectrometers.
    """
    signal = np.clip(irradiance * transmittance, 1e-3, None)[:, None, None]
    read = 0.0004 / np.sqrt(signal)
    shot = np.sqrt(0.000001 * np.clip(reflectance, 0.0, None) / signal)
    return np.minimum(np.sqrt(read * read + shot * shot), 0.05)
