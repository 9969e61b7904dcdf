"""``cmkd:enginecheck`` — diagnostics of the engine Python."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputBoolean,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from ..base import CmkdAlgorithm


class EngineCheckAlgorithm(CmkdAlgorithm):
    NAME = "enginecheck"
    GROUP = "diagnostics"
    DISPLAY_NAME = "Check engine"
    HELP = (
        "Runs the CMKD engine in its own Python interpreter and reports what it finds: the "
        "interpreter, the versions of torch, rasterio, GDAL, geopandas and numpy, the number of "
        "torch threads, whether a CUDA GPU is available (and its name), and the time of a small "
        "forward pass on one RGB tile (milliseconds, megapixels per second).\n\n"
        "Run it first after installing, and whenever another algorithm says the engine is "
        "missing or broken. The engine interpreter is set in Processing > Options > Providers > "
        "CMKD Survey > Engine Python (or the CMKD_ENGINE_PYTHON environment variable).\n\n"
        "Output: an HTML report (or JSON, if the file name ends in .json)."
    )

    ITERATIONS = "ITERATIONS"
    TILE_SIZE = "TILE_SIZE"
    OUTPUT = "OUTPUT"

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.add_advanced(QgsProcessingParameterNumber(
            self.ITERATIONS, self.tr("Timed forward passes"),
            QgsProcessingParameterNumber.Integer, defaultValue=5, minValue=1,
        ))
        self.add_advanced(QgsProcessingParameterNumber(
            self.TILE_SIZE, self.tr("Probe tile size (pixels)"),
            QgsProcessingParameterNumber.Integer, defaultValue=256, minValue=8, maxValue=8192,
        ))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr("Engine report"),
            self.tr("HTML files (*.html);;JSON files (*.json)"),
        ))
        self.addOutput(QgsProcessingOutputString("ENGINE_PYTHON", self.tr("Engine Python")))
        self.addOutput(QgsProcessingOutputString("TORCH_VERSION", self.tr("torch version")))
        self.addOutput(QgsProcessingOutputString("GDAL_VERSION", self.tr("GDAL version")))
        self.addOutput(QgsProcessingOutputBoolean("CUDA_AVAILABLE", self.tr("CUDA available")))
        self.addOutput(QgsProcessingOutputNumber("FORWARD_MPX_PER_S",
                                                 self.tr("Forward pass throughput (Mpx/s)")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        iterations = self.parameterAsInt(parameters, self.ITERATIONS, context)
        tile = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        info = self.run_engine(
            "enginecheck",
            ["--iterations", str(iterations), "--tile-size", str(tile), "--output", output],
            feedback, outputs=[output],
        )
        return {
            self.OUTPUT: output,
            "ENGINE_PYTHON": info["engine_python"],
            "TORCH_VERSION": info["torch_version"],
            "GDAL_VERSION": info["gdal_version"],
            "CUDA_AVAILABLE": bool(info["cuda_available"]),
            "FORWARD_MPX_PER_S": float(info["forward_mpx_per_s"]),
        }
