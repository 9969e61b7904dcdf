import json

import pytest

from cmkd_plugin.engine import protocol
from cmkd_plugin.engine.protocol import Message


@pytest.mark.parametrize("message", [
    Message("progress", percent=42.5),
    Message("info", message="Reading RGB … 日本語"),
    Message("warning", message="HSI has 3 bad bands"),
    Message("error", message="No such file", kind="input"),
    Message("result", outputs={"OUTPUT": "/tmp/x.tif", "CLASSES": ["olivine", "basalt"]}),
])
def test_round_trip(message):
    line = protocol.encode(message)
    assert "\n" not in line
    assert protocol.decode(line + "\n") == message


@pytest.mark.parametrize("line", [
    "", "hello", "[1, 2]", "{}", '{"type": "progress", "percent": 5}',  # no protocol mark
    '{"cmkd": 2, "type": "info", "message": "future version"}',
    '{"cmkd": 1, "type": "progress", "percent": "50"}',
    '{"cmkd": 1, "type": "progress", "percent": true}',
    '{"cmkd": 1, "type": "progress", "percent": NaN}',
    '{"cmkd": 1, "type": "result", "outputs": [1]}',
    '{"cmkd": 1, "type": "info", "message": 3}',
    '{"cmkd": 1, "type": "launch_missiles"}',
    '{"cmkd": 1, "type": "error"',
    "[" * 100000,
])
def test_garbage_is_a_log_line(line):
    msg = protocol.decode(line)
    assert msg.type == "log"
    assert msg.message == line


def test_progress_is_clamped():
    assert protocol.decode('{"cmkd": 1, "type": "progress", "percent": 250}').percent == 100.0
    assert protocol.decode('{"cmkd": 1, "type": "progress", "percent": -3}').percent == 0.0


def test_encode_refuses_unknown_type_and_nan():
    with pytest.raises(ValueError):
        protocol.encode(Message("shout"))
    with pytest.raises(ValueError):
        protocol.encode(Message("progress", percent=float("nan")))


def test_writer_throttles_progress(tmp_path):
    import io

    stream = io.StringIO()
    writer = protocol.JsonLinesWriter(stream)
    for i in range(1001):
        writer.send(Message("progress", percent=i / 10000 * 100))  # steps of 0.01 %
    writer.send(Message("info", message="done"))
    lines = [json.loads(s) for s in stream.getvalue().splitlines()]
    progress = [m["percent"] for m in lines if m["type"] == "progress"]
    assert 50 <= len(progress) <= 120  # every ~0.1 %, not every call
    assert progress == sorted(progress)
    assert lines[-1] == {"cmkd": 1, "type": "info", "message": "done"}
