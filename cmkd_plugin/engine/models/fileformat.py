"""Reading a model file's header and card without torch and without trusting the file.

A model file is a `safetensors <https://github.com/huggingface/safetensors>`_ file: 8 bytes of
little-endian header length N, N bytes of JSON header (tensor names, dtypes, shapes, byte
offsets, and string metadata holding the card), then the raw tensor bytes. Nothing in it is
executable, and this module checks the header against the file size before anything is
allocated, so a truncated file or a header announcing absurd tensors is refused up front.
Pickled PyTorch checkpoints are recognised and refused (unpickling can run arbitrary code).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelFileError
from .card import ModelCard

CARD_METADATA_KEY = "cmkd_model_card"
MODEL_FILE_SUFFIX = ".safetensors"
# Our headers are a few tens of kB; refuse anything that would make us read a huge JSON.
MAX_HEADER_BYTES = 16 * 1024 * 1024
DTYPE_SIZES = {"F32": 4}

_HELP = "Choose a model file written by CMKD Survey (cmkd:trainteacher or cmkd:distillstudent)."


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as announced by the header."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class FileHeader:
    """The parsed, size-checked header of a model file."""

    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int
    file_size: int


def _looks_like_pickle(head: bytes) -> bool:
    # torch.save writes a zip archive (PK\x03\x04) holding a pickle; older torch.save and
    # pickle.dump start with the PROTO opcode 0x80 followed by the protocol number.
    return head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def read_header(path: str | os.PathLike[str]) -> FileHeader:
    """Open ``path`` and check its safetensors header against the file; read no tensor data.

    Raises:
        ModelFileError: missing, empty, truncated, pickled, not safetensors, or inconsistent.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"Model file '{path}' does not exist. {_HELP}")
    if path.is_dir():
        raise ModelFileError(f"'{path}' is a folder, not a model file. {_HELP}")
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(
            f"Model file '{path}' is empty (0 bytes), probably an interrupted copy or training run; "
            "copy it again or re-train."
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if _looks_like_pickle(head):
                raise ModelFileError(
                    f"'{path}' is a pickled PyTorch checkpoint, not a CMKD Survey model file. Pickles "
                    "can run arbitrary code when loaded, so they are never opened; export the "
                    f"weights to a CMKD Survey model file instead. {_HELP}"
                )
            if len(head) < 8:
                raise ModelFileError(f"Model file '{path}' is truncated ({size} bytes); copy it again or re-train.")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > MAX_HEADER_BYTES or header_len == 0:
                raise ModelFileError(f"'{path}' is not a safetensors model file (bad header). {_HELP}")
            if 8 + header_len > size:
                raise ModelFileError(
                    f"Model file '{path}' is truncated (its header needs {header_len} bytes, the file "
                    f"has {size - 8}); copy it again or re-train."
                )
            raw = fh.read(header_len)
    except OSError as exc:
        raise ModelFileError(f"Cannot read model file '{path}': {exc.strerror}. Check its permissions.") from None
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_refuse)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ModelFileError(f"'{path}' is not a safetensors model file (its header is not JSON). {_HELP}") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"'{path}' is not a safetensors model file (bad header). {_HELP}")
    return _check_header(path, header, 8 + header_len, size)


def _refuse(name: str) -> None:
    raise ValueError(name)


def _check_header(path: Path, header: dict, data_start: int, size: int) -> FileHeader:
    damaged = f"Model file '{path}' is damaged"
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ModelFileError(f"{damaged} (invalid metadata); copy it again or re-train.")
    tensors: dict[str, TensorInfo] = {}
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(f"{damaged} (bad entry for tensor '{name}'); copy it again or re-train.")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise ModelFileError(
                f"{damaged} or foreign: tensor '{name}' has dtype {dtype!r}; CMKD Survey stores float32 only."
            )
        ok_shape = isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ok_off = (
            isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        )
        if not ok_shape or not ok_off:
            raise ModelFileError(f"{damaged} (bad shape or offsets for tensor '{name}'); copy it again or re-train.")
        nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
        if nbytes != offsets[1] - offsets[0]:
            raise ModelFileError(
                f"{damaged}: tensor '{name}' announces shape {shape} but {offsets[1] - offsets[0]} bytes; "
                "copy it again or re-train."
            )
        tensors[name] = TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])
        spans.append((offsets[0], offsets[1]))
    spans.sort()
    cursor = 0
    for begin, end in spans:
        if begin != cursor:
            raise ModelFileError(f"{damaged} (tensor data overlaps or has gaps); copy it again or re-train.")
        cursor = end
    if data_start + cursor > size:
        raise ModelFileError(
            f"Model file '{path}' is truncated ({size} bytes, {data_start + cursor} expected); "
            "copy it again or re-train."
        )
    if data_start + cursor < size:
        raise ModelFileError(f"{damaged} (unexpected bytes after the tensor data); copy it again or re-train.")
    return FileHeader(tensors=tensors, metadata=metadata, data_start=data_start, file_size=size)


def card_from_header(path: str | os.PathLike[str], header: FileHeader) -> ModelCard:
    """The strictly-checked card stored in ``header`` (ModelFileError if absent or invalid)."""
    text = header.metadata.get(CARD_METADATA_KEY)
    if text is None:
        raise ModelFileError(
            f"'{path}' is a safetensors file but holds no CMKD Survey model card, so it cannot be "
            f"used as a model. {_HELP}"
        )
    return ModelCard.from_json(text, source=f"'{path}'")


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read only the model card of a model file (fast, no torch, no tensor data read).

    Raises:
        ModelFileError: see :func:`read_header` and :meth:`ModelCard.from_json`.
    """
    return card_from_header(path, read_header(path))
