"""Comparing a file with an identity source, field by field. Pure: no database."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.mrz import build_td1, parse_mrz
from verification.compare import (
    COMPARED_FIELDS,
    compare_dates,
    compare_field,
    compare_file,
    compare_record,
    parse_date,
    source_values,
    worst_grade,
)
from verification.names import Grade, VariantIndex

VARIANTS = VariantIndex.from_csv(Path(django_settings.SHARED_DATA_DIR) / "names.csv")
N, C, R, B = Grade.NONE, Grade.COSMETIC, Grade.NEEDS_REVIEW, Grade.BLOCKING

FILE = {
    "last_name_latin": "El Amrani",
    "first_name_latin": "Mohammed",
    "last_name_ar": "العمراني",
    "first_name_ar": "محمد",
    "birth_date": datetime.date(2008, 3, 14),
    "birth_place_latin": "Rabat",
    "birth_place_ar": "الرباط",
    "sex": "M",
    "cnie_number": "BE123456",
    "nationality": "MAR",
}

# (the file's date, the source's, grade, code)
DATE_PAIRS = [
    ("2008-03-14", "2008-03-14", N, "same"),
    ("2008-03-14", "14/03/2008", N, "same"),
    ("2008-03-14", "14-03-2008", N, "same"),
    ("2008-03-14", "14.03.2008", N, "same"),
    ("2008-03-14", "080314", N, "same"),
    ("2008-03-14", "20080314", N, "same"),
    ("2008-03-14", "14032008", N, "same"),
    ("2008-03-14", "2008/03/14", N, "same"),
    ("2008-03-14", "2008-03-14T00:00:00", N, "same"),
    ("2008-03-04", "4/3/2008", N, "same"),
    ("2008-03-04", "2008-04-03", B, "day_month_swapped"),
    ("2008-03-04", "04/03/2008", N, "same"),
    ("2008-03-04", "03/04/2008", B, "day_month_swapped"),
    ("2008-03-04", "080403", B, "day_month_swapped"),
    ("2008-03-14", "03/14/2008", R, "month_first"),
    ("2008-03-14", "2008-03-15", B, "different_date"),
    ("2008-03-14", "2008-03-04", B, "different_date"),
    ("2008-03-14", "2007-03-14", B, "different_date"),
    ("2008-03-14", "1908-03-14", B, "different_date"),
    ("2008-03-14", "070314", B, "different_date"),
    ("2008-03-14", "2008-02-30", R, "unreadable_date"),
    ("2008-03-14", "14 mars 2008", R, "unreadable_date"),
    ("2008-03-14", "", R, "unreadable_date"),
]


def test_the_date_table_and_the_name_table_have_at_least_forty_rows_together():
    from .test_names import NAME_PAIRS

    assert len(DATE_PAIRS) + len(NAME_PAIRS) >= 40
    assert len(DATE_PAIRS) >= 20


@pytest.mark.parametrize("ours, theirs, grade, code", DATE_PAIRS)
def test_a_pair_of_birth_dates_gets_its_grade_and_code(ours, theirs, grade, code):
    match = compare_dates(ours, theirs)
    assert (match.grade, match.code) == (grade, code)
    assert compare_dates(theirs, ours).grade == grade


def test_dates_are_read_in_every_format_with_the_mrz_year_on_two_digits():
    assert parse_date("14/03/2008").year == 2008
    mrz = parse_date("080314")
    assert (mrz.year, mrz.two_digit_year, mrz.month, mrz.day) == (None, 8, 3, 14)
    assert parse_date("2008-02-30") is None
    assert parse_date("000229") is not None  # 29 February exists in 2000
    assert parse_date("010229") is None


@settings(max_examples=200, deadline=None)
@given(day=st.dates(datetime.date(1950, 1, 1), datetime.date(2030, 12, 31)))
def test_a_date_equals_itself_in_every_format(day):
    for text in (
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        day.strftime("%d-%m-%Y"),
        day.strftime("%y%m%d"),
        day.strftime("%Y%m%d"),
    ):
        assert compare_dates(day, text).grade == N


@settings(max_examples=200, deadline=None)
@given(
    first=st.dates(datetime.date(1950, 1, 1), datetime.date(2030, 12, 31)),
    second=st.dates(datetime.date(1950, 1, 1), datetime.date(2030, 12, 31)),
)
def test_two_different_dates_are_always_blocking_and_symmetric(first, second):
    grade = compare_dates(first.isoformat(), second.isoformat()).grade
    assert grade == (N if first == second else B)
    assert compare_dates(second.isoformat(), first.isoformat()).grade == grade


# -- Identifiers and other fields -------------------------------------------------------------


@pytest.mark.parametrize(
    "field, ours, theirs, grade, code",
    [
        ("cnie_number", "BE123456", "BE123456", N, "same"),
        ("cnie_number", "BE123456", "be 123456", N, "same"),
        ("cnie_number", "BE123456", "BE123457", B, "cnie_one_character"),
        ("cnie_number", "BE123456", "BE12345", B, "cnie_one_character"),
        ("cnie_number", "BE123456", "BH123456", B, "cnie_one_character"),
        ("cnie_number", "BE123456", "J654321", B, "different_cnie"),
        ("cnie_number", "BE123456", "BE12-34", R, "unreadable_value"),
        ("cnie_number", "", "BE123456", R, "missing_in_file"),
        ("sex", "M", "male", N, "same"),
        ("sex", "F", "أنثى", N, "same"),
        ("sex", "M", "F", B, "different_sex"),
        ("sex", "F", "?", R, "unreadable_value"),
        ("nationality", "MAR", "Marocaine", N, "same"),
        ("nationality", "MAR", "مغربية", N, "same"),
        ("nationality", "MAR", "SEN", B, "different_nationality"),
        ("birth_place_latin", "Fès", "FES", C, "presentation"),
        ("birth_place_latin", "El Jadida", "Jadida", R, "particle"),
        ("birth_place_latin", "Laâyoune", "Layoune", R, "transliteration"),
        ("birth_place_latin", "Kénitra", "Kenitre", R, "typo"),
        ("birth_place_latin", "Rabat", "Agadir", R, "different_place"),
        ("birth_place_ar", "الرباط", "أكادير", R, "different_place"),
    ],
)
def test_other_fields_get_their_grade_and_code(field, ours, theirs, grade, code):
    match = compare_field(field, ours, theirs, VARIANTS)
    assert (match.grade, match.code) == (grade, code)


# -- Whole records ----------------------------------------------------------------------------


def _by_field(findings):
    return {f.field: (f.grade, f.code) for f in findings}


def test_a_card_that_agrees_in_every_field_gives_none_everywhere():
    card = {k: v for k, v in FILE.items() if k != "birth_date"} | {"birth_date": "2008-03-14"}
    findings = compare_record(FILE, card, source_kind="cnie_card", variants=VARIANTS)
    assert [f.field for f in findings] == list(COMPARED_FIELDS)
    assert worst_grade(findings) == N
    assert compare_record(FILE, card, include_same=False) == []


def test_only_the_fields_the_source_holds_are_compared():
    findings = compare_record(FILE, {"first_name_latin": "Mohamed", "expiry_date": "2034-01-01"})
    assert _by_field(findings) == {"first_name_latin": (R, "transliteration")}


def test_swapped_given_and_family_names_are_blocking_on_both_fields():
    card = {"first_name_latin": "El Amrani", "last_name_latin": "Mohammed"}
    findings = compare_record(FILE, card, source_kind="cnie_card", variants=VARIANTS)
    assert _by_field(findings) == {
        "last_name_latin": (B, "swapped_names"),
        "first_name_latin": (B, "swapped_names"),
    }


def test_swapped_names_are_found_through_spelling_variants_and_in_arabic():
    card = {
        "first_name_latin": "Amrani",
        "last_name_latin": "Mohamed",
        "first_name_ar": "العمراني",
        "last_name_ar": "محمد",
    }
    findings = _by_field(compare_record(FILE, card, variants=VARIANTS))
    assert set(findings.values()) == {(B, "swapped_names")}
    assert len(findings) == 4


def test_two_different_names_are_not_taken_for_a_swap():
    card = {"first_name_latin": "Karim", "last_name_latin": "Tazi"}
    assert _by_field(compare_record(FILE, card, variants=VARIANTS)) == {
        "last_name_latin": (B, "different"),
        "first_name_latin": (B, "different"),
    }


def test_the_machine_readable_zone_in_capitals_without_accents_agrees_with_the_file():
    zone = build_td1(
        "LA7766554",
        datetime.date(2008, 3, 14),
        "M",
        datetime.date(2034, 3, 14),
        "El Amrani",
        "Mohammed",
        optional_data_1="BE123456",
    )
    data = parse_mrz(zone, today=datetime.date(2026, 6, 1)).source_data()
    findings = compare_record(FILE, data, source_kind="mrz", variants=VARIANTS)
    assert worst_grade(findings) == N
    assert {f.field for f in findings} == {
        "last_name_latin",
        "first_name_latin",
        "birth_date",
        "sex",
        "cnie_number",
        "nationality",
    }


def test_the_same_capitals_from_another_source_are_cosmetic():
    findings = compare_record(FILE, {"last_name_latin": "EL AMRANI"}, source_kind="school")
    assert _by_field(findings) == {"last_name_latin": (C, "presentation")}


def test_an_mrz_birth_date_on_two_digits_matches_the_file():
    findings = compare_record(FILE, {"birth_date": "080314"}, source_kind="mrz")
    assert _by_field(findings) == {"birth_date": (N, "same")}


def test_an_unspecified_sex_in_the_zone_is_not_compared():
    assert compare_record(FILE, {"sex": "X"}, source_kind="mrz") == []


def test_identity_provider_claims_are_read_under_the_files_names():
    claims = {
        "sub": "abc",
        "given_name": "Mohamed",
        "family_name": "El Amrani",
        "given_name#ar": "محمد",
        "family_name#ar": "العمراني",
        "birthdate": "2008-03-14",
        "gender": "male",
        "cnie": "BE123456",
        "nationalities": ["MAR"],
        "place_of_birth": {"locality": "Rabat"},
    }
    assert source_values(claims) == {
        "first_name_latin": "Mohamed",
        "last_name_latin": "El Amrani",
        "first_name_ar": "محمد",
        "last_name_ar": "العمراني",
        "birth_date": "2008-03-14",
        "sex": "male",
        "cnie_number": "BE123456",
        "nationality": "MAR",
        "birth_place_latin": "Rabat",
    }
    findings = compare_record(FILE, claims, source_kind="idp", variants=VARIANTS)
    assert {f.field: f.grade for f in findings if f.grade} == {"first_name_latin": R}


def test_a_file_is_compared_with_each_of_its_sources():
    findings = compare_file(
        FILE,
        [("cnie_card", {"birth_date": "2008-03-15"}), ("school", {"cnie_number": "BE123457"})],
        include_same=False,
    )
    assert [(f.source, f.field, f.code) for f in findings] == [
        ("cnie_card", "birth_date", "different_date"),
        ("school", "cnie_number", "cnie_one_character"),
    ]
    assert findings[0].as_dict() == {
        "field": "birth_date",
        "source": "cnie_card",
        "grade": 3,
        "code": "different_date",
        "file_value": "2008-03-14",
        "source_value": "2008-03-15",
        "params": {},
    }


_values = st.fixed_dictionaries(
    {
        "last_name_latin": st.sampled_from(["El Amrani", "Amrani", "Tazi", "Ben Ali", "AMRANI"]),
        "first_name_latin": st.sampled_from(["Mohammed", "Mohamed", "Amine", "Fatima Zahra"]),
        "last_name_ar": st.sampled_from(["العمراني", "عمراني", "التازي"]),
        "birth_date": st.sampled_from(["2008-03-14", "14/03/2008", "2008-14-03", "2008-03-04"]),
        "sex": st.sampled_from(["M", "F"]),
        "cnie_number": st.sampled_from(["BE123456", "BE123457", "J12345"]),
    }
)


@settings(max_examples=200, deadline=None)
@given(first=_values, second=_values)
def test_record_comparison_is_symmetric_field_by_field(first, second):
    there = {f.field: f.grade for f in compare_record(first, second, variants=VARIANTS)}
    back = {f.field: f.grade for f in compare_record(second, first, variants=VARIANTS)}
    assert there == back


@settings(max_examples=100, deadline=None)
@given(values=_values)
def test_a_record_compared_with_itself_has_no_finding(values):
    assert compare_record(values, values, include_same=False) == []
