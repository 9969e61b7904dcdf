"""Band wavelengths of hyperspectral rasters and resampling of a cube to a model's bands.

Wavelengths (+ FWHM, + bad-band list) are read, first found wins, from:

1. an ENVI header (``x.hdr`` or ``x.img.hdr`` beside an ENVI file): ``wavelength = {...}``,
   ``fwhm = {...}``, ``wavelength units = Nanometers|Micrometers``, ``bbl = {...}``;
2. GeoTIFF band metadata: items ``wavelength``, ``fwhm``, ``wavelength_units`` per band (the
   convention the simulator writes; ``bbl`` per band is honoured too);
3. an ``ENVI`` metadata domain carried over by GDAL conversions;
4. band descriptions such as ``"550.0 nm"``, ``"Band 12 (550.0)"``, ``"0.55 um"``.

Units: nanometres, micrometres ("um", "µm", "micrometers", "microns"); without units, values
below 30 are taken as micrometres.

Resampling (:class:`SpectralResampler`) is one linear map from the usable source bands to the
target bands. Gaussian spectral response: a source band of width ``s`` already integrates the
spectrum, so reaching a target band of width ``t`` needs an extra Gaussian of
``sigma_k = sqrt(sigma_t**2 - sigma_s**2)``; when that kernel is narrower than the source band
spacing (e.g. same-sensor bands shifted), linear interpolation between the neighbouring source
bands is the right limit and is used. A target band is covered when its centre lies within the
usable source range and no wider gap than ``max_gap_nm`` (bad or missing bands) surrounds it.
Per-pixel NaNs are handled by renormalising the weights of the finite bands.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from .grid import display_name, open_raster

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_MICRO = {"um", "µm", "μm", "micrometer", "micrometers", "micrometre", "micrometres", "micron",
          "microns", "micro"}
_NANO = {"nm", "nanometer", "nanometers", "nanometre", "nanometres", "nano"}


@dataclass(frozen=True)
class SpectralBands:
    """Band centres (and widths) in nanometres.

    Attributes:
        wavelengths_nm: centre of each band, in file order.
        fwhm_nm: full width at half maximum of each band, None when unknown.
        good: False for bands marked bad (ENVI ``bbl``) or with no usable wavelength; None = all.
        source: where they were read from (for messages and reports).
    """

    wavelengths_nm: tuple[float, ...]
    fwhm_nm: tuple[float, ...] | None = None
    good: tuple[bool, ...] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.wavelengths_nm)
        if self.fwhm_nm is not None and len(self.fwhm_nm) != n:
            raise InputError(f"{len(self.fwhm_nm)} FWHM values for {n} band wavelengths"
                             f" ({self.source}); give one per band.")
        if self.good is not None and len(self.good) != n:
            raise InputError(f"{len(self.good)} bad-band flags for {n} bands ({self.source}); "
                             "give one per band.")

    def __len__(self) -> int:
        return len(self.wavelengths_nm)

    @property
    def good_mask(self) -> np.ndarray:
        w = np.asarray(self.wavelengths_nm, dtype=np.float64)
        ok = np.isfinite(w) & (w > 0)
        if self.good is not None:
            ok &= np.asarray(self.good, dtype=bool)
        return ok

    @property
    def good_band_indexes(self) -> tuple[int, ...]:
        """1-based indexes of the usable bands (to read)."""
        return tuple(int(i) + 1 for i in np.flatnonzero(self.good_mask))

    @classmethod
    def regular(cls, start_nm: float, stop_nm: float, count: int,
                fwhm_nm: float | None = None) -> "SpectralBands":
        """``count`` evenly spaced bands from ``start_nm`` to ``stop_nm`` (inclusive)."""
        centres = np.linspace(start_nm, stop_nm, count)
        step = (stop_nm - start_nm) / max(count - 1, 1)
        width = fwhm_nm if fwhm_nm is not None else step
        return cls(tuple(float(c) for c in centres), tuple(float(width) for _ in centres),
                   None, "regular")

    def to_dict(self) -> dict[str, Any]:
        return {"wavelengths_nm": list(self.wavelengths_nm),
                "fwhm_nm": None if self.fwhm_nm is None else list(self.fwhm_nm)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SpectralBands":
        fwhm = data.get("fwhm_nm")
        return cls(tuple(float(v) for v in data["wavelengths_nm"]),
                   None if fwhm is None else tuple(float(v) for v in fwhm), None, "model card")


# --- reading -------------------------------------------------------------------------------

def _unit_factor(units: str | None, values: Sequence[float]) -> float:
    if units:
        u = units.strip().lower()
        if u in _MICRO:
            return 1000.0
        if u in _NANO:
            return 1.0
        if u in ("unknown", "index", ""):
            pass
        else:
            raise InputError(
                f"Wavelength units '{units}' are not supported; give nanometres or micrometres."
            )
    finite = [v for v in values if math.isfinite(v)]
    return 1000.0 if finite and max(finite) < 30.0 else 1.0


def parse_envi_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """Keys (lower case) and raw values of an ENVI ``.hdr`` (braced values may span lines)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    out: dict[str, str] = {}
    i = 0
    lines = text.splitlines()
    while i < len(lines):
        line = lines[i]
        i += 1
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if value.startswith("{") and "}" not in value:
            parts = [value]
            while i < len(lines):
                parts.append(lines[i])
                i += 1
                if "}" in parts[-1]:
                    break
            value = " ".join(parts)
        out[key.strip().lower()] = value
    return out


