"""Coefficient CSV tables (carbon/coefficients.py) against arbitrary text: ``read_coefficients``
returns a validated table or raises ``InputError`` naming the file, never a csv/Unicode/Value
error; tables built from known rows read back exactly."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmkd_plugin.engine.carbon.coefficients import read_coefficients
from cmkd_plugin.engine.errors import InputError

CI = settings(max_examples=50, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DEEP = settings(max_examples=3000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

HEADER = "class,coefficient,unit,source"


def read(tmp_path: Path, data: bytes | str):
    path = tmp_path / "coef.csv"
    path.write_bytes(data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data)
    try:
        table = read_coefficients(path)
    except InputError as exc:
        assert "coef.csv" in str(exc)
        return None
    for row in table.rows:
        assert row.class_name.strip() and math.isfinite(row.coefficient) and row.coefficient >= 0
        assert row.unit == table.unit and row.source
    return table


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                    st.sampled_from(["", "-0", "1e400", "0.3-0.4", " 0.5 ", "nan", "inf", "0x1p3"]))


@CI
@given(st.binary(max_size=400))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    read(tmp_path, data)


@CI
@given(st.lists(st.lists(st.one_of(cells, numbers), max_size=8), max_size=8))
def test_arbitrary_rows_after_a_valid_header(tmp_path: Path, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER.split(",")] + rows)
    read(tmp_path, buf.getvalue())


@CI
@given(st.text(max_size=300))
def test_arbitrary_text_after_a_valid_header(tmp_path: Path, text: str) -> None:
    read(tmp_path, HEADER + "\n" + text)


valid_rows = st.lists(
    st.tuples(st.text(alphabet="abcdefghij_", min_size=1, max_size=10),
              st.floats(0, 1e6, allow_nan=False)),
    min_size=1, max_size=10, unique_by=lambda r: r[0].casefold())


@CI
@given(valid_rows)
def test_valid_tables_read_back_exactly(tmp_path: Path, rows: list[tuple[str, float]]) -> None:
    text = HEADER + "\n" + "".join(f'{n},{c!r},relative,"source, with comma"\n' for n, c in rows)
    table = read(tmp_path, text)
    assert table is not None
    assert [(r.class_name, r.coefficient) for r in table.rows] == rows


def test_a_field_larger_than_the_csv_limit(tmp_path: Path) -> None:
    # csv refuses fields over 128 KiB with csv.Error; a pasted blob must still be an InputError.
    read(tmp_path, HEADER + '\nolivine,0.8,relative,"' + "x" * 200_000 + '"\n')


def test_nul_bytes_and_a_utf16_file(tmp_path: Path) -> None:
    read(tmp_path, HEADER + "\nolivine,0.8,rel\x00ative,src\n")
    assert read(tmp_path, (HEADER + "\nolivine,0.8,relative,src\n").encode("utf-16")) is None


@pytest.mark.slow
@DEEP
@given(st.text(max_size=2000))
def test_coefficients_fuzz_deep(tmp_path: Path, text: str) -> None:
    read(tmp_path, HEADER + "\n" + text)
