"""Survey scene simulator: co-registered RGB, hyperspectral and DEM rasters with ground truth.

Public API::

    from cmkd_plugin.engine.simulator import (SimulationConfig, OutputPaths, simulate_survey,
                                              generate_scene, preset_classes, ClassInfo)
"""

from __future__ import annotations

from typing import Any

from ..feedback import Feedback
from .config import OutputPaths, SimulationConfig, check_outputs, validate
from .presets import PRESETS, ClassInfo, get_preset, preset_classes, preset_names

__all__ = ["ClassInfo", "OutputPaths", "PRESETS", "SimulationConfig", "generate_scene",
           "get_preset", "preset_classes", "preset_names", "simulate_survey"]


def generate_scene(config: SimulationConfig, feedback: Feedback | None = None):
    """Simulate a survey in memory; see :func:`.scene.generate_scene`."""
    from .scene import generate_scene as _generate

    return _generate(config, feedback)


def simulate_survey(config: SimulationConfig, outputs: OutputPaths,
                    feedback: Feedback | None = None) -> dict[str, Any]:
    """Validate, simulate and write a survey atomically.

    Args:
        config: what to simulate.
        outputs: where to write each output.
        feedback: progress, messages and cancellation.

    Returns:
        ``OUTPUT_RGB``, ``OUTPUT_HSI``, ``OUTPUT_DEM``, ``OUTPUT_TRUTH``, ``OUTPUT_LABELS``,
        ``OUTPUT_SITES``, ``OUTPUT_FOOTPRINT``, ``OUTPUT_PREVIEW`` (paths) and ``CLASSES``.

    Raises:
        InputError: a parameter or output path is unusable (before any work).
        CancelledError: the user cancelled; nothing was written.
    """
    from .scene import generate_scene as _generate
    from .writer import write_scene

    feedback = feedback or Feedback()
    validate(config)
    check_outputs(outputs, config.hsi_format)
    scene = _generate(config, feedback.step(0, 75))
    return write_scene(scene, outputs, feedback.step(75, 100))
