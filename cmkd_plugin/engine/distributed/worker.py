"""What runs on a Dask worker: one block of windows -> stitched probabilities.

A worker keeps the opened model and inputs of the last runs (keyed by the run's
:class:`BlockSpec`), so a run opens them once per worker, not once per block.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from ..classify.config import ClassifyConfig
from ..geo.tiling import TileTask

# Opened (predictor, inputs, mask) per run; two runs are enough to keep, old ones are closed.
_MAX_OPEN_RUNS = 2
_open_runs: "OrderedDict[BlockSpec, tuple[Any, Any, Any]]" = OrderedDict()
_lock = threading.Lock()

# One tile's result: (probabilities (K, h, w) float32, valid (h, w) bool), or None if skipped.
TileResult = tuple[np.ndarray, np.ndarray] | None


@dataclass(frozen=True)
class BlockSpec:
    """Everything a worker needs to open a run's model and inputs (paths it can read).

    Attributes:
        model: model file (CMKD or ``.onnx``) path as seen by the workers.
        rgb, hsi, dem: input rasters (paths or GDAL virtual paths).
        config: the run's configuration (extent, mask, scaling, batch size...).
        expect_kind: ``teacher``/``student`` or None.
        stamps: (modification time, size) of each local file above, as the client sees them:
            part of the cache key, so a file rewritten at the same path between two runs is
            opened again rather than served from a worker's cache.
    """

    model: str
    rgb: str
    hsi: str | None
    dem: str | None
    config: ClassifyConfig
    expect_kind: str | None = None
    stamps: tuple[tuple[float, int] | None, ...] = ()

    @classmethod
    def create(cls, model: str, rgb: str, hsi: str | None, dem: str | None,
               config: ClassifyConfig, expect_kind: str | None = None) -> "BlockSpec":
        """A spec with absolute local paths (workers do not share the client's working folder),
        stamped with the current state of its files."""
        model, rgb = _absolute(model), _absolute(rgb)
        hsi, dem = _absolute(hsi), _absolute(dem)
        if config.mask_path:
            config = replace(config, mask_path=_absolute(config.mask_path))
        paths = (model, rgb, hsi, dem, config.mask_path)
        return cls(model, rgb, hsi, dem, config, expect_kind, tuple(_stamp(p) for p in paths))


def _absolute(path: str | None) -> str | None:
    if path and os.path.exists(path):
        return os.path.abspath(path)
    return path  # a GDAL virtual path or a path only the workers see: as given


def _stamp(path: str | None) -> tuple[float, int] | None:
    # GDAL virtual paths (/vsicurl/...) and missing paths have no local stamp.
    if not path or not os.path.isfile(path):
        return None
    st = os.stat(path)
    return (st.st_mtime, st.st_size)


def _open(spec: BlockSpec) -> tuple[Any, Any, Any]:
    from ..classify.inference import pick_device
    from ..classify.inputs import ModelInputs
    from ..classify.pipeline import load_predictor, processing_grid, refined_predictor
    from ..geo.grid import Grid
    from ..geo.mask import VectorMask

    with _lock:
        if spec in _open_runs:
            _open_runs.move_to_end(spec)
            return _open_runs[spec]
        predictor, card = load_predictor(spec.model, spec.expect_kind, pick_device(spec.config.device))
        area = processing_grid(Grid.from_raster(spec.rgb, "RGB"), spec.config)
        predictor = refined_predictor(predictor, card, area, spec.config)
        inputs = ModelInputs.open(card, area, spec.rgb, spec.hsi, spec.dem, None,
                                  spec.config.rgb_scaling, spec.config.hsi_scaling,
                                  spec.config.teacher_grid)
        mask = VectorMask(spec.config.mask_path, area) if spec.config.mask_path else None
        _open_runs[spec] = (predictor, inputs, mask)
        while len(_open_runs) > _MAX_OPEN_RUNS:
            _old, (_p, old_inputs, _m) = _open_runs.popitem(last=False)
            old_inputs.close()
        return _open_runs[spec]


def run_block(spec: BlockSpec, tasks: Sequence[TileTask]) -> list[TileResult]:
    """Read, infer and centre-crop every window of ``tasks`` (batches of ``batch_size``).

    Batches are formed exactly as in a local run (consecutive non-skipped windows), and blocks
    start on batch boundaries, so a run without skipped windows gives bit-identical results.

    Returns:
        One :data:`TileResult` per task, in order.
    """
    import rasterio

    predictor, inputs, mask = _open(spec)
    results: list[TileResult] = [None] * len(tasks)
    pending: list[tuple[int, dict[str, np.ndarray], np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        probs, model_valid = predictor.predict([p[1] for p in pending])
        for (index, _data, valid), p, mv in zip(pending, probs, model_valid):
            rs, cs = tasks[index].crop
            results[index] = (np.ascontiguousarray(p[:, rs, cs], dtype=np.float32),
                              valid[rs, cs] & mv[rs, cs])
        pending.clear()

    with rasterio.Env(GDAL_CACHEMAX=spec.config.gdal_cache_mb * 1024 * 1024):
        for index, task in enumerate(tasks):
            if mask is not None and not mask.touches(task.write):
                continue
            data, valid = inputs.read(task.read)
            if mask is not None:
                valid &= mask.read(task.read)
            rs, cs = task.crop
            if not valid[rs, cs].any():
                continue
            pending.append((index, data, valid))
            if len(pending) >= spec.config.batch_size:
                flush()
        flush()
    return results
