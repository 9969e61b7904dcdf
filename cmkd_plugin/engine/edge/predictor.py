"""Batches of tiles -> class probabilities with an exported ONNX model (onnxruntime, CPU).

Same interface as :class:`~..classify.inference.Predictor`, so ``classify`` runs ``.onnx`` files
with the same reading, stitching and writing. Validity is derived from the inputs the way the
torch models derive it: a student needs every band finite; an exported teacher was traced with
every modality present, so it is exact only where every modality is valid and other pixels are
nodata.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from ..errors import ModelFileError
from ..models.card import ModelCard
from ..models.preprocess import normalise
from .metadata import OUTPUT_NAME, require


def open_session(path: str | os.PathLike[str], threads: int = 0) -> object:
    """An onnxruntime CPU session (``threads`` 0 = onnxruntime's default).

    Raises:
        ModelFileError: onnxruntime cannot load the graph (damaged or unsupported file).
    """
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelFileError(
            f"onnxruntime cannot load '{path}' ({str(exc).splitlines()[0][:200]}); export the "
            "model again with cmkd:exportedge.") from None


class OnnxPredictor:
    """An ONNX model ready for inference on batches of raw (scaled, unnormalised) tiles."""

    def __init__(self, path: str | os.PathLike[str], card: ModelCard, threads: int = 0) -> None:
        self.card = card
        self.session = open_session(path, threads)
        self._stats = {m.name: (m.mean, m.std) for m in card.modalities}
        self._names = card.architecture.modality_names
        graph_inputs = [i.name for i in self.session.get_inputs()]  # type: ignore[attr-defined]
        if graph_inputs != list(self._names):
            raise ModelFileError(
                f"The ONNX graph of '{path}' takes inputs {graph_inputs} but its card lists "
                f"{list(self._names)}; export the model again with cmkd:exportedge.")

    def predict(self, batch: Sequence[Mapping[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities of a batch of same-sized tiles.

        Args:
            batch: one dict ``{modality: (C, h, w) float32}`` per tile (NaN = nodata).

        Returns:
            ``(probabilities (B, K, h, w) float32, valid (B, h, w) bool)``.
        """
        missing = [n for n in self._names if n not in batch[0]]
        if missing:
            raise ModelFileError(
                f"This exported model needs {', '.join(self._names)}; {', '.join(missing)} "
                "is missing (an exported teacher cannot run without a modality). Give every "
                "input, or classify with the CMKD model file.")
        feed: dict[str, np.ndarray] = {}
        valid: np.ndarray | None = None
        for name in self._names:
            mean, std = self._stats[name]
            x = normalise(np.stack([tile[name] for tile in batch]), mean, std)
            finite = np.isfinite(x).all(axis=1)
            valid = finite if valid is None else valid & finite
            feed[name] = x
        probs = self.session.run([OUTPUT_NAME], feed)[0]  # type: ignore[attr-defined]
        assert valid is not None
        return np.asarray(probs, dtype=np.float32), valid
