"""The line-based JSON protocol between the engine process and its caller.

The engine writes one JSON object per line on stdout::

    {"type": "progress", "percent": 42.0}
    {"type": "info", "message": "..."}
    {"type": "warning", "message": "..."}
    {"type": "result", "outputs": {"OUTPUT": "/path/out.tif", ...}}
    {"type": "error", "kind": "input", "message": "..."}

Every object also carries ``"cmkd": 1`` (the protocol version) so stray prints from third-party
libraries can never be mistaken for messages: anything else on stdout decodes as a ``log``
message and is shown verbatim.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import IO, Any

PROTOCOL_VERSION = 1
MESSAGE_TYPES = ("progress", "info", "warning", "result", "error", "log")


@dataclass(frozen=True)
class Message:
    """One decoded protocol line."""

    type: str
    message: str = ""
    percent: float = 0.0
    kind: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)


def encode(message: Message) -> str:
    """Serialise ``message`` to one line of JSON (no trailing newline)."""
    if message.type not in MESSAGE_TYPES:
        raise ValueError(f"unknown protocol message type {message.type!r}")
    obj: dict[str, Any] = {"cmkd": PROTOCOL_VERSION, "type": message.type}
    if message.type == "progress":
        obj["percent"] = float(message.percent)
    elif message.type == "result":
        obj["outputs"] = message.outputs
    else:
        obj["message"] = message.message
        if message.type == "error":
            obj["kind"] = message.kind or "error"
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str)


def decode(line: str) -> Message:
    """Parse one line; anything that is not a valid protocol object becomes a ``log`` message."""
    text = line.rstrip("\r\n")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return Message("log", message=text)
    if not isinstance(obj, dict) or obj.get("cmkd") != PROTOCOL_VERSION:
        return Message("log", message=text)
    kind = obj.get("type")
    if kind == "progress":
        percent = obj.get("percent")
        if isinstance(percent, bool) or not isinstance(percent, (int, float)):
            return Message("log", message=text)
        if not math.isfinite(percent):
            return Message("log", message=text)
        return Message("progress", percent=min(max(float(percent), 0.0), 100.0))
    if kind == "result":
        outputs = obj.get("outputs")
        if not isinstance(outputs, dict):
            return Message("log", message=text)
        return Message("result", outputs=outputs)
    if kind in ("info", "warning", "error"):
        msg = obj.get("message")
        if not isinstance(msg, str):
            return Message("log", message=text)
        err_kind = obj.get("kind") if isinstance(obj.get("kind"), str) else "error"
        return Message(kind, message=msg, kind=err_kind if kind == "error" else "")
    return Message("log", message=text)


class JsonLinesWriter:
    """Writes protocol messages to a text stream, flushing each line."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._last_percent = -1.0

    def send(self, message: Message) -> None:
        if message.type == "progress":
            # Throttle: a tenth of a percent is finer than any progress bar shows.
            if abs(message.percent - self._last_percent) < 0.1 and message.percent < 100.0:
                return
            self._last_percent = message.percent
        self._stream.write(encode(message) + "\n")
        self._stream.flush()
