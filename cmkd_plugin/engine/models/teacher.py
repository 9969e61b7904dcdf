"""Multi-modal teacher: RGB + HSI + DEM -> per-pixel class logits and fused 256-d features.

Design (fully convolutional, prediction at input resolution):

* one conv encoder per modality (:func:`.layers.conv_encoder`);
* per-pixel projection Linear -> LayerNorm -> GELU -> Linear into the shared ``embed_dim`` space;
* multi-head attention across the modality tokens of each pixel (tokens = the modalities
  available at that pixel), residual + LayerNorm, then the mean over the available tokens;
* classifier ``embed_dim -> classifier_hidden -> K`` with GELU and dropout.

A modality missing from the input dict, NaN at a pixel, or dropped by modality dropout in
training simply contributes no token there.

:class:`TeacherEnsemble` holds ``members`` such teachers (trained alike with successive seeds)
and answers as one: the log of their mean class probabilities, the mean of their fused
features. :func:`make_teacher` builds whichever the configuration asks for.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from .config import TeacherConfig
from .layers import ModelOutput, PixelClassifier, check_inputs, conv_encoder, split_valid


class TokenProjection(nn.Module):
    """Per-pixel Linear -> LayerNorm -> GELU -> Linear, applied channels-last."""

    def __init__(self, in_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, embed_dim), nn.LayerNorm(embed_dim), nn.GELU(), nn.Linear(embed_dim, embed_dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, H, W, D)."""
        return self.net(x.permute(0, 2, 3, 1))


