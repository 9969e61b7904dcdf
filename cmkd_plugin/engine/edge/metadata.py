"""The model card as ONNX metadata, readable by CMKD Survey and by the Deepness QGIS plugin.

An exported file carries two kinds of ``metadata_props`` (string key -> string value):

* ``cmkd_card``: the full model card JSON (:meth:`~..models.card.ModelCard.to_json`), the one
  source from which :func:`read_onnx_card` rebuilds the card; plus ``cmkd_inputs`` (the graph's
  input names in model order) and ``cmkd_precision`` (``fp32`` or ``int8``).
* The keys Deepness reads, each JSON-encoded as Deepness expects (``json.loads`` on read):
  ``model_type`` (``"Segmentor"``), ``class_names`` (``{"0": name, ...}``), ``resolution``
  (centimetres per pixel), ``tile_size`` (pixels), ``tiles_overlap`` (percent of the tile),
  ``standardization_mean`` / ``standardization_std`` (per channel, on 0-1 scaled values, which is
  how Deepness scales 8-bit imagery before standardising). They are derived from the card, never
  read back: the card is the one place for these facts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import EngineSetupError, ModelFileError
from ..models.card import ModelCard

CARD_KEY = "cmkd_card"
INPUTS_KEY = "cmkd_inputs"
PRECISION_KEY = "cmkd_precision"
DEEPNESS_KEYS = ("model_type", "class_names", "resolution", "tile_size", "tiles_overlap",
                 "standardization_mean", "standardization_std")
OUTPUT_NAME = "probabilities"
_ONNX_SUFFIX = ".onnx"


def require(module: str) -> Any:
    """Import ``module`` (onnx, onnxruntime, onnxruntime.quantization) or say how to get it.

    Raises:
        EngineSetupError: the package is not installed in the engine Python.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise EngineSetupError(
            f"ONNX models need the '{module.split('.')[0]}' package in the engine Python; run "
            "Set up engine again (it installs requirements/engine.txt), or use the CMKD model "
            "file (.cmkd) instead.") from None


def is_onnx_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an ONNX model (by its ``.onnx`` suffix)."""
    return Path(str(path)).suffix.lower() == _ONNX_SUFFIX


def card_metadata(card: ModelCard, precision: str = "fp32") -> dict[str, str]:
    """All metadata entries for an exported ``card`` (see the module docstring).

    Args:
        card: the model card of the exported model.
        precision: ``fp32`` or ``int8``.

    Returns:
        ``{key: value}`` strings for ``onnx.ModelProto.metadata_props``.
    """
    first = card.modalities[0]
    overlap_pct = round(100.0 * card.tile_overlap_px / card.tile_size_px)
    meta = {
        CARD_KEY: card.to_json(),
        INPUTS_KEY: json.dumps(list(card.architecture.modality_names)),
        PRECISION_KEY: precision,
        "model_type": json.dumps("Segmentor"),
        "class_names": json.dumps({str(i): n for i, n in enumerate(card.class_names)}),
        "tile_size": json.dumps(card.tile_size_px),
        "tiles_overlap": json.dumps(overlap_pct),
        # Deepness standardises its single input; for a multi-input teacher these are the first
        # modality's (Deepness cannot run such a model anyway: it takes one input).
        "standardization_mean": json.dumps(list(first.mean)),
        "standardization_std": json.dumps(list(first.std)),
    }
    if card.pixel_size_m is not None:
        meta["resolution"] = json.dumps(round(card.pixel_size_m * 100.0, 6))
    return meta


def set_metadata(model: object, metadata: dict[str, str]) -> None:
    """Replace the ``metadata_props`` of an in-memory ``onnx.ModelProto`` by ``metadata``."""
    props = model.metadata_props  # type: ignore[attr-defined]
    del props[:]
    for key, value in metadata.items():
        entry = props.add()
        entry.key, entry.value = key, value


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, without loading its weights into a session.

    Raises:
        ModelFileError: missing file, or a file that is not ONNX.
    """
    onnx = require("onnx")
    p = Path(str(path))
    if not p.is_file():
        raise ModelFileError(f"Model file '{p}' does not exist; choose an existing .onnx file.")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, onnx its own errors
        raise ModelFileError(
            f"'{p}' is not an ONNX model ({type(exc).__name__}); export one with "
            "cmkd:exportedge or choose a CMKD model file (.cmkd/.safetensors).") from None
    if not model.graph.node:
        raise ModelFileError(
            f"'{p}' is not an ONNX model (it has no graph); export one with cmkd:exportedge.")
    return {entry.key: entry.value for entry in model.metadata_props}


def read_onnx_card(path: str | os.PathLike[str]) -> tuple[ModelCard, dict[str, str]]:
    """The model card stored in an ONNX file exported by CMKD Survey.

    Returns:
        ``(card, metadata)``.

    Raises:
        ModelFileError: not ONNX, no CMKD card in its metadata (e.g. an ONNX file from another
            tool), or an invalid card.
    """
    meta = read_onnx_metadata(path)
    if CARD_KEY not in meta or INPUTS_KEY not in meta:
        raise ModelFileError(
            f"'{path}' is an ONNX model without CMKD Survey metadata (no '{CARD_KEY}'): its "
            "classes, input bands and normalisation are unknown. Export the model with "
            "cmkd:exportedge, which stores them in the file.")
    card = ModelCard.from_json(meta[CARD_KEY], source=f"'{path}'")
    try:
        inputs = json.loads(meta[INPUTS_KEY])
    except ValueError:
        inputs = None
    if inputs != list(card.architecture.modality_names):
        raise ModelFileError(
            f"The ONNX metadata of '{path}' lists inputs {meta[INPUTS_KEY]} that differ from its "
            "card's modalities; the file was edited. Export the model again.")
    return card, meta
