"""Modality-specific augmentation of raw (unnormalised) training patches, in torch.

Each function takes a (B, C, H, W) float tensor of physical values (reflectance 0-1, DEM
channels in metres/degrees/0-1), returns a new tensor, keeps NaN (nodata) as NaN, and draws its
randomness from the given ``torch.Generator`` so a seed reproduces a run. What each simulates:

* HSI: calibration and illumination differences between flight lines (per-sample gain, smooth
  spectral warping), wavelength calibration drift (sub-band spectral shift), and noisy or missing
  detector rows (band dropout, set to the neighbouring band's value).
* DEM: a different datum or vertical reference (offset), a residual tilt of the surface model,
  and noise; slope and hillshade are left as the terrain dictates.
* RGB: camera white balance and exposure (per-channel gain, brightness offset).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _uniform(shape: tuple[int, ...], low: float, high: float, gen: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=gen)


def augment_hsi(x: Tensor, gen: torch.Generator, *, gain: float = 0.08, warp: float = 0.04,
                shift_bands: float = 0.5, band_dropout: float = 0.03) -> Tensor:
    """Gain noise, smooth spectral warping, fractional spectral shift and band dropout."""
    b, c, _, _ = x.shape
    out = x * _uniform((b, 1, 1, 1), 1.0 - gain, 1.0 + gain, gen)
    # A smooth multiplicative warp: a random low-order polynomial over the band axis.
    t = torch.linspace(-1.0, 1.0, c)
    coeffs = _uniform((b, 3), -warp, warp, gen)
    curve = 1.0 + coeffs[:, :1] * t + coeffs[:, 1:2] * (t ** 2 - 1.0 / 3.0) + coeffs[:, 2:] * t ** 3
    out = out * curve[:, :, None, None]
    if c > 1 and shift_bands > 0:
        s = _uniform((b, 1, 1, 1), -shift_bands, shift_bands, gen)
        up = torch.cat([out[:, 1:], out[:, -1:]], dim=1)
        down = torch.cat([out[:, :1], out[:, :-1]], dim=1)
        out = torch.where(s >= 0, (1 - s) * out + s * up, (1 + s) * out - s * down)
    if c > 2 and band_dropout > 0:
        drop = torch.rand((b, c), generator=gen) < band_dropout
        prev = torch.cat([out[:, :1], out[:, :-1]], dim=1)
        out = torch.where(drop[:, :, None, None], prev, out)
    return out


def augment_dem(x: Tensor, gen: torch.Generator, *, offset_m: float = 20.0,
                tilt_m_per_px: float = 0.05, noise_m: float = 0.2) -> Tensor:
    """Offset, planar tilt and noise on the elevation channel (channel 0)."""
    b, _, h, w = x.shape
    yy = torch.arange(h, dtype=x.dtype)[:, None] - (h - 1) / 2.0
    xx = torch.arange(w, dtype=x.dtype)[None, :] - (w - 1) / 2.0
    offset = _uniform((b, 1, 1), -offset_m, offset_m, gen)
    tilt = _uniform((b, 2), -tilt_m_per_px, tilt_m_per_px, gen)
    plane = tilt[:, 0, None, None] * yy + tilt[:, 1, None, None] * xx
    noise = noise_m * torch.randn((b, h, w), generator=gen)
    out = x.clone()
    out[:, 0] = x[:, 0] + offset + plane + noise
    return out


def augment_rgb(x: Tensor, gen: torch.Generator, *, gain: float = 0.08,
                brightness: float = 0.03) -> Tensor:
    """Colour jitter: per-channel gain and a common brightness offset."""
    b, c, _, _ = x.shape
    g = _uniform((b, c, 1, 1), 1.0 - gain, 1.0 + gain, gen)
    o = _uniform((b, 1, 1, 1), -brightness, brightness, gen)
    return x * g + o


AUGMENTERS = {"hsi": augment_hsi, "dem": augment_dem, "rgb": augment_rgb, "ms": augment_hsi}
