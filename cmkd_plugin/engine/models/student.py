"""Small student: conv encoder -> 1x1 projection to the teacher's fused space -> classifier.

The default student takes RGB only (a few tens of thousands of parameters). :func:`make_student`
builds one on any modality set, e.g. the intermediate 8-band multispectral student of the
progressive chain HSI -> multispectral -> RGB.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from .config import MS, RGB, ModalitySpec, StudentConfig
from .layers import ModelOutput, PixelClassifier, check_inputs, conv_encoder, split_valid


class Student(nn.Module):
    """Single-stream student; its modalities are concatenated channel-wise (all required)."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = conv_encoder(config.in_channels, config.encoder_width, config.encoder_depth)
        self.projection = nn.Conv2d(config.encoder_width, config.embed_dim, kernel_size=1)
        self.classifier = PixelClassifier(
            config.embed_dim, config.classifier_hidden, config.n_classes, config.dropout
        )

    def forward(
        self, inputs: Mapping[str, Tensor | None], modality_dropout: float = 0.0
    ) -> ModelOutput:
        """Predict every pixel.

        Args:
            inputs: ``{modality: (B, C, H, W)}`` normalised, NaN = nodata; every configured
                modality must be present.
            modality_dropout: accepted for signature compatibility with the teacher and ignored
                (a single-stream student cannot do without one of its inputs).

        Returns:
            :class:`ModelOutput` (logits, projected features, valid mask, modalities used).

        Raises:
            InputError: missing or unknown modality, wrong band count, mismatched sizes.
        """
        present, _shape = check_inputs(self.config, inputs, require_all=True)
        names = self.config.modality_names
        x = present[names[0]] if len(names) == 1 else torch.cat([present[n] for n in names], dim=1)
        x, valid = split_valid(x)
        features = self.projection(self.encoder(x)) * valid.unsqueeze(1).to(x.dtype)
        return ModelOutput(self.classifier(features), features, valid, names if bool(valid.any()) else ())


def make_student(
    n_classes: int,
    modalities: Mapping[str, int] | None = None,
    *,
    encoder_width: int = 32,
    encoder_depth: int = 2,
    embed_dim: int = 256,
) -> Student:
    """Build a student on any modality set.

    Args:
        n_classes: number of classes.
        modalities: ``{name: bands}``, default ``{"rgb": 3}``; e.g. ``{"ms": 8}`` for the
            intermediate multispectral student of the progressive chain.
        encoder_width: conv channels.
        encoder_depth: number of 3x3 convs.
        embed_dim: must equal the teacher's fused dimension.
    """
    mods = modalities if modalities is not None else {RGB: 3}
    config = StudentConfig(
        n_classes=n_classes,
        modalities=tuple(ModalitySpec(name, bands) for name, bands in mods.items()),
        encoder_width=encoder_width,
        encoder_depth=encoder_depth,
        embed_dim=embed_dim,
    )
    return Student(config)


def make_multispectral_student(n_classes: int, bands: int = 8, **kwargs: int) -> Student:
    """The intermediate student of the progressive chain, on ``bands`` simulated multispectral bands."""
    return make_student(n_classes, {MS: bands}, **kwargs)
