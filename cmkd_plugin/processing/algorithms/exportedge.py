"""``cmkd:exportedge`` — a model to ONNX (+ int8) for edge devices, with an edge report."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from ..base import CmkdAlgorithm
from .mapping import bundled_models


class ExportEdgeAlgorithm(CmkdAlgorithm):
    NAME = "exportedge"
    GROUP = "training"
    DISPLAY_NAME = "Export model for edge devices (ONNX)"
    HELP = (
        "Exports a CMKD model (the RGB student, or a teacher) to ONNX for rovers, drones and "
        "field sensors. The model card (classes, bands, normalisation, tile size, pixel size) "
        "is stored as ONNX metadata, including the keys the Deepness plugin reads, so the file "
        "also opens there; 'Classify minerals' runs .onnx files too, to check the export on "
        "your data.\n\n"
        "Optionally writes an int8-quantised copy next to it (name.int8.onnx, onnxruntime "
        "dynamic quantisation). The report gives file sizes, parameters, FLOPs per pixel, the "
        "latency per 512 x 512 tile on this computer for fp32 and int8, and the energy to map "
        "one square kilometre for the given device power and ground sampling distance."
    )
    MODEL = "MODEL"
    OUTPUT_ONNX = "OUTPUT_ONNX"
    QUANTIZE = "QUANTIZE"
    DEVICE_POWER_W = "DEVICE_POWER_W"
    GSD_M = "GSD_M"
    OUTPUT_REPORT = "OUTPUT_REPORT"
    NUMBERS = {"PARAMETERS": "Parameters", "FLOPS_PER_PIXEL": "FLOPs per pixel",
               "FP32_LATENCY_MS": "fp32 latency per 512 x 512 tile (ms)",
               "INT8_LATENCY_MS": "int8 latency per 512 x 512 tile (ms)",
               "FP32_ENERGY_J_PER_KM2": "fp32 energy per km2 (J)",
               "INT8_ENERGY_J_PER_KM2": "int8 energy per km2 (J)"}

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        models = bundled_models()
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model file"), extension="cmkd",
            defaultValue=models[0] if models else None))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_ONNX, self.tr("ONNX model"), self.tr("ONNX models (*.onnx)")))
        self.addParameter(QgsProcessingParameterBoolean(
            self.QUANTIZE, self.tr("Also write an int8-quantised model"), defaultValue=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.DEVICE_POWER_W, self.tr("Device power while classifying (W)"),
            QgsProcessingParameterNumber.Double, defaultValue=10.0, minValue=0.001))
        self.addParameter(QgsProcessingParameterNumber(
            self.GSD_M, self.tr("Ground sampling distance (m per pixel)"),
            QgsProcessingParameterNumber.Double, defaultValue=0.1, minValue=0.0001))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.tr("Edge report"), self.tr("JSON files (*.json)"),
            optional=True))
        self.addOutput(QgsProcessingOutputFile("OUTPUT_INT8", self.tr("int8 ONNX model")))
        for key, label in self.NUMBERS.items():
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        model = self.parameterAsFile(parameters, self.MODEL, context)
        if not model:
            raise QgsProcessingException(self.tr(
                "No model file given; choose a model written by 'Train teacher' or "
                "'Distil RGB student'."))
        onnx_path = self.parameterAsFileOutput(parameters, self.OUTPUT_ONNX, context)
        report = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        quantize = self.parameterAsBoolean(parameters, self.QUANTIZE, context)
        args = ["--model", model, "--output-onnx", onnx_path,
                "--device-power-w", repr(self.parameterAsDouble(parameters, self.DEVICE_POWER_W, context)),
                "--gsd-m", repr(self.parameterAsDouble(parameters, self.GSD_M, context))]
        if quantize:
            args.append("--quantize")
        if report:
            args += ["--output-report", report]
        written = [onnx_path] + ([report] if report else [])
        result = self.run_engine("exportedge", args, feedback, outputs=written)
        outputs = {self.OUTPUT_ONNX: onnx_path}
        if report:
            outputs[self.OUTPUT_REPORT] = report
        if result.get("OUTPUT_INT8"):
            outputs["OUTPUT_INT8"] = str(result["OUTPUT_INT8"])
        for key in self.NUMBERS:
            if result.get(key) is not None:
                outputs[key] = float(result[key])
        return outputs
