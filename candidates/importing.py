"""Reading and checking a candidate list (CSV or XLSX) before anything is stored.

Pure: no Django import, so the rules can be tested with hypothesis and run outside the web
process. Errors are returned as codes with parameters; the Django layer (candidates.services)
turns them into translated sentences, so this module never needs to know the user's language.

The format is documented for schools in docs/import-format.md; keep the two in step.

Speed matters (500,000 rows in seconds): every column has one checker function, precompiled
regexes, and a memo of raw value -> result for the columns whose values repeat across rows
(given names, places, codes, dates), so most cells cost a dictionary lookup.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .identifiers import is_valid_cnie, is_valid_massar, normalize_cnie, normalize_massar
from .identifiers import normalize_phone as _normalize_phone

# The documented columns, in the documented order (also the order of CandidateRow's fields).
COLUMNS: tuple[str, ...] = (
    "massar_code",
    "cnie_number",
    "last_name_latin",
    "first_name_latin",
    "last_name_ar",
    "first_name_ar",
    "birth_date",
    "birth_place_latin",
    "birth_place_ar",
    "sex",
    "nationality",
    "school_code",
    "track_code",
    "candidate_type",
    "phone",
    "email",
)
OPTIONAL_COLUMNS = frozenset({"cnie_number", "phone", "email"})
REQUIRED_COLUMNS = frozenset(COLUMNS) - OPTIONAL_COLUMNS

MIN_AGE = 14
MAX_AGE = 70
NAME_MAX_LENGTH = 80  # the model's max_length for names and places
EMAIL_MAX_LENGTH = 254
# Accepted spellings of the sex column (upper-cased first). F is female in both English and
# French; H is the French "homme".
SEX_VALUES = {"M": "M", "H": "M", "F": "F"}
CANDIDATE_TYPES = ("school", "free")


# Error codes. candidates.services.ERROR_MESSAGES maps each one to a translatable sentence.
class Code:
    FILE_EMPTY = "file_empty"
    FILE_TOO_LARGE = "file_too_large"
    FILE_NOT_TABULAR = "file_not_tabular"
    FILE_LEGACY_XLS = "file_legacy_xls"
    FILE_BAD_XLSX = "file_bad_xlsx"
    FILE_BAD_ENCODING = "file_bad_encoding"
    FILE_BAD_CSV = "file_bad_csv"
    FILE_NO_ROWS = "file_no_rows"
    HEADER_UNKNOWN = "header_unknown"
    HEADER_DUPLICATE = "header_duplicate"
    HEADER_REQUIRED_MISSING = "header_required_missing"
    TOO_MANY_CELLS = "too_many_cells"
    REQUIRED = "required"
    TOO_LONG = "too_long"
    MASSAR_INVALID = "massar_invalid"
    CNIE_INVALID = "cnie_invalid"
    DATE_FORMAT = "date_format"
    DATE_NOT_REAL = "date_not_real"
    AGE_OUT_OF_RANGE = "age_out_of_range"
    SEX_INVALID = "sex_invalid"
    NATIONALITY_INVALID = "nationality_invalid"
    LATIN_TEXT_INVALID = "latin_text_invalid"
    ARABIC_TEXT_INVALID = "arabic_text_invalid"
    CANDIDATE_TYPE_INVALID = "candidate_type_invalid"
    PHONE_INVALID = "phone_invalid"
    EMAIL_INVALID = "email_invalid"
    SCHOOL_UNKNOWN = "school_unknown"
    SCHOOL_OUT_OF_SCOPE = "school_out_of_scope"
    TRACK_UNKNOWN = "track_unknown"
    DUPLICATE_MASSAR = "duplicate_massar"
    DUPLICATE_CNIE = "duplicate_cnie"
    # Found by the service against the database, listed here so that all codes live together.
    EXISTING_OUT_OF_SCOPE = "existing_out_of_scope"
    CNIE_TAKEN = "cnie_taken"


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem: where it is (line as the user sees it, header = 1; 0 for the whole file),
    which column ("" when it is not one column), and what, as a code with parameters."""

    line: int
    column: str
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "params": dict(self.params),
        }


