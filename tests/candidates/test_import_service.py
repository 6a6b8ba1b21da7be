"""import_candidates: all or nothing, upserts with audit entries, scope, encodings end to end."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import translation

import bac.pg
from audit.models import AuditEntry
from audit.services import verify_chain
from candidates import services
from candidates.importing import Code
from candidates.models import Candidate
from candidates.services import describe, import_candidates
from tests.factories import CandidateFactory

from .importdata import OTHER_SCHOOL, csv_bytes, row, rows, xlsx_bytes


@pytest.fixture
def structure(session, school, other_school, track):
    return session


def codes(outcome) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.code) for e in outcome.errors]


def test_it_creates_a_file_for_every_row_of_a_valid_list(structure, school, track, ministry_staff):
    outcome = import_candidates(
        structure,
        csv_bytes([row(0, cnie_number="", phone="06 12 34 56 78"), row(1)]),
        "liste.csv",
        ministry_staff,
    )
    assert (outcome.created, outcome.updated, outcome.unchanged, outcome.errors) == (2, 0, 0, [])
    assert not outcome.rejected
    first = Candidate.objects.get(session=structure, massar_code="R130046852")
    assert first.cnie_number == ""
    assert first.phone == "+212612345678"
    assert first.birth_date == datetime.date(2008, 3, 14)
    assert (first.school, first.track, first.last_name_ar) == (school, track, "العمراني")


def test_it_stores_nothing_when_one_row_is_bad_and_reports_every_bad_row(structure, clerk):
    data = csv_bytes([row(0), row(1, sex="X"), row(2), row(3, birth_date="31/02/2008"), row(4)])
    outcome = import_candidates(structure, data, "liste.csv", clerk)
    assert outcome.rejected
    assert codes(outcome) == [(3, "sex", Code.SEX_INVALID), (5, "birth_date", Code.DATE_NOT_REAL)]
    assert (outcome.created, outcome.updated) == (0, 0)
    assert not Candidate.objects.exists()
    assert not AuditEntry.objects.exists()


def test_it_keeps_only_the_valid_rows_when_asked(structure, clerk):
    data = csv_bytes([row(0), row(1, sex="X"), row(2)])
    outcome = import_candidates(structure, data, "liste.csv", clerk, keep_valid_rows=True)
    assert not outcome.rejected
    assert outcome.created == 2
    assert codes(outcome) == [(3, "sex", Code.SEX_INVALID)]
    assert sorted(Candidate.objects.values_list("massar_code", flat=True)) == [
        "R130046852",
        "R130046854",
    ]


def test_keeping_valid_rows_of_a_file_without_any_is_a_rejection(structure, clerk):
    outcome = import_candidates(
        structure, csv_bytes([row(0, sex="X")]), "liste.csv", clerk, keep_valid_rows=True
    )
    assert outcome.rejected
    assert not Candidate.objects.exists()


def test_a_file_level_error_is_a_rejection_even_when_keeping_valid_rows(structure, clerk):
    outcome = import_candidates(structure, b"", "vide.csv", clerk, keep_valid_rows=True)
    assert outcome.rejected
    assert codes(outcome) == [(0, "", Code.FILE_EMPTY)]


def test_a_second_import_of_the_same_file_changes_nothing(structure, clerk):
    data = csv_bytes(rows(5))
    first = import_candidates(structure, data, "liste.csv", clerk)
    entries = AuditEntry.objects.count()
    stamps = dict(Candidate.objects.values_list("massar_code", "updated_at"))
    second = import_candidates(structure, data, "liste.csv", clerk)
    assert (first.created, second.created, second.updated, second.unchanged) == (5, 0, 0, 5)
    assert AuditEntry.objects.count() == entries == 5
    assert dict(Candidate.objects.values_list("massar_code", "updated_at")) == stamps


def test_a_created_file_has_an_audit_entry_naming_the_import_file(structure, clerk):
    import_candidates(structure, csv_bytes([row(0, email="")]), "lycee-2026.csv", clerk)
    candidate = Candidate.objects.get()
    entry = AuditEntry.objects.get(candidate_id=candidate.pk)
    assert entry.action == "import.create"
    assert entry.actor == clerk
    assert "lycee-2026.csv" in entry.reason
    assert entry.before == {}
    assert entry.after["last_name_ar"] == "العمراني"
    assert entry.after["birth_date"] == "2008-03-14"
    assert "email" not in entry.after


def test_an_update_writes_the_before_and_after_of_the_changed_fields_only(structure, clerk, school):
    import_candidates(structure, csv_bytes([row(0), row(1)]), "v1.csv", clerk)
    outcome = import_candidates(
        structure,
        csv_bytes([row(0, first_name_latin="Mohamed", phone="0698765432"), row(1)]),
        "v2.csv",
        clerk,
    )
    assert (outcome.created, outcome.updated, outcome.unchanged) == (0, 1, 1)
    candidate = Candidate.objects.get(massar_code="R130046852")
    assert (candidate.first_name_latin, candidate.phone) == ("Mohamed", "+212698765432")
    entry = AuditEntry.objects.get(action="import.update")
    assert entry.candidate_id == candidate.pk
    assert entry.before == {"first_name_latin": "Mohammed", "phone": "+212612345678"}
    assert entry.after == {"first_name_latin": "Mohamed", "phone": "+212698765432"}
    assert "v2.csv" in entry.reason
    assert verify_chain() is None


def test_a_blank_optional_cell_leaves_the_stored_value_alone(structure, clerk):
    import_candidates(structure, csv_bytes([row(0)]), "v1.csv", clerk)
    outcome = import_candidates(
        structure, csv_bytes([row(0, cnie_number="", phone="", email="")]), "v2.csv", clerk
    )
    assert (outcome.updated, outcome.unchanged) == (0, 1)
    candidate = Candidate.objects.get()
    assert (candidate.cnie_number, candidate.phone) == ("BE123456", "+212612345678")


def test_an_import_updates_a_file_created_elsewhere(structure, school, track, clerk):
    existing = CandidateFactory(
        session=structure,
        school=school,
        track=track,
        massar_code="R130046852",
        first_name_latin="Mhammed",
    )
    outcome = import_candidates(structure, csv_bytes([row(0)]), "liste.csv", clerk)
    assert outcome.updated == 1
    existing.refresh_from_db()
    assert existing.first_name_latin == "Mohammed"


def test_a_clerk_importing_a_row_for_another_school_gets_an_error_on_that_row(structure, clerk):
    data = csv_bytes([row(0), row(1, school_code=OTHER_SCHOOL), row(2)])
    outcome = import_candidates(structure, data, "liste.csv", clerk)
    assert outcome.rejected
    assert codes(outcome) == [(3, "school_code", Code.SCHOOL_OUT_OF_SCOPE)]
    assert not Candidate.objects.exists()


def test_a_clerk_may_not_update_a_candidate_who_belongs_to_another_school(
    structure, other_school, track, clerk
):
    CandidateFactory(session=structure, school=other_school, track=track, massar_code="R130046853")
    data = csv_bytes([row(0), row(1)])  # both rows name the clerk's own school
    outcome = import_candidates(structure, data, "liste.csv", clerk)
    assert outcome.rejected
    assert codes(outcome) == [(3, "massar_code", Code.EXISTING_OUT_OF_SCOPE)]
    assert Candidate.objects.get(massar_code="R130046853").school == other_school
    assert Candidate.objects.count() == 1


def test_academy_staff_may_import_into_every_school_of_their_academy(structure, academy_staff):
    data = csv_bytes([row(0), row(1, school_code=OTHER_SCHOOL)])
    assert import_candidates(structure, data, "liste.csv", academy_staff).created == 2


def test_academy_staff_of_another_academy_may_not(structure, academy_staff_of_other_academy):
    outcome = import_candidates(
        structure, csv_bytes([row(0)]), "liste.csv", academy_staff_of_other_academy
    )
    assert codes(outcome) == [(2, "school_code", Code.SCHOOL_OUT_OF_SCOPE)]


def test_it_rejects_a_cnie_number_already_on_another_candidate_of_the_session(
    structure, school, track, clerk
):
    CandidateFactory(
        session=structure,
        school=school,
        track=track,
        massar_code="R999999999",
        cnie_number="BE123457",
    )
    outcome = import_candidates(structure, csv_bytes([row(0), row(1)]), "liste.csv", clerk)
    assert codes(outcome) == [(3, "cnie_number", Code.CNIE_TAKEN)]


def test_a_cnie_number_may_move_between_two_candidates_of_the_same_file(structure, clerk):
    import_candidates(
        structure,
        csv_bytes([row(0, cnie_number="AB12345"), row(1, cnie_number="CD67890")]),
        "v1.csv",
        clerk,
    )
    swapped = csv_bytes([row(0, cnie_number="CD67890"), row(1, cnie_number="AB12345")])
    outcome = import_candidates(structure, swapped, "v2.csv", clerk)
    assert (outcome.errors, outcome.updated) == ([], 2)


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("utf-16-le", "\t"), ("utf-16-be", "\t"), ("cp1256", ";")],
)
def test_it_stores_arabic_names_from_every_supported_encoding(
    structure, clerk, encoding, delimiter
):
    data = csv_bytes(
        [
            row(
                0,
                last_name_ar="بنعبد الله",
                first_name_ar="فاطمة الزهراء",
                birth_place_ar="الدار البيضاء",
            )
        ],
        delimiter=delimiter,
        encoding=encoding,
    )
    outcome = import_candidates(structure, data, "liste.txt", clerk)
    assert outcome.created == 1, outcome.errors
    candidate = Candidate.objects.get()
    assert (candidate.last_name_ar, candidate.first_name_ar, candidate.birth_place_ar) == (
        "بنعبد الله",
        "فاطمة الزهراء",
        "الدار البيضاء",
    )


def test_it_stores_an_xlsx_workbook_with_arabic_names(structure, clerk):
    data = xlsx_bytes([row(0, first_name_ar="يوسف"), row(1, birth_date="05/01/2007")])
    outcome = import_candidates(structure, data, "liste.xlsx", clerk)
    assert (outcome.created, outcome.source_format) == (2, "xlsx")
    assert Candidate.objects.get(massar_code="R130046852").first_name_ar == "يوسف"
    assert Candidate.objects.get(massar_code="R130046853").birth_date == datetime.date(2007, 1, 5)


def test_progress_goes_from_zero_to_the_number_of_rows(structure, clerk, monkeypatch):
    monkeypatch.setattr("candidates.importing.PROGRESS_EVERY", 2)
    calls = []
    import_candidates(
        structure,
        csv_bytes(rows(5)),
        "liste.csv",
        clerk,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (5, 5)
    assert all(0 <= done <= total for done, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_the_bulk_paths_store_the_same_files_and_a_valid_audit_chain(structure, clerk, monkeypatch):
    """COPY on PostgreSQL (the ORM elsewhere) from the first row on: create, update, re-import."""
    monkeypatch.setattr(bac.pg, "COPY_MIN_ROWS", 1)
    first = import_candidates(structure, csv_bytes(rows(30)), "v1.csv", clerk)
    changed = rows(30)
    changed[7]["first_name_latin"] = "Youssef"
    changed[9]["email"] = ""  # blank: left alone
    changed[11]["birth_date"] = "01/01/2008"
    second = import_candidates(structure, csv_bytes(changed), "v2.csv", clerk)
    third = import_candidates(structure, csv_bytes(changed), "v2.csv", clerk)
    assert (first.created, second.updated, second.unchanged, third.unchanged) == (30, 2, 28, 30)
    assert Candidate.objects.get(massar_code="R130046859").first_name_latin == "Youssef"
    assert Candidate.objects.get(massar_code="R130046861").email == "m.elamrani@example.org"
    assert Candidate.objects.get(massar_code="R130046863").birth_date == datetime.date(2008, 1, 1)
    assert AuditEntry.objects.filter(action="import.create").count() == 30
    update = AuditEntry.objects.get(
        action="import.update", object_id=str(Candidate.objects.get(massar_code="R130046863").pk)
    )
    assert (update.before, update.after) == (
        {"birth_date": "2008-03-14"},
        {"birth_date": "2008-01-01"},
    )
    assert verify_chain() is None
    if connection.vendor == "postgresql":
        # A CNIE conflict and a clerk's scope are found on the COPY lookup path too.
        clash = csv_bytes([row(40, cnie_number="BE123460")])
        assert codes(import_candidates(structure, clash, "v3.csv", clerk)) == [
            (2, "cnie_number", Code.CNIE_TAKEN)
        ]


def test_every_error_code_has_a_message():
    from candidates.importing import Code as Codes

    all_codes = [v for k, v in vars(Codes).items() if k.isupper()]
    with translation.override("en"):
        for code in [*all_codes, services.JOB_FAILED, services.JOB_CONFLICT, services.FILE_GONE]:
            assert code in services.ERROR_MESSAGES, code
            assert describe({"code": code, "params": {}, "line": 1, "column": ""})["reason"]


def test_errors_read_as_sentences_naming_the_value_and_the_first_line(structure, clerk):
    data = csv_bytes([row(0), row(1, massar_code="R130046852", birth_date="2008/03/14")])
    outcome = import_candidates(structure, data, "liste.csv", clerk)
    with translation.override("en"):
        reasons = [describe(e) for e in outcome.errors]
    assert reasons == [
        {
            "line": 3,
            "column": "massar_code",
            "reason": "The Massar code R130046852 is already on line 2 of this file.",
        },
        {
            "line": 3,
            "column": "birth_date",
            "reason": "“2008/03/14” is not a date in an accepted form: YYYY-MM-DD, DD/MM/YYYY or DD-MM-YYYY.",
        },
    ]


def test_the_size_limit_comes_from_the_settings(structure, clerk, settings):
    data = csv_bytes(rows(10))
    settings.IMPORT_UPLOAD_MAX_BYTES = len(data) - 1
    outcome = import_candidates(structure, data, "liste.csv", clerk)
    assert codes(outcome) == [(0, "", Code.FILE_TOO_LARGE)]
    with translation.override("en"):
        assert "Split it into several files" in describe(outcome.errors[0])["reason"]
