"""Arguments shared by the commands that train on a site: its rasters and its labels."""

from __future__ import annotations

import argparse

# What each raster is for, by the role of the model the command trains or adapts.
_RASTER_HELP = {
    "teacher": ("RGB raster (defines the reference grid)",
                "hyperspectral raster with band wavelengths",
                "elevation raster in metres"),
    "student": ("RGB raster",
                "hyperspectral raster (the teacher's input)",
                "elevation raster in metres (the teacher's input)"),
    "adapt": ("RGB raster of the new site",
              "hyperspectral raster (only if the model is a teacher using it)",
              "elevation raster in metres (only if the model is a teacher using it)"),
}


def add_site_arguments(parser: argparse.ArgumentParser, role: str, labels_help: str,
                       labels_required: bool = True) -> None:
    """``--rgb``, ``--hsi``, ``--dem``, ``--labels`` and ``--label-field``.

    Args:
        role: ``teacher``, ``student`` or ``adapt`` (what the rasters' help says).
        labels_help: what the labels are used for in this command.
        labels_required: whether ``--labels`` must be given.
    """
    rgb, hsi, dem = _RASTER_HELP[role]
    parser.add_argument("--rgb", required=True, help=rgb)
    parser.add_argument("--hsi", help=hsi)
    parser.add_argument("--dem", help=dem)
    parser.add_argument("--labels", required=labels_required, help=labels_help)
    parser.add_argument("--label-field", default="mineral",
                        help="class field holding the class names (default mineral)")
