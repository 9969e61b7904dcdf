"""``cmkd:setupengine`` — make, repair or upgrade the engine's Python environment.

The work is in ``cmkd_plugin.enginesetup`` (no qgis); this module reads the parameters, relays
progress and cancel, and stores the new interpreter in the provider setting.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
)

from ...engine.errors import CmkdError
from ...engine.launcher import EngineCallbacks
from ...enginesetup import SetupConfig, setup_engine
from ...enginesetup.plan import DEVICES
from .. import runner
from ..base import CmkdAlgorithm
from ..settings import managed_engine_dir, store_engine_python


class SetupEngineAlgorithm(CmkdAlgorithm):
    NAME = "setupengine"
    GROUP = "diagnostics"
    DISPLAY_NAME = "Set up engine"
    HELP = (
        "Installs the CMKD engine (PyTorch and the engine's other packages) into its own Python "
        "environment, so that every other CMKD algorithm can run. No terminal needed; run it "
        "once after installing the plugin, and again to repair or upgrade the engine.\n\n"
        "Steps: find a Python able to make the environment (the one QGIS runs on, or python3 on "
        "PATH, or the Base Python you choose); create the environment in the target folder; "
        "install the engine's pinned packages (the CPU build of torch unless you choose CUDA and "
        "an NVIDIA driver is found; the log says which build was chosen and why); run the engine "
        "check; store the new interpreter in Processing > Options > Providers > CMKD Survey > "
        "Engine Python.\n\n"
        "Offline: point 'Folder of wheels' to a folder of .whl files (made on a machine with "
        "internet access with: pip download -r engine.txt -d FOLDER); nothing is downloaded "
        "then.\n\n"
        "The new environment is built beside any existing one and replaces it only when it "
        "works: cancelling, or a failed step, leaves the previous engine as it was. A failed "
        "step names the command that failed and shows the end of its output.\n\n"
        "Needs about 2 GB of free disk space and a few minutes."
    )

    BASE_PYTHON = "BASE_PYTHON"
    TARGET_FOLDER = "TARGET_FOLDER"
    WHEELS_FOLDER = "WHEELS_FOLDER"
    DEVICE = "DEVICE"
    ENGINE_PYTHON = "ENGINE_PYTHON"
    TORCH_BUILD = "TORCH_BUILD"
    TORCH_VERSION = "TORCH_VERSION"

    def canExecute(self) -> tuple[bool, str]:  # noqa: N802 - QGIS API
        # The one algorithm that must run without an engine: it makes one.
        return True, ""

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Device"),
            options=[self.tr("CPU (works everywhere)"),
                     self.tr("CUDA (NVIDIA GPU; needs an NVIDIA driver)")],
            defaultValue=0,
        ))
        self.addParameter(QgsProcessingParameterFile(
            self.WHEELS_FOLDER, self.tr("Folder of wheels for an offline install"),
            behavior=QgsProcessingParameterFile.Folder, optional=True,
        ))
        self.add_advanced(QgsProcessingParameterFile(
            self.TARGET_FOLDER,
            self.tr("Target folder (default: cmkd_engine in the QGIS profile folder)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True,
        ))
        self.add_advanced(QgsProcessingParameterFile(
            self.BASE_PYTHON,
            self.tr("Base Python to build the environment from (default: found automatically)"),
            behavior=QgsProcessingParameterFile.File, optional=True,
        ))
        self.addOutput(QgsProcessingOutputString(self.ENGINE_PYTHON, self.tr("Engine Python")))
        self.addOutput(QgsProcessingOutputString(self.TORCH_BUILD, self.tr("torch build")))
        self.addOutput(QgsProcessingOutputString(self.TORCH_VERSION, self.tr("torch version")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        target = self.parameterAsFile(parameters, self.TARGET_FOLDER, context)
        wheels = self.parameterAsFile(parameters, self.WHEELS_FOLDER, context)
        base = self.parameterAsFile(parameters, self.BASE_PYTHON, context)
        device = DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)]
        try:
            config = SetupConfig(
                target_dir=Path(target) if target else managed_engine_dir(),
                base_python=base or "",
                wheels_dir=Path(wheels) if wheels else None,
                device=device,
            )
            callbacks = EngineCallbacks(
                progress=feedback.setProgress, info=feedback.pushInfo,
                warning=feedback.pushWarning, log=feedback.pushConsoleInfo,
                is_cancelled=feedback.isCanceled,
            )
            result = setup_engine(config, callbacks)
        except CmkdError as exc:
            raise QgsProcessingException(str(exc)) from None
        finally:
            runner.forget_engine_status()
        store_engine_python(str(result.engine_python))
        feedback.pushInfo(self.tr("Stored in Processing > Options > Providers > CMKD Survey > "
                                  "Engine Python: {}").format(result.engine_python))
        return {
            self.ENGINE_PYTHON: str(result.engine_python),
            self.TORCH_BUILD: result.torch_build.kind + (
                " " + result.torch_build.cuda_tag if result.torch_build.cuda_tag else ""),
            self.TORCH_VERSION: result.versions.get("torch", ""),
        }
