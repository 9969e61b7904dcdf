"""The training family: ``cmkd:trainteacher`` and ``cmkd:distillstudent`` (the two training
steps), ``cmkd:tunedistillation`` (the search for the distillation settings) and
``cmkd:adaptsite`` (adapting a trained model to a new site)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
)

from ...engine.models.config import MAX_MEMBERS
from ...engine.training.config import (MAX_STUDENT_LAYERS, TARGET_INTERPOLATIONS, TUNING_METHODS,
                                       AdaptConfig, DistillConfig, TeacherTrainConfig)
from ..base import POINT_OR_POLYGON, CmkdAlgorithm

MODEL_FILTER = "CMKD model files (*.cmkd)"
REPORT_FILTER = "HTML files (*.html)"
TABLE_FILTER = "CSV files (*.csv)"


class _TrainingAlgorithm(CmkdAlgorithm):
    """Labels, epochs, seed and the model + report outputs shared by both training steps."""

    GROUP = "training"
    LABELS = "LABELS"
    LABEL_FIELD = "LABEL_FIELD"
    EPOCHS = "EPOCHS"
    SEED = "SEED"
    OUTPUT_MODEL = "OUTPUT_MODEL"
    OUTPUT_REPORT = "OUTPUT_REPORT"
    #: Headline numbers the engine returns, shown as algorithm outputs.
    METRICS: dict[str, str] = {}

    def add_labels(self, optional: bool) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.LABELS, self.tr("Labelled points or polygons"), POINT_OR_POLYGON,
            optional=optional))
        # Optional even when labels are required: qgis_process 3.22 does not apply a field
        # parameter's default, and the engine's default is the same 'mineral'.
        self.addParameter(QgsProcessingParameterField(
            self.LABEL_FIELD, self.tr("Class field"), defaultValue="mineral",
            parentLayerParameterName=self.LABELS, optional=True))

    def add_common_tail(self, default_epochs: int) -> None:
        self.addParameter(QgsProcessingParameterNumber(
            self.EPOCHS, self.tr("Epochs"), QgsProcessingParameterNumber.Integer,
            defaultValue=default_epochs, minValue=1, maxValue=10000))
        self.addParameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed"), QgsProcessingParameterNumber.Integer,
            defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_MODEL, self.tr("Model file"), self.tr(MODEL_FILTER)))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.tr("Training report"), self.tr(REPORT_FILTER)))
        for key, label in self.METRICS.items():
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))

    def label_args(self, parameters, context, feedback) -> list[str]:
        labels = self.vector_source(parameters, self.LABELS, context, feedback)
        if not labels:
            return []
        field = self.parameterAsString(parameters, self.LABEL_FIELD, context) or "mineral"
        return ["--labels", labels, "--label-field", field]

    def run_training(self, command: str, args: list[str], parameters, context, feedback,
                     more_outputs: dict[str, str] | None = None):
        """Run the engine command with epochs, seed, model and report (and ``more_outputs``:
        parameter key -> path, already in ``args``) and return the outputs with the metrics."""
        model = self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context)
        report = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        args = args + [
            "--epochs", str(self.parameterAsInt(parameters, self.EPOCHS, context)),
            "--seed", str(self.parameterAsInt(parameters, self.SEED, context)),
            "--output-model", model, "--output-report", report,
        ]
        more_outputs = more_outputs or {}
        result = self.run_engine(command, args, feedback,
                                 outputs=[model, report, *more_outputs.values()])
        outputs = {self.OUTPUT_MODEL: model, self.OUTPUT_REPORT: report, **more_outputs}
        for key in self.METRICS:
            if result.get(key) is not None:
                outputs[key] = float(result[key])
        return outputs


class TrainTeacherAlgorithm(_TrainingAlgorithm):
    NAME = "trainteacher"
    DISPLAY_NAME = "Train teacher (RGB + HSI + DEM)"
    HELP = (
        "Trains the multi-modal teacher: one encoder per input (RGB, hyperspectral, DEM with "
        "derived slope and hillshade) projected into a shared 256-dimensional space, 8-head "
        "cross-modal attention at every pixel, and a classifier. Inputs may have any CRS, "
        "resolution and extent: they are aligned on the fly to the RGB grid. The class list "
        "comes from the labels' class field.\n\n"
        "Training uses class-weighted cross-entropy, modality-specific augmentation (spectral "
        "warping and band dropout for HSI, noise and tilt for the DEM, colour jitter for RGB), "
        "modality dropout (so the teacher tolerates a missing input) and early stopping on a "
        "validation split made of spatial blocks (no neighbouring-pixel leakage). Nodata is "
        "masked out of every loss.\n\n"
        "Ensemble members (advanced, 3 by default): several teachers trained alike with "
        "successive seeds (the seed, the seed + 1, ...) and kept in one model file; they answer "
        "as one, averaging their class probabilities, which maps better than a single teacher "
        "on average and evens out an unlucky seed. Each member costs one more training and "
        "makes the teacher's own maps that much slower; the student is as small and fast as "
        "ever. 1 trains a single teacher.\n\n"
        "Areal mixing (advanced, 0 by default): the share of training samples made linear "
        "mixtures of two labelled pixels with the matching mixed target, as a hyperspectral "
        "pixel across a boundary is. It helps where minerals are mixed with a spectrally bland "
        "cover (on the simulator's Mars scenes, whose units carry dust, 1 mapped 1 point "
        "better) and hurts where a class is itself spectrally between two others, as dolomite "
        "between calcite and magnesite (the Earth scenes: 5 points worse).\n\n"
        "Outputs: the model file (weights and model card: inputs, band wavelengths, "
        "normalisation, classes and colours, training parameters and metrics) and an HTML "
        "report (a JSON twin is written beside it). The report scores the teacher's map on the "
        "validation blocks as Classify minerals makes it: refined by the RGB inside each "
        "hyperspectral pixel."
    )
    MEMBERS = "MEMBERS"
    MIXING = "MIXING"
    METRICS = {"TEACHER_OA": "Teacher overall accuracy (validation)"}

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.add_modality_inputs(hsi_optional=False, dem_optional=True)
        self.add_labels(optional=False)
        self.add_common_tail(default_epochs=TeacherTrainConfig().epochs)
        self.add_advanced(QgsProcessingParameterNumber(
            self.MEMBERS, self.tr("Ensemble members (teachers trained with successive seeds)"),
            QgsProcessingParameterNumber.Integer, defaultValue=TeacherTrainConfig.members,
            minValue=1, maxValue=MAX_MEMBERS))
        self.add_advanced(QgsProcessingParameterNumber(
            self.MIXING, self.tr("Areal mixing (share of samples mixed; 0: off)"),
            QgsProcessingParameterNumber.Double, defaultValue=TeacherTrainConfig.mixing,
            minValue=0.0, maxValue=1.0))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        args = self.modality_args(parameters, context) + self.label_args(parameters, context,
                                                                         feedback)
        args += ["--members", str(self.parameterAsInt(parameters, self.MEMBERS, context)),
                 "--mixing", repr(self.parameterAsDouble(parameters, self.MIXING, context))]
        return self.run_training("trainteacher", args, parameters, context, feedback)


class DistillStudentAlgorithm(_TrainingAlgorithm):
    NAME = "distillstudent"
    DISPLAY_NAME = "Distil RGB student"
    HELP = (
        "Distils a trained teacher into a small RGB-only student that maps minerals wherever "
        "RGB imagery exists. The transfer set is every pixel where the teacher's inputs exist, "
        "labelled or not.\n\n"
        "Loss = T² · KL(teacher ‖ student at temperature T) + feature weight · (1 − cosine of "
        "student and teacher features) (+ cross-entropy on labels, if given). T is annealed "
        "from the start to the end temperature over the epochs. Class-balanced weighting makes "
        "rare minerals weigh more. Progressive distillation goes HSI → simulated multispectral "
        "→ RGB through an intermediate teacher. Colour jitter (off by default) trains on "
        "randomly re-balanced colours: the student then copes better with imagery of another "
        "colour balance (another camera, sun or flight) but is less accurate on imagery like "
        "its own, because minerals differ in RGB by small colour shifts.\n\n"
        "The report compares teacher, student and an RGB-only baseline (the student trained on "
        "the labels alone with the same budget): overall accuracy, kappa, macro-F1, per-class "
        "F1, accuracy retention, distillation gain, parameters, FLOPs per pixel and CPU speed."
    )
    TEACHER = "TEACHER"
    TEMPERATURE_START = "TEMPERATURE_START"
    TEMPERATURE_END = "TEMPERATURE_END"
    FEATURE_WEIGHT = "FEATURE_WEIGHT"
    CLASS_BALANCED = "CLASS_BALANCED"
    PROGRESSIVE = "PROGRESSIVE"
    CE_WEIGHT = "CE_WEIGHT"
    COLOUR_JITTER = "COLOUR_JITTER"
    STUDENT_LAYERS = "STUDENT_LAYERS"
    TEACHER_TARGETS = "TEACHER_TARGETS"
    METRICS = {"TEACHER_OA": "Teacher overall accuracy", "STUDENT_OA": "Student overall accuracy",
               "BASELINE_OA": "RGB-only baseline overall accuracy",
               "RETENTION": "Accuracy retention (student / teacher)"}

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterFile(
            self.TEACHER, self.tr("Teacher model file"), extension="cmkd"))
        self.add_modality_inputs(hsi_optional=False, dem_optional=True)
        self.add_labels(optional=True)
        d = DistillConfig()  # the engine's defaults: one place for them
        self.add_common_tail(default_epochs=d.epochs)
        for key, label, default in (
            (self.TEMPERATURE_START, "Temperature at the start", d.temperature_start),
            (self.TEMPERATURE_END, "Temperature at the end", d.temperature_end),
            (self.FEATURE_WEIGHT, "Feature alignment weight", d.feature_weight),
            (self.CE_WEIGHT, "Label cross-entropy weight (0 = distil from the teacher only)", d.ce_weight),
        ):
            self.add_advanced(QgsProcessingParameterNumber(
                key, self.tr(label), QgsProcessingParameterNumber.Double,
                defaultValue=default, minValue=0.0))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.CLASS_BALANCED, self.tr("Class-balanced weighting (rare minerals weigh more)"),
            defaultValue=d.class_balanced))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.PROGRESSIVE, self.tr("Progressive chain HSI → multispectral → RGB"),
            defaultValue=d.progressive))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.COLOUR_JITTER,
            self.tr("Colour jitter (robust to another colour balance, less accurate on this one)"),
            defaultValue=d.augment))
        self.add_advanced(QgsProcessingParameterNumber(
            self.STUDENT_LAYERS,
            self.tr("Student conv layers (more: more accurate, slower to train and to map)"),
            QgsProcessingParameterNumber.Integer, defaultValue=d.encoder_depth, minValue=1,
            maxValue=MAX_STUDENT_LAYERS))
        self.add_advanced(QgsProcessingParameterEnum(
            self.TEACHER_TARGETS,
            self.tr("Teacher targets inside its coarser pixels (logits, probabilities = "
                    "interpolated; guided = probabilities following the RGB's edges)"),
            options=list(TARGET_INTERPOLATIONS), defaultValue=d.target_interpolation,
            usesStaticStrings=True))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        def number(key):
            return repr(self.parameterAsDouble(parameters, key, context))

        def flag(key, name):
            on = self.parameterAsBoolean(parameters, key, context)
            return f"--{name}" if on else f"--no-{name}"

        args = ["--teacher", self.parameterAsFile(parameters, self.TEACHER, context)]
        args += self.modality_args(parameters, context)
        args += self.label_args(parameters, context, feedback)
        args += ["--temperature-start", number(self.TEMPERATURE_START),
                 "--temperature-end", number(self.TEMPERATURE_END),
                 "--feature-weight", number(self.FEATURE_WEIGHT),
                 "--ce-weight", number(self.CE_WEIGHT),
                 flag(self.CLASS_BALANCED, "class-balanced"),
                 flag(self.PROGRESSIVE, "progressive"),
                 flag(self.COLOUR_JITTER, "colour-jitter"),
                 "--student-layers", str(self.parameterAsInt(parameters, self.STUDENT_LAYERS, context)),
                 "--teacher-targets",
                 self.parameterAsEnumString(parameters, self.TEACHER_TARGETS, context)]
        return self.run_training("distillstudent", args, parameters, context, feedback)


class TuneDistillationAlgorithm(_TrainingAlgorithm):
    NAME = "tunedistillation"
    DISPLAY_NAME = "Tune distillation settings"
    HELP = (
        "Searches the distillation settings that give the best student: the start temperature "
        "(1 to 8), the end temperature (10 % to 100 % of the start temperature), the feature "
        "alignment weight (0 to 2) and, optionally, the class-balance strength (0 = no "
        "balancing to 1 = inverse class frequency). Each candidate is scored by a short "
        "distillation (a few epochs) at the validation blocks of the labels: overall accuracy, "
        "ties broken by macro-F1. The scene and the teacher's predictions are computed once.\n\n"
        "Search: differential evolution (default), a regular grid or random sampling, never "
        "more than the maximum number of evaluations (the grid may use fewer). The same seed "
        "gives the same search and the same table.\n\n"
        "Outputs: a CSV table with one row per evaluation (settings, validation overall "
        "accuracy and macro-F1, seconds, best-so-far flag), rewritten after every evaluation "
        "so that a cancelled run keeps what it evaluated; then a student distilled with the "
        "best settings for the full number of epochs, with the same report as \"Distil RGB "
        "student\" (written only when the search completes)."
    )
    TEACHER = "TEACHER"
    MAX_EVALUATIONS = "MAX_EVALUATIONS"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    METHOD = "METHOD"
    EVAL_EPOCHS = "EVAL_EPOCHS"
    TUNE_CLASS_BALANCE = "TUNE_CLASS_BALANCE"
    #: Engine method names, in the order of the METHOD enum's options.
    METHODS = TUNING_METHODS
    METRICS = {"BEST_SCORE": "Best validation score", "BEST_VALIDATION_OA":
               "Best validation overall accuracy (short run)",
               "BEST_TEMPERATURE_START": "Best start temperature",
               "BEST_TEMPERATURE_END": "Best end temperature",
               "BEST_FEATURE_WEIGHT": "Best feature alignment weight",
               "BEST_CLASS_BALANCE_BETA": "Best class-balance strength",
               "EVALUATIONS": "Evaluations run",
               "STUDENT_OA": "Student overall accuracy"}

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterFile(
            self.TEACHER, self.tr("Teacher model file"), extension="cmkd"))
        self.add_modality_inputs(hsi_optional=False, dem_optional=True)
        self.add_labels(optional=False)
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_EVALUATIONS, self.tr("Maximum evaluations (short distillations)"),
            QgsProcessingParameterNumber.Integer, defaultValue=20, minValue=1, maxValue=10000))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_TABLE, self.tr("Table of evaluations"), self.tr(TABLE_FILTER)))
        self.add_common_tail(default_epochs=DistillConfig().epochs)
        self.add_advanced(QgsProcessingParameterEnum(
            self.METHOD, self.tr("Search method"),
            [self.tr("Differential evolution"), self.tr("Grid search"), self.tr("Random search")],
            defaultValue=0))
        self.add_advanced(QgsProcessingParameterNumber(
            self.EVAL_EPOCHS, self.tr("Epochs of each evaluation"),
            QgsProcessingParameterNumber.Integer, defaultValue=6, minValue=1, maxValue=10000))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.TUNE_CLASS_BALANCE, self.tr("Also tune the class-balance strength"),
            defaultValue=True))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        table = self.parameterAsFileOutput(parameters, self.OUTPUT_TABLE, context)
        balance = self.parameterAsBoolean(parameters, self.TUNE_CLASS_BALANCE, context)
        args = ["--teacher", self.parameterAsFile(parameters, self.TEACHER, context)]
        args += self.modality_args(parameters, context)
        args += self.label_args(parameters, context, feedback)
        args += ["--max-evaluations",
                 str(self.parameterAsInt(parameters, self.MAX_EVALUATIONS, context)),
                 "--method", self.METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
                 "--eval-epochs", str(self.parameterAsInt(parameters, self.EVAL_EPOCHS, context)),
                 "--tune-class-balance" if balance else "--no-tune-class-balance",
                 "--output-table", table]
        return self.run_training("tunedistillation", args, parameters, context, feedback,
                                 more_outputs={self.OUTPUT_TABLE: table})
class AdaptSiteAlgorithm(_TrainingAlgorithm):
    NAME = "adaptsite"
    DISPLAY_NAME = "Adapt model to a new site"
    HELP = (
        "Fine-tunes a student (or teacher) model with a handful of labelled points from a new "
        "site, e.g. another illumination, camera or sensor noise. The class field must hold "
        "class names the model knows (see its model card); labels of other classes are refused "
        "with the list of the model's classes. HSI and DEM are needed only if the model is a "
        "teacher that uses them.\n\n"
        "Guards against forgetting: the encoder stays frozen (FREEZE), and a keep term "
        "(KEEP_WEIGHT × KL divergence to the original model over every pixel of the new scene) "
        "holds predictions away from the points close to the original model's. Optionally the "
        "input normalisation is first re-estimated from the new scene (RENORMALISE), which "
        "absorbs illumination and gain differences.\n\n"
        "With 10–20 points nothing is held out: the report gives the accuracy at the points "
        "before and after, the points per class, and the share of the scene whose class changed. "
        "The new model card records that the model was adapted, from which file and with which "
        "inputs."
    )
    MODEL = "MODEL"
    FREEZE = "FREEZE"
    KEEP_WEIGHT = "KEEP_WEIGHT"
    RENORMALISE = "RENORMALISE"
    #: encoder: the later layers adapt; features: only the classifier adapts; none: all adapt.
    FREEZE_CHOICES = ["encoder", "features", "none"]
    METRICS = {"POINTS_OA_BEFORE": "Accuracy at the points before adapting",
               "POINTS_OA_AFTER": "Accuracy at the points after adapting",
               "CHANGED_SHARE": "Share of the scene whose class changed"}

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model file to adapt (student or teacher)"), extension="cmkd"))
        self.add_modality_inputs(hsi_optional=True, dem_optional=True)
        self.add_labels(optional=False)
        self.add_common_tail(default_epochs=AdaptConfig().epochs)
        self.add_advanced(QgsProcessingParameterEnum(
            self.FREEZE, self.tr("Frozen layers (encoder, features = all but the classifier, none)"),
            options=self.FREEZE_CHOICES, defaultValue=self.FREEZE_CHOICES[0],
            usesStaticStrings=True))
        self.add_advanced(QgsProcessingParameterNumber(
            self.KEEP_WEIGHT, self.tr("Keep weight (stay close to the original model; 0 = off)"),
            QgsProcessingParameterNumber.Double, defaultValue=1.0, minValue=0.0))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.RENORMALISE, self.tr("Re-estimate input normalisation on the new scene"),
            defaultValue=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        renormalise = self.parameterAsBoolean(parameters, self.RENORMALISE, context)
        args = ["--model", self.parameterAsFile(parameters, self.MODEL, context)]
        args += self.modality_args(parameters, context)
        args += self.label_args(parameters, context, feedback)
        args += ["--freeze", self.parameterAsEnumString(parameters, self.FREEZE, context),
                 "--keep-weight", repr(self.parameterAsDouble(parameters, self.KEEP_WEIGHT, context)),
                 "--renormalise" if renormalise else "--no-renormalise"]
        return self.run_training("adaptsite", args, parameters, context, feedback)