class CandidateRow(NamedTuple):
    """A valid row, normalised. Optional columns are None when blank or absent (the service
    leaves the stored value alone); school and track hold what the caller mapped codes to."""

    line: int
    massar_code: str
    cnie_number: str | None
    last_name_latin: str
    first_name_latin: str
    last_name_ar: str
    first_name_ar: str
    birth_date: datetime.date
    birth_place_latin: str
    birth_place_ar: str
    sex: str
    nationality: str
    school: Any
    track: Any
    candidate_type: str
    phone: str | None
    email: str | None


@dataclass(frozen=True)
class Rules:
    """What the rows are checked against.

    `schools` and `tracks` map each known code to the value the row should carry (the caller's
    primary key); `allowed_schools` is the set of school codes the uploader may import into,
    None for no restriction (ministry staff, the command line).
    """

    session_year: int
    schools: Mapping[str, Any]
    tracks: Mapping[str, Any]
    allowed_schools: frozenset[str] | None = None


@dataclass
class ParseResult:
    rows: list[CandidateRow]
    errors: list[RowError]
    total_rows: int = 0
    columns: frozenset[str] = frozenset()
    source_format: str = ""
    file_error: bool = False

    @property
    def bad_lines(self) -> int:
        return len({e.line for e in self.errors})


class _Problem(NamedTuple):
    code: str
    params: Mapping[str, Any]


_NO_PARAMS: Mapping[str, Any] = {}
_REQUIRED = _Problem(Code.REQUIRED, _NO_PARAMS)

# Letters of the Latin script (ASCII, Latin-1, Latin Extended-A/B, Latin Extended Additional)
# and the separators civil registers use inside names.
_LATIN_LETTER = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_LATIN_SEP = " '\u2019\u2018\\-"
_LATIN_TEXT = re.compile(f"[{_LATIN_SEP}]*[{_LATIN_LETTER}][{_LATIN_LETTER}{_LATIN_SEP}]*")
# Arabic letters (base block, supplement, extended-A) and the marks that may sit on them
# (harakat, superscript alef, Quranic marks, tatweel). Presentation forms are folded by NFKC.
_ARABIC_LETTER = "\u0620-\u063f\u0641-\u064a\u066e-\u066f\u0671-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06fc\u06ff\u0750-\u077f\u08a0-\u08c9"
_ARABIC_MARK = "\u0640\u064b-\u065f\u0670\u06d6-\u06ed\u08ca-\u08ff"
_ARABIC_SEP = " \\-'\u2019"
_ARABIC_TEXT = re.compile(
    f"[{_ARABIC_SEP}{_ARABIC_MARK}]*[{_ARABIC_LETTER}][{_ARABIC_LETTER}{_ARABIC_MARK}{_ARABIC_SEP}]*"
)
# Direction marks and zero-width characters that office software and copy-paste slip in.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff",
    )
)
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})([/-])(\d{1,2})\5(\d{4})")
_NATIONALITY = re.compile(r"[A-Z]{3}")
# The practical subset of RFC 5321 that mail providers accept (and Django's EmailValidator).
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
# A Moroccan mobile number whose leading zero a spreadsheet dropped (it read it as a number).
_PHONE_WITHOUT_ZERO = re.compile(r"[67][0-9]{8}")

_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and .doc)
_BINARY_MAGICS = (
    b"%PDF",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"PK",
    b"\x1f\x8b",
    b"Rar!",
    b"7z\xbc\xaf",
)

PROGRESS_EVERY = 10_000
_MEMO_LIMIT = 200_000  # per column; beyond it values are checked without being remembered


# --- Column checkers: raw cell -> normalised value, or a _Problem. -----------------------------


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raw = _cell_to_text(raw)
    return raw.strip()


def _cell_to_text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime.datetime):
        return raw.date().isoformat()
    return str(raw)


