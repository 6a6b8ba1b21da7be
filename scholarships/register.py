"""Reading an extract of the unified social register (RSU), CSV, before anything is stored.

Pure: no Django import. All or nothing: every bad row is reported (line as the user sees it,
header = line 1) and the service stores nothing unless there is none.

Columns (header row required, any order, `;` or `,`): ``rsu_number`` (required, 6 to 20
letters or digits), ``household_size`` (required, 1 to 30), ``rsu_index`` (required, a decimal
number at least 0, `.` or `,` as decimal mark), ``yearly_income`` (optional, MAD, at least 0).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

COLUMNS = ("rsu_number", "household_size", "rsu_index", "yearly_income")
REQUIRED = frozenset({"rsu_number", "household_size", "rsu_index"})
MAX_ROWS = 2_000_000
_RSU = re.compile(r"[A-Z0-9]{6,20}")


class Code:
    FILE_EMPTY = "file_empty"
    FILE_BAD_ENCODING = "file_bad_encoding"
    HEADER_UNKNOWN = "header_unknown"
    HEADER_MISSING = "header_missing"
    TOO_MANY_ROWS = "too_many_rows"
    REQUIRED = "required"
    RSU_INVALID = "rsu_invalid"
    SIZE_INVALID = "size_invalid"
    NUMBER_INVALID = "number_invalid"
    DUPLICATE = "duplicate"
    WRONG_WIDTH = "wrong_width"


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Household:
    rsu_number: str
    household_size: int
    rsu_index: Decimal
    yearly_income: Decimal | None


@dataclass
class Parsed:
    rows: list[Household]
    errors: list[RowError]


def normalize_rsu(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "").upper()


def parse_number(raw: str) -> Decimal | None:
    """A decimal from user text (`.` or `,` as decimal mark, spaces as thousands), or None."""
    text = (raw or "").strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not text:
        return None
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        raise ValueError(raw)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(raw) from None


def parse_register(data: bytes) -> Parsed:
    if not data.strip():
        return Parsed([], [RowError(0, "", Code.FILE_EMPTY)])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Parsed([], [RowError(0, "", Code.FILE_BAD_ENCODING)])
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [cell.strip().lower() for cell in next(reader, [])]
    errors = [RowError(1, name, Code.HEADER_UNKNOWN) for name in header if name not in COLUMNS]
    errors += [RowError(1, name, Code.HEADER_MISSING) for name in sorted(REQUIRED - set(header))]
    if errors:
        return Parsed([], errors)
    rows: list[Household] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if line > MAX_ROWS + 1:
            errors.append(RowError(line, "", Code.TOO_MANY_ROWS, {"max": MAX_ROWS}))
            break
        if len(cells) != len(header):
            errors.append(RowError(line, "", Code.WRONG_WIDTH, {"expected": len(header)}))
            continue
        values = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        row_errors: list[RowError] = []
        rsu = normalize_rsu(values["rsu_number"])
        if not rsu:
            row_errors.append(RowError(line, "rsu_number", Code.REQUIRED))
        elif not _RSU.fullmatch(rsu):
            row_errors.append(RowError(line, "rsu_number", Code.RSU_INVALID))
        elif rsu in seen:
            row_errors.append(RowError(line, "rsu_number", Code.DUPLICATE, {"first": seen[rsu]}))
        else:
            seen[rsu] = line
        size_text = values["household_size"]
        size = int(size_text) if size_text.isdigit() else 0
        if not size_text:
            row_errors.append(RowError(line, "household_size", Code.REQUIRED))
        elif not 1 <= size <= 30:
            row_errors.append(RowError(line, "household_size", Code.SIZE_INVALID))
        numbers: dict[str, Decimal | None] = {}
        for name in ("rsu_index", "yearly_income"):
            try:
                numbers[name] = parse_number(values.get(name, ""))
            except ValueError:
                row_errors.append(RowError(line, name, Code.NUMBER_INVALID))
                numbers[name] = None
                continue
            if numbers[name] is None and name in REQUIRED:
                row_errors.append(RowError(line, name, Code.REQUIRED))
        if row_errors:
            errors.extend(row_errors)
            continue
        index = numbers["rsu_index"]
        assert index is not None
        rows.append(Household(rsu, size, index, numbers["yearly_income"]))
    return Parsed(rows if not errors else [], errors)
