"""Edge report: file size, parameters, FLOPs per pixel, measured latency per 512 x 512 tile
(fp32 and int8, onnxruntime on this CPU) and the energy to map one square kilometre.

Energy per km² = device power (W) x time to classify one km²; that time is the measured latency
per tile times the number of tiles covering a km² at the given ground sampling distance, with
the tiles stepping by ``tile - overlap`` as in a classification run (overlap from the card,
scaled to the 512 px tile). It is an estimate for a device as fast as this CPU drawing that
power; scale it by the speed ratio for a slower device.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError
from ..models.card import ModelCard
from .export import random_inputs

REPORT_TILE_PX = 512
M2_PER_KM2 = 1_000_000.0


@dataclass(frozen=True)
class EnergyConfig:
    """The device an energy estimate is for.

    Attributes:
        device_power_w: average power drawn while classifying, in watts (> 0).
        gsd_m: ground sampling distance of the imagery, in metres per pixel (> 0).
    """

    device_power_w: float = 10.0
    gsd_m: float = 0.1

    def __post_init__(self) -> None:
        if not self.device_power_w > 0:
            raise InputError(f"Device power must be > 0 W (got {self.device_power_w}).")
        if not self.gsd_m > 0:
            raise InputError(f"Ground sampling distance must be > 0 m (got {self.gsd_m}).")


@dataclass(frozen=True)
class EdgeReport:
    """Figures of an exported model (see the module docstring for the energy formula)."""

    model_kind: str
    classes: int
    inputs: tuple[str, ...]
    parameters: int
    flops_per_pixel: float
    fp32_path: str
    fp32_size_bytes: int
    fp32_latency_ms_per_tile: float
    int8_path: str | None
    int8_size_bytes: int | None
    int8_latency_ms_per_tile: float | None
    tile_px: int
    stride_px: int
    threads: int
    device_power_w: float
    gsd_m: float
    tiles_per_km2: float
    fp32_energy_j_per_km2: float
    int8_energy_j_per_km2: float | None

    def to_json(self) -> str:
        """Indented JSON of every field."""
        return json.dumps(asdict(self), indent=2)


def tiles_per_km2(gsd_m: float, stride_px: int) -> float:
    """Tiles needed per km² when tiles step by ``stride_px`` pixels of ``gsd_m`` metres."""
    return M2_PER_KM2 / (stride_px * gsd_m) ** 2


def energy_j_per_km2(latency_s_per_tile: float, energy: EnergyConfig, stride_px: int) -> float:
    """Joules to classify one km²: power x latency per tile x tiles per km²."""
    return energy.device_power_w * latency_s_per_tile * tiles_per_km2(energy.gsd_m, stride_px)


def measure_latency_s(path: str | os.PathLike[str], card: ModelCard, tile_px: int = REPORT_TILE_PX,
                      repeats: int = 3, threads: int = 0) -> float:
    """Best-of-``repeats`` seconds for one ``tile_px`` square tile (after one warm-up run).

    The best rather than the mean is kept because other load on the machine only slows runs.
    """
    from .metadata import OUTPUT_NAME
    from .predictor import open_session

    session = open_session(path, threads)
    feed = random_inputs(card, 1, tile_px)
    session.run([OUTPUT_NAME], feed)  # type: ignore[attr-defined]
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        session.run([OUTPUT_NAME], feed)  # type: ignore[attr-defined]
        best = min(best, time.perf_counter() - start)
    return best


def edge_report(model_path: str | os.PathLike[str], fp32_path: str | os.PathLike[str],
                int8_path: str | os.PathLike[str] | None, energy: EnergyConfig = EnergyConfig(),
                repeats: int = 3, tile_px: int = REPORT_TILE_PX) -> EdgeReport:
    """Measure an exported model (and its int8 variant) on this CPU.

    Args:
        model_path: the CMKD model file it was exported from (parameters and FLOPs).
        fp32_path, int8_path: the exported files (int8 may be None).
        energy: device power and GSD for the energy estimate.
        repeats: timed runs per variant (best kept).
        tile_px: tile side for the latency (512 in reports).
    """
    import torch

    from ..models.flops import macs_per_pixel, parameter_count
    from ..models.modelfile import load_model

    net, card = load_model(model_path)
    small = {n: torch.from_numpy(a) for n, a in random_inputs(card, 1, 64).items()}
    flops = 2.0 * macs_per_pixel(net, small)
    stride = max(1, tile_px - round(tile_px * card.tile_overlap_px / card.tile_size_px))
    fp32_s = measure_latency_s(fp32_path, card, tile_px, repeats)
    int8_s = measure_latency_s(int8_path, card, tile_px, repeats) if int8_path else None
    return EdgeReport(
        model_kind=card.kind, classes=len(card.classes),
        inputs=card.architecture.modality_names, parameters=parameter_count(net),
        flops_per_pixel=round(flops, 1),
        fp32_path=str(fp32_path), fp32_size_bytes=Path(str(fp32_path)).stat().st_size,
        fp32_latency_ms_per_tile=round(fp32_s * 1000.0, 2),
        int8_path=None if int8_path is None else str(int8_path),
        int8_size_bytes=None if int8_path is None else Path(str(int8_path)).stat().st_size,
        int8_latency_ms_per_tile=None if int8_s is None else round(int8_s * 1000.0, 2),
        tile_px=tile_px, stride_px=stride, threads=os.cpu_count() or 1,
        device_power_w=energy.device_power_w, gsd_m=energy.gsd_m,
        tiles_per_km2=round(tiles_per_km2(energy.gsd_m, stride), 3),
        fp32_energy_j_per_km2=round(energy_j_per_km2(fp32_s, energy, stride), 3),
        int8_energy_j_per_km2=None if int8_s is None else round(
            energy_j_per_km2(int8_s, energy, stride), 3),
    )
