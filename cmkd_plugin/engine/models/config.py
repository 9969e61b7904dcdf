"""Architecture hyper-parameters of the teacher and the student (torch-free).

One frozen dataclass per architecture. They are stored verbatim in the model card, so a model
file can be rebuilt from its card alone; :meth:`from_dict` is strict (unknown or missing keys,
wrong types and absurd sizes are refused) because the dict may come from an untrusted file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

# Modality names used everywhere (model inputs, card, data pipeline). One place for the names.
RGB = "rgb"
HSI = "hsi"
DEM = "dem"
MS = "ms"  # simulated multispectral, the intermediate step of the progressive chain
KNOWN_MODALITIES = (RGB, HSI, DEM, MS)

# Derived DEM channels fed to the DEM encoder, in this order (see preprocess.dem_features).
DEM_CHANNELS = ("elevation_m", "slope_deg", "hillshade")

# Class rasters are uint8 with nodata 255, so at most 255 classes can be represented.
MAX_CLASSES = 255
# Limits that refuse absurd (possibly hostile) architectures before anything is allocated.
MAX_BANDS = 4096
MAX_WIDTH = 4096
MAX_DEPTH = 64
MAX_MEMBERS = 16


class ConfigError(ValueError):
    """A configuration dict or value is invalid (the message says which field and why)."""


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"'{name}' must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"'{name}' must be between {low} and {high}, got {value}")


def _check_modalities(modalities: Any) -> None:
    if not isinstance(modalities, tuple) or not modalities:
        raise ConfigError("'modalities' must be a non-empty tuple of ModalitySpec")
    if not all(isinstance(m, ModalitySpec) for m in modalities):
        raise ConfigError("'modalities' must hold ModalitySpec items")
    names = [m.name for m in modalities]
    if len(set(names)) != len(names):
        raise ConfigError(f"'modalities' lists a modality twice: {names}")


@dataclass(frozen=True)
class ModalitySpec:
    """One input modality of a model: its name and its number of channels."""

    name: str
    bands: int

    def __post_init__(self) -> None:
        if self.name not in KNOWN_MODALITIES:
            raise ConfigError(
                f"unknown modality '{self.name}'; known modalities are {', '.join(KNOWN_MODALITIES)}"
            )
        _check_int("bands", self.bands, 1, MAX_BANDS)


DEFAULT_TEACHER_MODALITIES = (ModalitySpec(RGB, 3), ModalitySpec(HSI, 224), ModalitySpec(DEM, 3))
DEFAULT_STUDENT_MODALITIES = (ModalitySpec(RGB, 3),)


@dataclass(frozen=True)
class _ArchitectureConfig:
    """Fields and checks shared by both architectures."""

    n_classes: int
    modalities: tuple[ModalitySpec, ...]
    encoder_width: int = 32
    encoder_depth: int = 2
    embed_dim: int = 256
    classifier_hidden: int = 128
    dropout: float = 0.3

    kind = "abstract"
    # Fields added after model files were first shipped: a card without them takes the default.
    optional_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        _check_int("n_classes", self.n_classes, 2, MAX_CLASSES)
        _check_modalities(self.modalities)
        _check_int("encoder_width", self.encoder_width, 1, MAX_WIDTH)
        _check_int("encoder_depth", self.encoder_depth, 0, MAX_DEPTH)
        _check_int("embed_dim", self.embed_dim, 1, MAX_WIDTH)
        _check_int("classifier_hidden", self.classifier_hidden, 1, MAX_WIDTH)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise ConfigError(f"'dropout' must be a number, got {self.dropout!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"'dropout' must be in [0, 1), got {self.dropout}")

    @property
    def modality_names(self) -> tuple[str, ...]:
        """Names of the input modalities, in model order."""
        return tuple(m.name for m in self.modalities)

    def bands_of(self, name: str) -> int:
        """Number of channels the model expects for modality ``name``."""
        for m in self.modalities:
            if m.name == name:
                return m.bands
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (modalities as ``[{"name":..., "bands":...}, ...]``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "modalities":
                value = [{"name": m.name, "bands": m.bands} for m in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "_ArchitectureConfig":
        """Strictly rebuild a config from :meth:`to_dict` output.

        Raises:
            ConfigError: unknown or missing keys, wrong types, absurd values.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("architecture must be a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown architecture field(s): {', '.join(unknown)}")
        missing = sorted(names - set(data) - set(cls.optional_fields))
        if missing:
            raise ConfigError(f"missing architecture field(s): {', '.join(missing)}")
        raw_mods = data["modalities"]
        if not isinstance(raw_mods, list):
            raise ConfigError("'modalities' must be a list")
        mods = []
        for item in raw_mods:
            if not isinstance(item, Mapping) or set(item) != {"name", "bands"}:
                raise ConfigError("each modality must be an object with exactly 'name' and 'bands'")
            if not isinstance(item["name"], str):
                raise ConfigError("modality 'name' must be a string")
            mods.append(ModalitySpec(item["name"], item["bands"]))
        kwargs = dict(data)
        kwargs["modalities"] = tuple(mods)
        return cls(**kwargs)


@dataclass(frozen=True)
class TeacherConfig(_ArchitectureConfig):
    """Multi-modal teacher: per-modality encoders, cross-modal attention, classifier.

    Attributes:
        n_classes: number of classes K.
        modalities: inputs it can use (any subset may be present at inference).
        encoder_width: channels of each modality's conv encoder.
        encoder_depth: number of 3x3 convs per encoder (receptive field 2*depth+1 px).
        embed_dim: shared fused feature space (256 in the design).
        n_heads: attention heads over the modality tokens (8 in the design).
        classifier_hidden: hidden width of the classifier (128 in the design).
        dropout: classifier dropout (0.3 in the design).
        members: teachers of this architecture in the file, trained alike with successive
            seeds; their class probabilities and fused features are averaged
            (:class:`~.teacher.TeacherEnsemble`). 1: a single teacher (files written before
            ensembles existed have no such field and are single teachers).
    """

    modalities: tuple[ModalitySpec, ...] = DEFAULT_TEACHER_MODALITIES
    n_heads: int = 8
    members: int = 1

    kind = "teacher"
    optional_fields = ("members",)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("n_heads", self.n_heads, 1, MAX_WIDTH)
        _check_int("members", self.members, 1, MAX_MEMBERS)
        if self.embed_dim % self.n_heads:
            raise ConfigError(
                f"'embed_dim' ({self.embed_dim}) must be a multiple of 'n_heads' ({self.n_heads})"
            )


@dataclass(frozen=True)
class StudentConfig(_ArchitectureConfig):
    """Small single-stream student: conv encoder -> 1x1 projection to the teacher's space -> classifier.

    Its modalities are concatenated channel-wise, so all of them are required at inference.
    ``embed_dim`` must equal the teacher's for feature distillation.
    """

    modalities: tuple[ModalitySpec, ...] = field(default=DEFAULT_STUDENT_MODALITIES)

    kind = "student"

    @property
    def in_channels(self) -> int:
        """Total input channels (sum over modalities)."""
        return sum(m.bands for m in self.modalities)


ARCHITECTURES: dict[str, type[_ArchitectureConfig]] = {
    TeacherConfig.kind: TeacherConfig,
    StudentConfig.kind: StudentConfig,
}
ArchitectureConfig = _ArchitectureConfig
