"""What "Set up engine" will do: its configuration, the torch build and the pip command."""

from __future__ import annotations

import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..engine.errors import InputError
from ..engine.paths import requirements_dir
from .locate import BasePython

DEVICES = ("cpu", "cuda")

#: PyTorch's own package index; ``/cpu`` holds the CPU-only builds (PyPI's Linux and Windows
#: torch wheels are CUDA builds of several GB).
PYTORCH_INDEX = "https://download.pytorch.org/whl"

#: CUDA builds of torch, newest first, with the oldest NVIDIA driver (Linux numbering; Windows
#: drivers of the same generation are numbered higher) that runs them. Update with the torch pin.
CUDA_BUILDS: tuple[tuple[tuple[int, ...], str, str], ...] = (
    ((570, 26), "cu128", "12.8"),
    ((560, 28), "cu126", "12.6"),
    ((525, 60), "cu121", "12.1"),
)

#: Free disk space the environment needs while it is built (torch's CPU build unpacks to about
#: 700 MB; the old environment stays until the new one works, so both exist for a moment).
FREE_SPACE_NEEDED_BYTES = 2_000_000_000


@dataclass(frozen=True)
class SetupConfig:
    """One run of "Set up engine".

    Attributes:
        target_dir: folder that holds the environment; it is made in ``target_dir/venv``.
        base_python: interpreter to make the environment from ('' = find one).
        wheels_dir: folder of wheels for an offline install (``pip --no-index --find-links``);
            ``None`` installs from the package index.
        device: ``cpu`` (default) or ``cuda`` (honoured only when an NVIDIA driver is found).
        requirements_folder: folder with ``engine.txt``, ``engine-standalone.txt`` and
            ``constraints.txt`` (``None`` = the ones shipped with the plugin).
        step_timeout_s: longest a single step (one command) may run.
    """

    target_dir: Path
    base_python: str = ""
    wheels_dir: Path | None = None
    device: str = "cpu"
    requirements_folder: Path | None = None
    step_timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise InputError(f"Device must be one of {', '.join(DEVICES)} (got '{self.device}').")

    @property
    def venv_dir(self) -> Path:
        return self.target_dir / "venv"

    @property
    def partial_dir(self) -> Path:
        """Where a new environment is built before it replaces ``venv_dir``."""
        return self.target_dir / "venv.partial"

    def requirements(self) -> Path:
        return self.requirements_folder or requirements_dir()


@dataclass(frozen=True)
class TorchBuild:
    """Which torch build gets installed, and why (said to the user)."""

    kind: str          # "cpu" or "cuda"
    cuda_tag: str      # e.g. "cu126"; '' for the CPU build
    index_url: str     # PyTorch index to add to pip; '' = none needed
    reason: str


