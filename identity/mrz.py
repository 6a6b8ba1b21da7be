"""Machine-readable zones (ICAO Doc 9303): TD1 identity cards (3 lines of 30 characters) and
TD3 passports (2 lines of 44). Pure: no Django import, so a stand-alone verifier can reuse it.

`parse_mrz` reads every field and validates every check digit (7-3-1 weights, '<' = 0,
A = 10 ... Z = 35). When a zone is wrong it raises `MrzError`, whose `problems` say exactly
what is wrong: which line, which field and columns, which check digit was expected and which
was found, which character is illegal, which line has the wrong length. Each problem has a
stable `code` and `params` for translated messages, and an English `message`.

OCR confusions (O for 0, I for 1, 0 for O ...) are corrected only inside fields whose type
makes the correction unambiguous (digits only, or letters only), and only when every check
digit then passes; the result lists each correction applied. A zone is evidence to compare
with a candidate's file, never a truth that overwrites it.

Moroccan CNIE (issuing state MAR): the document number is the card number, which is not always
the CNIE number; the CNIE number (the personal number, e.g. BE123456) is in the optional data.
`MrzResult.cnie_number()` prefers it.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from candidates.identifiers import CNIE_RE

TD1 = "TD1"
TD3 = "TD3"
LINE_LENGTHS = {TD1: 30, TD3: 44}
FILLER = "<"
ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
_WEIGHTS = (7, 3, 1)

# Fields whose type leaves no doubt about what an OCR confusion meant.
_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6"}
_TO_DIGIT |= {"B": "8"}
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G"}

FIELD_LABELS = {
    "document_code": "document code",
    "issuing_state": "issuing state",
    "document_number": "document number",
    "document_number_check": "document number check digit",
    "optional_data_1": "optional data",
    "optional_data_2": "optional data",
    "birth_date": "birth date",
    "birth_date_check": "birth date check digit",
    "sex": "sex",
    "expiry_date": "expiry date",
    "expiry_date_check": "expiry date check digit",
    "nationality": "nationality",
    "personal_number": "personal number",
    "personal_number_check": "personal number check digit",
    "composite_check": "composite check digit",
    "names": "names",
}


# -- Check digits -----------------------------------------------------------------------------


def character_value(char: str) -> int:
    """The value of one MRZ character in a check-digit computation."""
    if char == FILLER:
        return 0
    if "0" <= char <= "9":
        return ord(char) - 48
    if "A" <= char <= "Z":
        return ord(char) - 55
    raise ValueError(f"{char!r} is not an MRZ character")


def check_digit(data: str) -> str:
    """The ICAO 9303 check digit of `data` (weights 7, 3, 1 repeated, sum modulo 10)."""
    total = 0
    for index, char in enumerate(data):
        total += character_value(char) * _WEIGHTS[index % 3]
    return str(total % 10)


# -- Problems ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MrzProblem:
    """One precise reason why a zone is not valid. Lines and columns count from 1."""

    code: str
    line: int | None = None
    field: str | None = None
    start: int | None = None
    end: int | None = None
    expected: str | None = None
    found: str | None = None

    @property
    def params(self) -> dict[str, object]:
        values = {
            "line": self.line,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "expected": self.expected,
            "found": self.found,
        }
        return {k: v for k, v in values.items() if v is not None}

    @property
    def message(self) -> str:
        label = FIELD_LABELS.get(self.field or "", self.field or "")
        where = f"Line {self.line}" if self.line else "The zone"
        columns = ""
        if self.start is not None:
            columns = (
                f", column {self.start}"
                if self.end in (None, self.start)
                else f", columns {self.start}-{self.end}"
            )
        if self.code == "empty":
            return "The machine-readable zone is empty."
        if self.code == "line_count":
            return (
                f"The zone has {self.found} lines; a card (TD1) has 3 lines of 30 characters "
                "and a passport (TD3) 2 lines of 44."
            )
        if self.code == "line_length":
            return f"Line {self.line} has {self.found} characters; {self.expected} were expected."
        if self.code == "illegal_character":
            return (
                f"Line {self.line}, column {self.start}: {self.found!r} is not allowed "
                "(only A-Z, 0-9 and '<')."
            )
        if self.code == "check_digit":
            return (
                f"{where}{columns}: the {label} is wrong: "
                f"{self.expected} was expected, {self.found!r} was found."
            )
        if self.code == "not_digits":
            return f"{where}{columns}: the {label} must be digits, found {self.found!r}."
        if self.code == "not_letters":
            return f"{where}{columns}: the {label} must be letters, found {self.found!r}."
        if self.code == "invalid_date":
            return f"{where}{columns}: the {label} {self.found!r} is not a date (YYMMDD)."
        if self.code == "invalid_sex":
            return f"{where}{columns}: the sex must be M, F or '<', found {self.found!r}."
        if self.code == "invalid_state":
            return f"{where}{columns}: the {label} {self.found!r} is not a state code."
        if self.code == "document_code":
            return (
                f"{where}{columns}: the document code {self.found!r} does not fit a "
                f"{self.expected} document."
            )
        if self.code == "long_number":
            return (
                f"{where}{columns}: the document number continues in the optional data, "
                "but no number and check digit were found there."
            )
        return f"{where}{columns}: {self.code}"


class MrzError(ValueError):
    """The zone is not a valid TD1 or TD3 zone; `problems` says why, precisely."""

    def __init__(self, problems: Sequence[MrzProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(" ".join(p.message for p in self.problems))


# -- The result -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Correction:
    """An OCR confusion corrected in a field: `found` at (line, column) was read as `used`."""

    line: int
    column: int
    field: str
    found: str
    used: str


@dataclass(frozen=True)
class MrzResult:
    format: str
    lines: tuple[str, ...]
    document_code: str
    issuing_state: str
    document_number: str
    optional_data_1: str
    optional_data_2: str
    birth_date: datetime.date | None
    birth_date_raw: str
    sex: str  # "F", "M" or "X" (unspecified)
    expiry_date: datetime.date | None
    expiry_date_raw: str
    nationality: str
    surname: str
    given_names: str
    personal_number: str
    corrections: tuple[Correction, ...] = field(default=())

    @property
    def corrected(self) -> bool:
        return bool(self.corrections)

    def cnie_number(self) -> str | None:
        """The CNIE number of a Moroccan card: the personal number in the optional data when it
        has the CNIE shape, else the document number when that has it; None otherwise."""
        if self.issuing_state != "MAR":
            return None
        for value in (self.personal_number, self.document_number):
            compact = value.replace(FILLER, "")
            if CNIE_RE.fullmatch(compact):
                return compact
        return None

    def source_data(self) -> dict[str, object]:
        """What to store as the candidate's "mrz" identity source: the lines as evidence, and
        the fields under the file's names, for the comparison."""
        return {
            "format": self.format,
            "lines": list(self.lines),
            "document_code": self.document_code,
            "issuing_state": self.issuing_state,
            "document_number": self.document_number,
            "personal_number": self.personal_number,
            "cnie_number": self.cnie_number() or "",
            "last_name_latin": self.surname,
            "first_name_latin": self.given_names,
            "birth_date": self.birth_date.isoformat() if self.birth_date else "",
            "birth_date_mrz": self.birth_date_raw,
            "sex": self.sex,
            "nationality": self.nationality,
            "expiry_date": self.expiry_date.isoformat() if self.expiry_date else "",
            "corrections": len(self.corrections),
        }


