"""Reading and checking grade files (results.grades): every bad row is reported with its line,
column and reason; no database involved."""

from __future__ import annotations

import io

import openpyxl
import pytest

from results.grades import (
    CandidateRef,
    Code,
    GradeRules,
    check_mark,
    grades_csv,
    parse_grades,
)

A, B, FREE, OTHER = "R130000001", "R130000002", "R130000003", "R130000009"
RULES = GradeRules(
    candidates={
        A: CandidateRef(1, 10, "SP", False, True),
        B: CandidateRef(2, 10, "SP", False, True),
        FREE: CandidateRef(3, 10, "SP", True, True),
        OTHER: CandidateRef(9, 10, "SP", False, False),  # another academy's candidate
    },
    subjects={"MATH": 100, "FR": 101, "SVT": 102},
    track_subjects=frozenset(
        {
            (10, 100, "national"),
            (10, 100, "continuous"),
            (10, 101, "regional"),
            (10, 101, "continuous"),
        }
    ),
    catch_up_eligible=frozenset({2}),
)


def parse(rows, rules=RULES, **kwargs):
    return parse_grades(grades_csv(rows, **kwargs).encode("utf-8"), rules)


def problems(result):
    return [(e.line, e.column, e.code) for e in result.errors]


def test_a_valid_file_gives_one_row_per_mark_in_hundredths():
    result = parse(
        [
            (A, "MATH", "national", "12.5", "normal"),
            (A, "FR", "regional", "14", ""),
            (B, "MATH", "national", "9.75", "catch_up"),
        ]
    )
    assert result.errors == []
    assert [
        (r.line, r.candidate, r.subject, r.component, r.sitting, r.mark) for r in result.rows
    ] == [
        (2, 1, 100, "national", "normal", 1250),
        (3, 1, 101, "regional", "normal", 1400),
        (4, 2, 100, "national", "catch_up", 975),
    ]
    assert result.total_rows == 3


def test_the_sitting_column_is_optional_and_defaults_to_normal():
    result = parse([(A, "MATH", "national", "12")], with_sitting=False)
    assert result.errors == [] and result.rows[0].sitting == "normal"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12,5", 1250),
        ("12.50", 1250),
        (" 7 ", 700),
        ("0", 0),
        ("20", 2000),
        ("20.00", 2000),
        ("0,25", 25),
        (12.5, 1250),
        (15, 1500),
        (13.1, 1310),
    ],
)
def test_a_mark_may_use_a_decimal_comma_or_come_as_a_spreadsheet_number(raw, expected):
    assert check_mark(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("abc", Code.MARK_NOT_NUMBER),
        ("12/20", Code.MARK_NOT_NUMBER),
        ("1e1", Code.MARK_NOT_NUMBER),
        ("12.5.1", Code.MARK_NOT_NUMBER),
        ("NaN", Code.MARK_NOT_NUMBER),
        ("20.01", Code.MARK_OUT_OF_RANGE),
        ("-1", Code.MARK_OUT_OF_RANGE),
        ("21", Code.MARK_OUT_OF_RANGE),
        ("12.345", Code.MARK_TOO_PRECISE),
        (12.345, Code.MARK_TOO_PRECISE),
        ("", Code.REQUIRED),
        (None, Code.REQUIRED),
    ],
)
def test_a_bad_mark_says_what_is_wrong(raw, code):
    assert check_mark(raw).code == code


def test_every_bad_row_is_reported_with_its_line_column_and_reason():
    result = parse(
        [
            (A, "MATH", "national", "12", "normal"),  # line 2: fine
            ("R999999999", "MATH", "national", "12", ""),  # unknown candidate
            ("X12", "MATH", "national", "12", ""),  # not a Massar code
            (OTHER, "MATH", "national", "12", ""),  # another academy's candidate
            (A, "PHYS", "national", "12", ""),  # unknown subject
            (A, "SVT", "national", "12", ""),  # subject not in the track for the component
            (A, "MATH", "regional", "12", ""),  # ditto, other component
            (A, "MATH", "oral", "12", ""),  # not a component
            (A, "FR", "regional", "twelve", ""),  # not a number
            (A, "FR", "continuous", "25", ""),  # out of range
            (B, "FR", "regional", "12.125", ""),  # too precise
            (A, "MATH", "national", "13", ""),  # duplicate of line 2
            (FREE, "MATH", "continuous", "13", ""),  # free candidates have no continuous
            (B, "FR", "regional", "12", "catch_up"),  # catch-up is national only
            (A, "MATH", "national", "12", "catch_up"),  # A is not convened to the catch-up
            (A, "MATH", "national", "12", "rattrapage"),  # not a sitting
            (A, "", "national", "", ""),  # two required cells blank
        ]
    )
    assert result.rows == [result.rows[0]] and result.rows[0].line == 2
    assert problems(result) == [
        (3, "massar_code", Code.CANDIDATE_UNKNOWN),
        (4, "massar_code", Code.MASSAR_INVALID),
        (5, "massar_code", Code.CANDIDATE_OUT_OF_SCOPE),
        (6, "subject_code", Code.SUBJECT_UNKNOWN),
        (7, "subject_code", Code.SUBJECT_NOT_IN_TRACK),
        (8, "subject_code", Code.SUBJECT_NOT_IN_TRACK),
        (9, "component", Code.COMPONENT_INVALID),
        (10, "mark", Code.MARK_NOT_NUMBER),
        (11, "mark", Code.MARK_OUT_OF_RANGE),
        (12, "mark", Code.MARK_TOO_PRECISE),
        (13, "subject_code", Code.DUPLICATE_GRADE),
        (14, "component", Code.FREE_CANDIDATE_CONTINUOUS),
        (15, "sitting", Code.CATCH_UP_NOT_NATIONAL),
        (16, "sitting", Code.CATCH_UP_NOT_ELIGIBLE),
        (17, "sitting", Code.SITTING_INVALID),
        (18, "subject_code", Code.REQUIRED),
        (18, "mark", Code.REQUIRED),
    ]
    duplicate = next(e for e in result.errors if e.code == Code.DUPLICATE_GRADE)
    assert duplicate.params == {"first_line": 2, "value": "MATH", "component": "national"}
    wrong_track = next(e for e in result.errors if e.line == 7)
    assert wrong_track.params == {"value": "SVT", "component": "national", "track": "SP"}


