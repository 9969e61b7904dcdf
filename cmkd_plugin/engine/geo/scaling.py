"""Input scaling: raw raster values to the 0-1 range the models expect. Never assumed to be /255.

Auto detection, in order (see :func:`resolve_scaling`):

* elevation inputs are metres: only a declared GDAL scale/offset is applied;
* a raster that declares a GDAL scale/offset (``scale``/``offset`` band metadata, e.g. 0.0001
  for reflectance x 10000) uses it;
* ``uint8`` -> /255;
* integer RGB -> /(2**NBITS - 1) when the file declares its bit depth (``NBITS`` image structure
  metadata, e.g. 12-bit cameras), else /(maximum of the data type);
* integer reflectance (``uint16``/``int16``/``int32``, common for HSI) -> /10000;
* floating point -> as is (reflectance or RGB already in 0-1).

Callers can force any mode (a user parameter such as ``--rgb-scaling 12bit``);
:func:`range_warning` flags values that look wrongly scaled, e.g. 12-bit data read as 16-bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from ..errors import InputError


class Scaling(str, Enum):
    """How raw values become 0-1 values; ``AUTO`` picks from the data type and metadata."""

    AUTO = "auto"
    UNIT = "unit"  # already 0-1 (float reflectance or RGB)
    UINT8 = "uint8"  # /255
    UINT16 = "uint16"  # /65535
    BITS10 = "10bit"  # /1023
    BITS12 = "12bit"  # /4095
    BITS14 = "14bit"  # /16383
    REFLECTANCE_10000 = "reflectance10000"  # /10000
    DECLARED = "declared"  # the file's own GDAL scale/offset
    NONE = "none"  # physical units kept (elevation in metres)

    @classmethod
    def parse(cls, value: "str | Scaling") -> "Scaling":
        """The mode named ``value`` (case-insensitive); InputError listing the valid names."""
        if isinstance(value, Scaling):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise InputError(f"Unknown scaling '{value}'; use one of: {names}.") from None


class InputKind(str, Enum):
    """What a raster holds, which decides the automatic scaling."""

    RGB = "rgb"
    REFLECTANCE = "reflectance"
    ELEVATION = "elevation"


_FIXED_DIVISORS = {
    Scaling.UINT8: 255.0,
    Scaling.UINT16: 65535.0,
    Scaling.BITS10: 1023.0,
    Scaling.BITS12: 4095.0,
    Scaling.BITS14: 16383.0,
    Scaling.REFLECTANCE_10000: 10000.0,
}


@dataclass(frozen=True)
class ScalingSpec:
    """A resolved scaling: ``value * gain + offset``; ``reason`` says why (for reports)."""

    mode: Scaling
    gain: float
    offset: float
    reason: str

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Scale ``data`` (float32 result; NaN stays NaN)."""
        out = np.asarray(data, dtype=np.float32)
        if self.gain != 1.0:
            out = out * np.float32(self.gain)
        if self.offset != 0.0:
            out = out + np.float32(self.offset)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "gain": self.gain, "offset": self.offset,
                "reason": self.reason}


def _dtype_max(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max)


