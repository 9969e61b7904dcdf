"""The model card: everything needed to use a model file correctly, stored inside it (torch-free).

A card says what the model is (teacher/student, architecture), what it needs (modalities with
band names, HSI wavelengths, normalisation mean/std per band), what it produces (classes with
colours), how to tile (tile size/overlap, pixel size), how it was made (training parameters,
metrics, provenance) and the file format version.

Cards come from files that may be damaged or hostile, so :meth:`ModelCard.from_json` is strict:
unknown or missing keys, wrong types, inconsistent band counts and absurd sizes are refused with
a :class:`~cmkd_plugin.engine.errors.ModelFileError`. Constructing a card in code runs the same
consistency checks (``ValueError``) so an invalid card cannot be written.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from ..errors import ModelFileError
from .config import (
    ARCHITECTURES,
    DEM,
    DEM_CHANNELS,
    HSI,
    MS,
    ArchitectureConfig,
    ConfigError,
)

FORMAT_VERSION = 1
KINDS = ("teacher", "student")
# Modalities whose bands are defined by their wavelengths (the classifier resamples/checks them).
SPECTRAL_MODALITIES = (HSI, MS)
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_MAX_TILE_PX = 65536


class CardError(ValueError):
    """A card built in code is inconsistent (programming error; message says what)."""


def _json_value_ok(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _finite_floats(name: str, values: Any, *, positive: bool = False) -> None:
    if not isinstance(values, tuple):
        raise CardError(f"'{name}' must be a tuple of numbers")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise CardError(f"'{name}' must hold finite numbers, got {v!r}")
        if positive and v <= 0:
            raise CardError(f"'{name}' must hold values > 0, got {v!r}")


@dataclass(frozen=True)
class ModalityCard:
    """One input modality as the model saw it in training.

    Attributes:
        name: modality name (``rgb``, ``hsi``, ``dem``, ``ms``).
        band_names: one name per channel (for ``dem``: :data:`~.config.DEM_CHANNELS`).
        mean: per-channel mean used for normalisation ``(x - mean) / std``.
        std: per-channel standard deviation (> 0).
        wavelengths_nm: band centres in nanometres (required for ``hsi`` and ``ms``).
        fwhm_nm: band widths in nanometres (optional).
    """

    name: str
    band_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    wavelengths_nm: tuple[float, ...] | None = None
    fwhm_nm: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.band_names, tuple) or not all(isinstance(b, str) for b in self.band_names):
            raise CardError(f"modality '{self.name}': 'band_names' must be a tuple of strings")
        n = len(self.band_names)
        _finite_floats(f"{self.name}.mean", self.mean)
        _finite_floats(f"{self.name}.std", self.std, positive=True)
        if len(self.mean) != n or len(self.std) != n:
            raise CardError(
                f"modality '{self.name}': {n} band names but {len(self.mean)} means and {len(self.std)} stds"
            )
        for key in ("wavelengths_nm", "fwhm_nm"):
            values = getattr(self, key)
            if values is None:
                continue
            _finite_floats(f"{self.name}.{key}", values, positive=True)
            if len(values) != n:
                raise CardError(f"modality '{self.name}': {len(values)} {key} for {n} bands")
        if self.name in SPECTRAL_MODALITIES and self.wavelengths_nm is None:
            raise CardError(f"modality '{self.name}' needs band wavelengths ('wavelengths_nm')")
        if self.name == DEM and self.band_names != DEM_CHANNELS:
            raise CardError(f"modality 'dem' must have the channels {DEM_CHANNELS}, got {self.band_names}")

    @property
    def bands(self) -> int:
        """Number of channels."""
        return len(self.band_names)


@dataclass(frozen=True)
class ClassCard:
    """One output class: its name and its display colour (``#rrggbb``)."""

    name: str
    colour: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise CardError("class names must be non-empty strings")
        if not isinstance(self.colour, str) or not _COLOUR.match(self.colour):
            raise CardError(f"class '{self.name}': colour must look like '#1f77b4', got {self.colour!r}")


@dataclass(frozen=True)
class Provenance:
    """Who made the model, when, and from what.

    Attributes:
        plugin_version: CMKD Survey version that wrote the file.
        created_utc: ISO 8601 UTC time stamp.
        data: free JSON description of the training data (paths, scene seeds, label counts...).
    """

    plugin_version: str
    created_utc: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.plugin_version, str) or not isinstance(self.created_utc, str):
            raise CardError("provenance 'plugin_version' and 'created_utc' must be strings")
        if not isinstance(self.data, dict) or not _json_value_ok(self.data):
            raise CardError("provenance 'data' must be a JSON object (finite numbers, strings, lists)")

    @classmethod
    def now(cls, data: dict[str, Any] | None = None) -> "Provenance":
        """Provenance for a model made now by this plugin version."""
        from ..paths import plugin_version

        stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        return cls(plugin_version=plugin_version(), created_utc=stamp, data=dict(data or {}))


