"""``cmkd:carbonation`` — carbonation-rate layer and per-site CO2 uptake."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from ..base import CmkdAlgorithm
from ..styling import style_on_load


class CarbonationAlgorithm(CmkdAlgorithm):
    NAME = "carbonation"
    GROUP = "carbon"
    DISPLAY_NAME = "Carbonation rate and site CO2 uptake"
    HELP = (
        "Turns mineral probabilities (from 'Classify minerals') into a carbonation-rate layer "
        "in t CO2 per hectare per year: rate = SCALE × Σ p(class) × coefficient(class), with "
        "an uncertainty layer (the spread of the coefficient under the class probabilities).\n\n"
        "Coefficients come from a CSV table (class, coefficient, unit, source); the shipped "
        "table holds the relative coefficients of the method (olivine 0.85, wollastonite 0.92, "
        "serpentine 0.45, basalt 0.28; carbonate products, vegetation, water 0) with literature "
        "CO2 capacities for reference and sources for each. Class names are matched without "
        "regard to case; classes missing on either side are listed in the log.\n\n"
        "With site polygons, each site gets its area (ha), valid-pixel fraction, mean rate, "
        "total uptake (t CO2/yr) and its uncertainty, and the dominant mineral with its share; "
        "pixels on site borders count by the fraction of their area inside the site, and pixel "
        "areas are exact in the raster's CRS (ellipsoidal for geographic CRS). The methods note "
        "(resources/carbonation/METHODS.md) gives every formula and source."
    )
    PROBABILITIES = "PROBABILITIES"
    COEFFICIENTS = "COEFFICIENTS"
    SCALE = "SCALE"
    SITES = "SITES"
    SITE_ID_FIELD = "SITE_ID_FIELD"
    OUTPUT_RATE = "OUTPUT_RATE"
    OUTPUT_UNCERTAINTY = "OUTPUT_UNCERTAINTY"
    OUTPUT_SITES = "OUTPUT_SITES"

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.PROBABILITIES, self.tr("Class probabilities (from Classify minerals)")))
        self.addParameter(QgsProcessingParameterFile(
            self.COEFFICIENTS, self.tr("Coefficient table (CSV; empty = the shipped table)"),
            extension="csv", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.SCALE, self.tr("Scale to t CO2/ha/yr (empty = the documented default)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.0))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.SITES, self.tr("Sites (polygons)"), [QgsProcessing.TypeVectorPolygon],
            optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.SITE_ID_FIELD, self.tr("Site id field"), defaultValue="site_id",
            parentLayerParameterName=self.SITES, optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_RATE, self.tr("Carbonation rate (t CO2/ha/yr)")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_UNCERTAINTY, self.tr("Carbonation rate uncertainty (t CO2/ha/yr)"),
            optional=True))
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT_SITES, self.tr("Site CO2 uptake"), QgsProcessing.TypeVectorPolygon,
            optional=True))
        self.addOutput(QgsProcessingOutputNumber(
            "TOTAL_T_CO2_PER_YR",
            self.tr("Total uptake (t CO2/yr): over the sites, or the whole raster without sites")))
        self.addOutput(QgsProcessingOutputString(
            "UNMATCHED_CLASSES", self.tr("Classes without a coefficient")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        args = ["--probabilities", self.raster_path(parameters, self.PROBABILITIES, context)]
        coefficients = self.parameterAsFile(parameters, self.COEFFICIENTS, context)
        if coefficients:
            args += ["--coefficients", coefficients]
        if parameters.get(self.SCALE) not in (None, ""):
            args += ["--scale", repr(self.parameterAsDouble(parameters, self.SCALE, context))]
        sites = self.vector_source(parameters, self.SITES, context, feedback)
        if sites:
            args += ["--sites", sites, "--site-id-field",
                     self.parameterAsString(parameters, self.SITE_ID_FIELD, context) or "site_id"]
        paths = {}
        for key, flag in ((self.OUTPUT_RATE, "--output-rate"),
                          (self.OUTPUT_UNCERTAINTY, "--output-uncertainty"),
                          (self.OUTPUT_SITES, "--output-sites")):
            path = self.parameterAsOutputLayer(parameters, key, context)
            if path and (key != self.OUTPUT_SITES or sites):
                paths[key] = path
                args += [flag, path]
        result = self.run_engine("carbonation", args, feedback, outputs=list(paths.values()))
        for path in paths.values():
            style_on_load(context, path)
        outputs = dict(paths)
        if result.get("TOTAL_T_CO2_PER_YR") is not None:
            outputs["TOTAL_T_CO2_PER_YR"] = float(result["TOTAL_T_CO2_PER_YR"])
        unmatched = result.get("UNMATCHED_CLASSES") or []
        outputs["UNMATCHED_CLASSES"] = ",".join(unmatched) if isinstance(unmatched, list) \
            else str(unmatched)
        return outputs
