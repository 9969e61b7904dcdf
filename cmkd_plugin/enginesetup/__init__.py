"""Set up the engine's Python environment: what "Set up engine" (``cmkd:setupengine``) runs.

Standard library only and no qgis, so it works inside QGIS's own Python before the engine exists,
and in tests. The pieces:

* :mod:`.locate` — which interpreter runs the engine (the resolution order), finding a base
  Python able to make virtual environments, and a cheap probe of an engine's packages;
* :mod:`.plan` — the frozen configuration, the torch build (CPU or CUDA) and the pip command;
* :mod:`.install` — the steps, with progress, cancel and a swap at the end so a half-made
  environment is never the active one.
"""

from .install import SetupResult, setup_engine
from .locate import (
    BasePython,
    choose_engine_python,
    find_base_python,
    missing_engine_packages,
    venv_python,
)
from .plan import SetupConfig, TorchBuild, choose_torch_build

__all__ = [
    "BasePython",
    "SetupConfig",
    "SetupResult",
    "TorchBuild",
    "choose_engine_python",
    "choose_torch_build",
    "find_base_python",
    "missing_engine_packages",
    "setup_engine",
    "venv_python",
]
