"""Every CMKD algorithm, in toolbox order. Add a new algorithm's class here."""

from .enginecheck import EngineCheckAlgorithm

ALGORITHMS = [
    EngineCheckAlgorithm,
]
