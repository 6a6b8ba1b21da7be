"""Setting a candidate's file against an identity source, field by field. Pure: no Django.

`compare_record(file, source)` compares the fields both hold (Latin and Arabic given and family
names, birth date and place, sex, CNIE number, nationality) and returns one `Finding` per
field compared, graded none, cosmetic, needs review or blocking, with a stable `code` and
`params`: the Django layer turns them into an explanation in the candidate's language.

Decisions (DESIGN §2 says swapped names and a different birth date are serious):

- swapped given and family names are **blocking**: every document would print each name in
  the other's place, and the invigilator compares them with the card at the door;
- a different birth date is blocking, whatever the difference (a day and month swap is named
  as such, to help the candidate see it);
- a CNIE number that differs, even by one character, is blocking (the card is the key to
  every service);
- a different sex or nationality is blocking (both decide rights: scholarship, diploma);
- a different birth place needs review (the card is the reference, but it identifies nobody
  on its own); a birth place spelled differently grades as a name does;
- a field empty in the file while the source has it needs review; a field the source does
  not hold is not compared;
- the machine-readable zone cannot write lower case, accents or hyphens: a difference in
  those alone, against an "mrz" source, is none.

Sources are dictionaries under the file's field names; identity-provider claims
(OpenID Connect: given_name, family_name, birthdate, gender, nationality, place_of_birth,
with `#ar` language tags for Arabic) are mapped by `source_values`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from candidates.identifiers import is_valid_cnie, normalize_cnie

from .names import SAME, Grade, Match, VariantIndex, compare_names, fold_latin, one_edit_apart

NAME_FIELDS = ("last_name_latin", "first_name_latin", "last_name_ar", "first_name_ar")
COMPARED_FIELDS = (
    *NAME_FIELDS,
    "birth_date",
    "birth_place_latin",
    "birth_place_ar",
    "sex",
    "cnie_number",
    "nationality",
)
MRZ = "mrz"
_UNSPECIFIED_SEX = frozenset({"X", "<", "U", "UNSPECIFIED"})

# OpenID Connect standard claims (and common national-identity ones) → the file's fields.
CLAIM_FIELDS = {
    "family_name": "last_name_latin",
    "given_name": "first_name_latin",
    "family_name#ar": "last_name_ar",
    "given_name#ar": "first_name_ar",
    "birthdate": "birth_date",
    "gender": "sex",
    "place_of_birth": "birth_place_latin",
    "birth_place": "birth_place_latin",
    "place_of_birth#ar": "birth_place_ar",
    "cnie": "cnie_number",
    "national_id": "cnie_number",
    "nationalities": "nationality",
}
_CLAIM_KEYS = frozenset(CLAIM_FIELDS)


@dataclass(frozen=True)
class Finding:
    """One field compared with one source."""

    field: str
    source: str
    grade: Grade
    code: str
    file_value: str
    source_value: str
    params: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "source": self.source,
            "grade": int(self.grade),
            "code": self.code,
            "file_value": self.file_value,
            "source_value": self.source_value,
            "params": dict(self.params),
        }


# -- Values -----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if type(value) is str:
        # Most values are already clean: skip the split and join for them.
        if not value or (
            value[0] != " " and value[-1] != " " and "  " not in value and value.isprintable()
        ):
            return value
        return " ".join(value.split())
    if value is None:
        return ""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        # An OpenID Connect address-like object: {"locality": "Rabat", ...}.
        return _text(value.get("locality") or value.get("formatted") or "")
    if isinstance(value, (list, tuple)):
        return _text(value[0]) if value else ""
    return " ".join(str(value).split())


def source_values(data: Mapping[str, Any]) -> dict[str, str]:
    """The comparable fields of a source's data, under the file's field names (a field under
    its own name wins over a claim that maps to it)."""
    values: dict[str, str] = {}
    for name in COMPARED_FIELDS:
        value = data.get(name)
        if value is not None and value != "":
            text = _text(value)
            if text:
                values[name] = text
    for key, name in CLAIM_FIELDS.items():
        if name not in values:
            value = data.get(key)
            if value:
                text = _text(value)
                if text:
                    values[name] = text
    if values.get("sex", "").upper() in _UNSPECIFIED_SEX:
        del values["sex"]
    return values


# -- Dates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartialDate:
    """A date whose year may be known only by its last two digits (the MRZ's YYMMDD)."""

    year: int | None
    two_digit_year: int
    month: int
    day: int

    def same_day(self, other: PartialDate) -> bool:
        if (self.month, self.day) != (other.month, other.day):
            return False
        if self.year is not None and other.year is not None:
            return self.year == other.year
        return self.two_digit_year == other.two_digit_year

    def same_year(self, other: PartialDate) -> bool:
        if self.year is not None and other.year is not None:
            return self.year == other.year
        return self.two_digit_year == other.two_digit_year


_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?")
_DAY_FIRST = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_COMPACT = re.compile(r"\d{6}|\d{8}")


def parse_date(value: Any) -> PartialDate | None:
    """A date from a date object, YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY, DD.MM.YYYY, YYYYMMDD,
    DDMMYYYY or the MRZ's YYMMDD; None when it is none of them or not a real date."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return PartialDate(value.year, value.year % 100, value.month, value.day)
    text = _text(value)
    match = _ISO.fullmatch(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
    elif match := _DAY_FIRST.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
    elif _COMPACT.fullmatch(text):
        if len(text) == 6:
            yy, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
            try:
                # Check month and day with a leap year, whatever the century.
                datetime.date(2000 if yy % 4 == 0 else 2001, month, day)
            except ValueError:
                return None
            return PartialDate(None, yy, month, day)
        if 1800 <= int(text[:4]) <= 2200:
            year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
        else:
            day, month, year = int(text[:2]), int(text[2:4]), int(text[4:])
    else:
        return None
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None
    return PartialDate(year, year % 100, month, day)


def _swap_day_month(value: Any) -> str:
    """The same text with its day and month exchanged, for the formats that have both."""
    text = _text(value)
    if match := _ISO.fullmatch(text):
        year, month, day = match.groups()
        return f"{year}-{day}-{month}"
    if match := _DAY_FIRST.fullmatch(text):
        day, month, year = match.groups()
        return f"{month}/{day}/{year}"
    return text


def compare_dates(a: Any, b: Any) -> Match:
    """Two birth dates, in any of the formats `parse_date` reads. Any difference is blocking."""
    first, second = parse_date(a), parse_date(b)
    if first is None or second is None:
        if _text(a) == _text(b):
            return SAME
        # Impossible as written (a 13th month), but the other date once read month first.
        swapped = parse_date(_swap_day_month(a)) if first is None else first
        other = parse_date(_swap_day_month(b)) if second is None else second
        if swapped is not None and other is not None and swapped.same_day(other):
            return Match(Grade.NEEDS_REVIEW, "month_first")
        return Match(Grade.NEEDS_REVIEW, "unreadable_date")
    if first.same_day(second):
        return SAME
    if (
        first.same_year(second)
        and first.month == second.day
        and first.day == second.month
        and first.month != first.day
    ):
        return Match(Grade.BLOCKING, "day_month_swapped")
    return Match(Grade.BLOCKING, "different_date")


# -- Other fields -----------------------------------------------------------------------------

_SEXES = {
    "M": "M",
    "MALE": "M",
    "H": "M",
    "HOMME": "M",
    "MASCULIN": "M",
    "ذكر": "M",
    "F": "F",
    "FEMALE": "F",
    "FEMME": "F",
    "FEMININ": "F",
    "FÉMININ": "F",
    "أنثى": "F",
    "انثى": "F",
}
_MOROCCAN = {"MAR", "MA", "504", "MAROC", "MAROCAINE", "MAROCAIN", "MOROCCO", "MOROCCAN"}
_MOROCCAN_AR = {"مغربية", "مغربي", "المغرب"}


def _sex(value: str) -> str | None:
    return _SEXES.get(value.strip().upper())


def _nationality(value: str) -> str:
    text = value.strip()
    if text in _MOROCCAN_AR or text.upper() in _MOROCCAN:
        return "MAR"
    return text.upper().replace("<", "")


def compare_cnie(a: str, b: str) -> Match:
    first, second = normalize_cnie(a), normalize_cnie(b)
    if first == second:
        return SAME
    if not is_valid_cnie(second) or not is_valid_cnie(first):
        return Match(Grade.NEEDS_REVIEW, "unreadable_value")
    if one_edit_apart(first, second):
        return Match(Grade.BLOCKING, "cnie_one_character")
    return Match(Grade.BLOCKING, "different_cnie")


def compare_field(
    name: str, file_value: str, source_value: str, variants: VariantIndex | None = None
) -> Match:
    """One field of the file against the same field of a source (both as text)."""
    if file_value == source_value:
        return SAME
    if not file_value:
        return Match(Grade.NEEDS_REVIEW, "missing_in_file")
    if name in NAME_FIELDS:
        return compare_names(file_value, source_value, variants)
    if name == "birth_date":
        return compare_dates(file_value, source_value)
    if name in ("birth_place_latin", "birth_place_ar"):
        match = compare_names(file_value, source_value, variants)
        if match.grade == Grade.BLOCKING:
            return Match(Grade.NEEDS_REVIEW, "different_place")
        return match
    if name == "sex":
        first, second = _sex(file_value), _sex(source_value)
        if first is None or second is None or first == second:
            return SAME if first == second else Match(Grade.NEEDS_REVIEW, "unreadable_value")
        return Match(Grade.BLOCKING, "different_sex")
    if name == "cnie_number":
        return compare_cnie(file_value, source_value)
    if name == "nationality":
        if _nationality(file_value) == _nationality(source_value):
            return SAME
        return Match(Grade.BLOCKING, "different_nationality")
    raise ValueError(f"{name} is not a compared field")


def _swapped(
    file: Mapping[str, str],
    source: Mapping[str, str],
    given: str,
    family: str,
    variants: VariantIndex | None,
) -> bool:
    """Whether the source's given name is the file's family name and the other way round."""
    if not all(file.get(n) and source.get(n) for n in (given, family)):
        return False
    return (
        compare_names(file[given], source[family], variants).grade < Grade.BLOCKING
        and compare_names(file[family], source[given], variants).grade < Grade.BLOCKING
    )


def compare_record(
    file: Mapping[str, Any],
    source: Mapping[str, Any],
    *,
    source_kind: str = "",
    variants: VariantIndex | None = None,
    include_same: bool = True,
) -> list[Finding]:
    """Every field both hold, compared, in the order of COMPARED_FIELDS; without the fields
    graded none when `include_same` is false."""
    ours = {name: _text(file.get(name)) for name in COMPARED_FIELDS}
    return _compare_clean(ours, source, source_kind, variants, include_same)


def _compare_clean(
    ours: Mapping[str, str],
    source: Mapping[str, Any],
    source_kind: str,
    variants: VariantIndex | None,
    include_same: bool,
) -> list[Finding]:
    theirs = source_values(source)
    matches: dict[str, Match] = {}
    for name in COMPARED_FIELDS:
        if name not in theirs:
            continue
        if ours[name] == theirs[name]:
            matches[name] = SAME
            continue
        match = compare_field(name, ours[name], theirs[name], variants)
        if (
            source_kind == MRZ
            and match.code == "presentation"
            and name in ("last_name_latin", "first_name_latin")
        ):
            match = SAME  # the zone has only capitals and no accents or hyphens
        matches[name] = match
    for given, family in (
        ("first_name_latin", "last_name_latin"),
        ("first_name_ar", "last_name_ar"),
    ):
        both = (matches.get(given), matches.get(family))
        if (
            all(m is not None for m in both)
            and any(m.grade == Grade.BLOCKING for m in both if m is not None)
            and _swapped(ours, theirs, given, family, variants)
        ):
            matches[given] = matches[family] = Match(Grade.BLOCKING, "swapped_names")
    return [
        Finding(name, source_kind, match.grade, match.code, ours[name], theirs[name], match.params)
        for name, match in matches.items()
        if include_same or match.grade > Grade.NONE
    ]


def compare_file(
    file: Mapping[str, Any],
    sources: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    variants: VariantIndex | None = None,
    include_same: bool = True,
) -> list[Finding]:
    """A file against each of its sources, given as (kind, data) pairs."""
    ours = {name: _text(file.get(name)) for name in COMPARED_FIELDS}
    findings: list[Finding] = []
    mrz_names: dict[str, str] | None = None
    for kind, data in sources:
        if not include_same:
            # Most sources agree with the file to the letter: say so without the full walk.
            if kind == MRZ and mrz_names is None:
                mrz_names = {
                    name: fold_latin(ours[name]) for name in ("last_name_latin", "first_name_latin")
                }
            if _agrees(ours, data, mrz_names if kind == MRZ else None):
                continue
        findings.extend(_compare_clean(ours, data, kind, variants, include_same))
    return findings


def _agrees(ours: Mapping[str, str], data: Mapping[str, Any], mrz: dict[str, str] | None) -> bool:
    """Whether every field of the source, under the file's names only, equals the file's value
    (for a zone, its Latin names equal the file's in capitals without accents)."""
    if not _CLAIM_KEYS.isdisjoint(data):
        return False
    for name in COMPARED_FIELDS:
        value = data.get(name)
        if value is None or value == "" or value == ours[name]:
            continue
        if mrz is not None and (value == mrz.get(name) or (name == "sex" and value == "X")):
            continue
        return False
    return True


def worst_grade(findings: Iterable[Finding]) -> Grade:
    return max((f.grade for f in findings), default=Grade.NONE)
