"""Run "Set up engine": make the environment, install, verify, check, then swap it in.

The new environment is always built in ``venv.partial`` beside the active ``venv`` and only
replaces it after the engine check passed there, so cancelling or a failed step removes the
half-made one and leaves an older working environment untouched. Re-running repairs or upgrades
the environment at the same path (the interpreter path in the settings stays valid).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..engine import launcher
from ..engine.errors import CancelledError, EngineSetupError
from .locate import BasePython, clean_child_env, find_base_python, venv_python
from .plan import (
    SetupConfig,
    TorchBuild,
    check_inputs,
    describe_command,
    pip_install_command,
    plan_torch_build,
    venv_command,
)

#: Lines of a failed command's output quoted in the error.
TAIL_LINES = 25

#: The steps, their share of the progress bar (percent) and what the user reads.
STEPS: tuple[tuple[str, float, str], ...] = (
    ("base", 3.0, "Finding a Python to build the engine environment"),
    ("build", 1.0, "Choosing the torch build"),
    ("venv", 8.0, "Creating the environment"),
    ("install", 70.0, "Installing the engine's packages (torch takes a minute)"),
    ("verify", 5.0, "Importing the engine's packages"),
    ("check", 11.0, "Running the engine check"),
    ("activate", 2.0, "Activating the new environment"),
)

#: Engine check arguments: enough to prove a forward pass runs, quick enough to not be felt.
CHECK_ARGS = ("--iterations", "1", "--tile-size", "32")

_VERIFY = ("import json,sys,numpy,rasterio,geopandas,scipy,safetensors,torch;"
           "print(json.dumps({'torch':torch.__version__,'cuda':torch.version.cuda or '',"
           "'numpy':numpy.__version__,'rasterio':rasterio.__version__,"
           "'gdal':rasterio.__gdal_version__,'prefix':sys.prefix}))")


@dataclass(frozen=True)
class SetupResult:
    """What a successful set-up made."""

    engine_python: Path
    base_python: BasePython
    torch_build: TorchBuild
    #: torch/numpy/rasterio/GDAL versions as imported in the new environment.
    versions: dict[str, str]
    #: The engine check's outputs (``enginecheck`` command).
    check: dict[str, Any]
    replaced_previous: bool
    log: list[str] = field(default_factory=list)


class _Progress:
    """Maps each step's own 0..1 onto its share of the overall 0..100."""

    def __init__(self, report: Callable[[float], None]) -> None:
        self.report = report
        self.starts: dict[str, float] = {}
        total = 0.0
        for key, weight, _title in STEPS:
            self.starts[key] = total
            total += weight
        self.weights = {key: weight for key, weight, _ in STEPS}

    def at(self, step: str, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        self.report(self.starts[step] + self.weights[step] * fraction)


def run_step_command(
    argv: Sequence[str],
    title: str,
    callbacks: launcher.EngineCallbacks,
    timeout_s: float,
    on_line: Callable[[str], None] = lambda line: None,
    on_tick: Callable[[float], None] = lambda elapsed_s: None,
) -> list[str]:
    """Run one command of a step; its output goes to the log. Returns its output lines.

    Raises:
        CancelledError: the user cancelled; the command (and its children) was stopped.
        EngineSetupError: it failed or timed out; the message names the step, the command and
            the tail of its output.
    """
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace", bufsize=1,
            env=clean_child_env(), start_new_session=(os.name == "posix"),
        )
    except OSError as exc:
        raise EngineSetupError(
            f"Step '{title}' failed: cannot start {describe_command(argv)}: {exc}") from None
    lines: list[str] = []
    pending: deque[str] = deque()
    lock = threading.Lock()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with lock:
                pending.append(raw.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def drain() -> None:
        while True:
            with lock:
                if not pending:
                    return
                line = pending.popleft()
            lines.append(line)
            if line.strip():
                callbacks.log(line)
                on_line(line)

    started = time.monotonic()
    outcome = "done"
    try:
        while proc.poll() is None:
            drain()
            if callbacks.is_cancelled():
                outcome = "cancelled"
                break
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                outcome = "timeout"
                break
            on_tick(elapsed)
            time.sleep(callbacks.poll_interval_s)
    finally:
        if outcome != "done" or proc.poll() is None:
            # pip runs build back-ends as children: stop the whole group.
            launcher.stop_process_group(proc)
        reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        drain()
    if outcome == "cancelled":
        raise CancelledError("Set up engine was cancelled; the new environment was removed and "
                             "the previous one, if any, is unchanged.")
    tail = "\n".join(line for line in lines if line.strip())
    tail = "\n".join(tail.splitlines()[-TAIL_LINES:]) or "(no output)"
    if outcome == "timeout":
        raise EngineSetupError(
            f"Step '{title}' failed: {describe_command(argv)} did not finish within "
            f"{timeout_s:.0f} s. Last output:\n{tail}")
    if proc.returncode != 0:
        raise EngineSetupError(
            f"Step '{title}' failed: {describe_command(argv)} ended with exit code "
            f"{proc.returncode}. Last output:\n{tail}")
    return lines


def _pip_progress(progress: _Progress) -> tuple[Callable[[str], None], Callable[[float], None]]:
    """pip prints no percentages: count the packages it collects, then creep while it unpacks
    (torch's unpacking is most of the time)."""
    state = {"collected": 0, "installing_since": None, "frac": 0.0}

    def advance(frac: float) -> None:
        if frac > state["frac"]:
            state["frac"] = frac
            progress.at("install", frac)

    def on_line(line: str) -> None:
        text = line.strip()
        if text.startswith(("Collecting", "Processing", "Requirement already satisfied")):
            state["collected"] += 1
            advance(0.3 * (1.0 - math.exp(-state["collected"] / 6.0)))
        elif text.startswith("Installing collected packages"):
            state["installing_since"] = time.monotonic()
            advance(0.35)
        elif text.startswith("Successfully installed"):
            advance(1.0)

    def on_tick(_elapsed_s: float) -> None:
        since = state["installing_since"]
        if since is not None:
            advance(0.35 + 0.6 * (1.0 - math.exp(-(time.monotonic() - since) / 60.0)))

    return on_line, on_tick


def _fix_moved_paths(venv: Path, old: Path) -> None:
    """A venv built at ``old`` and renamed: scripts in its bin folder carry the old path in
    their first line (``pip``, ``activate``, ``torchrun``). The interpreter itself finds its
    prefix from where it is, so only these texts need fixing."""
    old_b, new_b = str(old).encode(), str(venv).encode()
    folder = venv_python(venv).parent
    for path in list(folder.iterdir()) + [venv / "pyvenv.cfg"]:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 1_000_000:
            continue
        data = path.read_bytes()
        if old_b in data and b"\0" not in data[:1024]:
            path.write_bytes(data.replace(old_b, new_b))


def _activate(config: SetupConfig) -> bool:
    """Swap ``venv.partial`` in as ``venv``; the old one is removed only once the new is in
    place. Returns whether an older environment was replaced."""
    final, partial = config.venv_dir, config.partial_dir
    old = None
    if final.exists():
        old = config.target_dir / f"venv.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    try:
        partial.rename(final)
    except OSError:
        if old is not None:
            old.rename(final)
        raise
    _fix_moved_paths(final, partial)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return old is not None


def setup_engine(config: SetupConfig,
                 callbacks: launcher.EngineCallbacks | None = None) -> SetupResult:
    """Make (or repair) the engine environment in ``config.target_dir/venv``.

    Steps: find a base Python; choose the torch build; create the environment in
    ``venv.partial``; pip install the pinned requirements; import them; run the engine check in
    it; swap it in as ``venv``. Progress goes to ``callbacks.progress`` (0..100), step titles and
    choices to ``callbacks.info``, command output to ``callbacks.log``.

    Raises:
        InputError: the wheel folder, requirements or free space are not usable (nothing done).
        EngineSetupError: a step failed; the message names the command and its output tail.
        CancelledError: cancelled; the half-made environment was removed.
        In every case an existing ``venv`` is left as it was.
    """
    cb = callbacks or launcher.EngineCallbacks()
    progress = _Progress(cb.progress)
    titles = {key: title for key, _w, title in STEPS}
    messages: list[str] = []

    def info(message: str) -> None:
        messages.append(message)
        cb.info(message)

    def cancelled_check() -> None:
        if cb.is_cancelled():
            raise CancelledError("Set up engine was cancelled; nothing was changed.")

    check_inputs(config)
    config.target_dir.mkdir(parents=True, exist_ok=True)
    partial = config.partial_dir
    if partial.exists():
        info(f"Removing the unfinished environment {partial} left by an earlier run.")
        shutil.rmtree(partial)
    if config.venv_dir.exists():
        info(f"An environment exists in {config.venv_dir}: a new one is built beside it and "
             "replaces it only once it works.")

    try:
        info(titles["base"] + "…")
        base = find_base_python(config.base_python, log=cb.log)
        info(f"Base Python: {base.describe()}. " + (
            f"Its numpy {base.numpy_version}, rasterio and geopandas are shared with the engine."
            if base.has_geo_stack else
            "It has no geospatial stack of its own: numpy, rasterio and geopandas are installed "
            "into the environment."))
        progress.at("base", 1.0)
        cancelled_check()

        build = plan_torch_build(config)
        info(build.reason)
        progress.at("build", 1.0)
        cancelled_check()

        info(titles["venv"] + f" in {config.venv_dir}…")
        run_step_command(venv_command(base, partial), titles["venv"], cb, config.step_timeout_s)
        python = venv_python(partial)
        progress.at("venv", 1.0)

        source = (f"the wheel folder {config.wheels_dir} (offline)" if config.wheels_dir
                  else "the package index")
        info(titles["install"] + f" from {source}…")
        on_line, on_tick = _pip_progress(progress)
        run_step_command(pip_install_command(python, base, config, build), titles["install"],
                         cb, config.step_timeout_s, on_line=on_line, on_tick=on_tick)
        progress.at("install", 1.0)

        info(titles["verify"] + "…")
        lines = run_step_command([str(python), "-c", _VERIFY], titles["verify"], cb,
                                 config.step_timeout_s)
        versions = json.loads([line for line in lines if line.startswith("{")][-1])
        versions.pop("prefix", None)
        built = f"CUDA {versions['cuda']}" if versions["cuda"] else "CPU"
        info(f"Installed torch {versions['torch']} ({built} build), numpy {versions['numpy']}, "
             f"rasterio {versions['rasterio']} (GDAL {versions['gdal']}).")
        progress.at("verify", 1.0)

        info(titles["check"] + "…")
        check_cb = launcher.EngineCallbacks(
            progress=lambda p: progress.at("check", p / 100.0), info=cb.info,
            warning=cb.warning, log=cb.log, is_cancelled=cb.is_cancelled,
            poll_interval_s=cb.poll_interval_s)
        try:
            check = launcher.run_engine(str(python), "enginecheck", CHECK_ARGS, check_cb)
        except launcher.EngineRunError as exc:
            raise EngineSetupError(f"Step '{titles['check']}' failed: {exc}") from None
        progress.at("check", 1.0)
        cancelled_check()
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise

    info(titles["activate"] + "…")
    replaced = _activate(config)
    final_python = venv_python(config.venv_dir)
    progress.at("activate", 1.0)
    info(f"The engine is set up: {final_python}" +
         (" (replaced the previous environment)." if replaced else "."))
    return SetupResult(engine_python=final_python, base_python=base, torch_build=build,
                       versions=versions, check=check, replaced_previous=replaced, log=messages)
