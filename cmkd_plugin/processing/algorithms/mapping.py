"""``cmkd:classify`` and ``cmkd:evaluate`` — mineral maps and their accuracy."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsProcessing,
)

from ...engine.classify.config import DEVICES, REFINE_MODES, TEACHER_GRIDS, ClassifyConfig
from ...engine.paths import resources_dir
from ..base import CmkdAlgorithm
from ..styling import style_on_load



def bundled_models() -> list[str]:
    """Model files shipped with the plugin (``resources/models/*.cmkd``), students first."""
    folder = resources_dir() / "models"
    files = sorted(folder.glob("*.cmkd")) if folder.is_dir() else []
    return [str(p) for p in sorted(files, key=lambda p: ("student" not in p.name, p.name))]


class ClassifyAlgorithm(CmkdAlgorithm):
    NAME = "classify"
    GROUP = "mapping"
    DISPLAY_NAME = "Classify minerals"
    HELP = (
        "Maps minerals with a CMKD model (the RGB student, or the teacher where hyperspectral "
        "and DEM data exist) over rasters of any size, tile by tile, streaming the results to "
        "disk so memory does not grow with the raster.\n\n"
        "The model card says which inputs are needed. HSI and DEM are aligned on the fly to the "
        "RGB grid whatever their CRS, resolution or extent; HSI bands are matched to the "
        "model's wavelengths (read from ENVI headers, GeoTIFF band metadata or band names). "
        "Input scaling (8/16-bit RGB, reflectance ×10000 or 0–1) is detected.\n\n"
        "Tiles overlap and are stitched without seams. Nodata in any required input gives "
        "nodata in every output. EXTENT and MASK limit the processing area.\n\n"
        "A teacher sees the minerals through its hyperspectral pixels (e.g. 2 m); its "
        "probabilities are refined by the RGB inside each of them so that the map follows the "
        "RGB's edges (an edge-aware guided filter). The advanced parameter 'Refine the map by "
        "the RGB' says for which models: teacher (default), all (students too: an edge-aware "
        "smoothing over one teacher pixel, which made the simulator's student maps 2–5 points "
        "better but costs time) or none. Such a teacher runs on its own grid, as in training, "
        "and its map is upsampled to the RGB's (Teacher grid own, the default); with 'rgb' it "
        "runs on every RGB pixel instead, 10–40 times slower on the simulator and no more "
        "accurate.\n\n"
        "Outputs: classes (colour table and class names, loaded with a legend), probabilities "
        "(one band per class, named after it; input of 'Carbonation rate'), confidence (band 1 "
        "maximum probability, band 2 normalised entropy)."
    )
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    MASK = "MASK"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    DASK_SCHEDULER = "DASK_SCHEDULER"
    REFINE = "REFINE"
    TEACHER_GRID = "TEACHER_GRID"
    OUTPUTS = {"OUTPUT_CLASSES": ("Mineral classes", "--output-classes"),
               "OUTPUT_PROBABILITIES": ("Class probabilities", "--output-probabilities"),
               "OUTPUT_CONFIDENCE": ("Confidence", "--output-confidence")}

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        models = bundled_models()
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model file (default: the bundled RGB student)"),
            defaultValue=models[0] if models else None,
            fileFilter=self.tr("CMKD or ONNX models (*.cmkd *.safetensors *.onnx)")))
        self.add_modality_inputs(hsi_optional=True, dem_optional=True)
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, self.tr("Processing extent"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.MASK, self.tr("Processing mask (polygons)"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        for key, label, default, lo, hi in (
            (self.TILE_SIZE, "Tile size (pixels)", 256, 32, 4096),
            (self.OVERLAP, "Tile overlap (pixels)", 32, 0, 1024),
            (self.BATCH_SIZE, "Tiles per batch", 4, 1, 256),
        ):
            self.add_advanced(QgsProcessingParameterNumber(
                key, self.tr(label), QgsProcessingParameterNumber.Integer,
                defaultValue=default, minValue=lo, maxValue=hi))
        self.add_advanced(QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Device"), options=list(DEVICES), defaultValue=DEVICES[0],
            usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterEnum(
            self.REFINE, self.tr("Refine the map by the RGB (teacher, all, none)"),
            options=list(REFINE_MODES), defaultValue=REFINE_MODES[0], usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterEnum(
            self.TEACHER_GRID, self.tr("Teacher grid (own: its training grid; rgb: every RGB "
                                       "pixel, slower)"),
            options=list(TEACHER_GRIDS), defaultValue=ClassifyConfig.teacher_grid,
            usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterString(
            self.DASK_SCHEDULER, self.tr("Dask scheduler address (e.g. tcp://host:8786; empty: "
                                         "this computer)"), optional=True))
        for key, (label, _flag) in self.OUTPUTS.items():
            self.addParameter(QgsProcessingParameterRasterDestination(
                key, self.tr(label), optional=key != "OUTPUT_CLASSES"))
        self.addOutput(QgsProcessingOutputString("CLASSES", self.tr("Class names")))
        self.addOutput(QgsProcessingOutputString("MODEL_KIND", self.tr("Model kind")))
        self.addOutput(QgsProcessingOutputNumber("PIXELS", self.tr("Pixels classified")))
        self.addOutput(QgsProcessingOutputNumber(
            "SECONDS", self.tr("Seconds spent classifying (read, infer, stitch, write)")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        model = self.parameterAsFile(parameters, self.MODEL, context)
        if not model:
            raise QgsProcessingException(self.tr(
                "No model file given and no bundled model is installed; train one with "
                "'Train teacher' and 'Distil RGB student'."))
        args = ["--model", model] + self.modality_args(parameters, context)
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context)
            crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
            args += ["--extent", "{},{},{},{},{}".format(
                rect.xMinimum(), rect.xMaximum(), rect.yMinimum(), rect.yMaximum(),
                crs.authid() or crs.toWkt())]
        mask = self.vector_source(parameters, self.MASK, context, feedback)
        if mask:
            args += ["--mask", mask]
        args += ["--tile-size", str(self.parameterAsInt(parameters, self.TILE_SIZE, context)),
                 "--overlap", str(self.parameterAsInt(parameters, self.OVERLAP, context)),
                 "--batch-size", str(self.parameterAsInt(parameters, self.BATCH_SIZE, context)),
                 "--device", self.parameterAsEnumString(parameters, self.DEVICE, context)]
        args += ["--refine", self.parameterAsEnumString(parameters, self.REFINE, context),
                 "--teacher-grid", self.parameterAsEnumString(parameters, self.TEACHER_GRID, context)]
        scheduler = (self.parameterAsString(parameters, self.DASK_SCHEDULER, context) or "").strip()
        if scheduler:
            args += ["--dask-scheduler", scheduler]
        paths = {}
        for key, (_label, flag) in self.OUTPUTS.items():
            path = self.parameterAsOutputLayer(parameters, key, context)
            if path:
                paths[key] = path
                args += [flag, path]
        result = self.run_engine("classify", args, feedback, outputs=list(paths.values()))
        for path in paths.values():
            style_on_load(context, path)
        outputs = dict(paths)
        outputs["CLASSES"] = ",".join(result.get("CLASSES", []))
        outputs["MODEL_KIND"] = str(result.get("MODEL_KIND", ""))
        for key in ("PIXELS", "SECONDS"):
            if result.get(key) is not None:
                outputs[key] = float(result[key])
        return outputs


class EvaluateAlgorithm(CmkdAlgorithm):
    NAME = "evaluate"
    GROUP = "mapping"
    DISPLAY_NAME = "Evaluate mineral map"
    HELP = (
        "Compares a class raster (from 'Classify minerals') with reference data — labelled "
        "points or polygons with a class field, or a truth class raster — and reports overall "
        "accuracy, Cohen's kappa, macro-F1, per-class producer's and user's accuracy and the "
        "confusion matrix (HTML report with a picture; CSV and JSON beside it)."
    )
    CLASSES = "CLASSES"
    REFERENCE = "REFERENCE"
    REFERENCE_FIELD = "REFERENCE_FIELD"
    OUTPUT_REPORT = "OUTPUT_REPORT"

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        from qgis.core import QgsProcessingParameterRasterLayer

        self.addParameter(QgsProcessingParameterRasterLayer(
            self.CLASSES, self.tr("Mineral class raster")))
        self.addParameter(QgsProcessingParameterMapLayer(
            self.REFERENCE, self.tr("Reference (labelled vector or truth raster)")))
        self.addParameter(QgsProcessingParameterString(
            self.REFERENCE_FIELD, self.tr("Class field of a vector reference"),
            defaultValue="mineral", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.tr("Accuracy report"), self.tr("HTML files (*.html)")))
        for key, label in (("OA", "Overall accuracy"), ("KAPPA", "Cohen's kappa"),
                           ("MACRO_F1", "Macro-F1")):
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from qgis.core import QgsRasterLayer

        reference_layer = self.parameterAsLayer(parameters, self.REFERENCE, context)
        if reference_layer is None:
            raise QgsProcessingException(self.tr("Choose a reference layer."))
        if isinstance(reference_layer, QgsRasterLayer):
            reference = reference_layer.source()
        else:
            reference = self.vector_source(parameters, self.REFERENCE, context, feedback)
        report = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        args = ["--classes", self.raster_path(parameters, self.CLASSES, context),
                "--reference", reference,
                "--reference-field",
                self.parameterAsString(parameters, self.REFERENCE_FIELD, context) or "mineral",
                "--output-report", report]
        result = self.run_engine("evaluate", args, feedback, outputs=[report])
        outputs = {self.OUTPUT_REPORT: report}
        for key in ("OA", "KAPPA", "MACRO_F1"):
            if result.get(key) is not None:
                outputs[key] = float(result[key])
        return outputs
