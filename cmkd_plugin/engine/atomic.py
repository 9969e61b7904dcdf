"""Atomic outputs: nothing half-written is ever visible under an output's final name.

Writers write to a hidden partial file beside the final path (same folder, so the final
``os.replace`` is atomic on one filesystem) whose name keeps the extension, so format drivers
chosen by extension (GDAL, GeoPackage) behave as for the real file. Sidecars the writer creates
from that name (``.aux.xml``, ``.hdr``, ``.qml``, ``.ovr``) are renamed along with it.
A run that fails or is cancelled removes its partial files; a caller that had to kill the engine
can remove them with :func:`remove_partials`.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .errors import InputError

PARTIAL_MARK = ".cmkd-partial-"


def _partial_prefix(final: Path) -> str:
    return f".{final.stem}{PARTIAL_MARK}"


def partial_files(final: str | os.PathLike[str]) -> list[Path]:
    """Partial files that a run writing ``final`` may have left (any process, any token)."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    prefix = _partial_prefix(final)
    return sorted(p for p in final.parent.iterdir() if p.name.startswith(prefix))


def remove_partials(finals: Sequence[str | os.PathLike[str]]) -> None:
    """Delete partial files left for any of ``finals`` (used after killing an engine)."""
    for final in finals:
        for p in partial_files(final):
            try:
                p.unlink()
            except OSError:
                pass


def check_writable(final: str | os.PathLike[str]) -> Path:
    """Fail early, before any work, when ``final`` cannot be written; return it as a Path."""
    final = Path(final).expanduser()
    if final.is_dir():
        raise InputError(f"Output '{final}' is a folder; give a file name.")
    folder = final.parent
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"Cannot create the output folder '{folder}': {exc.strerror}. "
                "Choose a folder you can write to."
            ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "permission denied"
        try:
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                reason = "read-only file system, e.g. a CD, a write-protected card or share"
        except (OSError, AttributeError):  # no statvfs on Windows
            pass
        raise InputError(
            f"Cannot write to the output folder '{folder}' ({reason}). "
            "Choose a folder you can write to."
        )
    if final.exists() and not os.access(final, os.W_OK):
        raise InputError(f"Output '{final}' exists and is read-only; choose another name.")
    return final


def refuse_inputs_as_outputs(inputs: Sequence[str | os.PathLike[str] | None],
                             outputs: Sequence[str | os.PathLike[str] | None]) -> None:
    """Fail before any work when an output would replace one of the run's inputs.

    The atomic rename would otherwise swap the input for the result: the run "succeeds" and the
    field data is gone. Paths are compared after resolving links, so ``./a.tif`` and a symlink
    to it count as the same file. ``None`` entries are ignored.
    """
    resolved = {}
    for p in inputs:
        if p:
            path = str(p).split("|", 1)[0]  # QGIS layer sources: 'file.gpkg|layername=x'
            resolved[os.path.realpath(os.path.expanduser(path))] = path
    for out in outputs:
        if out and os.path.realpath(os.path.expanduser(str(out))) in resolved:
            raise InputError(
                f"Output '{out}' is also an input of this run; writing it would replace the "
                "input. Choose another output name."
            )


class AtomicOutputs:
    """A group of outputs committed together.

    Usage::

        with AtomicOutputs() as outs:
            tmp = outs.add("/data/classes.tif")   # write to tmp
            ...
        # on normal exit every tmp (and its sidecars) replaced its final path
    """

    def __init__(self) -> None:
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._items: list[tuple[Path, Path]] = []

    def add(self, final: str | os.PathLike[str]) -> Path:
        """Register ``final`` and return the partial path to write instead."""
        final = check_writable(final)
        tmp = final.with_name(f"{_partial_prefix(final)}{self._token}{final.suffix}")
        self._items.append((final, tmp))
        return tmp

    def _files_of(self, tmp: Path) -> list[Path]:
        stem = tmp.name[: -len(tmp.suffix)] if tmp.suffix else tmp.name
        return [p for p in tmp.parent.iterdir() if p.name.startswith(stem)]

    def commit(self) -> None:
        for final, tmp in self._items:
            if not tmp.exists():
                raise RuntimeError(f"internal error: output {final} was registered but not written")
        for final, tmp in self._items:
            tmp_stem = tmp.name[: -len(tmp.suffix)] if tmp.suffix else tmp.name
            final_stem = final.name[: -len(final.suffix)] if final.suffix else final.name
            # Sidecars from an earlier run of the same output would describe the old file.
            for old in (final.parent / (final.name + ".aux.xml"), final.parent / (final.name + ".ovr")):
                if old.exists():
                    old.unlink()
            for part in sorted(self._files_of(tmp), key=lambda p: p != tmp):
                os.replace(part, part.with_name(final_stem + part.name[len(tmp_stem):]))

    def discard(self) -> None:
        for _final, tmp in self._items:
            if tmp.parent.is_dir():
                for part in self._files_of(tmp):
                    try:
                        part.unlink()
                    except OSError:
                        pass

    def __enter__(self) -> "AtomicOutputs":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()


@contextmanager
def atomic_output(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Shortcut for one output: yields the partial path, commits on success."""
    with AtomicOutputs() as outs:
        yield outs.add(final)