def resolve_scaling(
    dtype: str | np.dtype,
    kind: InputKind | str,
    forced: Scaling | str = Scaling.AUTO,
    nbits: int | None = None,
    declared_scale: float | None = None,
    declared_offset: float | None = None,
) -> ScalingSpec:
    """Decide the scaling of a raster from its data type and metadata (rules in the module doc).

    Args:
        dtype: the raster's data type (``"uint16"``...).
        kind: what it holds (RGB, reflectance, elevation).
        forced: a mode chosen by the user; ``AUTO`` to detect.
        nbits: declared bit depth (GDAL ``NBITS``), if any.
        declared_scale: GDAL band scale, if any (1.0 means none).
        declared_offset: GDAL band offset, if any (0.0 means none).

    Returns:
        The resolved :class:`ScalingSpec`.
    """
    dtype = np.dtype(dtype)
    kind = InputKind(kind)
    forced = Scaling.parse(forced)
    has_declared = (declared_scale not in (None, 1.0)) or (declared_offset not in (None, 0.0))

    if forced in _FIXED_DIVISORS:
        return ScalingSpec(forced, 1.0 / _FIXED_DIVISORS[forced], 0.0, f"set to {forced.value}")
    if forced in (Scaling.UNIT, Scaling.NONE):
        return ScalingSpec(forced, 1.0, 0.0, f"set to {forced.value}")
    if forced is Scaling.DECLARED:
        if not has_declared:
            raise InputError(
                "Scaling 'declared' was asked for but the raster has no GDAL scale/offset; "
                "choose another scaling or set the band scale/offset."
            )
        return ScalingSpec(forced, float(declared_scale or 1.0), float(declared_offset or 0.0),
                           "declared GDAL scale/offset")

    # AUTO
    if has_declared:
        return ScalingSpec(Scaling.DECLARED, float(declared_scale or 1.0),
                           float(declared_offset or 0.0), "declared GDAL scale/offset")
    if kind is InputKind.ELEVATION:
        return ScalingSpec(Scaling.NONE, 1.0, 0.0, "elevation kept in its units")
    if dtype.kind == "f":
        return ScalingSpec(Scaling.UNIT, 1.0, 0.0, f"{dtype.name} values taken as 0-1")
    if dtype == np.uint8:
        return ScalingSpec(Scaling.UINT8, 1.0 / 255.0, 0.0, "uint8 -> /255")
    if dtype.kind not in "iu":
        raise InputError(f"Cannot scale rasters of type {dtype.name}; convert to integer or float.")
    if kind is InputKind.REFLECTANCE:
        return ScalingSpec(Scaling.REFLECTANCE_10000, 1.0e-4, 0.0,
                           f"{dtype.name} reflectance x 10000 -> /10000")
    if nbits and 1 < nbits < dtype.itemsize * 8:
        divisor = float(2 ** nbits - 1)
        return ScalingSpec(Scaling.AUTO, 1.0 / divisor, 0.0,
                           f"declared {nbits}-bit {dtype.name} -> /{divisor:.0f}")
    divisor = _dtype_max(dtype)
    mode = Scaling.UINT16 if dtype == np.uint16 else Scaling.AUTO
    return ScalingSpec(mode, 1.0 / divisor, 0.0, f"{dtype.name} -> /{divisor:.0f} (type maximum)")


def scaling_for_dataset(dataset: Any, kind: InputKind | str,
                        forced: Scaling | str = Scaling.AUTO,
                        bands: tuple[int, ...] | None = None) -> ScalingSpec:
    """Resolve the scaling of an open rasterio dataset (reads NBITS and band scale/offset)."""
    bands = bands or tuple(range(1, dataset.count + 1))
    dtype = dataset.dtypes[bands[0] - 1]
    nbits = None
    for ns_band in bands[:1]:
        value = dataset.tags(ns_band, ns="IMAGE_STRUCTURE").get("NBITS") or dataset.tags(
            ns="IMAGE_STRUCTURE").get("NBITS")
        if value:
            try:
                nbits = int(value)
            except ValueError:
                nbits = None
    scales = {float(dataset.scales[b - 1]) for b in bands}
    offsets = {float(dataset.offsets[b - 1]) for b in bands}
    if len(scales) > 1 or len(offsets) > 1:
        raise InputError(
            f"'{dataset.name}' declares a different scale/offset per band; "
            "rescale it to one scale (e.g. with gdal_translate -unscale) or force a scaling."
        )
    return resolve_scaling(dtype, kind, forced, nbits, scales.pop(), offsets.pop())


def range_warning(scaled: np.ndarray, spec: ScalingSpec, name: str) -> str | None:
    """A warning when scaled valid values look wrongly scaled, else None.

    Reflectance and RGB should lie in about 0-1: a 99th percentile above 1.5 means the values
    were not divided enough. Data divided by 65535 whose raw maximum fits in 10, 12 or 14 bits
    were probably written by a camera of that bit depth into a 16-bit file.
    """
    if spec.mode is Scaling.NONE:
        return None
    values = scaled[np.isfinite(scaled)]
    if values.size == 0:
        return None
    p99 = float(np.percentile(values, 99))
    if p99 > 1.5:
        return (f"'{name}': values after scaling ({spec.reason}) reach {p99:.3g}, not 0-1; "
                "choose the scaling that matches the data (e.g. reflectance10000).")
    if spec.offset == 0.0 and np.isclose(spec.gain, 1.0 / 65535.0):
        raw_max = float(values.max()) * 65535.0
        for bits in (10, 12, 14):
            if 0 < raw_max <= 2 ** bits - 1 + 0.5:
                return (f"'{name}': 16-bit values never exceed {2 ** bits - 1} ({bits}-bit data?) "
                        f"and look dark after scaling ({spec.reason}); choose the scaling "
                        f"'{bits}bit' if the camera is {bits}-bit.")
    return None
