"""Building candidate lists for the import tests: rows, CSV in any encoding, XLSX."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from candidates.importing import COLUMNS, Rules

# The personas' school and track (tests/conftest.py): S-RABAT-1, S-SALE-2, SP.
SCHOOL = "S-RABAT-1"
OTHER_SCHOOL = "S-SALE-2"
TRACK = "SP"

BASE_ROW: dict[str, Any] = {
    "massar_code": "R130046852",
    "cnie_number": "BE123456",
    "last_name_latin": "El Amrani",
    "first_name_latin": "Mohammed",
    "last_name_ar": "العمراني",
    "first_name_ar": "محمد",
    "birth_date": "2008-03-14",
    "birth_place_latin": "Rabat",
    "birth_place_ar": "الرباط",
    "sex": "M",
    "nationality": "MAR",
    "school_code": SCHOOL,
    "track_code": TRACK,
    "candidate_type": "school",
    "phone": "0612345678",
    "email": "m.elamrani@example.org",
}


def row(n: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid row, the n-th of a list (distinct Massar code and CNIE number), with overrides."""
    values = dict(BASE_ROW)
    values["massar_code"] = f"R{130046852 + n:09d}"
    values["cnie_number"] = f"BE{123456 + n:06d}"
    values.update(overrides)
    return values


def rows(count: int, **overrides: Any) -> list[dict[str, Any]]:
    return [row(n, **overrides) for n in range(count)]


def csv_text(
    records: Iterable[Mapping[str, Any]], columns: Sequence[str] = COLUMNS, delimiter: str = ","
) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow(["" if record.get(c) is None else record.get(c, "") for c in columns])
    return buffer.getvalue()


def csv_bytes(
    records: Iterable[Mapping[str, Any]],
    columns: Sequence[str] = COLUMNS,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> bytes:
    """Encoded as the named software writes it: "utf-8-sig" (Excel "CSV UTF-8"), "utf-16-le"
    and "utf-16-be" with their byte-order mark (Excel "Unicode text"), "cp1256"."""
    text = csv_text(records, columns, delimiter)
    if encoding == "utf-16-le":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if encoding == "utf-16-be":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode(encoding)


def xlsx_bytes(records: Iterable[Mapping[str, Any]], columns: Sequence[str] = COLUMNS) -> bytes:
    """An Excel workbook; date strings in birth_date become real date cells."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(columns))
    for record in records:
        cells = []
        for column in columns:
            value = record.get(column, "")
            if (
                column == "birth_date"
                and isinstance(value, str)
                and len(value) == 10
                and value[4] == "-"
            ):
                value = datetime.date.fromisoformat(value)
            cells.append(value)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rules(allowed: Iterable[str] | None = None, year: int = 2026) -> Rules:
    """Rules for the pure parser: the personas' two schools and one track, ids 1, 2 and 1."""
    return Rules(
        session_year=year,
        schools={SCHOOL: 1, OTHER_SCHOOL: 2},
        tracks={TRACK: 1},
        allowed_schools=None if allowed is None else frozenset(allowed),
    )