# -- Layouts ----------------------------------------------------------------------------------

# (name, line index, start, end) with 0-based half-open columns, and the field type:
# "digits", "letters", "alnum", "date", "sex", "check".
_Spec = tuple[str, int, int, int, str]

_TD1_FIELDS: tuple[_Spec, ...] = (
    ("document_code", 0, 0, 2, "letters"),
    ("issuing_state", 0, 2, 5, "letters"),
    ("document_number", 0, 5, 14, "alnum"),
    ("document_number_check", 0, 14, 15, "check"),
    ("optional_data_1", 0, 15, 30, "alnum"),
    ("birth_date", 1, 0, 6, "date"),
    ("birth_date_check", 1, 6, 7, "check"),
    ("sex", 1, 7, 8, "sex"),
    ("expiry_date", 1, 8, 14, "date"),
    ("expiry_date_check", 1, 14, 15, "check"),
    ("nationality", 1, 15, 18, "letters"),
    ("optional_data_2", 1, 18, 29, "alnum"),
    ("composite_check", 1, 29, 30, "check"),
    ("names", 2, 0, 30, "letters"),
)
_TD3_FIELDS: tuple[_Spec, ...] = (
    ("document_code", 0, 0, 2, "letters"),
    ("issuing_state", 0, 2, 5, "letters"),
    ("names", 0, 5, 44, "letters"),
    ("document_number", 1, 0, 9, "alnum"),
    ("document_number_check", 1, 9, 10, "check"),
    ("nationality", 1, 10, 13, "letters"),
    ("birth_date", 1, 13, 19, "date"),
    ("birth_date_check", 1, 19, 20, "check"),
    ("sex", 1, 20, 21, "sex"),
    ("expiry_date", 1, 21, 27, "date"),
    ("expiry_date_check", 1, 27, 28, "check"),
    ("personal_number", 1, 28, 42, "alnum"),
    ("personal_number_check", 1, 42, 43, "check"),
    ("composite_check", 1, 43, 44, "check"),
)
_LAYOUTS = {TD1: _TD1_FIELDS, TD3: _TD3_FIELDS}
# The spans the composite check digit covers: (line index, start, end).
_COMPOSITE = {
    TD1: ((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)),
    TD3: ((1, 0, 10), (1, 13, 20), (1, 21, 43)),
}
_DIGIT_TYPES = frozenset({"date", "check"})
# A state or nationality code: letters, then fillers when shorter than three (e.g. D<<).
_STATE = re.compile(r"[A-Z]{1,3}<{0,2}")


