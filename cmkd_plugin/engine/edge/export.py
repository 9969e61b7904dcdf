"""Export a CMKD model file to ONNX (fp32) and quantise it to int8 with onnxruntime.

The exported graph takes one input per modality, named after it (``rgb``; ``hsi``, ``dem`` for
a teacher), **already normalised** with the card's statistics, shape ``(batch, bands, height,
width)`` with dynamic batch and size (the models are fully convolutional), and returns
``probabilities`` ``(batch, classes, height, width)`` after a softmax.

Non-finite inputs are set to 0 inside the graph, which is what the torch models do with nodata
before any convolution; the exported graph has no validity output (Deepness reads the first
output as the segmentation), so :class:`~.predictor.OnnxPredictor` derives validity from the
inputs. torch's TorchScript exporter is used: the dynamo exporter refuses the models'
data-dependent "is every pixel valid?" shortcut, which the zeroing above makes always true.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import AtomicOutputs, check_writable
from ..errors import InputError
from ..models.card import ModelCard
from .metadata import OUTPUT_NAME, card_metadata, require, set_metadata

ONNX_OPSET = 17


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        onnx_path: the fp32 ONNX file.
        int8_path: the int8 file, or None when not asked for.
        card: the exported model's card.
    """

    onnx_path: Path
    int8_path: Path | None
    card: ModelCard


def int8_path_for(onnx_path: str | os.PathLike[str]) -> Path:
    """Where the int8 variant of ``onnx_path`` goes: ``name.int8.onnx`` next to it."""
    p = Path(str(onnx_path))
    return p.with_name(p.stem + ".int8.onnx")


def _wrapper(model: object, names: tuple[str, ...]) -> object:
    import torch
    from torch import nn

    class Exported(nn.Module):
        """Positional inputs per modality -> softmax probabilities (nodata zeroed first)."""

        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            inputs = {n: torch.where(torch.isfinite(t), t, torch.zeros_like(t))
                      for n, t in zip(names, tensors)}
            return torch.softmax(self.net(inputs).logits, dim=1)

    return Exported(model).eval()  # type: ignore[arg-type]


def export_onnx(model_path: str | os.PathLike[str], output_onnx: str | os.PathLike[str], *,
                quantize: bool = False) -> ExportResult:
    """Export a CMKD model file to ONNX with its card as metadata (and optionally int8).

    Args:
        model_path: a teacher or student model file.
        output_onnx: the fp32 ``.onnx`` file to write; the int8 variant goes next to it as
            ``<name>.int8.onnx`` (:func:`int8_path_for`).
        quantize: also write the int8 variant.

    Returns:
        An :class:`ExportResult`.

    Raises:
        InputError: output not ``.onnx`` or not writable; ModelFileError: bad model file.
    """
    import torch

    from ..models.modelfile import load_model

    onnx = require("onnx")
    require("onnxruntime")  # before any work: the int8 step and every check need it

    out = check_writable(output_onnx)
    if out.suffix.lower() != ".onnx":
        raise InputError(f"The ONNX output '{out}' must end in .onnx.")
    int8 = check_writable(int8_path_for(out)) if quantize else None
    net, card = load_model(model_path)
    names = card.architecture.modality_names
    size = card.tile_size_px
    example = tuple(torch.zeros(1, card.modality(n).bands, size, size) for n in names)
    dynamic = {n: {0: "batch", 2: "height", 3: "width"} for n in names}
    dynamic[OUTPUT_NAME] = {0: "batch", 2: "height", 3: "width"}
    with AtomicOutputs() as atomic:
        tmp = atomic.add(out)
        with warnings.catch_warnings(), torch.inference_mode(False):
            # Tracer warnings about the models' Python-level validity checks are expected here.
            warnings.simplefilter("ignore")
            torch.onnx.export(_wrapper(net, names), example, str(tmp), input_names=list(names),
                              output_names=[OUTPUT_NAME], dynamic_axes=dynamic,
                              opset_version=ONNX_OPSET, dynamo=False)
        proto = onnx.load(str(tmp))
        set_metadata(proto, card_metadata(card, "fp32"))
        proto.doc_string = (f"CMKD Survey {card.kind}: classes {', '.join(card.class_names)}; "
                            f"inputs {', '.join(names)} normalised with the card's mean/std.")
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        if int8 is not None:
            quantize_int8(tmp, atomic.add(int8), card)
    return ExportResult(out, int8, card)


def quantize_int8(fp32_path: str | os.PathLike[str], int8_path: str | os.PathLike[str],
                  card: ModelCard) -> Path:
    """Dynamic int8 quantisation with onnxruntime (int8 weights, activations quantised per run).

    Dynamic quantisation needs no calibration data, so the int8 file does not depend on a
    scene the user would have to supply. Only the classifier's hidden convolutions (its 1 x 1
    layers before the logits: about half of a student's weights and FLOPs) are quantised; the
    encoder's 3 x 3 convolutions, the projection into the feature space and the logits stay fp32.
    Quantising more cost class agreement with the trained bundled students (T = 1 defaults,
    192 / 512 px simulator scenes 11 / 101): with the inner encoder convolutions quantised too
    (the earlier rule) 98.97 % / 98.65 % (earth) and 99.43 % / 99.52 % (mars), below the 99 %
    target on earth; hidden layer only 99.37 % / 99.15 % and 99.73 % / 99.78 %. Per-channel
    weights changed nothing, and static (calibrated) int8 was measured worse (see
    docs/DISTRIBUTED.md, "Edge figures"). The card is copied into the metadata with precision
    ``int8``.
    """
    onnx = require("onnx")
    quantization = require("onnxruntime.quantization")
    QuantType, quantize_dynamic = quantization.QuantType, quantization.quantize_dynamic

    convs = [n.name for n in onnx.load(str(fp32_path)).graph.node if n.op_type == "Conv"]
    hidden = [n for n in convs[:-1] if "/classifier/" in n]
    keep_fp32 = [n for n in convs if n not in hidden]
    root = logging.getLogger()
    level = root.level
    # The quantiser logs a warning with a protobuf dump for every shape tensor it skips (the
    # replicate-padding shape arithmetic): noise in the user's log, so only errors get through.
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8,
                         nodes_to_exclude=keep_fp32)
    finally:
        root.setLevel(level)
    proto = onnx.load(str(int8_path))
    set_metadata(proto, card_metadata(card, "int8"))
    onnx.save(proto, str(int8_path))
    return Path(str(int8_path))


def random_inputs(card: ModelCard, batch: int, size_px: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Normalised-looking inputs (standard normal) for timing and shape checks."""
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal((batch, card.modality(n).bands, size_px, size_px),
                                   dtype=np.float32) for n in card.architecture.modality_names}
