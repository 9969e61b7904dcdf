"""Every CMKD algorithm, in toolbox order. Add a new algorithm's class here."""

from .setupengine import SetupEngineAlgorithm
from .enginecheck import EngineCheckAlgorithm
from .simulatesurvey import SimulateSurveyAlgorithm
from .carbonation import CarbonationAlgorithm
from .mapping import ClassifyAlgorithm, EvaluateAlgorithm
from .exportedge import ExportEdgeAlgorithm
from .training import (AdaptSiteAlgorithm, DistillStudentAlgorithm, TrainTeacherAlgorithm,
                       TuneDistillationAlgorithm)

ALGORITHMS = [
    SetupEngineAlgorithm,
    EngineCheckAlgorithm,
    SimulateSurveyAlgorithm,
    TrainTeacherAlgorithm,
    DistillStudentAlgorithm,
    TuneDistillationAlgorithm,
    AdaptSiteAlgorithm,
    ExportEdgeAlgorithm,
    ClassifyAlgorithm,
    EvaluateAlgorithm,
    CarbonationAlgorithm,
]