def test_the_same_subject_in_two_components_or_two_sittings_is_not_a_duplicate():
    result = parse(
        [
            (B, "MATH", "national", "8", "normal"),
            (B, "MATH", "continuous", "8", "normal"),
            (B, "MATH", "national", "11", "catch_up"),
        ]
    )
    assert result.errors == [] and len(result.rows) == 3


def test_codes_are_read_whatever_their_case_and_spacing():
    result = parse([(" r130000001 ", "math", "NATIONAL", "12", "Normal")])
    assert result.errors == []
    assert (result.rows[0].candidate, result.rows[0].subject) == (1, 100)


def test_no_one_is_convened_to_the_catch_up_before_the_normal_session_is_computed():
    rules = GradeRules(
        RULES.candidates, RULES.subjects, RULES.track_subjects, catch_up_eligible=None
    )
    result = parse([(B, "MATH", "national", "12", "catch_up")], rules)
    assert problems(result) == [(2, "sitting", Code.CATCH_UP_NOT_ELIGIBLE)]


def test_a_header_with_unknown_or_missing_columns_stops_the_file():
    data = b"massar_code,subject,mark,remarks\r\nR130000001,MATH,12,\r\n"
    result = parse_grades(data, RULES)
    assert result.file_error and result.rows == []
    assert [e.code for e in result.errors] == [
        Code.HEADER_UNKNOWN,
        Code.HEADER_REQUIRED_MISSING,
    ]
    assert result.errors[1].params == {"columns": "subject_code, component"}


def test_columns_may_come_in_any_order_and_case_with_a_semicolon_separator():
    data = "MARK;Component;Massar_Code;Subject_Code\r\n12,5;national;R130000001;MATH\r\n"
    result = parse_grades(data.encode("utf-8"), RULES)
    assert result.errors == [] and result.rows[0].mark == 1250


def test_utf16_and_windows_1256_files_are_read():
    text = "massar_code\tsubject_code\tcomponent\tmark\r\nR130000001\tMATH\tnational\t12\r\n"
    utf16 = b"\xff\xfe" + text.encode("utf-16-le")
    assert parse_grades(utf16, RULES).rows[0].mark == 1200
    # An Arabic remark in a Windows-1256 file would be in another column; the codes are ASCII.
    cp1256 = text.replace("12\r\n", "12,5\r\n").encode("cp1256")
    assert parse_grades(cp1256, RULES).rows[0].mark == 1250


def test_an_excel_workbook_is_read_with_numbers_as_numbers():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["massar_code", "subject_code", "component", "mark"])
    sheet.append([A, "MATH", "national", 12.5])
    sheet.append([A, "FR", "regional", 14])
    sheet.append([B, "MATH", "national", 12.345])
    buffer = io.BytesIO()
    book.save(buffer)
    result = parse_grades(buffer.getvalue(), RULES)
    assert [r.mark for r in result.rows] == [1250, 1400]
    assert problems(result) == [(4, "mark", Code.MARK_TOO_PRECISE)]


def test_an_empty_file_or_a_file_without_rows_is_an_error_about_the_file():
    assert parse_grades(b"", RULES).errors[0].code == Code.FILE_EMPTY
    header_only = b"massar_code,subject_code,component,mark\r\n"
    assert parse_grades(header_only, RULES).errors[0].code == Code.FILE_NO_ROWS
    assert parse_grades(b"%PDF-1.4 ...", RULES).errors[0].code == Code.FILE_NOT_TABULAR


def test_a_row_with_too_many_cells_is_reported():
    data = "massar_code,subject_code,component,mark\r\nR130000001,MATH,national,12,extra\r\n"
    result = parse_grades(data.encode(), RULES)
    assert problems(result) == [(2, "", Code.TOO_MANY_CELLS)]


def test_progress_is_reported_while_checking():
    calls = []
    rows = [(A, "MATH", "national", "12", "")]
    parse_grades(
        grades_csv(rows).encode(), RULES, progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (1, 1)
