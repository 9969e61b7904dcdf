"""Save and load a model file: one safetensors file with the weights and the model card.

Loading never unpickles: the header and card are checked first (:mod:`.fileformat`), the
expected tensor shapes are derived from the card's architecture on torch's ``meta`` device
(nothing allocated) and compared with the header, and only then are the tensors read.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..atomic import atomic_output
from ..errors import ModelFileError
from .build import build_model
from .card import ModelCard
from .fileformat import CARD_METADATA_KEY, card_from_header, read_header

_WHO_WRITES = {"teacher": "cmkd:trainteacher", "student": "cmkd:distillstudent"}


def save_model(path: str | os.PathLike[str], model: nn.Module, card: ModelCard) -> Path:
    """Write ``model``'s weights and ``card`` to ``path`` atomically.

    Args:
        path: output file (``.safetensors`` recommended).
        model: a :class:`~.teacher.Teacher` or :class:`~.student.Student`.
        card: its card; ``card.architecture`` must equal ``model.config``.

    Returns:
        The final path.

    Raises:
        ValueError: card and model disagree (a programming error).
        InputError: the output cannot be written (from :func:`~..atomic.check_writable`).
    """
    config = getattr(model, "config", None)
    if config != card.architecture:
        raise ValueError("card.architecture differs from model.config; build the card from the model's config")
    state = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in model.state_dict().items()}
    metadata = {CARD_METADATA_KEY: card.to_json(), "format": "pt"}
    with atomic_output(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return Path(path)


def load_model(
    path: str | os.PathLike[str], expect_kind: str | None = None
) -> tuple[nn.Module, ModelCard]:
    """Rebuild the model described by a model file, in eval mode on the CPU.

    Args:
        path: a file written by :func:`save_model`.
        expect_kind: ``"teacher"`` or ``"student"`` when the caller needs that kind.

    Returns:
        ``(model, card)``.

    Raises:
        ModelFileError: missing, empty, truncated, pickled or foreign file; invalid card;
            unsupported format version; wrong kind; weights that do not match the card.
    """
    header = read_header(path)
    card = card_from_header(path, header)
    if expect_kind is not None and card.kind != expect_kind:
        raise ModelFileError(
            f"'{path}' is a {card.kind} model, but a {expect_kind} model is needed here; choose a file "
            f"written by {_WHO_WRITES.get(expect_kind, 'CMKD Survey')}."
        )
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_model(card.architecture).state_dict().items()}
    found = {k: info.shape for k, info in header.tensors.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(extra[:3])}" if extra else "",
                f"wrong shape for {', '.join(wrong[:3])}" if wrong else "",
            )
            if part
        )
        raise ModelFileError(
            f"The weights in '{path}' do not match its model card ({detail}); the file is damaged "
            "or was edited. Re-train or copy the original file again."
        )
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"Cannot read the weights of '{path}' ({exc}); copy it again or re-train.") from None
    for name, tensor in state.items():
        if not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(
                f"'{path}' holds non-finite weights ('{name}'): training diverged. Re-train with a lower "
                "learning rate."
            )
    model = build_model(card.architecture)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, card
