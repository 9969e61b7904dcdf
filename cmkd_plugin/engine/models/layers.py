"""Building blocks shared by the teacher and the student, and input checking.

Inputs are dicts ``{modality name: (B, C, H, W) float32 tensor}`` already normalised with the
card's statistics (see :mod:`.preprocess`). Nodata is NaN: a pixel whose channels are not all
finite is not valid for that modality; NaN is replaced by 0 before any convolution so it cannot
spread, and the model reports per-pixel validity in its output.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import torch
from torch import Tensor, nn

from ..errors import InputError
from .config import KNOWN_MODALITIES, ArchitectureConfig


class ModelOutput(NamedTuple):
    """What every model's ``forward`` returns.

    Attributes:
        logits: (B, K, H, W) class scores (finite everywhere; meaningless where not ``valid``).
        features: (B, D, H, W) features in the shared D=256 space (0 where not ``valid``); the
            teacher returns a channels-last view (call ``.contiguous()`` if you need NCHW memory).
        valid: (B, H, W) bool, pixels that had at least one usable input.
        used: names of the modalities that contributed to at least one pixel, in model order.
    """

    logits: Tensor
    features: Tensor
    valid: Tensor
    used: tuple[str, ...]


def conv_encoder(in_channels: int, width: int, depth: int) -> nn.Sequential:
    """1x1 conv (spectral mixing) then ``depth`` 3x3 convs, each followed by GELU.

    Replicate padding keeps tile borders from looking like dark edges; the receptive field is
    ``2 * depth + 1`` pixels, small on purpose so training stays cheap on CPU.
    """
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, kernel_size=1), nn.GELU()]
    for _ in range(depth):
        layers += [nn.Conv2d(width, width, kernel_size=3, padding=1, padding_mode="replicate"), nn.GELU()]
    return nn.Sequential(*layers)


class PixelClassifier(nn.Module):
    """Per-pixel classifier D -> hidden -> K with GELU and dropout (1x1 convs)."""

    def __init__(self, embed_dim: int, hidden: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(embed_dim, hidden, kernel_size=1),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Conv2d(hidden, n_classes, kernel_size=1),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)


def check_inputs(
    config: ArchitectureConfig, inputs: Mapping[str, Tensor | None], *, require_all: bool
) -> tuple[dict[str, Tensor], tuple[int, int, int]]:
    """Validate an input dict against a config; return the tensors it uses and (B, H, W).

    Modalities the model does not take (but whose names are known) are ignored.

    Raises:
        InputError: no usable modality, an unknown modality name, wrong band count, or
            modalities of different sizes.
    """
    known = config.modality_names
    unknown = sorted(k for k in inputs if k not in KNOWN_MODALITIES)
    if unknown:
        raise InputError(
            f"Unknown input modality {', '.join(repr(u) for u in unknown)}; modality names are "
            f"{', '.join(KNOWN_MODALITIES)}."
        )
    # Known modalities the model does not take are ignored, so one batch dict can feed both the
    # teacher and the student of a distillation step.
    present = {k: v for k, v in inputs.items() if v is not None and k in known}
    if require_all:
        missing = [k for k in known if k not in present]
        if missing:
            raise InputError(
                f"This {config.kind} model needs {', '.join(known)}, but {', '.join(missing)} "
                "is missing. Give every input the model was trained on."
            )
    if not present:
        raise InputError(
            f"No input given; this {config.kind} model needs at least one of {', '.join(known)}."
        )
    shape: tuple[int, int, int] | None = None
    for name in known:
        if name not in present:
            continue
        x = present[name]
        if x.ndim != 4:
            raise InputError(f"Input '{name}' must be (batch, bands, height, width), got shape {tuple(x.shape)}.")
        expected = config.bands_of(name)
        if x.shape[1] != expected:
            raise InputError(
                f"Input '{name}' has {x.shape[1]} bands but the model was trained on {expected}; "
                f"give a '{name}' raster with {expected} bands (same band set as in training)."
            )
        this = (x.shape[0], x.shape[2], x.shape[3])
        if shape is None:
            shape = this
        elif this != shape:
            raise InputError(
                f"Inputs have different sizes ({shape} vs {this} as batch, height, width for "
                f"'{name}'); align all rasters to one grid first."
            )
    assert shape is not None
    return present, shape


def split_valid(x: Tensor) -> tuple[Tensor, Tensor]:
    """Return (x with non-finite values set to 0, (B, H, W) mask of pixels finite in all bands)."""
    finite = torch.isfinite(x)
    valid = finite.all(dim=1)
    if bool(valid.all()):
        return x, valid
    return torch.where(finite, x, torch.zeros((), dtype=x.dtype, device=x.device)), valid
