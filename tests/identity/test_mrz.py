"""The MRZ reader: ICAO 9303 specimens, generated cards and passports, and a precise reason for
every broken check digit. Pure: no database."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.mrz import (
    MrzError,
    build_td1,
    build_td3,
    check_digit,
    mrz_name,
    parse_mrz,
    validate_mrz,
)
from tests.identity.cards import cnie_card_zone

SPECIMENS = Path(django_settings.SHARED_DATA_DIR) / "mrz-specimens.txt"
TODAY = datetime.date(2026, 6, 1)


def _specimens() -> list[list[str]]:
    blocks = SPECIMENS.read_text(encoding="utf-8").split("\n\n")
    return [
        [line for line in block.splitlines() if line and not line.startswith("#")]
        for block in blocks
    ]


def _replace(lines: tuple[str, ...] | list[str], line: int, column: int, char: str) -> list[str]:
    """Lines with the character at (line, column), both counted from 1, replaced."""
    out = list(lines)
    text = out[line - 1]
    out[line - 1] = text[: column - 1] + char + text[column:]
    return out


def _other_digit(char: str) -> str:
    return str((int(char) + 1) % 10) if char.isdigit() else "1"


# -- Specimens --------------------------------------------------------------------------------


def test_the_specimen_file_holds_two_cards_and_a_passport():
    assert [len(lines) for lines in _specimens()] == [3, 3, 2]


def test_it_reads_every_field_of_the_td1_specimen():
    result = parse_mrz(_specimens()[0], today=TODAY)
    assert result.format == "TD1"
    assert result.document_code == "I"
    assert result.issuing_state == "UTO"
    assert result.document_number == "D23145890"
    assert result.optional_data_1 == ""
    assert result.optional_data_2 == ""
    assert result.birth_date == datetime.date(1974, 8, 12)
    assert result.birth_date_raw == "740812"
    assert result.sex == "F"
    assert result.expiry_date == datetime.date(2012, 4, 15)
    assert result.nationality == "UTO"
    assert result.surname == "ERIKSSON"
    assert result.given_names == "ANNA MARIA"
    assert result.personal_number == ""
    assert result.corrections == ()
    assert result.cnie_number() is None  # not a Moroccan card


def test_it_reads_the_long_document_number_that_overflows_into_optional_data():
    result = parse_mrz(_specimens()[1], today=TODAY)
    assert result.format == "TD1"
    assert result.document_code == "I"
    assert result.issuing_state == "UTO"
    assert result.document_number == "D23145890734"
    assert result.optional_data_1 == ""
    assert result.birth_date == datetime.date(1934, 7, 12)
    assert result.sex == "M"
    assert result.expiry_date == datetime.date(1995, 7, 12)
    assert result.nationality == "UTO"
    assert result.surname == "STEVENSON"
    assert result.given_names == "PETER JOHN"


def test_it_reads_every_field_of_the_td3_specimen():
    result = parse_mrz(_specimens()[2], today=TODAY)
    assert result.format == "TD3"
    assert result.document_code == "P"
    assert result.issuing_state == "UTO"
    assert result.document_number == "L898902C3"
    assert result.birth_date == datetime.date(1974, 8, 12)
    assert result.sex == "F"
    assert result.expiry_date == datetime.date(2012, 4, 15)
    assert result.nationality == "UTO"
    assert result.surname == "ERIKSSON"
    assert result.given_names == "ANNA MARIA"
    assert result.personal_number == "ZE184226B"


@pytest.mark.parametrize(
    "data, digit",
    [
        ("D23145890", "7"),
        ("740812", "2"),
        ("120415", "9"),
        ("L898902C3", "6"),
        ("ZE184226B<<<<<", "1"),
        ("D23145890734", "9"),
        ("<<<<<<", "0"),
    ],
)
def test_check_digits_follow_the_7_3_1_weights(data, digit):
    assert check_digit(data) == digit


def test_the_builders_write_the_specimens_exactly():
    td1, long_td1, td3 = _specimens()
    born, expires = datetime.date(1974, 8, 12), datetime.date(2012, 4, 15)
    uto = {"issuing_state": "UTO", "nationality": "UTO"}
    assert list(build_td1("D23145890", born, "F", expires, "Eriksson", "Anna Maria", **uto)) == td1
    assert (
        list(
            build_td1(
                "D23145890734",
                datetime.date(1934, 7, 12),
                "M",
                datetime.date(1995, 7, 12),
                "Stevenson",
                "Peter John",
                **uto,
            )
        )
        == long_td1
    )
    assert (
        list(
            build_td3(
                "L898902C3",
                born,
                "F",
                expires,
                "Eriksson",
                "Anna Maria",
                personal_number="ZE184226B",
                **uto,
            )
        )
        == td3
    )


# -- Each check digit broken, one at a time ---------------------------------------------------

# (specimen index, line, column, field) of every check digit of the specimens.
CHECK_DIGITS = [
    (0, 1, 15, "document_number_check"),
    (0, 2, 7, "birth_date_check"),
    (0, 2, 15, "expiry_date_check"),
    (0, 2, 30, "composite_check"),
    (1, 1, 19, "document_number_check"),  # the long number's check digit, in optional data
    (1, 2, 7, "birth_date_check"),
    (1, 2, 15, "expiry_date_check"),
    (1, 2, 30, "composite_check"),
    (2, 2, 10, "document_number_check"),
    (2, 2, 20, "birth_date_check"),
    (2, 2, 28, "expiry_date_check"),
    (2, 2, 43, "personal_number_check"),
    (2, 2, 44, "composite_check"),
]


@pytest.mark.parametrize("specimen, line, column, field", CHECK_DIGITS)
def test_a_broken_check_digit_is_reported_alone_with_line_field_expected_and_found(
    specimen, line, column, field
):
    lines = _specimens()[specimen]
    right = lines[line - 1][column - 1]
    wrong = _other_digit(right)
    broken = _replace(lines, line, column, wrong)
    with pytest.raises(MrzError) as caught:
        parse_mrz(broken, today=TODAY)
    (problem,) = caught.value.problems
    assert problem.code == "check_digit"
    assert (problem.line, problem.field, problem.start) == (line, field, column)
    assert (problem.expected, problem.found) == (right, wrong)
    assert f"Line {line}" in problem.message
    assert f"{right} was expected, '{wrong}' was found" in problem.message


def test_a_wrong_character_in_a_field_fails_its_check_digit_and_the_composite():
    lines = _replace(_specimens()[0], 1, 10, "5")  # D23155890 instead of D23145890
    problems = validate_mrz(lines)
    assert [(p.field, p.expected, p.found) for p in problems] == [
        ("document_number_check", check_digit("D23155890"), "7"),
        ("composite_check", problems[1].expected, "6"),
    ]
    assert problems[1].expected != "6"


def test_a_wrong_optional_data_character_fails_only_the_composite():
    lines = _replace(_specimens()[0], 1, 20, "X")
    (problem,) = validate_mrz(lines)
    assert (problem.code, problem.line, problem.field, problem.start) == (
        "check_digit",
        2,
        "composite_check",
        30,
    )


# -- Shape and characters ---------------------------------------------------------------------


def test_a_line_of_the_wrong_length_is_named_with_both_lengths():
    lines = _specimens()[0]
    lines[1] = lines[1][:-1]
    with pytest.raises(MrzError) as caught:
        parse_mrz(lines)
    (problem,) = caught.value.problems
    assert (problem.code, problem.line, problem.expected, problem.found) == (
        "line_length",
        2,
        "30",
        "29",
    )
    assert problem.message == "Line 2 has 29 characters; 30 were expected."


def test_an_illegal_character_is_named_with_its_line_and_column():
    lines = _replace(_specimens()[0], 3, 9, "-")
    with pytest.raises(MrzError) as caught:
        parse_mrz(lines)
    (problem,) = caught.value.problems
    assert (problem.code, problem.line, problem.start, problem.found) == (
        "illegal_character",
        3,
        9,
        "-",
    )


def test_a_zone_of_four_lines_is_neither_a_card_nor_a_passport():
    with pytest.raises(MrzError) as caught:
        parse_mrz([*_specimens()[0], "<" * 30])
    assert caught.value.problems[0].code == "line_count"


def test_an_empty_zone_says_so():
    with pytest.raises(MrzError) as caught:
        parse_mrz("  \n ")
    assert caught.value.problems[0].code == "empty"


def test_an_impossible_date_is_reported_as_not_a_date():
    line1, line2, line3 = _specimens()[0]
    line2 = "741332" + check_digit("741332") + line2[7:29]
    line2 += check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    problems = validate_mrz([line1, line2, line3])
    assert [(p.code, p.field, p.found) for p in problems] == [
        ("invalid_date", "birth_date", "741332")
    ]


def test_a_passport_code_on_a_card_layout_is_refused():
    lines = _replace(_specimens()[0], 1, 1, "P")
    problems = validate_mrz(lines)
    assert [(p.code, p.field, p.found) for p in problems] == [
        ("document_code", "document_code", "P<")
    ]


def test_lower_case_and_surrounding_spaces_are_read():
    text = "\n".join("  " + line.lower() + " " for line in _specimens()[2])
    assert parse_mrz(text, today=TODAY).document_number == "L898902C3"


# -- OCR corrections --------------------------------------------------------------------------


def test_ocr_confusions_in_digit_fields_are_corrected_and_reported():
    lines = _replace(_specimens()[0], 2, 4, "B")  # 740812 → 740B12
    lines = _replace(lines, 2, 7, "Z")  # the birth date's check digit 2 → Z
    lines = _replace(lines, 2, 11, "O")  # 120415 → 12O415
    result = parse_mrz(lines, today=TODAY)
    assert result.birth_date == datetime.date(1974, 8, 12)
    assert result.expiry_date == datetime.date(2012, 4, 15)
    assert result.corrected
    assert {(c.line, c.column, c.field, c.found, c.used) for c in result.corrections} == {
        (2, 4, "birth_date", "B", "8"),
        (2, 7, "birth_date_check", "Z", "2"),
        (2, 11, "expiry_date", "O", "0"),
    }


def _card_with_composite(digit: str) -> tuple[str, str, str]:
    for n in range(100_000, 100_100):
        zone = cnie_card_zone(f"BE{n}")
        if zone[1][29] == digit:
            return zone
    raise AssertionError(f"no card with composite check digit {digit}")


def test_a_composite_check_digit_1_read_as_a_filler_is_corrected_and_reported():
    zone = _card_with_composite("1")
    lines = (zone[0], zone[1][:29] + "<", zone[2])  # OCR-B's 1 lost among the fillers
    result = parse_mrz(lines, today=TODAY)
    assert result.cnie_number() == zone[0][15:23]
    assert [(c.field, c.found, c.used) for c in result.corrections] == [
        ("composite_check", "<", "1")
    ]


def test_a_filler_for_another_composite_check_digit_still_fails():
    zone = _card_with_composite("7")
    with pytest.raises(MrzError) as caught:
        parse_mrz((zone[0], zone[1][:29] + "<", zone[2]), today=TODAY)
    assert caught.value.problems[0].field == "composite_check"


def test_digits_read_in_letter_fields_are_corrected():
    lines = _replace(_specimens()[0], 1, 1, "1")  # I → 1
    lines = _replace(lines, 3, 5, "5")  # ERIKSSON → ERIK5SON
    result = parse_mrz(lines, today=TODAY)
    assert result.document_code == "I"
    assert result.surname == "ERIKSSON"
    assert {(c.field, c.found, c.used) for c in result.corrections} == {
        ("document_code", "1", "I"),
        ("names", "5", "S"),
    }


def test_a_confusion_in_the_alphanumeric_document_number_is_not_guessed():
    lines = _replace(_specimens()[2], 2, 8, "0")  # L898902C3 → L8989020: C or 0 cannot be told
    with pytest.raises(MrzError) as caught:
        parse_mrz(lines, today=TODAY)
    assert caught.value.problems[0].field == "document_number_check"


def test_a_correction_is_not_kept_when_the_check_digits_still_fail():
    lines = _replace(_replace(_specimens()[0], 2, 2, "O"), 2, 3, "9")  # O for 4, and 0 → 9
    with pytest.raises(MrzError) as caught:
        parse_mrz(lines, today=TODAY)
    assert caught.value.problems[0].code == "not_digits"
    assert caught.value.problems[0].found == "7O9812"


def test_without_correction_a_confusion_is_an_error():
    lines = _replace(_specimens()[0], 2, 3, "O")  # 740812 → 74O812
    with pytest.raises(MrzError):
        parse_mrz(lines, today=TODAY, correct_ocr=False)
    assert parse_mrz(lines, today=TODAY).birth_date == datetime.date(1974, 8, 12)


# -- Two-digit years --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, today, expected",
    [
        ("080314", datetime.date(2026, 1, 1), datetime.date(2008, 3, 14)),
        ("260101", datetime.date(2026, 1, 1), datetime.date(2026, 1, 1)),
        ("260102", datetime.date(2026, 1, 1), datetime.date(1926, 1, 2)),
        ("991231", datetime.date(2026, 1, 1), datetime.date(1999, 12, 31)),
    ],
)
def test_a_birth_date_is_put_in_the_century_that_makes_it_past(raw, today, expected):
    born = datetime.date(2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:6]))
    lines = build_td1("AB1234567", born, "M", datetime.date(2030, 1, 1), "Tazi", "Omar")
    assert parse_mrz(lines, today=today).birth_date == expected


@pytest.mark.parametrize(
    "year, expected",
    [(2012, 2012), (2036, 2036), (2075, 2075), (1977, 1977)],
)
def test_an_expiry_date_is_put_within_fifty_years_of_today(year, expected):
    lines = build_td1(
        "AB1234567", datetime.date(2008, 1, 1), "M", datetime.date(year, 5, 1), "Tazi", "Omar"
    )
    assert parse_mrz(lines, today=TODAY).expiry_date == datetime.date(expected, 5, 1)


# -- The Moroccan CNIE ------------------------------------------------------------------------


def test_the_cnie_number_comes_from_the_optional_data_not_the_card_number():
    lines = build_td1(
        "LA7766554",
        datetime.date(2008, 3, 14),
        "M",
        datetime.date(2034, 3, 14),
        "El Amrani",
        "Mohammed",
        optional_data_1="BE123456",
    )
    result = parse_mrz(lines, today=TODAY)
    assert result.document_number == "LA7766554"
    assert result.personal_number == "BE123456"
    assert result.cnie_number() == "BE123456"
    assert result.source_data()["cnie_number"] == "BE123456"
    assert result.source_data()["last_name_latin"] == "EL AMRANI"


def test_the_card_number_is_the_cnie_number_when_the_optional_data_has_none():
    lines = build_td1(
        "J12345", datetime.date(2008, 3, 14), "F", datetime.date(2034, 3, 14), "Tazi", "Salma"
    )
    assert parse_mrz(lines, today=TODAY).cnie_number() == "J12345"


def test_optional_data_that_is_not_cnie_shaped_is_not_taken_for_one():
    lines = build_td1(
        "LA7766554",
        datetime.date(2008, 3, 14),
        "F",
        datetime.date(2034, 3, 14),
        "Tazi",
        "Salma",
        optional_data_1="123456789",
    )
    result = parse_mrz(lines, today=TODAY)
    assert result.personal_number == "123456789"
    assert result.cnie_number() is None


def test_a_foreign_passport_has_no_cnie_number():
    lines = build_td3(
        "X1234567",
        datetime.date(2005, 1, 2),
        "M",
        datetime.date(2030, 1, 1),
        "Diallo",
        "Amadou",
        issuing_state="SEN",
        nationality="SEN",
    )
    result = parse_mrz(lines, today=TODAY)
    assert result.personal_number == ""
    assert result.cnie_number() is None


def test_names_are_written_in_capitals_without_accents_and_with_fillers():
    assert mrz_name("Laâyoune-Saïd el Fassi") == "LAAYOUNE<SAID<EL<FASSI"
    result = parse_mrz(
        build_td1(
            "AB1234567",
            datetime.date(2008, 1, 1),
            "F",
            datetime.date(2030, 1, 1),
            "Ben-Ali",
            "Fatima Zahra",
        ),
        today=TODAY,
    )
    assert (result.surname, result.given_names) == ("BEN ALI", "FATIMA ZAHRA")


# -- Generated zones --------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_word = st.text(_LETTERS, min_size=1, max_size=8)
_name = st.lists(_word, min_size=1, max_size=2).map(" ".join)
_number = st.text(_LETTERS + "0123456789", min_size=1, max_size=9)
_long_number = st.text(_LETTERS + "0123456789", min_size=10, max_size=13).filter(
    lambda n: n[-1] != "<"
)
_born = st.dates(datetime.date(1927, 1, 1), TODAY)
_expires = st.dates(datetime.date(1977, 1, 1), datetime.date(2075, 12, 31))
_sex = st.sampled_from(["M", "F"])
_cnie = st.builds(
    lambda letters, digits: letters + digits,
    st.text(_LETTERS, min_size=1, max_size=2),
    st.text("0123456789", min_size=5, max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(
    number=st.one_of(_number, _long_number),
    born=_born,
    sex=_sex,
    expires=_expires,
    surname=_name,
    given_names=_name,
    cnie=_cnie,
)
def test_a_generated_card_reads_back_what_was_written(
    number, born, sex, expires, surname, given_names, cnie
):
    if len(surname) + len(given_names) + 2 > 30:
        surname, given_names = surname[:12], given_names[:12]
    optional = cnie if len(number) <= 9 else cnie[:5]
    lines = build_td1(number, born, sex, expires, surname, given_names, optional_data_1=optional)
    assert all(len(line) == 30 for line in lines)
    result = parse_mrz(lines, today=TODAY)
    assert result.document_number == number
    assert result.birth_date == born
    assert result.expiry_date == expires
    assert result.sex == sex
    assert result.surname == surname
    assert result.given_names == given_names.strip()
    assert result.personal_number == optional
    assert result.issuing_state == result.nationality == "MAR"
    assert result.corrections == ()


@settings(max_examples=200, deadline=None)
@given(
    number=_number,
    born=_born,
    sex=_sex,
    expires=_expires,
    surname=_name,
    given_names=_name,
    personal=st.text(_LETTERS + "0123456789", max_size=14),
)
def test_a_generated_passport_reads_back_what_was_written(
    number, born, sex, expires, surname, given_names, personal
):
    lines = build_td3(number, born, sex, expires, surname, given_names, personal_number=personal)
    assert [len(line) for line in lines] == [44, 44]
    result = parse_mrz(lines, today=TODAY)
    assert (result.document_number, result.birth_date, result.expiry_date, result.sex) == (
        number,
        born,
        expires,
        sex,
    )
    assert (result.surname, result.given_names) == (surname, given_names)
    assert result.personal_number == personal


@settings(max_examples=100, deadline=None)
@given(
    number=_number,
    born=_born,
    expires=_expires,
    surname=_name,
    data=st.data(),
)
def test_every_check_digit_of_a_generated_zone_broken_alone_is_named(
    number, born, expires, surname, data
):
    passport = data.draw(st.booleans())
    if passport:
        lines = build_td3(number, born, "F", expires, surname, "Amal", personal_number="ZX123")
        checks = [
            (2, 10, "document_number_check"),
            (2, 20, "birth_date_check"),
            (2, 28, "expiry_date_check"),
            (2, 43, "personal_number_check"),
            (2, 44, "composite_check"),
        ]
    else:
        lines = build_td1(number, born, "F", expires, surname, "Amal", optional_data_1="BE12345")
        checks = [
            (1, 15, "document_number_check"),
            (2, 7, "birth_date_check"),
            (2, 15, "expiry_date_check"),
            (2, 30, "composite_check"),
        ]
    for line, column, field in checks:
        right = lines[line - 1][column - 1]
        broken = _replace(lines, line, column, _other_digit(right))
        problems = validate_mrz(broken)
        assert [(p.code, p.field, p.line, p.start, p.expected) for p in problems] == [
            ("check_digit", field, line, column, right)
        ]


def test_a_state_code_that_starts_with_a_filler_is_refused():
    lines = _replace(_replace(_specimens()[0], 1, 2, "I"), 1, 3, "<")  # II<TO instead of I<UTO
    problems = validate_mrz(lines)
    assert [(p.code, p.field, p.found) for p in problems] == [
        ("invalid_state", "issuing_state", "<TO")
    ]