def detect_nvidia_driver(which: Callable[[str], str | None] = shutil.which,
                         timeout_s: float = 20.0) -> tuple[str, str] | None:
    """``(driver version, GPU name)`` from ``nvidia-smi``, or ``None`` without a working driver."""
    exe = which("nvidia-smi")
    if not exe:
        return None
    try:
        done = subprocess.run([exe, "--query-gpu=driver_version,name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        return None
    driver, _, name = lines[0].partition(",")
    return driver.strip(), name.strip()


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def choose_torch_build(device: str, driver: tuple[str, str] | None, system: str,
                       offline: bool) -> TorchBuild:
    """The torch build for ``device`` given the detected NVIDIA driver (pure: no probing).

    Args:
        device: what the user asked for, ``cpu`` or ``cuda``.
        driver: ``(driver version, GPU name)`` from :func:`detect_nvidia_driver`, or ``None``.
        system: ``platform.system()`` (``Linux``, ``Windows``, ``Darwin``).
        offline: installing from a wheel folder, whose torch wheel decides the build.
    """
    def cpu(reason: str) -> TorchBuild:
        # macOS: PyPI's torch already is the CPU (and Apple GPU) build.
        url = "" if system == "Darwin" else f"{PYTORCH_INDEX}/cpu"
        if offline:
            reason += " The wheel folder's torch wheel is installed as it is."
        return TorchBuild("cpu", "", url, reason)

    if device == "cpu":
        return cpu("CPU build of torch: CPU is the default (choose CUDA to use an NVIDIA GPU).")
    if system == "Darwin":
        return cpu("CPU build of torch: CUDA was asked for, but there are no CUDA builds for "
                   "macOS.")
    if driver is None:
        return cpu("CPU build of torch: CUDA was asked for, but no NVIDIA driver was found "
                   "(nvidia-smi is missing or reports no GPU).")
    version, gpu = driver
    have = _version_tuple(version)
    for minimum, tag, cuda in CUDA_BUILDS:
        if have >= minimum:
            reason = (f"CUDA build of torch ({tag}): CUDA was asked for and nvidia-smi reports "
                      f"{gpu or 'a GPU'} with driver {version}, which runs CUDA {cuda}.")
            if offline:
                reason += " The wheel folder's torch wheel is installed as it is."
            return TorchBuild("cuda", tag, f"{PYTORCH_INDEX}/{tag}", reason)
    oldest = ".".join(map(str, CUDA_BUILDS[-1][0]))
    return cpu(f"CPU build of torch: CUDA was asked for, but the NVIDIA driver {version} is "
               f"older than {oldest}, the oldest that runs torch's CUDA builds; update the driver "
               "to use the GPU.")


def plan_torch_build(config: SetupConfig) -> TorchBuild:
    """Detect the driver only when CUDA is asked for, then choose."""
    driver = detect_nvidia_driver() if config.device == "cuda" else None
    return choose_torch_build(config.device, driver, platform.system(),
                              offline=config.wheels_dir is not None)


def venv_command(base: BasePython, venv_dir: Path) -> list[str]:
    """Make the environment; share the base's geospatial stack when it has one (Debian's
    numpy/rasterio/GDAL built together), otherwise a self-contained one."""
    argv = [base.executable, "-m", "venv"]
    if base.has_geo_stack:
        argv.append("--system-site-packages")
        if base.has_pip:
            argv.append("--without-pip")  # the shared site-packages already bring pip
    return argv + [str(venv_dir)]


def requirement_files(base: BasePython, req_dir: Path) -> tuple[Path, Path | None]:
    """``(requirements, constraints)``: with a shared geospatial stack only torch and
    safetensors are added and numpy is pinned to the stack's; a self-contained environment also
    installs numpy, rasterio, geopandas and scipy (its numpy is its own, so no pin is needed)."""
    if base.has_geo_stack:
        return req_dir / "engine.txt", req_dir / "constraints.txt"
    return req_dir / "engine-standalone.txt", None


def pip_install_command(python: Path, base: BasePython, config: SetupConfig,
                        build: TorchBuild) -> list[str]:
    """The pip command that installs the engine's pinned requirements into ``python``."""
    requirements, constraints = requirement_files(base, config.requirements())
    argv = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "--upgrade"]
    if config.wheels_dir is not None:
        # --isolated: only the wheel folder counts, whatever pip.conf or PIP_* variables say.
        argv += ["--isolated", "--no-index", "--find-links", str(config.wheels_dir)]
    elif build.index_url:
        argv += ["--extra-index-url", build.index_url]
    if constraints is not None:
        argv += ["-c", str(constraints)]
    return argv + ["-r", str(requirements)]


def check_inputs(config: SetupConfig, free_bytes: Callable[[Path], int] | None = None) -> None:
    """Fail before any work: wheel folder, requirements files, free space."""
    if config.wheels_dir is not None:
        if not config.wheels_dir.is_dir():
            raise InputError(f"The wheel folder '{config.wheels_dir}' does not exist: choose the "
                             "folder that holds the engine's .whl files.")
        if not any(config.wheels_dir.glob("torch-*.whl")):
            raise InputError(f"The wheel folder '{config.wheels_dir}' holds no torch wheel "
                             "(torch-*.whl): fill it with `pip download -r engine.txt -d FOLDER` "
                             "on a machine with internet access.")
    req = config.requirements()
    for name in ("engine.txt", "engine-standalone.txt", "constraints.txt"):
        if not (req / name).is_file():
            raise InputError(f"'{req / name}' is missing: the plugin installation is incomplete; "
                             "reinstall the plugin.")
    existing = config.target_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = (free_bytes or (lambda p: shutil.disk_usage(p).free))(existing)
    if free < FREE_SPACE_NEEDED_BYTES:
        raise InputError(
            f"The engine environment needs about {FREE_SPACE_NEEDED_BYTES / 1e9:.0f} GB free in "
            f"'{existing}' (there are {free / 1e9:.1f} GB): free some space or choose another "
            "target folder.")


def describe_command(argv: Sequence[str]) -> str:
    """A command line as the user could paste it (for failure messages)."""
    import shlex

    return " ".join(shlex.quote(a) for a in argv)

