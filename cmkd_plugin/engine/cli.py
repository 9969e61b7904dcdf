"""Command-line entry of the engine (``python -m cmkd_plugin.engine``).

``--protocol text`` (default) is for people: progress and messages on stderr.
``--protocol jsonl`` is for the QGIS glue: one JSON object per line on stdout (see
:mod:`cmkd_plugin.engine.protocol`), and nothing else may print to stdout.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import signal
import sys
import traceback
from types import ModuleType
from typing import Sequence

from . import protocol
from .commands import COMMANDS
from .errors import CancelledError, CmkdError, EngineSetupError
from .feedback import Feedback

#: Packages the engine needs beyond the standard library; a missing one is a set-up problem.
ENGINE_PACKAGES = {"torch", "numpy", "rasterio", "geopandas", "scipy", "safetensors", "shapely",
                   "pyproj", "fiona", "pandas"}

_cancel_requested = False


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    # Raising here unwinds through every ``with AtomicOutputs()`` so partial files are removed.
    global _cancel_requested
    _cancel_requested = True
    raise CancelledError("Stopped by the caller; no output was written.")


def _disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the disk or quota is full.

    GDAL reports ENOSPC inside RasterioIOError/CPLE_* texts, so the message is checked too.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _load(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cmkd_plugin.engine",
        description="CMKD Survey engine: cross-modal knowledge distillation for mineral mapping.",
    )
    parser.add_argument(
        "--protocol", choices=("text", "jsonl"), default="text",
        help="text: human-readable progress on stderr; jsonl: JSON lines on stdout (for QGIS)",
    )
    sub = parser.add_subparsers(
        dest="command", required=True,
        help="the engine command; `python -m cmkd_plugin.engine COMMAND --help` shows its options",
    )
    for name in COMMANDS:
        sub.add_parser(name, add_help=False)
    return parser


def _text_feedback() -> Feedback:
    def progress(p: float) -> None:
        sys.stderr.write(f"\r{p:5.1f}%")
        sys.stderr.flush()

    return Feedback(
        on_progress=progress,
        on_info=lambda m: print(m, file=sys.stderr),
        on_warning=lambda m: print(f"Warning: {m}", file=sys.stderr),
    )


def _setup_hint(module: str) -> str:
    from .launcher import install_hint

    return (
        f"The engine Python '{sys.executable}' lacks the package '{module}'. "
        f"Install the engine requirements with: {install_hint(sys.executable)}"
    )


def _quiet_proj_warning() -> None:
    # pyproj inside a venv warns that it finds no PROJ data unless told where Debian keeps it.
    if not (os.environ.get("PROJ_DATA") or os.environ.get("PROJ_LIB")):
        if os.path.isdir("/usr/share/proj"):
            os.environ["PROJ_DATA"] = "/usr/share/proj"


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_proj_warning()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    ns, rest = parser.parse_known_args(argv)
    writer: protocol.JsonLinesWriter | None = None
    if ns.protocol == "jsonl":
        # Stray prints of libraries go to stderr, never into the protocol stream.
        writer = protocol.JsonLinesWriter(sys.stdout)
        sys.stdout = sys.stderr
        feedback = Feedback(
            on_progress=lambda p: writer.send(protocol.Message("progress", percent=p)),
            on_info=lambda m: writer.send(protocol.Message("info", message=m)),
            on_warning=lambda m: writer.send(protocol.Message("warning", message=m)),
        )
    else:
        feedback = _text_feedback()
    feedback.is_cancelled = lambda: _cancel_requested
    signal.signal(signal.SIGTERM, _on_sigterm)

    def fail(kind: str, message: str, code: int) -> int:
        if writer is not None:
            writer.send(protocol.Message("error", message=message, kind=kind))
        else:
            print(f"\nError: {message}", file=sys.stderr)
        return code

    try:
        module = _load(ns.command)
        cmd_parser = argparse.ArgumentParser(
            prog=f"python -m cmkd_plugin.engine {ns.command}", description=module.HELP
        )
        module.add_arguments(cmd_parser)
        args = cmd_parser.parse_args(rest)
        outputs = module.run(args, feedback)
    except CancelledError as exc:
        return fail(exc.kind, str(exc), 3)
    except CmkdError as exc:
        return fail(exc.kind, str(exc), 2)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top in ENGINE_PACKAGES:
            return fail(EngineSetupError.kind, _setup_hint(top), 2)
        traceback.print_exc()
        return fail("internal", f"Internal error: {exc!r}. Please report it with the log.", 1)
    except MemoryError:
        return fail("resources", "Out of memory: use a smaller tile or batch size, or a "
                    "smaller area.", 2)
    except KeyboardInterrupt:
        return fail("cancelled", "Interrupted; no output was written.", 3)
    except SystemExit as exc:  # argparse: bad arguments
        if exc.code in (0, None):
            return 0
        return fail("input", f"Invalid arguments for '{ns.command}': see the messages above.", 2)
    except Exception as exc:  # noqa: BLE001 - last resort: report, never hang
        traceback.print_exc()
        if _disk_full(exc):
            # Outputs are atomic, so the partial files are already gone; nothing was replaced.
            return fail("resources", "The disk is full: the outputs could not be written, and "
                        "no output was left or replaced. Free some space or choose an output "
                        "folder on another disk.", 2)
        return fail("internal", f"Internal error: {exc!r}. Please report it with the log.", 1)

    if writer is not None:
        writer.send(protocol.Message("result", outputs=outputs))
    else:
        sys.stderr.write("\n")
        print(json.dumps(outputs, indent=2, ensure_ascii=False, default=str))
    return 0
