"""The carbonation coefficient table: reading, validation and matching to a raster's classes.

The table is a CSV file (the shipped one is ``resources/carbonation/coefficients.csv``) with the
required columns ``class``, ``coefficient``, ``unit`` and ``source`` and optional reference
columns ``capacity_bicarbonate_t_co2_per_t_rock``, ``capacity_carbonate_t_co2_per_t_rock`` and
``capacity_source`` (stoichiometric CO2 capacities, for the record only; they do not enter the
rate). A capacity may be a number or a range ``lo-hi``. Errors name the file, the line number and
the column, so a verifier or a user can fix the exact cell.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..paths import resources_dir

REQUIRED_COLUMNS = ("class", "coefficient", "unit", "source")
CAPACITY_COLUMNS = ("capacity_bicarbonate_t_co2_per_t_rock", "capacity_carbonate_t_co2_per_t_rock")
OPTIONAL_COLUMNS = CAPACITY_COLUMNS + ("capacity_source",)

#: Field-rate anchor of the default scale (see METHODS.md for the honest caveats).
ANCHOR_CLASS = "basalt"
ANCHOR_RATE_T_CO2_PER_HA_YR = 3.9
ANCHOR_SOURCE = ("Beerling et al., enhanced weathering in the US Corn Belt, 4-year field trial "
                 "(preprint arXiv:2307.05343): 15.4 t CO2/ha over 4 years = 3.9 t CO2/ha/yr; "
                 "the published PNAS 2024 version reports less, see METHODS.md")

_RANGE = re.compile(r"^\s*([0-9.eE+]+)\s*(?:-|–|to)\s*([0-9.eE+]+)\s*$")


@dataclass(frozen=True)
class Coefficient:
    """One row of the table.

    Attributes:
        class_name: class name as written in the table.
        coefficient: relative carbonation coefficient (>= 0).
        unit: unit of ``coefficient`` (the shipped table: ``relative``).
        source: where the coefficient comes from.
        capacity_bicarbonate: reference capacity (t CO2 per t rock, as dissolved bicarbonate),
            as written (number or range) or empty.
        capacity_carbonate: reference capacity as solid carbonate, as written or empty.
        capacity_source: source of the capacities.
        line: line number in the CSV file (for messages).
    """

    class_name: str
    coefficient: float
    unit: str
    source: str
    capacity_bicarbonate: str = ""
    capacity_carbonate: str = ""
    capacity_source: str = ""
    line: int = 0


@dataclass(frozen=True)
class CoefficientTable:
    """A validated coefficient table; class look-ups are case-insensitive."""

    rows: tuple[Coefficient, ...]
    path: str
    unit: str

    def get(self, class_name: str) -> Coefficient | None:
        """The row of ``class_name`` (any case, surrounding spaces ignored) or None."""
        key = _key(class_name)
        for row in self.rows:
            if _key(row.class_name) == key:
                return row
        return None

    @property
    def class_names(self) -> list[str]:
        return [r.class_name for r in self.rows]


@dataclass(frozen=True)
class ClassMatch:
    """Coefficients lined up with a raster's bands.

    Attributes:
        class_names: the raster's class names in band order.
        coefficients: coefficient per band (0 for classes the table lacks).
        matched: raster classes found in the table.
        missing_in_table: raster classes absent from the table (coefficient 0, warned).
        missing_in_raster: table classes the raster does not have (warned).
    """

    class_names: tuple[str, ...]
    coefficients: np.ndarray
    matched: tuple[str, ...]
    missing_in_table: tuple[str, ...]
    missing_in_raster: tuple[str, ...]


def _key(name: str) -> str:
    return name.strip().casefold()


def default_coefficients_path() -> Path:
    """The shipped table, ``resources/carbonation/coefficients.csv``."""
    return resources_dir() / "carbonation" / "coefficients.csv"


def _check_capacity(text: str, where: str, column: str) -> str:
    text = text.strip()
    if not text:
        return ""
    m = _RANGE.match(text)
    parts = [m.group(1), m.group(2)] if m else [text]
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value) or value < 0:
            raise InputError(
                f"{where}, column '{column}': '{text}' is not a number or a range like "
                "'0.31-0.36'; write a non-negative number (t CO2 per t rock) or leave it empty."
            )
    return text


def read_coefficients(path: str | os.PathLike[str] | None = None) -> CoefficientTable:
    """Read and validate a coefficient CSV.

    Args:
        path: the CSV file; None for the shipped table.

    Returns:
        The table, rows in file order.

    Raises:
        InputError: missing file or columns, empty or duplicate class names, a coefficient that
            is not a finite non-negative number, mixed units, or no rows; the message names the
            line number and the column.
    """
    path = Path(path) if path else default_coefficients_path()
    name = path.name
    if not path.is_file():
        raise InputError(f"Coefficient table '{path}' does not exist; choose an existing CSV file "
                         "or leave the parameter empty for the shipped table.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Coefficient table '{name}' cannot be read as UTF-8 text ({exc}); "
                         "save it as a UTF-8 CSV file.") from None
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    rows: list[Coefficient] = []
    seen: dict[str, int] = {}
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # e.g. a field over csv's 128 KiB limit (a pasted blob, an unclosed quote).
            raise InputError(f"Coefficient table '{name}', line {reader.line_num}: not a valid "
                             f"CSV row ({exc}); check the quotes on that line.") from None
        line = reader.line_num
        if not record or all(not c.strip() for c in record) or record[0].lstrip().startswith("#"):
            continue  # blank lines and comment lines
        if header is None:
            header = [c.strip().lower() for c in record]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise InputError(
                    f"Coefficient table '{name}', line {line} (header): missing column(s) "
                    + ", ".join(f"'{c}'" for c in missing) + ". The header must contain "
                    + ", ".join(REQUIRED_COLUMNS) + "."
                )
            continue
        where = f"Coefficient table '{name}', line {line}"
        if len(record) < len(REQUIRED_COLUMNS) or len(record) > len(header):
            raise InputError(f"{where}: {len(record)} values for {len(header)} columns; "
                             "check for a missing or extra comma (quote texts with commas).")
        cells = dict(zip(header, (c.strip() for c in record)))
        for column in REQUIRED_COLUMNS:
            if column not in cells:
                raise InputError(f"{where}, column '{column}': no value; fill it in.")
        cls = cells["class"]
        if not cls:
            raise InputError(f"{where}, column 'class': empty class name; fill it in.")
        try:
            coefficient = float(cells["coefficient"])
        except ValueError:
            coefficient = float("nan")
        if not math.isfinite(coefficient) or coefficient < 0:
            raise InputError(
                f"{where}, column 'coefficient': '{cells['coefficient']}' is not a finite "
                "non-negative number; write e.g. 0.85 (use 0 for classes that do not carbonate)."
            )
        if not cells["unit"]:
            raise InputError(f"{where}, column 'unit': empty; write the coefficient's unit "
                             "(e.g. 'relative').")
        if not cells["source"]:
            raise InputError(f"{where}, column 'source': empty; every coefficient needs a source "
                             "a verifier can check.")
        key = _key(cls)
        if key in seen:
            raise InputError(f"{where}, column 'class': '{cls}' already defined on line "
                             f"{seen[key]} (names are matched case-insensitively); keep one row.")
        seen[key] = line
        caps = [_check_capacity(cells.get(c, ""), where, c) for c in CAPACITY_COLUMNS]
        rows.append(Coefficient(cls, coefficient, cells["unit"], cells["source"], caps[0], caps[1],
                                cells.get("capacity_source", ""), line))
    if header is None or not rows:
        raise InputError(f"Coefficient table '{name}' has no rows; give a header "
                         f"({', '.join(REQUIRED_COLUMNS)}) and one row per class.")
    units = sorted({r.unit for r in rows})
    if len(units) > 1:
        raise InputError(
            f"Coefficient table '{name}' mixes units (" + ", ".join(f"'{u}'" for u in units)
            + "); one SCALE converts all coefficients, so give every row the same unit."
        )
    return CoefficientTable(tuple(rows), str(path), units[0])


def match_classes(table: CoefficientTable, class_names: Sequence[str]) -> ClassMatch:
    """Line up the table with a raster's class names (case-insensitive).

    Classes the table lacks get coefficient 0; both kinds of mismatch are returned so the caller
    can list them (nothing is dropped silently).
    """
    coefficients = np.zeros(len(class_names), np.float64)
    matched, missing = [], []
    for i, name in enumerate(class_names):
        row = table.get(name)
        if row is None:
            missing.append(name)
        else:
            coefficients[i] = row.coefficient
            matched.append(name)
    raster_keys = {_key(n) for n in class_names}
    extra = [r.class_name for r in table.rows if _key(r.class_name) not in raster_keys]
    return ClassMatch(tuple(class_names), coefficients, tuple(matched), tuple(missing), tuple(extra))


def default_scale(table: CoefficientTable | None = None) -> float:
    """Default SCALE in t CO2 ha-1 yr-1 per unit coefficient.

    Anchored so that a pixel that is basalt with probability 1 gets the field rate
    :data:`ANCHOR_RATE_T_CO2_PER_HA_YR`: ``SCALE = 3.9 / c_basalt`` with ``c_basalt`` read from
    the shipped table (one place for the coefficient), i.e. 13.93 for ``c_basalt = 0.28``.
    """
    shipped = read_coefficients(default_coefficients_path()) if table is None else table
    row = shipped.get(ANCHOR_CLASS)
    if row is None or row.coefficient <= 0:
        raise InputError(f"The coefficient table has no positive '{ANCHOR_CLASS}' row to anchor "
                         "the default SCALE; give --scale explicitly.")
    return ANCHOR_RATE_T_CO2_PER_HA_YR / row.coefficient
