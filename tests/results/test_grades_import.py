"""Grades in: the import service, its command and page, and single corrections."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from audit.models import AuditEntry
from audit.services import verify_chain
from candidates.models import Candidate
from exams.models import Subject
from results import services
from results.grades import Code
from results.models import Grade
from results.services import compute_session, import_grades, set_grade

from .grading_fixtures import *  # noqa: F403
from .grading_fixtures import full_marks, give_marks, grade_file

IMPORT = "/staff/results/grades/import/"


def marks_of(candidate) -> dict[tuple[str, str, str], Decimal]:
    return {
        (g.subject.code, g.component, g.sitting): g.mark
        for g in Grade.objects.filter(candidate=candidate).select_related("subject")
    }


def grade_entries():
    return AuditEntry.objects.filter(object_type="grade").order_by("sequence")


def test_the_staff_urls_are_where_the_back_office_expects_them():
    assert reverse("results_staff:grades_import") == IMPORT
    assert reverse("results_staff:candidate_grades", args=["R130000001"]) == (
        "/staff/results/grades/R130000001/"
    )
    assert reverse("results_staff:computation", args=[3]) == "/staff/results/computations/3/"


# -- The service ------------------------------------------------------------------------------


def test_academy_staff_import_a_file_and_every_mark_is_stored_and_audited(
    session, graded_track, candidate_a, candidate_b, academy_staff
):
    rows = full_marks(candidate_a, "12", "11,5", "14.25") + full_marks(candidate_b, "8", "9", "10")
    outcome = import_grades(session, grade_file(rows), "notes.csv", academy_staff)
    assert not outcome.rejected and outcome.errors == []
    assert (outcome.total_rows, outcome.created, outcome.updated, outcome.unchanged) == (6, 6, 0, 0)
    assert marks_of(candidate_a) == {
        ("MATH", "continuous", "normal"): Decimal("12.00"),
        ("FR", "regional", "normal"): Decimal("11.50"),
        ("MATH", "national", "normal"): Decimal("14.25"),
    }
    entries = list(grade_entries())
    assert [(e.candidate_id, e.object_id, e.action) for e in entries] == [
        (candidate_a.pk, f"{candidate_a.pk}/normal", "grades.import"),
        (candidate_b.pk, f"{candidate_b.pk}/normal", "grades.import"),
    ]
    assert entries[0].before == {}
    assert entries[0].after == {
        "MATH continuous": "12.00",
        "FR regional": "11.50",
        "MATH national": "14.25",
    }
    assert entries[0].actor == academy_staff and "notes.csv" in entries[0].reason
    assert verify_chain() is None


def test_importing_the_same_file_again_changes_nothing(
    session, graded_track, candidate_a, academy_staff
):
    data = grade_file(full_marks(candidate_a, "12", "11", "14"))
    import_grades(session, data, "notes.csv", academy_staff)
    audited = grade_entries().count()
    again = import_grades(session, data, "notes.csv", academy_staff)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert grade_entries().count() == audited
    assert Grade.objects.count() == 3


def test_a_changed_mark_is_updated_and_audited_with_its_value_before_and_after(
    session, graded_track, candidate_a, academy_staff
):
    import_grades(
        session, grade_file(full_marks(candidate_a, "12", "11", "14")), "a.csv", academy_staff
    )
    outcome = import_grades(
        session, grade_file(full_marks(candidate_a, "12", "11", "15.5")), "b.csv", academy_staff
    )
    assert (outcome.created, outcome.updated, outcome.unchanged) == (0, 1, 2)
    assert marks_of(candidate_a)[("MATH", "national", "normal")] == Decimal("15.50")
    last = grade_entries().last()
    assert (last.before, last.after) == ({"MATH national": "14.00"}, {"MATH national": "15.50"})


def test_a_file_with_one_bad_row_stores_nothing_and_lists_every_error(
    session, graded_track, candidate_a, candidate_b, academy_staff
):
    rows = full_marks(candidate_a, "12", "11", "14") + [
        (candidate_b.massar_code, "MATH", "national", "12,345", ""),
        (candidate_b.massar_code, "SVT", "national", "12", ""),
        ("R199999999", "MATH", "national", "12", ""),
    ]
    outcome = import_grades(session, grade_file(rows), "notes.csv", academy_staff)
    assert outcome.rejected and Grade.objects.count() == 0 and grade_entries().count() == 0
    assert [services.describe(e) for e in outcome.errors] == [
        {"line": 5, "column": "mark", "reason": "The mark 12,345 has more than two decimals."},
        {"line": 6, "column": "subject_code", "reason": "There is no subject with the code “SVT”."},
        {
            "line": 7,
            "column": "massar_code",
            "reason": "There is no candidate with the Massar code R199999999 in this session.",
        },
    ]


def test_academy_staff_cannot_import_marks_of_another_academys_candidate(
    session, graded_track, candidate_a, candidate_elsewhere, academy_staff, ministry_staff
):
    rows = full_marks(candidate_a, "12", "11", "14") + full_marks(
        candidate_elsewhere, "12", "11", "14"
    )
    outcome = import_grades(session, grade_file(rows), "notes.csv", academy_staff)
    assert outcome.rejected and Grade.objects.count() == 0
    assert {(e.line, e.column, e.code) for e in outcome.errors} == {
        (line, "massar_code", Code.CANDIDATE_OUT_OF_SCOPE) for line in (5, 6, 7)
    }
    by_ministry = import_grades(session, grade_file(rows), "notes.csv", ministry_staff)
    assert not by_ministry.rejected and Grade.objects.count() == 6


def test_a_school_clerk_cannot_import_grades(session, graded_track, candidate_a, clerk):
    with pytest.raises(PermissionError):
        import_grades(session, grade_file(full_marks(candidate_a, "1", "1", "1")), "x.csv", clerk)


def test_the_marks_and_their_audit_entries_are_stored_together_or_not_at_all(
    session, graded_track, candidate_a, academy_staff, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(services, "record_changes", broken)
    with pytest.raises(RuntimeError):
        import_grades(
            session, grade_file(full_marks(candidate_a, "12", "11", "14")), "a.csv", academy_staff
        )
    assert Grade.objects.count() == 0


def test_catch_up_marks_are_accepted_only_for_candidates_convened_to_the_catch_up(
    session, graded_track, candidate_a, candidate_b, ministry_staff
):
    give_marks(candidate_a, "8", "8", "8")  # 8.00: catch-up
    give_marks(candidate_b, "14", "14", "14")  # admitted
    rows = [
        (candidate_a.massar_code, "MATH", "national", "13", "catch_up"),
        (candidate_b.massar_code, "MATH", "national", "13", "catch_up"),
    ]
    before = import_grades(session, grade_file(rows[:1]), "r.csv", ministry_staff)
    assert [e.code for e in before.errors] == [Code.CATCH_UP_NOT_ELIGIBLE]  # not computed yet
    compute_session(session)
    outcome = import_grades(session, grade_file(rows), "r.csv", ministry_staff)
    assert [(e.line, e.code) for e in outcome.errors] == [(3, Code.CATCH_UP_NOT_ELIGIBLE)]
    outcome = import_grades(session, grade_file(rows[:1]), "r.csv", ministry_staff)
    assert outcome.created == 1
    assert marks_of(candidate_a)[("MATH", "national", "catch_up")] == Decimal("13.00")
    assert grade_entries().last().object_id == f"{candidate_a.pk}/catch_up"


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_large_file_goes_through_copy_on_postgresql_with_the_same_outcome(
    session, school, graded_track, ministry_staff, monkeypatch
):
    # Past this many candidates the stored marks are read through a temporary table.
    monkeypatch.setattr(services, "_SMALL_FILE_CANDIDATES", 100)
    candidates = Candidate.objects.bulk_create(
        [
            Candidate(
                session=session,
                massar_code=f"R14{n:07d}",
                last_name_latin="Alami",
                first_name_latin="Sara",
                last_name_ar="العلمي",
                first_name_ar="سارة",
                birth_date="2008-01-01",
                birth_place_latin="Rabat",
                birth_place_ar="الرباط",
                sex="F",
                school=school,
                track=graded_track,
            )
            for n in range(800)
        ]
    )
    rows = []
    for n, candidate in enumerate(candidates):
        rows += full_marks(candidate, f"{n % 20}", "10,5", f"{(n * 7) % 20}.25")
    data = grade_file(rows)
    outcome = import_grades(session, data, "national.csv", ministry_staff)
    assert (outcome.created, outcome.rejected) == (2400, False)
    assert grade_entries().count() == 800
    changed = grade_file([*rows[:-1], (*rows[-1][:3], "19.75", "normal")])
    again = import_grades(session, changed, "national.csv", ministry_staff)
    assert (again.created, again.updated, again.unchanged) == (0, 1, 2399)
    assert marks_of(candidates[-1])[("MATH", "national", "normal")] == Decimal("19.75")
    assert verify_chain() is None


# -- The command ------------------------------------------------------------------------------


def test_the_import_grades_command_imports_a_file_within_a_users_scope(
    session, graded_track, candidate_a, academy_staff, tmp_path
):
    path = tmp_path / "notes.csv"
    path.write_bytes(grade_file(full_marks(candidate_a, "12", "11", "14")))
    out = StringIO()
    call_command("import_grades", str(path), "--session", session.code, "--as", "aref", stdout=out)
    assert "3 grades created" in out.getvalue()
    assert Grade.objects.count() == 3


def test_the_import_grades_command_prints_every_error_and_fails(
    session, graded_track, candidate_a, tmp_path
):
    path = tmp_path / "notes.csv"
    path.write_bytes(grade_file([(candidate_a.massar_code, "MATH", "national", "25", "")]))
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_grades", str(path), "--session", session.code, stdout=out)
    assert failure.value.returncode == 1
    assert "line 2, column mark: The mark 25 is not between 0 and 20." in out.getvalue()
    assert Grade.objects.count() == 0


def test_the_import_grades_command_refuses_a_school_clerk(session, clerk, tmp_path):
    path = tmp_path / "notes.csv"
    path.write_bytes(b"massar_code,subject_code,component,mark\r\n")
    with pytest.raises(CommandError):
        call_command("import_grades", str(path), "--session", session.code, "--as", "clerk")


# -- The upload page --------------------------------------------------------------------------


def upload(client, data: bytes, name: str = "notes.csv"):
    return client.post(
        IMPORT,
        {"file": SimpleUploadedFile(name, data, content_type="text/csv")},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_academy_staff_upload_a_grade_file_and_see_the_report(
    session, graded_track, candidate_a, academy_staff, client_for
):
    response = upload(
        client_for(academy_staff), grade_file(full_marks(candidate_a, "12", "11", "14"))
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The file was imported." in html
    assert 'id="count-created">3<' in html
    assert Grade.objects.count() == 3


def test_a_rejected_upload_lists_every_error_with_its_line_column_and_reason(
    session, graded_track, candidate_a, candidate_elsewhere, academy_staff, client_for
):
    rows = [
        (candidate_a.massar_code, "MATH", "national", "abc", ""),
        (candidate_elsewhere.massar_code, "MATH", "national", "12", ""),
    ]
    html = upload(client_for(academy_staff), grade_file(rows)).content.decode()
    assert "Nothing was imported." in html
    assert "“abc” is not a mark" in html
    assert "is registered in another academy" in html
    assert Grade.objects.count() == 0


def test_a_school_clerk_cannot_open_the_grade_pages(clerk, client_for, session):
    client = client_for(clerk)
    for url in (
        IMPORT,
        "/staff/results/",
        "/staff/results/grades/",
        "/staff/results/computations/",
    ):
        assert client.get(url).status_code == 403
    assert upload(client, b"massar_code\r\n").status_code == 403


def test_a_candidate_cannot_open_the_grade_pages(candidate_a, client_for):
    assert client_for(candidate_a.user).get(IMPORT).status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(IMPORT)
    assert response.status_code == 302 and "/account/" in response["Location"]


def test_the_grade_file_template_can_be_downloaded(academy_staff, client_for):
    response = client_for(academy_staff).get(reverse("results_staff:grades_template"))
    assert response.status_code == 200
    assert response.content.decode("utf-8-sig").startswith(
        "massar_code,subject_code,component,mark"
    )


# -- Single corrections -----------------------------------------------------------------------


def sheet_url(candidate) -> str:
    return reverse("results_staff:candidate_grades", args=[candidate.massar_code])


def line_value(candidate, code: str, component: str, sitting: str = "normal") -> str:
    return f"{Subject.objects.get(code=code).pk}:{component}:{sitting}"


def test_academy_staff_see_a_candidates_marks_by_component(
    session, graded_track, candidate_a, academy_staff, client_for
):
    give_marks(candidate_a, "12", None, "14.5")
    page = client_for(academy_staff).get(sheet_url(candidate_a), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="mark-MATH-national">14.50<' in html
    assert "missing" in html  # the regional FR mark
    assert "Continuous assessment" in html and "National exam" in html


def test_academy_staff_change_a_mark_with_a_reason_and_the_change_is_audited(
    session, graded_track, candidate_a, academy_staff, client_for
):
    give_marks(candidate_a, "12", "11", "14")
    response = client_for(academy_staff).post(
        sheet_url(candidate_a),
        {
            "line": line_value(candidate_a, "MATH", "national"),
            "mark": "15,5",
            "reason": "Transcription error on the marking sheet",
        },
    )
    assert response.status_code == 302
    assert marks_of(candidate_a)[("MATH", "national", "normal")] == Decimal("15.50")
    entry = grade_entries().get()
    assert (entry.action, entry.candidate_id, entry.actor) == (
        "grades.correct",
        candidate_a.pk,
        academy_staff,
    )
    assert (entry.before, entry.after) == ({"MATH national": "14.00"}, {"MATH national": "15.50"})
    assert entry.reason == "Transcription error on the marking sheet"


def test_a_mark_cannot_change_without_a_reason(
    session, graded_track, candidate_a, academy_staff, client_for
):
    give_marks(candidate_a, "12", "11", "14")
    response = client_for(academy_staff).post(
        sheet_url(candidate_a),
        {"line": line_value(candidate_a, "MATH", "national"), "mark": "15", "reason": "  "},
    )
    assert response.status_code == 400
    assert marks_of(candidate_a)[("MATH", "national", "normal")] == Decimal("14.00")
    assert grade_entries().count() == 0


def test_an_impossible_mark_is_refused_on_the_page(
    session, graded_track, candidate_a, academy_staff, client_for
):
    response = client_for(academy_staff).post(
        sheet_url(candidate_a),
        {"line": line_value(candidate_a, "MATH", "national"), "mark": "21", "reason": "typo"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "The mark 21 is not between 0 and 20." in response.content.decode()
    assert Grade.objects.count() == 0


def test_setting_a_mark_to_its_current_value_records_nothing(
    session, graded_track, candidate_a, academy_staff
):
    give_marks(candidate_a, "12", "11", "14")
    math = Subject.objects.get(code="MATH")
    assert not set_grade(candidate_a, math, "national", "14.00", "check", academy_staff)
    assert grade_entries().count() == 0


def test_a_school_clerk_cannot_enter_grades(session, graded_track, candidate_a, clerk, client_for):
    client = client_for(clerk)
    assert client.get(sheet_url(candidate_a)).status_code == 403
    response = client.post(
        sheet_url(candidate_a),
        {"line": line_value(candidate_a, "MATH", "national"), "mark": "20", "reason": "please"},
    )
    assert response.status_code == 403 and Grade.objects.count() == 0


def test_a_candidate_of_another_academy_does_not_exist_for_academy_staff(
    session, graded_track, candidate_elsewhere, academy_staff, client_for
):
    client = client_for(academy_staff)
    assert client.get(sheet_url(candidate_elsewhere)).status_code == 404
    response = client.post(
        sheet_url(candidate_elsewhere),
        {"line": line_value(candidate_elsewhere, "MATH", "national"), "mark": "20", "reason": "x"},
    )
    assert response.status_code == 404 and Grade.objects.count() == 0
    search = client.get(
        reverse("results_staff:grade_entry"), {"massar_code": candidate_elsewhere.massar_code}
    )
    assert search.status_code == 404


def test_academy_staff_of_the_candidates_academy_find_them_by_massar_code(
    session, graded_track, candidate_a, academy_staff, client_for
):
    response = client_for(academy_staff).get(
        reverse("results_staff:grade_entry"), {"massar_code": " r130000001 "}
    )
    assert response.status_code == 302 and response["Location"] == sheet_url(candidate_a)


def test_the_ministry_corrects_a_mark_of_any_academy(
    session, graded_track, candidate_elsewhere, ministry_staff
):
    math = Subject.objects.get(code="MATH")
    assert set_grade(candidate_elsewhere, math, "national", "9.5", "Re-added sum", ministry_staff)
    assert marks_of(candidate_elsewhere)[("MATH", "national", "normal")] == Decimal("9.50")


def test_the_service_refuses_what_the_page_would_not_offer(
    session, graded_track, candidate_a, free_candidate, candidate_elsewhere, academy_staff
):
    math = Subject.objects.get(code="MATH")
    french = Subject.objects.get(code="FR")
    cases = [
        (candidate_elsewhere, math, "national", "normal", Code.CANDIDATE_OUT_OF_SCOPE),
        (candidate_a, french, "national", "normal", Code.SUBJECT_NOT_IN_TRACK),
        (free_candidate, math, "continuous", "normal", Code.FREE_CANDIDATE_CONTINUOUS),
        (candidate_a, math, "continuous", "catch_up", Code.CATCH_UP_NOT_NATIONAL),
        (candidate_a, math, "national", "catch_up", Code.CATCH_UP_NOT_ELIGIBLE),
    ]
    for candidate, subject, component, sitting, code in cases:
        with pytest.raises(services.GradeError) as error:
            set_grade(candidate, subject, component, "10", "why", academy_staff, sitting=sitting)
        assert error.value.code == code
    assert Grade.objects.count() == 0


def test_the_query_count_of_a_small_import_does_not_grow_with_its_rows(
    session, graded_track, candidate_a, candidate_b, academy_staff, django_assert_max_num_queries
):
    import_grades(
        session, grade_file(full_marks(candidate_a, "1", "1", "1")), "a.csv", academy_staff
    )
    rows = full_marks(candidate_a, "2", "2", "2") + full_marks(candidate_b, "3", "3", "3")
    with django_assert_max_num_queries(30):
        import_grades(session, grade_file(rows), "b.csv", academy_staff)
    assert connection.vendor in ("sqlite", "postgresql")
