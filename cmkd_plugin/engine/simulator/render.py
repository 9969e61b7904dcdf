"""From per-pixel mixtures to RGB and hyperspectral values, without per-pixel spectra.

Every pixel is at most two components, each an intimate (Hapke albedo-space) mixture of two
classes at a fraction ``t`` in [0, 1]. All such mixtures are precomputed once on the 1 nm grid
for ``T_STEPS`` fractions (a lookup table over class pairs), then integrated through the camera
and the HSI band responses; a pixel is then a weighted sum of table entries (linear in ``t``
between steps). Areal (linear) mixing inside a coarse HSI pixel is an average of its base
sub-pixels, done as a sparse matrix product: HSI pixel x table entry weights times table spectra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .geology import Composition
from .hapke import reflectance_to_ssa, ssa_to_reflectance

T_STEPS = 21


@dataclass(frozen=True)
class MixtureTable:
    """Integrated spectra of every intimate pair mixture: ``values[entry, channel]``."""

    n_classes: int
    companion: np.ndarray       # int: companion class of each class (itself if none)
    max_fraction: np.ndarray    # float: companion maximum fraction of each class
    values: np.ndarray          # (n_classes * n_classes * T_STEPS, channels) float32


def pair_spectra(class_spectra: np.ndarray) -> np.ndarray:
    """``(K, K, T_STEPS, wavelengths)`` reflectance of intimate mixtures (1 - t) a + t b."""
    w = reflectance_to_ssa(class_spectra)  # (K, L)
    t = np.linspace(0.0, 1.0, T_STEPS)[None, None, :, None]
    mix = (1.0 - t) * w[:, None, None, :] + t * w[None, :, None, :]
    return ssa_to_reflectance(mix).astype(np.float32)


def build_table(pairs: np.ndarray, response: np.ndarray, companion: np.ndarray,
                max_fraction: np.ndarray) -> MixtureTable:
    """Integrate the pair spectra through ``response`` ``(channels, wavelengths)``."""
    k = pairs.shape[0]
    flat = pairs.reshape(-1, pairs.shape[-1])
    values = (flat @ response.T.astype(np.float32)).astype(np.float32)
    return MixtureTable(k, companion, max_fraction, values)


def entries(table: MixtureTable, comp: Composition, sl) -> tuple[np.ndarray, np.ndarray]:
    """Table entries ``(4, n)`` and weights ``(4, n)`` of pixels ``sl``.

    ``sl`` is a slice of rows or a tuple of (rows, cols) index arrays.
    """
    if isinstance(sl, slice):
        pick = lambda a: a[sl].ravel()  # noqa: E731 - tiny local accessor
    else:
        pick = lambda a: a[sl]  # noqa: E731
    own = pick(comp.own).astype(np.int64)
    nb = pick(comp.nb).astype(np.int64)
    beta = pick(comp.beta).astype(np.float32)
    intimate = pick(comp.intimate)
    ramp = pick(comp.ramp)
    k = table.n_classes
    # areal: own with its companion, plus nb with its companion; intimate: own with nb at beta
    p1 = np.where(intimate, nb, table.companion[own])
    t1 = np.where(intimate, beta, ramp * table.max_fraction[own])
    w2 = np.where(intimate, 0.0, beta)
    p2 = table.companion[nb]
    t2 = ramp * table.max_fraction[nb]
    out_e = np.empty((4, own.size), np.int64)
    out_w = np.empty((4, own.size), np.float32)
    for j, (a, p, t, w) in enumerate(((own, p1, t1, 1.0 - w2), (nb, p2, t2, w2))):
        x = np.clip(t, 0.0, 1.0) * (T_STEPS - 1)
        i0 = np.minimum(np.floor(x).astype(np.int64), T_STEPS - 2)
        frac = (x - i0).astype(np.float32)
        base = (a * k + p) * T_STEPS + i0
        out_e[2 * j], out_e[2 * j + 1] = base, base + 1
        out_w[2 * j], out_w[2 * j + 1] = w * (1.0 - frac), w * frac
    return out_e, out_w


def render_pixels(table: MixtureTable, comp: Composition, sl) -> np.ndarray:
    """``(n, channels)`` values of pixels ``sl`` (rows slice or index arrays), before illumination."""
    e, w = entries(table, comp, sl)
    out = table.values[e[0]] * w[0][:, None]
    for j in range(1, 4):
        out += table.values[e[j]] * w[j][:, None]
    return out


def aggregate(table: MixtureTable, comp: Composition, sl: slice, target_index: np.ndarray,
              weight: np.ndarray, n_targets: int, out: np.ndarray) -> None:
    """Add the weighted spectra of the base pixels in rows ``sl`` to their target pixels.

    Args:
        table: the mixture table integrated to the target's channels.
        comp: base-grid composition.
        sl: base rows of this chunk.
        target_index: flat target pixel of each base pixel in the chunk (-1: none).
        weight: per base pixel weight (illumination) in the chunk.
        n_targets: number of target pixels.
        out: ``(n_targets, channels)`` float32 accumulator.
    """
    e, w = entries(table, comp, sl)
    valid = target_index >= 0
    if not valid.any():
        return
    lo, hi = int(target_index[valid].min()), int(target_index[valid].max()) + 1
    rows = np.broadcast_to(target_index - lo, e.shape)[:, valid].ravel()
    cols = e[:, valid].ravel()
    data = (w * weight[None, :])[:, valid].ravel()
    mat = sparse.csr_matrix((data, (rows, cols)), shape=(hi - lo, table.values.shape[0]))
    out[lo:hi] += mat @ table.values
