"""``cmkd:simulatesurvey`` — a georeferenced RGB + HSI + DEM survey with ground truth."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingOutputString,
    QgsProcessingParameterCrs,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
)

from ..base import CmkdAlgorithm
from ..styling import style_on_load

PRESETS = ["earth_carbonation", "mars_analogue"]
#: HSI output extensions written as ENVI (what airborne sensors deliver) instead of GeoTIFF.
ENVI_EXTENSIONS = (".img", ".bsq", ".dat", ".envi")


class SimulateSurveyAlgorithm(CmkdAlgorithm):
    NAME = "simulatesurvey"
    GROUP = "data"
    DISPLAY_NAME = "Generate survey scene"
    HELP = (
        "Generates a realistic, georeferenced survey scene to try the plugin and to train "
        "default models: co-registered RGB, hyperspectral (HSI) and DEM rasters, each on its own "
        "grid as in real surveys, with ground truth.\n\n"
        "Spectra are real laboratory spectra (USGS Spectral Library v7) or, for minerals it lacks, "
        "modelled from published absorption-band parameters; RGB is what a camera sees of them. "
        "The scene has geological units that follow the terrain, mixing at unit boundaries, "
        "topographic illumination and shadows (different sun for RGB and HSI), atmospheric "
        "residuals and sensor noise.\n\n"
        "Presets (12 classes each): earth_carbonation (an enhanced-weathering / "
        "mineral-carbonation site) and mars_analogue.\n\n"
        "Outputs: RGB (3 bands, 8-bit), HSI (float32 reflectance with band wavelengths and FWHM "
        "in nm; ENVI if the file name ends in .img/.bsq/.dat, else GeoTIFF), DEM (float32, m), "
        "truth (class raster with colours and names), labels (points with the field 'mineral', "
        "only inside the labelled zone), sites (polygons with site_id and name), the HSI flight "
        "strip footprint, and a preview PNG. The same seed gives identical rasters."
    )

    PRESET = "PRESET"
    SEED = "SEED"
    SIZE = "SIZE"
    RGB_GSD = "RGB_GSD"
    DEM_GSD = "DEM_GSD"
    HSI_GSD = "HSI_GSD"
    HSI_BANDS = "HSI_BANDS"
    HSI_CRS = "HSI_CRS"
    LABELS_PER_CLASS = "LABELS_PER_CLASS"
    OUTPUT_RGB = "OUTPUT_RGB"
    OUTPUT_HSI = "OUTPUT_HSI"
    OUTPUT_DEM = "OUTPUT_DEM"
    OUTPUT_TRUTH = "OUTPUT_TRUTH"
    OUTPUT_LABELS = "OUTPUT_LABELS"
    OUTPUT_SITES = "OUTPUT_SITES"
    OUTPUT_FOOTPRINT = "OUTPUT_FOOTPRINT"
    OUTPUT_PREVIEW = "OUTPUT_PREVIEW"

    RASTER_OUTPUTS = {OUTPUT_RGB: "RGB image", OUTPUT_HSI: "Hyperspectral image (HSI)",
                      OUTPUT_DEM: "Elevation model (DEM)", OUTPUT_TRUTH: "Ground truth classes"}
    VECTOR_OUTPUTS = {OUTPUT_LABELS: "Labelled points", OUTPUT_SITES: "Sites",
                      OUTPUT_FOOTPRINT: "HSI footprint"}

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        # Static strings: the preset's name is the value (PRESET=mars_analogue in qgis_process).
        self.addParameter(QgsProcessingParameterEnum(
            self.PRESET, self.tr("Preset"), options=PRESETS, defaultValue=PRESETS[0],
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed"), QgsProcessingParameterNumber.Integer,
            defaultValue=1, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SIZE, self.tr("Scene size (RGB pixels per side)"),
            QgsProcessingParameterNumber.Integer, defaultValue=512, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.LABELS_PER_CLASS, self.tr("Labelled points per class"),
            QgsProcessingParameterNumber.Integer, defaultValue=20, minValue=0))
        for key, label, default in (
            (self.RGB_GSD, "RGB ground sampling distance (m)", 0.25),
            (self.DEM_GSD, "DEM ground sampling distance (m)", 1.0),
            (self.HSI_GSD, "HSI ground sampling distance (m)", 2.0),
        ):
            self.add_advanced(QgsProcessingParameterNumber(
                key, self.tr(label), QgsProcessingParameterNumber.Double,
                defaultValue=default, minValue=0.0))
        self.add_advanced(QgsProcessingParameterNumber(
            self.HSI_BANDS, self.tr("HSI bands (400–2500 nm)"),
            QgsProcessingParameterNumber.Integer, defaultValue=224, minValue=2, maxValue=2000))
        self.add_advanced(QgsProcessingParameterCrs(
            self.HSI_CRS, self.tr("HSI coordinate reference system (empty = same as RGB)"),
            optional=True))
        for key, label in self.RASTER_OUTPUTS.items():
            self.addParameter(QgsProcessingParameterRasterDestination(key, self.tr(label)))
        for key, label in self.VECTOR_OUTPUTS.items():
            self.addParameter(QgsProcessingParameterVectorDestination(key, self.tr(label)))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_PREVIEW, self.tr("Preview picture"), self.tr("PNG files (*.png)")))
        self.addOutput(QgsProcessingOutputString("CLASSES", self.tr("Class names (comma-separated)")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        preset = self.parameterAsEnumString(parameters, self.PRESET, context)
        paths = {key: self.parameterAsOutputLayer(parameters, key, context)
                 for key in (*self.RASTER_OUTPUTS, *self.VECTOR_OUTPUTS)}
        paths[self.OUTPUT_PREVIEW] = self.parameterAsFileOutput(
            parameters, self.OUTPUT_PREVIEW, context)
        hsi_format = "envi" if Path(paths[self.OUTPUT_HSI]).suffix.lower() in ENVI_EXTENSIONS \
            else "gtiff"
        args = [
            "--preset", preset,
            "--seed", str(self.parameterAsInt(parameters, self.SEED, context)),
            "--size-px", str(self.parameterAsInt(parameters, self.SIZE, context)),
            "--labels-per-class", str(self.parameterAsInt(parameters, self.LABELS_PER_CLASS,
                                                          context)),
            "--rgb-gsd-m", repr(self.parameterAsDouble(parameters, self.RGB_GSD, context)),
            "--dem-gsd-m", repr(self.parameterAsDouble(parameters, self.DEM_GSD, context)),
            "--hsi-gsd-m", repr(self.parameterAsDouble(parameters, self.HSI_GSD, context)),
            "--hsi-bands", str(self.parameterAsInt(parameters, self.HSI_BANDS, context)),
            "--hsi-format", hsi_format,
        ]
        hsi_crs = self.parameterAsCrs(parameters, self.HSI_CRS, context)
        if hsi_crs.isValid():
            args += ["--hsi-crs", hsi_crs.authid() or hsi_crs.toWkt()]
        flags = {self.OUTPUT_RGB: "--rgb", self.OUTPUT_HSI: "--hsi", self.OUTPUT_DEM: "--dem",
                 self.OUTPUT_TRUTH: "--truth", self.OUTPUT_LABELS: "--labels",
                 self.OUTPUT_SITES: "--sites", self.OUTPUT_FOOTPRINT: "--footprint",
                 self.OUTPUT_PREVIEW: "--preview"}
        for key, flag in flags.items():
            args += [flag, paths[key]]
        args += ["--output-dir", str(Path(paths[self.OUTPUT_RGB]).parent)]

        result = self.run_engine("simulate", args, feedback, outputs=list(paths.values()))

        for key in (*self.RASTER_OUTPUTS, *self.VECTOR_OUTPUTS):
            style_on_load(context, paths[key])
        outputs = {key: result.get(key, paths[key]) for key in paths}
        outputs["CLASSES"] = ",".join(result.get("CLASSES", []))
        return outputs
