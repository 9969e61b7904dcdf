"""The whole classification run: read -> infer (batches of tiles) -> centre-crop stitch -> write.

Memory is bounded by one batch of tiles plus GDAL's fixed block cache, whatever the raster size:
tiles are read on the fly, each tile's stitched region (``task.write``) is written as soon as its
batch is inferred, and nothing else of the raster is kept. Outputs go to hidden partial files
(:class:`~..atomic.AtomicOutputs`) renamed at the end, so a failure or a cancel (checked once per
batch) leaves no output behind.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import AtomicOutputs, check_writable, refuse_inputs_as_outputs
from ..errors import InputError
from ..feedback import Feedback
from ..geo.grid import Grid, display_name
from ..geo.mask import VectorMask
from ..geo.tiling import StitchPlan, TileTask, TilingConfig
from .config import ClassifyConfig
from .outputs import OutputPaths, StreamedOutputs


@dataclass(frozen=True)
class ClassifyResult:
    """What a run produced.

    Attributes:
        outputs: final paths by key (``classes``, ``probabilities``, ``confidence``).
        class_names: class names in index order.
        model_kind: ``teacher`` or ``student``.
        pixels: pixels of the processing grid.
        seconds: wall time of the run.
        tiles_run: windows that went through the model.
        tiles_skipped: windows skipped (outside the mask or without valid input).
        used_modalities: the inputs fed to the model.
    """

    outputs: dict[str, str]
    class_names: tuple[str, ...]
    model_kind: str
    pixels: int
    seconds: float
    tiles_run: int
    tiles_skipped: int
    used_modalities: tuple[str, ...] = field(default_factory=tuple)


def processing_grid(grid: Grid, config: ClassifyConfig) -> Grid:
    """The part of the RGB grid inside the extent (the whole grid without one)."""
    if config.extent is None:
        return grid
    window = grid.window_for_bounds(config.extent.bounds, config.extent.crs or None, "Extent")
    return grid.subgrid(window)


def classify(model: str | os.PathLike[str], rgb: str | os.PathLike[str], *,
             hsi: str | os.PathLike[str] | None = None, dem: str | os.PathLike[str] | None = None,
             output_classes: str | os.PathLike[str] | None = None,
             output_probabilities: str | os.PathLike[str] | None = None,
             output_confidence: str | os.PathLike[str] | None = None,
             config: ClassifyConfig = ClassifyConfig(), expect_kind: str | None = None,
             feedback: Feedback | None = None) -> ClassifyResult:
    """Classify ``rgb`` (+ ``hsi``/``dem`` as the model card asks) with a model file.

    Args:
        model: a teacher or student model file.
        rgb: the RGB raster; its grid (clipped to ``config.extent``) is the output grid.
        hsi: hyperspectral raster (teacher), any CRS/resolution, wavelengths in its metadata.
        dem: elevation raster in metres (teacher).
        output_classes: uint8 class raster (nodata 255) with colour table and ``.qml``.
        output_probabilities: float32, one band per class named after it (nodata NaN).
        output_confidence: float32, max probability and normalised entropy (nodata NaN).
        config: tiling, batch, device, extent and mask.
        expect_kind: ``teacher`` / ``student`` to refuse the other kind; None accepts both.
        feedback: progress, messages and cancellation.

    Returns:
        A :class:`ClassifyResult`.

    Raises:
        InputError, ModelFileError: bad input, detected before any output is created when
            possible; CancelledError: cancelled (no output left).
    """
    from ..edge.metadata import is_onnx_path
    from .inference import pick_device, receptive_radius_px

    feedback = feedback or Feedback()
    start = time.perf_counter()
    finals = {"classes": output_classes, "probabilities": output_probabilities,
              "confidence": output_confidence}
    finals = {k: check_writable(v) for k, v in finals.items() if v}
    if not finals:
        raise InputError("Give at least one output: classes, probabilities or confidence.")
    refuse_inputs_as_outputs([model, rgb, hsi, dem, config.mask_path], list(finals.values()))
    if len({p.resolve() for p in finals.values()}) != len(finals):
        raise InputError("Two outputs have the same file name; give each output its own file.")
    for key, path in finals.items():
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise InputError(f"Output {key} '{path}' must be a GeoTIFF (.tif).")

    device = pick_device(config.device)
    predictor, card = load_predictor(model, expect_kind, device)
    if config.dask_scheduler:
        from ..distributed.client import connect

        # Connect before any output exists: an unreachable scheduler leaves nothing behind.
        dask_client = connect(config.dask_scheduler, feedback)
    else:
        dask_client = None
    radius = receptive_radius_px(card)
    if config.overlap_px // 2 < radius:
        feedback.warning(
            f"Overlap {config.overlap_px} px is less than twice the model's receptive-field "
            f"radius ({radius} px): tile edges may show; raise the overlap to {2 * radius} px.")
    tiling = TilingConfig(config.tile_size_px, config.overlap_px)
    model_name = Path(str(model)).stem
    runtime = "onnxruntime (CPU)" if is_onnx_path(model) else f"device {device.type}"
    feedback.info(f"Model '{display_name(model)}': {card.kind} on "
                  f"{', '.join(card.architecture.modality_names)}, {len(card.classes)} classes; "
                  f"{runtime}.")
    try:
        return _classify(model, rgb, hsi, dem, finals, config, card, predictor, dask_client,
                         tiling, model_name, start, expect_kind, feedback)
    finally:
        if dask_client is not None:
            dask_client.close()


def load_predictor(model: str | os.PathLike[str], expect_kind: str | None,
                   device: Any) -> tuple[Any, Any]:
    """``(predictor, card)`` for a CMKD model file (torch) or an exported ``.onnx`` file.

    Raises:
        ModelFileError: bad file, missing CMKD metadata, or a model of the wrong kind.
    """
    from ..edge.metadata import is_onnx_path

    if is_onnx_path(model):
        from ..edge.metadata import read_onnx_card
        from ..edge.predictor import OnnxPredictor
        from ..errors import ModelFileError

        card, _meta = read_onnx_card(model)
        if expect_kind is not None and card.kind != expect_kind:
            raise ModelFileError(
                f"'{model}' is an exported {card.kind} model, but a {expect_kind} model is "
                "needed here; export the right model with cmkd:exportedge.")
        return OnnxPredictor(model, card), card
    from ..models.modelfile import load_model
    from .inference import Predictor

    net, card = load_model(model, expect_kind=expect_kind)
    return Predictor(net, card, device), card


def refined_predictor(predictor: Any, card: Any, area: Grid, config: ClassifyConfig,
                      feedback: Feedback | None = None) -> Any:
    """``predictor``, run on its own grid when it is a teacher coarser than the RGB
    (:class:`~.inference.CoarseTeacher`, with the inputs :class:`~.inputs.ModelInputs` reads
    for it), and wrapped in :class:`~.inference.RefinedMap` when ``config.refine`` asks for
    its kind and it is (or was distilled from) a teacher coarser than the RGB."""
    from .inference import CoarseTeacher, RefinedMap, refinement_radius
    from .inputs import teacher_grid_factor

    factor = teacher_grid_factor(card, area, config.teacher_grid)
    if factor > 1:
        predictor = CoarseTeacher(predictor)
        if feedback is not None:
            feedback.info(f"Teacher run on its own grid ({card.pixel_size_m:g} m, {factor} x "
                          f"{factor} RGB pixels each), its map upsampled to the RGB's.")

    radius = (0 if config.refine == "none" else
              refinement_radius(card, area.pixel_size_m, config.overlap_px,
                                students=config.refine == "all"))
    if radius == 0:
        return predictor
    if feedback is not None:
        feedback.info(f"{card.kind.capitalize()} probabilities refined by the RGB (guided filter, "
                      f"radius {radius} px: one pixel of the teacher's grid, or as much of it as "
                      "the tile overlap allows).")
    return RefinedMap(predictor, radius)


def _classify(model: Any, rgb: Any, hsi: Any, dem: Any, finals: dict[str, Path],
              config: ClassifyConfig, card: Any, predictor: Any, dask_client: Any,
              tiling: TilingConfig, model_name: str, start: float, expect_kind: str | None,
              feedback: Feedback) -> ClassifyResult:
    import rasterio

    from .inputs import ModelInputs

    with rasterio.Env(GDAL_CACHEMAX=config.gdal_cache_mb * 1024 * 1024):
        grid = Grid.from_raster(rgb, "RGB")
        area = processing_grid(grid, config)
        predictor = refined_predictor(predictor, card, area, config, feedback)
        with ModelInputs.open(card, area, rgb, hsi, dem, feedback, config.rgb_scaling,
                             config.hsi_scaling, config.teacher_grid) as inputs:
            for name, reason in inputs.scaling_reasons.items():
                feedback.info(f"{name.upper()} scaling: {reason}.")
            mask = VectorMask(config.mask_path, area) if config.mask_path else None
            plan = StitchPlan(area.width, area.height, tiling)
            tags = {"MODEL_NAME": model_name, "MODEL_KIND": card.kind,
                    "MODEL_MODALITIES": ",".join(inputs.used),
                    "CLASS_NAMES": ",".join(card.class_names)}
            with AtomicOutputs() as atomic:
                partial = OutputPaths(**{k: atomic.add(v) for k, v in finals.items()})
                with StreamedOutputs(partial, area, card.class_names,
                                     [c.colour for c in card.classes], tags) as out:
                    if dask_client is None:
                        run, skipped = _run_tiles(plan, inputs, mask, predictor, out,
                                                  config.batch_size, feedback.step(0, 95))
                    else:
                        from ..distributed.client import BlockSpec, run_distributed

                        spec = BlockSpec.create(str(model), str(rgb), _opt(hsi), _opt(dem),
                                                config, expect_kind)
                        run, skipped = run_distributed(dask_client, spec, plan, out,
                                                       feedback.step(0, 95))
                    feedback.check_cancelled()
                    out.finish()
                feedback.progress(100)
    if run == 0:
        feedback.warning("No tile had valid pixels in every input inside the processing area: "
                         "the outputs are all nodata.")
    seconds = time.perf_counter() - start
    pixels = area.width * area.height
    feedback.info(f"Classified {area.width} x {area.height} px in {seconds:.1f} s "
                  f"({pixels / seconds / 1e6:.3f} Mpx/s); {run} tiles run, {skipped} skipped.")
    return ClassifyResult({k: str(v) for k, v in finals.items()}, card.class_names, card.kind,
                          pixels, seconds, run, skipped, inputs.used)


def _opt(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else str(path)


def _run_tiles(plan: StitchPlan, inputs: Any, mask: VectorMask | None, predictor: Any,
               out: StreamedOutputs, batch_size: int, feedback: Feedback) -> tuple[int, int]:
    """Read, infer and write every window of ``plan``; return (tiles run, tiles skipped)."""
    pending: list[tuple[TileTask, dict[str, np.ndarray], np.ndarray]] = []
    run = skipped = 0
    total = len(plan)

    def flush() -> None:
        nonlocal run
        if not pending:
            return
        probs, model_valid = predictor.predict([p[1] for p in pending])
        for (task, _data, valid), p, mv in zip(pending, probs, model_valid):
            rs, cs = task.crop
            out.write(task.write, p[:, rs, cs], valid[rs, cs] & mv[rs, cs])
        run += len(pending)
        pending.clear()

    for i, task in enumerate(plan):
        if i % batch_size == 0:
            feedback.check_cancelled()
        if mask is not None and not mask.touches(task.write):
            out.write_nodata(task.write)
            skipped += 1
            continue
        data, valid = inputs.read(task.read)
        if mask is not None:
            valid &= mask.read(task.read)
        rs, cs = task.crop
        if not valid[rs, cs].any():
            out.write_nodata(task.write)
            skipped += 1
            continue
        pending.append((task, data, valid))
        if len(pending) >= batch_size:
            flush()
            feedback.check_cancelled()
        feedback.progress(100.0 * (i + 1) / total)
    flush()
    return run, skipped