def _split_lines(text: str | Iterable[str]) -> list[str]:
    raw = text.splitlines() if isinstance(text, str) else list(text)
    # Surrounding spaces are layout, not content; lower case letters are unambiguous.
    return [line.strip().upper() for line in raw if line.strip()]


def _shape(lines: list[str]) -> tuple[str | None, list[MrzProblem]]:
    if not lines:
        return None, [MrzProblem("empty")]
    if len(lines) == 3:
        fmt = TD1
    elif len(lines) == 2:
        fmt = TD3
    else:
        return None, [MrzProblem("line_count", found=str(len(lines)))]
    wanted = LINE_LENGTHS[fmt]
    problems = [
        MrzProblem("line_length", line=i + 1, expected=str(wanted), found=str(len(line)))
        for i, line in enumerate(lines)
        if len(line) != wanted
    ]
    for i, line in enumerate(lines):
        for column, char in enumerate(line):
            if char not in ALPHABET:
                problems.append(
                    MrzProblem(
                        "illegal_character",
                        line=i + 1,
                        start=column + 1,
                        end=column + 1,
                        found=char,
                    )
                )
    return fmt, problems


def _resolve_birth(raw: str, today: datetime.date) -> datetime.date | None:
    yy, mm, dd = int(raw[:2]), int(raw[2:4]), int(raw[4:6])
    # The most recent century that puts the date in the past (a birth date is never ahead).
    for century in (today.year // 100 * 100, today.year // 100 * 100 - 100):
        try:
            value = datetime.date(century + yy, mm, dd)
        except ValueError:
            continue
        if value <= today:
            return value
    return None


def _resolve_expiry(raw: str, today: datetime.date) -> datetime.date | None:
    yy, mm, dd = int(raw[:2]), int(raw[2:4]), int(raw[4:6])
    # The one century that puts the year in [today - 50, today + 50).
    year = today.year - 50 + (yy - (today.year - 50)) % 100
    try:
        return datetime.date(year, mm, dd)
    except ValueError:
        return None


def _is_date(raw: str) -> bool:
    if not raw.isdigit():
        return False
    mm, dd = int(raw[2:4]), int(raw[4:6])
    if not (1 <= mm <= 12 and 1 <= dd <= 31):
        return False
    # 29 February is valid in some century whatever the two-digit year: check with a leap year.
    try:
        datetime.date(2000 + int(raw[:2]) if int(raw[:2]) % 4 == 0 else 2001, mm, dd)
    except ValueError:
        return False
    return True


def _names(raw: str) -> tuple[str, str]:
    primary, _, secondary = raw.partition("<<")
    # Components of the secondary identifier are one filler apart: two fillers end the names.
    secondary = secondary.split("<<", 1)[0]
    return (
        " ".join(primary.replace(FILLER, " ").split()),
        " ".join(secondary.replace(FILLER, " ").split()),
    )


@dataclass
class _Reading:
    fmt: str
    lines: list[str]
    values: dict[str, str]
    problems: list[MrzProblem]
    long_number: str | None = None  # the full document number when it overflows (TD1)


def _problem(code: str, spec: _Spec, **kwargs: str) -> MrzProblem:
    name, line, start, end, _kind = spec
    return MrzProblem(code, line=line + 1, field=name, start=start + 1, end=end, **kwargs)


def _check_fields(fmt: str, lines: list[str]) -> _Reading:
    specs = _LAYOUTS[fmt]
    values = {spec[0]: lines[spec[1]][spec[2] : spec[3]] for spec in specs}
    by_name = {spec[0]: spec for spec in specs}
    reading = _Reading(fmt, lines, values, [])
    problems = reading.problems
    # Field types.
    for spec in specs:
        name, _line, _start, _end, kind = spec
        value = values[name]
        if kind == "date" and value != FILLER * 6:
            if not value.isdigit():
                problems.append(_problem("not_digits", spec, found=value))
            elif not _is_date(value):
                problems.append(_problem("invalid_date", spec, found=value))
        elif kind == "letters" and any(c.isdigit() for c in value):
            problems.append(_problem("not_letters", spec, found=value))
        elif kind == "sex" and value not in ("M", "F", "X", FILLER):
            problems.append(_problem("invalid_sex", spec, found=value))
        elif kind == "check" and not (value.isdigit() or value == FILLER):
            problems.append(_problem("not_digits", spec, found=value))
    for name in ("issuing_state", "nationality"):
        value = values[name]
        if not any(c.isdigit() for c in value) and not _STATE.fullmatch(value):
            problems.append(_problem("invalid_state", by_name[name], found=value))
    code = values["document_code"]
    if (fmt == TD1 and code[0] not in "ACI") or (fmt == TD3 and code[0] != "P"):
        problems.append(
            _problem(
                "document_code",
                by_name["document_code"],
                expected="identity card (A, C or I)" if fmt == TD1 else "passport (P)",
                found=code,
            )
        )
    # Check digits of the fields. Where a field's check digit is wrong, the composite is
    # computed with the expected digit in its place, so that one wrong digit is reported once.
    expected_at: dict[tuple[int, int], str] = {}

    def verify(data: str, check_name: str, allow_empty: bool = False) -> None:
        spec = by_name[check_name]
        found = values[check_name]
        if any(c not in ALPHABET for c in data):
            return
        if allow_empty and data.strip(FILLER) == "" and found in (FILLER, "0"):
            return
        expected = check_digit(data)
        expected_at[(spec[1], spec[2])] = expected
        if found != expected:
            problems.append(_problem("check_digit", spec, expected=expected, found=found))

    number = values["document_number"]
    if fmt == TD1 and values["document_number_check"] == FILLER:
        # Long document number: the rest of the number and its check digit open optional data 1.
        overflow = values["optional_data_1"].split(FILLER, 1)[0]
        if len(overflow) < 2 or not overflow[-1].isdigit():
            problems.append(_problem("long_number", by_name["optional_data_1"], found=overflow))
        else:
            reading.long_number = number + overflow[:-1]
            column = 15 + len(overflow) - 1  # 0-based column of the number's check digit
            expected = check_digit(reading.long_number)
            expected_at[(0, column)] = expected
            if overflow[-1] != expected:
                problems.append(
                    MrzProblem(
                        "check_digit",
                        line=1,
                        field="document_number_check",
                        start=column + 1,
                        end=column + 1,
                        expected=expected,
                        found=overflow[-1],
                    )
                )
    else:
        verify(number, "document_number_check")
    for date_name in ("birth_date", "expiry_date"):
        verify(values[date_name], f"{date_name}_check")
    if fmt == TD3:
        verify(values["personal_number"], "personal_number_check", allow_empty=True)
    # The composite.
    data = "".join(
        expected_at.get((line_index, column), lines[line_index][column])
        for line_index, start, end in _COMPOSITE[fmt]
        for column in range(start, end)
    )
    found = values["composite_check"]
    if all(c in ALPHABET for c in data) and found != (expected := check_digit(data)):
        problems.append(
            _problem("check_digit", by_name["composite_check"], expected=expected, found=found)
        )
    return reading


def _correct(fmt: str, lines: list[str]) -> tuple[list[str], list[Correction]]:
    """Replace OCR confusions inside fields whose type leaves no doubt."""
    out = [list(line) for line in lines]
    corrections: list[Correction] = []
    for name, line, start, end, kind in _LAYOUTS[fmt]:
        table = _TO_DIGIT if kind in _DIGIT_TYPES else _TO_LETTER if kind == "letters" else None
        if table is None:
            continue
        for column in range(start, end):
            char = out[line][column]
            if char == FILLER and kind == "date":
                continue
            replacement = table.get(char)
            if name == "composite_check" and char == FILLER:
                # Never a filler (ICAO 9303-3, 4.9): OCR-B's narrow 1 after a run of fillers is
                # read as one more filler. The check digit itself then decides.
                replacement = "1"
            if replacement is not None:
                out[line][column] = replacement
                corrections.append(Correction(line + 1, column + 1, name, char, replacement))
    return ["".join(chars) for chars in out], corrections


def _result(reading: _Reading, today: datetime.date) -> MrzResult:
    values = reading.values
    fmt = reading.fmt
    optional_1 = values.get("optional_data_1", "")
    number = values["document_number"].rstrip(FILLER)
    if reading.long_number is not None:
        number = reading.long_number
        overflow = optional_1.split(FILLER, 1)[0]
        # What follows the number's check digit (and its filler) is the rest of the optional data.
        optional_1 = optional_1[len(overflow) :].lstrip(FILLER)
    optional_1 = optional_1.rstrip(FILLER)
    optional_2 = values.get("optional_data_2", "").rstrip(FILLER)
    if fmt == TD3:
        personal = values["personal_number"].rstrip(FILLER)
    else:
        personal = optional_1 or optional_2
    surname, given = _names(values["names"])
    birth_raw, expiry_raw = values["birth_date"], values["expiry_date"]
    sex = values["sex"]
    return MrzResult(
        format=fmt,
        lines=tuple(reading.lines),
        document_code=values["document_code"].rstrip(FILLER),
        issuing_state=values["issuing_state"].replace(FILLER, ""),
        document_number=number,
        optional_data_1=optional_1,
        optional_data_2=optional_2,
        birth_date=_resolve_birth(birth_raw, today) if birth_raw.isdigit() else None,
        birth_date_raw=birth_raw,
        sex="X" if sex == FILLER else sex,
        expiry_date=_resolve_expiry(expiry_raw, today) if expiry_raw.isdigit() else None,
        expiry_date_raw=expiry_raw,
        nationality=values["nationality"].replace(FILLER, ""),
        surname=surname,
        given_names=given,
        personal_number=personal,
    )


def validate_mrz(text: str | Iterable[str]) -> list[MrzProblem]:
    """Every problem of a zone as written (no OCR correction); empty when it is valid."""
    lines = _split_lines(text)
    fmt, problems = _shape(lines)
    if problems or fmt is None:
        return problems
    return _check_fields(fmt, lines).problems


def parse_mrz(
    text: str | Iterable[str], *, today: datetime.date | None = None, correct_ocr: bool = True
) -> MrzResult:
    """Read a TD1 or TD3 zone (lines separated by newlines, or a sequence of lines).

    Raises MrzError with every problem of the zone as written when it is not valid, unless
    correcting OCR confusions in digit-only and letter-only fields makes every check digit
    pass: then the corrected reading is returned with its `corrections`.
    """
    today = today or datetime.date.today()
    lines = _split_lines(text)
    fmt, problems = _shape(lines)
    if problems or fmt is None:
        raise MrzError(problems)
    reading = _check_fields(fmt, lines)
    if not reading.problems:
        return _result(reading, today)
    if correct_ocr:
        fixed, corrections = _correct(fmt, lines)
        if corrections:
            second = _check_fields(fmt, fixed)
            if not second.problems:
                return replace(_result(second, today), corrections=tuple(corrections))
    raise MrzError(reading.problems)


# -- Building zones (test data, synthetic cards) ----------------------------------------------


def mrz_name(text: str) -> str:
    """A name as the zone writes it: capitals without accents, '<' for spaces and hyphens."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    plain = plain.replace("Æ", "AE").replace("Ø", "O").replace("ß", "SS")
    return re.sub(r"[^A-Z]+", FILLER, plain).strip(FILLER)


def _pad(value: str, length: int) -> str:
    return (value + FILLER * length)[:length]


def _date(value: datetime.date | None) -> str:
    return value.strftime("%y%m%d") if value else FILLER * 6


def _name_field(surname: str, given_names: str, length: int) -> str:
    primary, secondary = mrz_name(surname), mrz_name(given_names)
    text = f"{primary}<<{secondary}" if secondary else primary
    return _pad(text, length)


def build_td1(
    document_number: str,
    birth_date: datetime.date | None,
    sex: str,
    expiry_date: datetime.date | None,
    surname: str,
    given_names: str,
    *,
    document_code: str = "I",
    issuing_state: str = "MAR",
    nationality: str = "MAR",
    optional_data_1: str = "",
    optional_data_2: str = "",
) -> tuple[str, str, str]:
    """The three lines of a TD1 zone, with every check digit. A document number longer than
    nine characters overflows into optional data 1, as ICAO 9303 part 5 describes."""
    number = document_number.upper()
    if len(number) > 9:
        head, rest = number[:9], number[9:]
        opt1 = rest + check_digit(number) + FILLER + optional_data_1.upper()
        line1 = _pad(document_code, 2) + _pad(issuing_state, 3) + head + FILLER
        line1 += _pad(opt1, 15)
    else:
        padded = _pad(number, 9)
        line1 = _pad(document_code, 2) + _pad(issuing_state, 3) + padded + check_digit(padded)
        line1 += _pad(optional_data_1.upper(), 15)
    birth, expiry = _date(birth_date), _date(expiry_date)
    line2 = birth + check_digit(birth) + (sex if sex in ("M", "F") else FILLER)
    line2 += expiry + check_digit(expiry) + _pad(nationality, 3)
    line2 += _pad(optional_data_2.upper(), 11)
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += check_digit(composite)
    line3 = _name_field(surname, given_names, 30)
    return line1, line2, line3


def build_td3(
    document_number: str,
    birth_date: datetime.date | None,
    sex: str,
    expiry_date: datetime.date | None,
    surname: str,
    given_names: str,
    *,
    document_code: str = "P",
    issuing_state: str = "MAR",
    nationality: str = "MAR",
    personal_number: str = "",
) -> tuple[str, str]:
    """The two lines of a TD3 (passport) zone, with every check digit."""
    line1 = _pad(document_code, 2) + _pad(issuing_state, 3) + _name_field(surname, given_names, 39)
    number = _pad(document_number.upper(), 9)
    personal = _pad(personal_number.upper(), 14)
    personal_check = check_digit(personal) if personal.strip(FILLER) else FILLER
    birth, expiry = _date(birth_date), _date(expiry_date)
    line2 = number + check_digit(number) + _pad(nationality, 3)
    line2 += birth + check_digit(birth) + (sex if sex in ("M", "F") else FILLER)
    line2 += expiry + check_digit(expiry) + personal + personal_check
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    line2 += check_digit(composite)
    return line1, line2
