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

:func:`mix_areas` is of another kind: it makes new labelled samples, linear mixtures of two
labelled patches with soft targets, as a pixel that straddles two minerals is (areal mixing).
"""

from __future__ import annotations

from typing import Mapping

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


def mix_areas(batch: Mapping[str, Tensor], labels: Tensor, n_classes: int, share: float,
              gen: torch.Generator) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Areal mixtures of labelled patches: a ``share`` of the samples (each with that
    probability) becomes ``f × itself + (1 − f) × another sample`` of the batch, ``f`` uniform in
    [0, 1], in every modality (linear in reflectance, so also in normalised values), with the
    soft target ``f × its class + (1 − f) × the other's``: what a pixel covering a fraction
    ``f`` of one mineral and the rest of another looks like and is. A hyperspectral pixel
    straddling a boundary is such a mixture; a teacher taught only pure labelled pixels calls a
    dull mineral (dust) by the sharper spectrum of a neighbour that covers less of it.

    Args:
        batch: ``{modality: (B, C, H, W)}`` normalised inputs (NaN = nodata).
        labels: (B, H, W) class indices, 255 / -1 unlabelled.
        n_classes: K.
        share: probability that a sample is mixed (0 leaves the batch as it is).
        gen: random generator.

    Returns:
        The mixed inputs, (B, K, H, W) soft targets and the (B, H, W) pixels that have one
        (labelled in the sample and, where mixed, in its partner too).
    """
    from ..models.losses import labelled_mask

    b = labels.shape[0]
    labelled = labelled_mask(labels)
    onehot = torch.nn.functional.one_hot(torch.where(labelled, labels, 0).long(), n_classes)
    onehot = onehot.permute(0, 3, 1, 2).to(torch.float32) * labelled.unsqueeze(1)
    partner = torch.randperm(b, generator=gen)
    mixed = torch.rand(b, generator=gen) < share
    f = torch.rand(b, generator=gen)

    def mix(x: Tensor) -> Tensor:
        w = f.to(x.dtype).view(b, *([1] * (x.dim() - 1)))
        # torch.where, not arithmetic: 0 × NaN of a partner's nodata would spoil unmixed samples.
        return torch.where(mixed.view(b, *([1] * (x.dim() - 1))), w * x + (1 - w) * x[partner], x)

    out = {name: mix(x) for name, x in batch.items()}
    targets = mix(onehot)
    has_target = labelled & (labelled[partner] | ~mixed.view(b, 1, 1))
    return out, targets, has_target