def _envi_list(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("{"):
        value = value[1:value.rindex("}")] if "}" in value else value[1:]
    return [v.strip() for v in value.split(",") if v.strip()]


def _floats(items: Sequence[str], what: str, where: str) -> list[float]:
    try:
        return [float(v) for v in items]
    except ValueError:
        raise InputError(f"The {what} list in {where} holds a value that is not a number; "
                         "fix the header.") from None


def envi_header_path(path: str | os.PathLike[str]) -> Path | None:
    """The ENVI header beside a raster (``x.hdr`` or ``x.ext.hdr``), if there is one."""
    p = Path(path)
    for candidate in (p.with_suffix(".hdr"), Path(str(p) + ".hdr")):
        if candidate.exists() and candidate != p:
            return candidate
    return None


def _from_envi_values(values: dict[str, str], count: int, where: str) -> SpectralBands | None:
    if "wavelength" not in values:
        return None
    wl = _floats(_envi_list(values["wavelength"]), "wavelength", where)
    units = values.get("wavelength units") or values.get("wavelength_units")
    factor = _unit_factor(units, wl)
    if len(wl) != count:
        raise InputError(
            f"{where} lists {len(wl)} wavelengths for {count} bands; give one per band."
        )
    fwhm = None
    if "fwhm" in values:
        fw = _floats(_envi_list(values["fwhm"]), "fwhm", where)
        if len(fw) == count:
            fwhm = tuple(v * factor for v in fw)
    good = None
    if "bbl" in values:
        flags = _floats(_envi_list(values["bbl"]), "bbl", where)
        if len(flags) == count:
            good = tuple(f != 0 for f in flags)
    return SpectralBands(tuple(v * factor for v in wl), fwhm, good, where)


def _tag(tags: dict[str, str], *names: str) -> str | None:
    lower = {k.lower(): v for k, v in tags.items()}
    for n in names:
        if n in lower and str(lower[n]).strip():
            return str(lower[n]).strip()
    return None


_UNIT = r"(nm|nanometers?|nanometres?|um|µm|μm|micrometers?|micrometres?|microns?)"
_PAREN = re.compile(r"\(\s*([0-9]+(?:\.[0-9]*)?)\s*" + _UNIT + r"?\s*\)", re.I)
_WITH_UNIT = re.compile(r"([0-9]+(?:\.[0-9]*)?)\s*" + _UNIT + r"\b", re.I)
_BARE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*$")


def _from_description(desc: str | None) -> tuple[float, str | None] | None:
    if not desc:
        return None
    for pattern in (_PAREN, _WITH_UNIT, _BARE):
        m = pattern.search(desc)
        if m:
            unit = m.group(2) if pattern is not _BARE else None
            return float(m.group(1)), unit
    return None


def read_band_wavelengths(path: str | os.PathLike[str], role: str = "HSI") -> SpectralBands:
    """Band wavelengths (nm), FWHM and bad bands of a raster (sources in the module doc).

    Raises:
        InputError: the raster has no band wavelengths (the message says how to add them), or
            only some bands have one.
    """
    name = display_name(path)
    with open_raster(path, role) as ds:
        count = ds.count
        driver = ds.driver
        band_tags = [ds.tags(b) for b in range(1, count + 1)]
        envi_domain = ds.tags(ns="ENVI") if "ENVI" in (ds.tag_namespaces() or []) else {}
        descriptions = list(ds.descriptions)

    header = envi_header_path(path)
    if header is not None and (driver == "ENVI" or Path(path).suffix.lower() not in (".tif", ".tiff")):
        found = _from_envi_values(parse_envi_header(header), count, f"ENVI header '{header.name}'")
        if found is not None:
            return found

    # GeoTIFF band metadata
    wl_items = [_tag(t, "wavelength", "wavelength_nm", "central_wavelength") for t in band_tags]
    if any(v is not None for v in wl_items):
        missing = [i + 1 for i, v in enumerate(wl_items) if v is None]
        if missing:
            raise InputError(
                f"{role} '{name}': bands {_ranges(missing)} have no 'wavelength' metadata while "
                "others do; give every band a wavelength."
            )
        wl = _floats(wl_items, "wavelength", f"'{name}' band metadata")  # type: ignore[arg-type]
        unit_items = {(_tag(t, "wavelength_units", "wavelength units", "units") or "") for t in band_tags}
        unit_items.discard("")
        if len(unit_items) > 1:
            raise InputError(f"{role} '{name}' mixes wavelength units {sorted(unit_items)}; use one.")
        factor = _unit_factor(unit_items.pop() if unit_items else None, wl)
        fw_items = [_tag(t, "fwhm", "fwhm_nm") for t in band_tags]
        fwhm = None
        if all(v is not None for v in fw_items):
            fwhm = tuple(v * factor for v in _floats(fw_items, "fwhm", f"'{name}'"))  # type: ignore[arg-type]
        # Two opposite conventions: ENVI-style ``bbl`` (1 = good band) and the ``bad_band``
        # item that geo.write / the simulator write (1 = bad band).
        bbl_items = [_tag(t, "bbl") for t in band_tags]
        bad_items = [_tag(t, "bad_band") for t in band_tags]
        good = None
        if all(v is not None for v in bbl_items):
            good = tuple(float(v) != 0 for v in bbl_items)  # type: ignore[arg-type]
        elif all(v is not None for v in bad_items):
            good = tuple(float(v) == 0 for v in bad_items)  # type: ignore[arg-type]
        return SpectralBands(tuple(v * factor for v in wl), fwhm, good,
                             f"band metadata of '{name}'")

    if envi_domain:
        found = _from_envi_values({k.lower().replace("_", " "): v for k, v in envi_domain.items()},
                                  count, f"ENVI metadata of '{name}'")
        if found is not None:
            return found

    parsed = [_from_description(d) for d in descriptions]
    if parsed and all(p is not None for p in parsed):
        units = {p[1].lower() for p in parsed if p and p[1]}  # type: ignore[union-attr]
        values = [p[0] for p in parsed]  # type: ignore[index]
        factor = _unit_factor(units.pop() if len(units) == 1 else None, values)
        return SpectralBands(tuple(v * factor for v in values), None, None,
                             f"band descriptions of '{name}'")

    raise InputError(
        f"{role} '{name}' has no band wavelengths: add 'wavelength' band metadata (nanometres, "
        "with 'wavelength_units') or an ENVI .hdr with 'wavelength = {...}', or name the bands "
        "like '550.0 nm'."
    )


def _ranges(numbers: Sequence[int]) -> str:
    out, start, prev = [], None, None
    for n in list(numbers) + [None]:  # type: ignore[list-item]
        if start is None:
            start = prev = n
        elif n is not None and n == prev + 1:  # type: ignore[operator]
            prev = n
        else:
            out.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = n
    return ", ".join(out)


# --- resampling ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SpectralMatchConfig:
    """How a cube is resampled to a model's bands.

    Attributes:
        method: ``"gaussian"`` (spectral response functions, linear where they are too narrow)
            or ``"linear"`` (interpolation between neighbouring band centres).
        min_overlap_fraction: fewest target bands that must be covered by the source.
        max_gap_nm: a target band inside a wider hole of the source (bad or absent bands) is not
            covered (it is still filled by interpolation across the hole).
        min_valid_weight: a pixel's target band is valid when the finite source bands carry at
            least this fraction of its weight.
    """

    method: str = "gaussian"
    min_overlap_fraction: float = 0.9
    max_gap_nm: float = 60.0
    min_valid_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in ("gaussian", "linear"):
            raise InputError(f"Unknown spectral resampling '{self.method}'; use gaussian or linear.")


def _spacing(centres: np.ndarray) -> np.ndarray:
    """Width each band represents: half the distance to each neighbour."""
    if centres.size == 1:
        return np.ones(1)
    d = np.diff(centres)
    left = np.concatenate([[d[0]], d])
    right = np.concatenate([d, [d[-1]]])
    return 0.5 * (left + right)


def _linear_row(c: float, src: np.ndarray) -> np.ndarray:
    row = np.zeros(src.size)
    if c <= src[0]:
        row[0] = 1.0
    elif c >= src[-1]:
        row[-1] = 1.0
    else:
        j = int(np.searchsorted(src, c))  # src[j-1] < c <= src[j]
        if src[j] == c:
            row[j] = 1.0
        else:
            t = (c - src[j - 1]) / (src[j] - src[j - 1])
            row[j - 1], row[j] = 1.0 - t, t
    return row


class SpectralResampler:
    """Linear map from a raster's usable bands to target bands, with coverage checks.

    Attributes:
        band_indexes: 1-based source bands to read (usable ones, file order).
        weights: ``(targets, len(band_indexes))`` rows summing to one.
        covered: bool per target band.
        coverage: fraction of target bands covered.
    """

    def __init__(self, source: SpectralBands, target: SpectralBands,
                 config: SpectralMatchConfig = SpectralMatchConfig(),
                 name: str = "", role: str = "HSI") -> None:
        self.source, self.target, self.config = source, target, config
        mask = source.good_mask
        if not mask.any():
            raise InputError(f"{role} '{name}' has no usable band (all bands bad or without a "
                             "wavelength).")
        self.band_indexes = tuple(int(i) + 1 for i in np.flatnonzero(mask))
        src_c = np.asarray(source.wavelengths_nm, dtype=np.float64)[mask]
        order = np.argsort(src_c, kind="stable")
        src_sorted = src_c[order]
        spacing = _spacing(src_sorted)
        if source.fwhm_nm is not None:
            src_fwhm = np.asarray(source.fwhm_nm, dtype=np.float64)[mask][order]
        else:
            src_fwhm = spacing.copy()
        tgt_c = np.asarray(target.wavelengths_nm, dtype=np.float64)
        if target.fwhm_nm is not None:
            tgt_fwhm = np.asarray(target.fwhm_nm, dtype=np.float64)
        else:
            tgt_fwhm = _spacing(np.sort(tgt_c))[np.argsort(np.argsort(tgt_c))]

        rows = np.zeros((tgt_c.size, src_sorted.size))
        covered = np.zeros(tgt_c.size, dtype=bool)
        lo = src_sorted[0] - 0.5 * spacing[0]
        hi = src_sorted[-1] + 0.5 * spacing[-1]
        for t, (c, fw) in enumerate(zip(tgt_c, tgt_fwhm)):
            j = int(np.clip(np.searchsorted(src_sorted, c), 1, max(src_sorted.size - 1, 1)))
            # the hole around c: distance between the bracketing usable bands
            on_band = bool(np.abs(src_sorted - c).min() < 1e-6)
            if src_sorted.size > 1 and src_sorted[0] < c < src_sorted[-1] and not on_band:
                gap = src_sorted[j] - src_sorted[j - 1]
            else:
                gap = 0.0
            covered[t] = (lo <= c <= hi) and gap <= config.max_gap_nm
            near = int(np.argmin(np.abs(src_sorted - c)))
            sigma_t = fw * FWHM_TO_SIGMA
            sigma_s = src_fwhm[near] * FWHM_TO_SIGMA
            sigma_k = math.sqrt(max(sigma_t ** 2 - sigma_s ** 2, 0.0))
            row = None
            if config.method == "gaussian" and sigma_k >= spacing[near]:
                g = np.exp(-0.5 * ((src_sorted - c) / sigma_k) ** 2) * spacing
                g[np.abs(src_sorted - c) > 3.0 * sigma_k] = 0.0
                if g.sum() > 0 and covered[t]:
                    row = g / g.sum()
            if row is None:
                row = _linear_row(c, src_sorted)
            rows[t] = row
        # back to file order of the usable bands
        self.weights = np.zeros_like(rows)
        self.weights[:, order] = rows
        self.weights = self.weights.astype(np.float32)
        self.covered = covered
        self.coverage = float(covered.mean()) if covered.size else 0.0
        if self.coverage < config.min_overlap_fraction:
            need = (f"{tgt_c.min():.0f}-{tgt_c.max():.0f} nm" if tgt_c.size else "no bands")
            raise InputError(
                f"{role} '{name}' covers {src_sorted[0]:.0f}-{src_sorted[-1]:.0f} nm with "
                f"{src_sorted.size} usable bands, but the model needs {need}: only "
                f"{self.coverage:.0%} of its {tgt_c.size} bands are covered (at least "
                f"{config.min_overlap_fraction:.0%} needed). Give an HSI that covers the model's "
                "range, or use a model trained for this sensor."
            )

    @property
    def uncovered_nm(self) -> list[float]:
        """Centres of target bands filled by extrapolation or across a hole."""
        return [float(c) for c, ok in zip(self.target.wavelengths_nm, self.covered) if not ok]

    def __call__(self, cube: np.ndarray) -> np.ndarray:
        """Resample ``(len(band_indexes), H, W)`` to ``(targets, H, W)`` float32.

        NaN source values are left out (weights renormalised); a target value is NaN where the
        finite bands carry less than ``min_valid_weight`` of its weight.
        """
        b, h, w = cube.shape
        if b != len(self.band_indexes):
            raise ValueError(f"cube has {b} bands, the resampler expects {len(self.band_indexes)}")
        flat = cube.reshape(b, h * w).astype(np.float32, copy=False)
        finite = np.isfinite(flat)
        weights = self.weights
        too_little = np.zeros(weights.shape[0], dtype=bool)
        # Bands missing in the whole window (a dead or bad band not flagged in the file):
        # renormalise the weights once instead of per pixel.
        dead = ~finite.any(axis=1)
        if dead.all():
            return np.full((weights.shape[0], h, w), np.nan, dtype=np.float32)
        if dead.any():
            live = ~dead
            weights = weights[:, live]
            mass = weights.sum(axis=1)
            too_little = mass < self.config.min_valid_weight
            weights = weights / np.where(mass > 0, mass, 1.0)[:, None]
            flat, finite = flat[live], finite[live]
        complete = finite.all(axis=0)
        if complete.all():
            out = weights @ flat
        else:
            # one product over every pixel (NaN read as 0) beats gathering the complete columns
            out = weights @ np.where(finite, flat, np.float32(0.0))
            out[:, ~complete] = np.nan
            # only pixels missing some (not all) bands pay for the per-pixel renormalisation
            partial = ~complete & finite.any(axis=0)
            if partial.any():
                part, ok = flat[:, partial], finite[:, partial]
                values = weights @ np.where(ok, part, 0.0).astype(np.float32)
                mass = weights @ ok.astype(np.float32)
                with np.errstate(invalid="ignore", divide="ignore"):
                    fixed = values / mass
                fixed[mass < self.config.min_valid_weight] = np.nan
                out[:, partial] = fixed
        out[too_little] = np.nan
        return out.reshape(-1, h, w)
        part, ok = flat[:, partial], finite[:, partial]
        # Usually few patterns of missing bands (a dead band, a saturated line): one
        # renormalised matrix per pattern is far cheaper than two products per pixel.
        packed = np.ascontiguousarray(np.packbits(ok, axis=0).T)
        keys, inverse = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel(),
                                  return_inverse=True)
        inverse = inverse.reshape(-1)
        fixed = np.empty((self.weights.shape[0], part.shape[1]), dtype=np.float32)
        if len(keys) <= 64:
            for p in range(len(keys)):
                cols = np.flatnonzero(inverse == p)
                band_ok = ok[:, cols[0]]
                wm = self.weights * band_ok[None, :]
                mass = wm.sum(axis=1)
                too_little = mass < self.config.min_valid_weight
                wm = wm / np.where(too_little, 1.0, mass)[:, None]
                fixed[:, cols] = wm @ np.where(band_ok[:, None], part[:, cols], 0.0)
                fixed[np.ix_(np.flatnonzero(too_little), cols)] = np.nan
        else:
            values = self.weights @ np.where(ok, part, 0.0).astype(np.float32)
            mass = self.weights @ ok.astype(np.float32)
            with np.errstate(invalid="ignore", divide="ignore"):
                fixed = values / mass
            fixed[mass < self.config.min_valid_weight] = np.nan
        out[:, partial] = fixed
        return out.reshape(-1, h, w)


class HsiReader:
    """A hyperspectral raster read window by window on a grid and resampled to target bands.

    Only the usable source bands are read (bad bands never are). A pixel is valid when every
    target band could be computed (see :class:`SpectralResampler`).
    """

    def __init__(self, path: str | os.PathLike[str], grid: Any, target: SpectralBands,
                 match: SpectralMatchConfig = SpectralMatchConfig(),
                 scaling: Any = "auto", role: str = "HSI") -> None:
        from .read import AlignedReader, ReaderConfig
        from .scaling import InputKind, Scaling

        self.bands = read_band_wavelengths(path, role)
        self.resampler = SpectralResampler(self.bands, target, match, display_name(path), role)
        self.reader = AlignedReader(path, grid, ReaderConfig(
            role=role, kind=InputKind.REFLECTANCE, bands=self.resampler.band_indexes,
            scaling=Scaling.parse(scaling), min_valid_band_fraction=1e-9))

    def read(self, window: Any) -> Any:
        """:class:`~.read.WindowData` with ``(targets, h, w)`` data."""
        from .read import WindowData

        raw = self.reader.read(window)
        data = self.resampler(raw.data)
        return WindowData(data, np.isfinite(data).all(axis=0))

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> "HsiReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