def _check_massar(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return _REQUIRED
    value = normalize_massar(value)
    if not is_valid_massar(value):
        return _Problem(Code.MASSAR_INVALID, {"value": value})
    return value


def _check_cnie(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return None
    value = normalize_cnie(value)
    if not is_valid_cnie(value):
        return _Problem(Code.CNIE_INVALID, {"value": value})
    return value


def _clean_name(value: str) -> str:
    if not value.isascii():
        value = value.translate(_INVISIBLE)
    # split() also removes the no-break spaces spreadsheets use for alignment.
    return " ".join(value.split())


def _check_latin(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return _REQUIRED
    value = _clean_name(value)
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    if len(value) > NAME_MAX_LENGTH:
        return _Problem(Code.TOO_LONG, {"max": NAME_MAX_LENGTH})
    if _LATIN_TEXT.fullmatch(value) is None:
        return _Problem(Code.LATIN_TEXT_INVALID, _NO_PARAMS)
    return value


def _check_arabic(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return _REQUIRED
    # NFKC folds the presentation forms and ligatures that older systems stored.
    value = unicodedata.normalize("NFKC", _clean_name(value))
    value = " ".join(value.split())
    if len(value) > NAME_MAX_LENGTH:
        return _Problem(Code.TOO_LONG, {"max": NAME_MAX_LENGTH})
    if _ARABIC_TEXT.fullmatch(value) is None:
        return _Problem(Code.ARABIC_TEXT_INVALID, _NO_PARAMS)
    return value


def _date_checker(session_year: int) -> Callable[[Any], Any]:
    def check(raw: Any) -> Any:
        if isinstance(raw, datetime.datetime):
            born = raw.date()
        elif isinstance(raw, datetime.date):
            born = raw
        else:
            value = _text(raw)
            if not value:
                return _REQUIRED
            match = _DATE.fullmatch(value)
            if match is None:
                return _Problem(Code.DATE_FORMAT, {"value": value})
            if match.group(1) is not None:
                year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
            else:
                day, month, year = int(match.group(4)), int(match.group(6)), int(match.group(7))
            try:
                born = datetime.date(year, month, day)
            except ValueError:
                return _Problem(Code.DATE_NOT_REAL, {"value": value})
        # The age reached during the session year: what the regulation looks at.
        age = session_year - born.year
        if not MIN_AGE <= age <= MAX_AGE:
            return _Problem(
                Code.AGE_OUT_OF_RANGE,
                {"age": age, "year": session_year, "min": MIN_AGE, "max": MAX_AGE},
            )
        return born

    return check


def _check_sex(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return _REQUIRED
    sex = SEX_VALUES.get(value.upper())
    if sex is None:
        return _Problem(Code.SEX_INVALID, {"value": value})
    return sex


def _check_nationality(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return _REQUIRED
    upper = value.upper()
    if _NATIONALITY.fullmatch(upper) is None:
        return _Problem(Code.NATIONALITY_INVALID, {"value": value})
    return upper


def _code_checker(
    known: Mapping[str, Any], allowed: frozenset[str] | None, unknown: str
) -> Callable[[Any], Any]:
    def check(raw: Any) -> Any:
        value = _text(raw)
        if not value:
            return _REQUIRED
        code = value if value in known else value.upper()
        if code not in known:
            return _Problem(unknown, {"value": value})
        if allowed is not None and code not in allowed:
            return _Problem(Code.SCHOOL_OUT_OF_SCOPE, {"value": code})
        return known[code]

    return check


def _check_candidate_type(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return _REQUIRED
    lowered = value.lower()
    if lowered not in CANDIDATE_TYPES:
        return _Problem(Code.CANDIDATE_TYPE_INVALID, {"value": value})
    return lowered


def _check_phone(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return None
    if _PHONE_WITHOUT_ZERO.fullmatch(value):
        value = "0" + value
    phone = _normalize_phone(value)
    if phone is None:
        return _Problem(Code.PHONE_INVALID, {"value": value})
    return phone


def _check_email(raw: Any) -> Any:
    value = _text(raw)
    if not value:
        return None
    if len(value) > EMAIL_MAX_LENGTH:
        return _Problem(Code.TOO_LONG, {"max": EMAIL_MAX_LENGTH})
    if _EMAIL.fullmatch(value) is None:
        return _Problem(Code.EMAIL_INVALID, {"value": value})
    local, _, domain = value.rpartition("@")
    # Domains are case-insensitive; the local part is the mailbox owner's business.
    return f"{local}@{domain.lower()}"


# Columns whose values repeat across rows enough for a memo to pay off.
_MEMO_COLUMNS = frozenset(
    {
        "last_name_latin",
        "first_name_latin",
        "last_name_ar",
        "first_name_ar",
        "birth_date",
        "birth_place_latin",
        "birth_place_ar",
        "sex",
        "nationality",
        "school_code",
        "track_code",
        "candidate_type",
    }
)


def _checkers(rules: Rules) -> dict[str, Callable[[Any], Any]]:
    return {
        "massar_code": _check_massar,
        "cnie_number": _check_cnie,
        "last_name_latin": _check_latin,
        "first_name_latin": _check_latin,
        "last_name_ar": _check_arabic,
        "first_name_ar": _check_arabic,
        "birth_date": _date_checker(rules.session_year),
        "birth_place_latin": _check_latin,
        "birth_place_ar": _check_arabic,
        "sex": _check_sex,
        "nationality": _check_nationality,
        "school_code": _code_checker(rules.schools, rules.allowed_schools, Code.SCHOOL_UNKNOWN),
        "track_code": _code_checker(rules.tracks, None, Code.TRACK_UNKNOWN),
        "candidate_type": _check_candidate_type,
        "phone": _check_phone,
        "email": _check_email,
    }


# --- Reading the file. ----------------------------------------------------------------------


class FileProblem(Exception):
    def __init__(self, code: str, params: Mapping[str, Any] | None = None, line: int = 0) -> None:
        super().__init__(code)
        self.error = RowError(line, "", code, params or {})


@dataclass
class _Table:
    """The rows of a file as (line, cells); `estimated_rows` is a guess for progress only."""

    rows: Iterator[tuple[int, list[Any]]]
    estimated_rows: int
    source_format: str


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a CSV file's bytes; returns (text, encoding name).

    UTF-16 needs its byte-order mark (Excel's "Unicode text" writes one); UTF-8 may have one;
    anything that is not valid UTF-8 is read as Windows-1256, the Arabic code page that older
    Windows software in Morocco writes.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"
        try:
            return data[2:].decode(encoding), "utf-16"
        except UnicodeDecodeError:
            raise FileProblem(Code.FILE_BAD_ENCODING, {"encoding": "UTF-16"}) from None
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            raise FileProblem(Code.FILE_BAD_ENCODING, {"encoding": "UTF-8"}) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1256", errors="replace"), "windows-1256"


def _sniff_delimiter(first_line: str) -> str:
    # Header names never contain a separator, so the one that occurs in the header is it.
    counts = {sep: first_line.count(sep) for sep in ("\t", ";", ",")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _csv_table(data: bytes) -> _Table:
    head = data[:8192]
    is_utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not is_utf16 and (b"\x00" in head or head.startswith(_BINARY_MAGICS)):
        raise FileProblem(Code.FILE_NOT_TABULAR)
    text, encoding = decode_text(data)
    del data
    newline = text.find("\n")
    first_line = text if newline < 0 else text[:newline]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))

    def rows() -> Iterator[tuple[int, list[Any]]]:
        previous_end = 0
        try:
            for cells in reader:
                # A quoted cell may span lines: the record starts on the line after the last one.
                yield previous_end + 1, cells
                previous_end = reader.line_num
        except csv.Error:
            raise FileProblem(
                Code.FILE_BAD_CSV, {"line": previous_end + 1}, line=previous_end + 1
            ) from None

    estimated = text.count("\n") + (0 if text.endswith("\n") else 1) - 1
    return _Table(rows(), max(estimated, 0), f"csv/{encoding}")


def _xlsx_table(data: bytes) -> _Table:
    import openpyxl  # imported here: only XLSX uploads pay for it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        estimated = (sheet.max_row or 1) - 1
        # Some writers record a wrong "used range"; without this, rows beyond it would be lost.
        sheet.reset_dimensions()
        iterator = sheet.iter_rows(values_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError, TypeError) as exc:
        raise FileProblem(Code.FILE_BAD_XLSX) from exc

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for line, cells in enumerate(iterator, start=1):
                yield line, list(cells)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
            raise FileProblem(Code.FILE_BAD_XLSX) from exc
        finally:
            book.close()

    return _Table(rows(), max(estimated, 0), "xlsx")


def open_table(data: bytes) -> _Table:
    """The rows of a CSV (any accepted encoding and separator) or XLSX file. Raises FileProblem;
    so does iterating the rows. Also used by the grade import (results.grades)."""
    if data.startswith(_XLSX_MAGIC):
        return _xlsx_table(data)
    if data.startswith(_OLE_MAGIC):
        raise FileProblem(Code.FILE_LEGACY_XLS)
    return _csv_table(data)


def _header(cells: list[Any]) -> tuple[list[str], list[RowError]]:
    return check_header(cells, COLUMNS, REQUIRED_COLUMNS)


def check_header(
    cells: list[Any], columns: Sequence[str], required: Collection[str]
) -> tuple[list[str], list[RowError]]:
    """The column names of a header row, and what is wrong with them (line 1). Shared by every
    import of this project (candidates, grades) so that they report the same way."""
    names = [_text(c).lstrip("\ufeff").strip().lower() for c in cells]
    errors: list[RowError] = []
    seen: set[str] = set()
    unknown = []
    for name in names:
        if not name:
            continue
        if name not in columns:
            unknown.append(name)
        elif name in seen:
            errors.append(RowError(1, name, Code.HEADER_DUPLICATE, {"column": name}))
        seen.add(name)
    if unknown:
        errors.append(RowError(1, "", Code.HEADER_UNKNOWN, {"columns": ", ".join(unknown)}))
    missing = [c for c in columns if c in required and c not in seen]
    if missing:
        errors.append(
            RowError(1, "", Code.HEADER_REQUIRED_MISSING, {"columns": ", ".join(missing)})
        )
    return names, errors


def fit_cells(cells: list[Any], width: int) -> list[Any] | None:
    """A row padded with blanks or stripped of blank trailing cells to the header's width;
    None when it carries real values beyond the header."""
    if len(cells) < width:
        return cells + [None] * (width - len(cells))
    if _is_blank(cells[width:]):
        return cells[:width]
    return None


def _is_blank(cells: list[Any]) -> bool:
    for cell in cells:
        if cell is not None and cell != "" and not (isinstance(cell, str) and not cell.strip()):
            return False
    return True


def parse_candidates(
    data: bytes,
    rules: Rules,
    *,
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ParseResult:
    """Read and check every row of an uploaded candidate list.

    Returns the valid rows and every problem found (all of them, not only the first), sorted by
    line. `progress(rows_checked, estimated_rows)` is called every PROGRESS_EVERY rows.
    """
    if not data:
        return _file_failure(Code.FILE_EMPTY, {})
    if max_bytes is not None and len(data) > max_bytes:
        return _file_failure(Code.FILE_TOO_LARGE, {"max_bytes": max_bytes, "size": len(data)})
    try:
        table = open_table(data)
        return _check_rows(table, rules, progress)
    except FileProblem as problem:
        return ParseResult([], [problem.error], file_error=True)


_COLUMN_ORDER = {name: position for position, name in enumerate(COLUMNS)}


def error_order(error: RowError) -> tuple[int, int]:
    # By line, then in the documented column order; errors about a whole line come first.
    return error.line, _COLUMN_ORDER.get(error.column, -1)


def _file_failure(code: str, params: Mapping[str, Any]) -> ParseResult:
    return ParseResult([], [RowError(0, "", code, params)], file_error=True)


def _check_rows(
    table: _Table, rules: Rules, progress: Callable[[int, int], None] | None
) -> ParseResult:
    rows = table.rows
    header_cells: list[Any] | None = None
    for _line, cells in rows:
        if not _is_blank(cells):
            header_cells = cells
            break
    if header_cells is None:
        return ParseResult([], [RowError(0, "", Code.FILE_EMPTY, {})], file_error=True)
    names, header_errors = _header(header_cells)
    if header_errors:
        return ParseResult([], header_errors, source_format=table.source_format, file_error=True)

    checkers = _checkers(rules)
    width = len(names)
    # (position in the file, position in CandidateRow, column, checker, memo or None)
    plan = []
    for position, name in enumerate(names):
        if name:
            memo: dict[Any, Any] | None = {} if name in _MEMO_COLUMNS else None
            plan.append((position, COLUMNS.index(name) + 1, name, checkers[name], memo))
    present = frozenset(n for n in names if n)
    massar_slot = COLUMNS.index("massar_code") + 1
    cnie_slot = COLUMNS.index("cnie_number") + 1
    template = [None] * (len(COLUMNS) + 1)
    make_row = CandidateRow._make
    problem_type = _Problem
    estimated = table.estimated_rows

    valid: list[CandidateRow] = []
    errors: list[RowError] = []
    first_line_of_massar: dict[str, int] = {}
    first_of_cnie: dict[str, tuple[int, str]] = {}
    total = 0

    for line, cells in rows:
        if _is_blank(cells):
            continue
        total += 1
        if progress is not None and total % PROGRESS_EVERY == 0:
            progress(total, max(estimated, total))
        count = len(cells)
        if count != width:
            cells = fit_cells(cells, width)
            if cells is None:
                errors.append(
                    RowError(line, "", Code.TOO_MANY_CELLS, {"count": count, "expected": width})
                )
                continue
        out = template.copy()
        out[0] = line
        row_ok = True
        for position, slot, name, check, memo in plan:
            raw = cells[position]
            if memo is not None:
                result = memo.get(raw, memo)
                if result is memo:
                    result = check(raw)
                    if len(memo) < _MEMO_LIMIT:
                        memo[raw] = result
            else:
                result = check(raw)
            if result.__class__ is problem_type:
                errors.append(RowError(line, name, result.code, result.params))
                row_ok = False
            else:
                out[slot] = result

        massar = out[massar_slot]
        if massar is not None:
            first = first_line_of_massar.get(massar)
            if first is None:
                first_line_of_massar[massar] = line
            else:
                errors.append(
                    RowError(
                        line,
                        "massar_code",
                        Code.DUPLICATE_MASSAR,
                        {"first_line": first, "value": massar},
                    )
                )
                row_ok = False
                massar = None  # the CNIE check below would only repeat the same story
        cnie = out[cnie_slot]
        if cnie is not None and massar is not None:
            owner = first_of_cnie.get(cnie)
            if owner is None:
                first_of_cnie[cnie] = (line, massar)
            elif owner[1] != massar:
                errors.append(
                    RowError(
                        line,
                        "cnie_number",
                        Code.DUPLICATE_CNIE,
                        {"first_line": owner[0], "value": cnie, "massar": owner[1]},
                    )
                )
                row_ok = False
        if row_ok:
            valid.append(make_row(out))

    if progress is not None:
        progress(total, total)
    errors.sort(key=error_order)
    if total == 0:
        return ParseResult(
            [], [RowError(0, "", Code.FILE_NO_ROWS, {})], 0, present, table.source_format, True
        )
    return ParseResult(valid, errors, total, present, table.source_format)


# --- Writing files (the downloadable template, tests, the benchmark). ------------------------


def write_csv(
    rows: Iterable[Iterable[Any]], columns: Iterable[str] = COLUMNS, delimiter: str = ","
) -> str:
    """A CSV text with a header row, as the importer reads it."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(list(columns))
    writer.writerows(rows)
    return buffer.getvalue()


TEMPLATE_ROWS: tuple[tuple[str, ...], ...] = (
    (
        "R130046852",
        "BE123456",
        "El Amrani",
        "Mohammed",
        "العمراني",
        "محمد",
        "2008-03-14",
        "Rabat",
        "الرباط",
        "M",
        "MAR",
        "S-RABAT-1",
        "SP",
        "school",
        "0612345678",
        "m.elamrani@example.org",
    ),
    (
        "J145009321",
        "",
        "Bennani",
        "Fatima Zahra",
        "بناني",
        "فاطمة الزهراء",
        "21/11/2007",
        "Fès",
        "فاس",
        "F",
        "MAR",
        "S-RABAT-1",
        "SP",
        "free",
        "",
        "",
    ),
)