@dataclass(frozen=True)
class ModelCard:
    """Metadata stored with the weights in one model file (see module docstring)."""

    kind: str
    architecture: ArchitectureConfig
    modalities: tuple[ModalityCard, ...]
    classes: tuple[ClassCard, ...]
    tile_size_px: int
    tile_overlap_px: int
    provenance: Provenance
    pixel_size_m: float | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CardError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.architecture, ARCHITECTURES[self.kind]):
            raise CardError(f"a {self.kind} card needs a {ARCHITECTURES[self.kind].__name__} architecture")
        arch = self.architecture
        names = tuple(m.name for m in self.modalities)
        if names != arch.modality_names:
            raise CardError(f"card modalities {names} differ from the architecture's {arch.modality_names}")
        for m in self.modalities:
            if m.bands != arch.bands_of(m.name):
                raise CardError(
                    f"modality '{m.name}' lists {m.bands} bands but the architecture expects {arch.bands_of(m.name)}"
                )
        if len(self.classes) != arch.n_classes:
            raise CardError(f"{len(self.classes)} classes listed but the architecture predicts {arch.n_classes}")
        class_names = [c.name for c in self.classes]
        if len(set(class_names)) != len(class_names):
            raise CardError(f"class names must be unique, got {class_names}")
        for key in ("tile_size_px", "tile_overlap_px", "format_version"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise CardError(f"'{key}' must be an integer, got {value!r}")
        if not 1 <= self.tile_size_px <= _MAX_TILE_PX:
            raise CardError(f"'tile_size_px' must be in [1, {_MAX_TILE_PX}], got {self.tile_size_px}")
        if not 0 <= 2 * self.tile_overlap_px < self.tile_size_px:
            raise CardError(
                f"'tile_overlap_px' ({self.tile_overlap_px}) must be >= 0 and less than half the tile size"
            )
        if self.pixel_size_m is not None and (
            isinstance(self.pixel_size_m, bool)
            or not isinstance(self.pixel_size_m, (int, float))
            or not (math.isfinite(self.pixel_size_m) and self.pixel_size_m > 0)
        ):
            raise CardError(f"'pixel_size_m' must be a number > 0 or None, got {self.pixel_size_m!r}")
        for key in ("training", "metrics"):
            value = getattr(self, key)
            if not isinstance(value, dict) or not _json_value_ok(value):
                raise CardError(f"'{key}' must be a JSON object (finite numbers, strings, lists)")

    # ------------------------------------------------------------------ accessors

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in class-index order."""
        return tuple(c.name for c in self.classes)

    def modality(self, name: str) -> ModalityCard:
        """The card of modality ``name`` (KeyError if the model does not use it)."""
        for m in self.modalities:
            if m.name == name:
                return m
        raise KeyError(name)

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (inverse of :meth:`from_dict`)."""
        return {
            "format_version": self.format_version,
            "kind": self.kind,
            "architecture": self.architecture.to_dict(),
            "modalities": [
                {
                    "name": m.name,
                    "band_names": list(m.band_names),
                    "mean": list(m.mean),
                    "std": list(m.std),
                    "wavelengths_nm": None if m.wavelengths_nm is None else list(m.wavelengths_nm),
                    "fwhm_nm": None if m.fwhm_nm is None else list(m.fwhm_nm),
                }
                for m in self.modalities
            ],
            "classes": [{"name": c.name, "colour": c.colour} for c in self.classes],
            "tile_size_px": self.tile_size_px,
            "tile_overlap_px": self.tile_overlap_px,
            "pixel_size_m": self.pixel_size_m,
            "training": self.training,
            "metrics": self.metrics,
            "provenance": {
                "plugin_version": self.provenance.plugin_version,
                "created_utc": self.provenance.created_utc,
                "data": self.provenance.data,
            },
        }

    def to_json(self) -> str:
        """Compact, key-sorted JSON (NaN/Infinity refused)."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str = "model card") -> "ModelCard":
        """Parse and strictly check a card.

        Raises:
            ModelFileError: invalid JSON, unsupported format version, schema violation.
        """
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ModelFileError(f"The model card of {source} is not valid JSON ({exc}); the file is damaged.") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Any, source: str = "model card") -> "ModelCard":
        """Strictly rebuild a card from :meth:`to_dict` output (see :meth:`from_json`)."""
        if not isinstance(data, dict):
            raise ModelFileError(f"The model card of {source} is not a JSON object; the file is damaged.")
        version = data.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ModelFileError(
                f"The model card of {source} has no valid 'format_version'; it was not written by CMKD Survey."
            )
        if version > FORMAT_VERSION:
            raise ModelFileError(
                f"{source} uses model file format {version}, but this CMKD Survey reads format "
                f"{FORMAT_VERSION} at most; update the plugin to use this model."
            )
        try:
            return _parse_card(data)
        except (_SchemaError, CardError, ConfigError) as exc:
            raise ModelFileError(f"The model card of {source} is invalid: {exc}. Re-train or re-export the model.") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


class _SchemaError(ValueError):
    pass


_TOP_KEYS = {
    "format_version", "kind", "architecture", "modalities", "classes", "tile_size_px",
    "tile_overlap_px", "pixel_size_m", "training", "metrics", "provenance",
}
_MODALITY_KEYS = {"name", "band_names", "mean", "std", "wavelengths_nm", "fwhm_nm"}


def _keys(obj: Any, expected: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise _SchemaError(f"{where} must be an object")
    unknown, missing = sorted(set(obj) - expected), sorted(expected - set(obj))
    if unknown:
        raise _SchemaError(f"unknown key(s) in {where}: {', '.join(unknown)}")
    if missing:
        raise _SchemaError(f"missing key(s) in {where}: {', '.join(missing)}")
    return obj


def _typed(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise _SchemaError(f"{where} has the wrong type ({type(value).__name__})")
    return value


def _str_tuple(value: Any, where: str) -> tuple[str, ...]:
    _typed(value, list, where)
    return tuple(_typed(v, str, where) for v in value)


def _num_tuple(value: Any, where: str) -> tuple[float, ...]:
    _typed(value, list, where)
    return tuple(float(_typed(v, (int, float), where)) for v in value)


def _parse_card(data: dict[str, Any]) -> ModelCard:
    _keys(data, _TOP_KEYS, "the card")
    kind = _typed(data["kind"], str, "'kind'")
    if kind not in KINDS:
        raise _SchemaError(f"'kind' must be one of {', '.join(KINDS)}, got '{kind}'")
    architecture = ARCHITECTURES[kind].from_dict(_typed(data["architecture"], dict, "'architecture'"))
    modalities = []
    for i, raw in enumerate(_typed(data["modalities"], list, "'modalities'")):
        m = _keys(raw, _MODALITY_KEYS, f"modality {i}")
        wl, fw = m["wavelengths_nm"], m["fwhm_nm"]
        modalities.append(
            ModalityCard(
                name=_typed(m["name"], str, f"modality {i} 'name'"),
                band_names=_str_tuple(m["band_names"], f"modality {i} 'band_names'"),
                mean=_num_tuple(m["mean"], f"modality {i} 'mean'"),
                std=_num_tuple(m["std"], f"modality {i} 'std'"),
                wavelengths_nm=None if wl is None else _num_tuple(wl, f"modality {i} 'wavelengths_nm'"),
                fwhm_nm=None if fw is None else _num_tuple(fw, f"modality {i} 'fwhm_nm'"),
            )
        )
    classes = []
    for i, raw in enumerate(_typed(data["classes"], list, "'classes'")):
        c = _keys(raw, {"name", "colour"}, f"class {i}")
        classes.append(ClassCard(_typed(c["name"], str, f"class {i} name"), _typed(c["colour"], str, f"class {i} colour")))
    prov = _keys(data["provenance"], {"plugin_version", "created_utc", "data"}, "'provenance'")
    pixel = data["pixel_size_m"]
    return ModelCard(
        kind=kind,
        architecture=architecture,
        modalities=tuple(modalities),
        classes=tuple(classes),
        tile_size_px=_typed(data["tile_size_px"], int, "'tile_size_px'"),
        tile_overlap_px=_typed(data["tile_overlap_px"], int, "'tile_overlap_px'"),
        pixel_size_m=None if pixel is None else float(_typed(pixel, (int, float), "'pixel_size_m'")),
        training=_typed(data["training"], dict, "'training'"),
        metrics=_typed(data["metrics"], dict, "'metrics'"),
        provenance=Provenance(
            plugin_version=_typed(prov["plugin_version"], str, "provenance 'plugin_version'"),
            created_utc=_typed(prov["created_utc"], str, "provenance 'created_utc'"),
            data=_typed(prov["data"], dict, "provenance 'data'"),
        ),
        format_version=_typed(data["format_version"], int, "'format_version'"),
    )
