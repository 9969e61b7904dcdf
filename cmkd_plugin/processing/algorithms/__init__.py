"""Every CMKD algorithm, in toolbox order. Add a new algorithm's class here."""

from .enginecheck import EngineCheckAlgorithm
from .simulatesurvey import SimulateSurveyAlgorithm

ALGORITHMS = [
    EngineCheckAlgorithm,
    SimulateSurveyAlgorithm,
]