class ModalityAttention(nn.Module):
    """Multi-head self-attention over the few modality tokens of each pixel.

    With only M <= 4 tokens per pixel, batched matrix products over millions of 3x3 score
    matrices are slow on CPU, so the scores and the weighted sums are computed as element-wise
    products over per-modality (N, D) slices (the maths of standard scaled dot-product
    attention, with unavailable tokens masked out as keys and left out of the average).
    """

    def __init__(self, embed_dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = embed_dim // n_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.out = nn.Linear(embed_dim, embed_dim)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, tokens: list[Tensor], available: Tensor) -> Tensor:
        """Mix tokens and average them over the available ones.

        Args:
            tokens: M tensors (N, D), one token per modality for N pixels.
            available: (N, M) bool; every row must have at least one True.

        Returns:
            (N, D) fused features.
        """
        n, d = tokens[0].shape
        h, hd = self.n_heads, self.head_dim
        q, k, v = [], [], []
        for t in tokens:
            qi, ki, vi = self.qkv(t).split(d, dim=1)
            q.append(qi.reshape(n, h, hd))
            k.append(ki.reshape(n, h, hd))
            v.append(vi.reshape(n, h, hd))
        key_mask = ~available.unsqueeze(-1)  # (N, M, 1): broadcast over heads
        scale = 1.0 / math.sqrt(hd)
        weights = available.to(tokens[0].dtype)
        fused = torch.zeros_like(tokens[0])
        for i, t in enumerate(tokens):
            scores = torch.stack([(q[i] * kj).sum(dim=-1) for kj in k], dim=1) * scale  # (N, M, h)
            attn = torch.softmax(scores.masked_fill(key_mask, float("-inf")), dim=1)
            mixed = sum(attn[:, j, :, None] * v[j] for j in range(len(v)))  # (N, h, hd)
            fused_token = self.norm(t + self.out(mixed.reshape(n, d)))
            fused = fused + fused_token * weights[:, i : i + 1]
        return fused / weights.sum(dim=1, keepdim=True)


class Teacher(nn.Module):
    """The multi-modal teacher. See the module docstring for the architecture."""

    def __init__(self, config: TeacherConfig) -> None:
        super().__init__()
        if config.members != 1:
            raise ValueError(f"a Teacher is one member; use make_teacher for {config.members} members")
        self.config = config
        self.encoders = nn.ModuleDict(
            {m.name: conv_encoder(m.bands, config.encoder_width, config.encoder_depth) for m in config.modalities}
        )
        self.projections = nn.ModuleDict(
            {m.name: TokenProjection(config.encoder_width, config.embed_dim) for m in config.modalities}
        )
        self.attention = ModalityAttention(config.embed_dim, config.n_heads)
        self.classifier = PixelClassifier(
            config.embed_dim, config.classifier_hidden, config.n_classes, config.dropout
        )

    def forward(
        self, inputs: Mapping[str, Tensor | None], modality_dropout: float = 0.0
    ) -> ModelOutput:
        """Predict every pixel from whichever modalities are given.

        Args:
            inputs: ``{modality: (B, C, H, W)}`` normalised, NaN = nodata. Any non-empty subset of
                the configured modalities; a missing key or ``None`` means "not available".
            modality_dropout: in training mode only, the probability of hiding each given
                modality for a whole sample (at least one is always kept), so the model learns to
                cope with missing inputs. Ignored in eval mode.

        Returns:
            :class:`ModelOutput` (logits, fused features, valid mask, modalities used).

        Raises:
            InputError: unknown modality, wrong band count, mismatched sizes, no input.
        """
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
        present, (b, h, w) = check_inputs(self.config, inputs, require_all=False)
        names = [n for n in self.config.modality_names if n in present]
        tokens, available = [], []
        for name in names:
            x, valid = split_valid(present[name])
            tokens.append(self.projections[name](self.encoders[name](x)))  # (B, H, W, D)
            available.append(valid)
        avail = torch.stack(available, dim=-1)  # (B, H, W, M)
        if self.training and modality_dropout > 0.0 and len(names) > 1:
            avail = avail & self._sample_keep(b, len(names), modality_dropout, avail.device)[:, None, None, :]
        pixel_valid = avail.any(dim=-1)
        # Pixels with no usable token get a dummy all-available row (their output is zeroed
        # below) so the softmax never sees a fully masked row.
        safe_avail = avail | ~pixel_valid.unsqueeze(-1)
        d = self.config.embed_dim
        fused = self.attention([t.reshape(-1, d) for t in tokens], safe_avail.reshape(-1, len(names)))
        fused = fused.view(b, h, w, d) * pixel_valid.unsqueeze(-1).to(fused.dtype)
        # A (B, D, H, W) view of channels-last memory: convolutions accept it without a copy.
        features = fused.permute(0, 3, 1, 2)
        used_flags = avail.flatten(0, 2).any(dim=0).tolist()
        used = tuple(n for n, flag in zip(names, used_flags) if flag)
        return ModelOutput(self.classifier(features), features, pixel_valid, used)

    @staticmethod
    def _sample_keep(batch: int, n_modalities: int, p: float, device: torch.device) -> Tensor:
        """(B, M) bool: which modalities each sample keeps; never drops all of them."""
        keep = torch.rand(batch, n_modalities, device=device) >= p
        none_kept = ~keep.any(dim=1)
        if bool(none_kept.any()):
            rescue = torch.randint(n_modalities, (batch,), device=device)
            keep[none_kept, rescue[none_kept]] = True
        return keep


class TeacherEnsemble(nn.Module):
    """``config.members`` teachers answering as one (a deep ensemble).

    Logits are the log of the members' mean class probabilities (so a softmax of them is that
    mean, at temperature 1); features are the mean of the members' fused features; a pixel is
    valid where any member has an input. Same inputs and outputs as :class:`Teacher`.
    """

    def __init__(self, config: TeacherConfig, members: list[Teacher] | None = None) -> None:
        """Fresh members, or ``members`` (already trained, of ``config``'s architecture)."""
        super().__init__()
        if config.members < 2:
            raise ValueError("an ensemble needs at least two members; use Teacher")
        single = replace(config, members=1)
        if members is not None and (len(members) != config.members
                                    or any(m.config != single for m in members)):
            raise ValueError(f"expected {config.members} teachers of architecture {single}")
        self.config = config
        self.members = nn.ModuleList(members or [Teacher(single) for _ in range(config.members)])

    @staticmethod
    def combine(member_logits: Sequence[Tensor]) -> Tensor:
        """The ensemble's logits from its members' (B, K, ...) logits: the log of their mean
        class probabilities."""
        log_probs = torch.stack([torch.log_softmax(z, dim=1) for z in member_logits])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(member_logits))

    def forward(
        self, inputs: Mapping[str, Tensor | None], modality_dropout: float = 0.0
    ) -> ModelOutput:
        """Every member's :meth:`Teacher.forward` on ``inputs``, combined."""
        outs = [member(inputs, modality_dropout) for member in self.members]
        logits = self.combine([o.logits for o in outs])
        features = torch.stack([o.features for o in outs]).mean(dim=0)
        valid = torch.stack([o.valid for o in outs]).any(dim=0)
        used = tuple(n for n in self.config.modality_names if any(n in o.used for o in outs))
        return ModelOutput(logits, features, valid, used)


def make_teacher(config: TeacherConfig) -> nn.Module:
    """A freshly initialised :class:`Teacher`, or :class:`TeacherEnsemble` for several members."""
    return Teacher(config) if config.members == 1 else TeacherEnsemble(config)
