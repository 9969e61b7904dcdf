"""The JSON-lines protocol against garbage: ``decode`` never raises, whatever a library prints;
anything not a well-formed protocol object becomes a ``log`` line carrying the text verbatim;
every message ``encode`` writes decodes to itself."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmkd_plugin.engine import protocol

CI = settings(max_examples=50, deadline=None)
DEEP = settings(max_examples=5000, deadline=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)

# Objects that look like protocol messages: right version, a known type, random fields.
near_messages = st.fixed_dictionaries(
    {"cmkd": st.sampled_from([1, 1.0, True, "1", 2, None]),
     "type": st.sampled_from(list(protocol.MESSAGE_TYPES) + ["", "exit", None, 3])},
    optional={"percent": json_values, "message": json_values, "kind": json_values,
              "outputs": json_values})


def check_decoded(line: str) -> protocol.Message:
    msg = protocol.decode(line)
    assert msg.type in protocol.MESSAGE_TYPES
    if msg.type == "log":
        assert msg.message == line.rstrip("\r\n")
    if msg.type == "progress":
        assert math.isfinite(msg.percent) and 0.0 <= msg.percent <= 100.0
    if msg.type in ("info", "warning", "error"):
        assert isinstance(msg.message, str)
    if msg.type == "result":
        assert isinstance(msg.outputs, dict)
    return msg


@CI
@given(st.text())
def test_arbitrary_text_never_raises(line: str) -> None:
    check_decoded(line)


@CI
@given(st.binary())
def test_arbitrary_bytes_as_the_launcher_reads_them(raw: bytes) -> None:
    # The launcher decodes the pipe with errors="replace"; whatever arrives is a str.
    check_decoded(raw.decode("utf-8", errors="replace"))


@CI
@given(json_values)
def test_arbitrary_json_never_raises(value) -> None:
    check_decoded(json.dumps(value))


@CI
@given(near_messages)
def test_objects_that_look_like_messages_never_raise(obj: dict) -> None:
    msg = check_decoded(json.dumps(obj))
    if obj.get("cmkd") != 1 or obj.get("type") not in protocol.MESSAGE_TYPES:
        assert msg.type == "log"


def test_pathological_lines() -> None:
    for line in ["[" * 100_000, '{"cmkd": 1, "type": "progress", "percent": 1e999}',
                 '{"cmkd": 1, "type": "progress", "percent": NaN}', "\x00\x01\x02", "",
                 '{"cmkd": 1, "type": "error", "message": "x", "kind": ["no"]}',
                 '{"cmkd": 1, "type": "result", "outputs": {"A": NaN}}', "\ud800"]:
        check_decoded(line)


messages = st.one_of(
    st.builds(protocol.Message, type=st.just("progress"),
              percent=st.floats(0, 100, allow_nan=False)),
    st.builds(protocol.Message, type=st.sampled_from(["info", "warning"]), message=st.text()),
    st.builds(protocol.Message, type=st.just("error"), message=st.text(),
              kind=st.text(min_size=1)),
    st.builds(protocol.Message, type=st.just("result"),
              outputs=st.dictionaries(st.text(), st.none() | st.text() | st.integers()
                                      | st.floats(allow_nan=False, allow_infinity=False))),
)


@CI
@given(messages)
def test_encode_then_decode_is_identity(msg: protocol.Message) -> None:
    line = protocol.encode(msg)
    assert "\n" not in line
    assert protocol.decode(line + "\n") == msg


@pytest.mark.slow
@DEEP
@given(st.one_of(st.text(), near_messages.map(json.dumps), json_values.map(json.dumps)))
def test_garbage_deep(line: str) -> None:
    check_decoded(line)
