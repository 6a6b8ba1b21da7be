"""The structure back office: who sees which academy, who manages what, and the audit of it."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils.html import escape

from audit.models import AuditEntry
from exams.models import ExamCentre, ExamSession, School, SessionWindow, Subject, TrackSubject
from tests.factories import (
    CandidateFactory,
    DirectorateFactory,
    ExamCentreFactory,
    SchoolFactory,
    SessionWindowFactory,
    SubjectFactory,
)

CASABLANCA = ZoneInfo("Africa/Casablanca")


@pytest.fixture
def directorate(school):
    return school.directorate


@pytest.fixture
def other_directorate(other_academy):
    return DirectorateFactory(academy=other_academy, name_fr="Direction d'Oujda")


@pytest.fixture
def far_school(other_directorate):
    return SchoolFactory(directorate=other_directorate, code="S-OUJDA-1", name_fr="Lycée Zaytoune")


def get(client, url):
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en")


def test_school_clerks_and_candidates_cannot_open_the_structure(client_for, clerk, candidate_a):
    for user in (clerk, candidate_a.user):
        for url in (
            "/staff/structure/",
            "/staff/structure/sessions/",
            "/staff/structure/schools/new/",
        ):
            assert get(client_for(user), url).status_code == 403, (user, url)


def test_academy_staff_see_only_their_academy_with_candidate_counts(
    client_for, academy_staff, academy, other_academy, candidate_a, candidate_b, far_school
):
    html = get(client_for(academy_staff), "/staff/structure/").content.decode()
    assert academy.name_fr in html
    assert escape(other_academy.name_fr) not in html
    page = get(
        client_for(academy_staff), f"/staff/structure/academies/{academy.pk}/"
    ).content.decode()
    assert candidate_a.school.code in page
    assert '<td class="num">2</td>' in page
    assert far_school.code not in page
    assert (
        get(
            client_for(academy_staff), f"/staff/structure/academies/{other_academy.pk}/"
        ).status_code
        == 404
    )


def test_ministry_staff_see_every_academy(
    client_for, ministry_staff, academy, other_academy, far_school
):
    html = get(client_for(ministry_staff), "/staff/structure/").content.decode()
    assert escape(academy.name_fr) in html and escape(other_academy.name_fr) in html
    assert (
        get(
            client_for(ministry_staff), f"/staff/structure/academies/{other_academy.pk}/"
        ).status_code
        == 200
    )


def test_the_overview_makes_a_fixed_number_of_queries(
    client_for, ministry_staff, academy, session, track, directorate
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(ministry_staff)
    SchoolFactory(directorate=directorate)
    get(client, "/staff/structure/")
    with CaptureQueriesContext(connection) as few:
        get(client, f"/staff/structure/academies/{academy.pk}/")
    for _ in range(5):
        school = SchoolFactory(directorate=DirectorateFactory(academy=academy))
        ExamCentreFactory(directorate=school.directorate)
        CandidateFactory(session=session, school=school, track=track)
    with CaptureQueriesContext(connection) as many:
        get(client, f"/staff/structure/academies/{academy.pk}/")
    assert len(few) == len(many)


def test_the_calendar_is_shown_in_casablanca_time(client_for, academy_staff, session, settings):
    settings.TIME_ZONE = "UTC"
    opens = datetime.datetime(2026, 6, 1, 8, 0, tzinfo=CASABLANCA)
    SessionWindowFactory(
        session=session, kind="exams", opens_at=opens, closes_at=opens + datetime.timedelta(days=5)
    )
    html = get(client_for(academy_staff), "/staff/structure/").content.decode()
    assert "8 a.m." in html or "08:00" in html
    assert "Morocco time" in html


def test_academy_staff_create_a_school_in_their_directorate_and_it_is_audited(
    client_for, academy_staff, directorate
):
    response = client_for(academy_staff).post(
        "/staff/structure/schools/new/",
        {
            "directorate": directorate.pk,
            "code": "S-NEW-1",
            "name_fr": "Lycée Ibn Sina",
            "name_ar": "ثانوية ابن سينا",
            "is_public": "on",
        },
    )
    assert response.status_code == 302
    school = School.objects.get(code="S-NEW-1")
    entry = AuditEntry.objects.get(object_type="school", object_id=str(school.pk))
    assert entry.action == "school.create"
    assert entry.candidate_id is None
    assert entry.actor == academy_staff
    assert entry.after["name_fr"] == "Lycée Ibn Sina"


def test_a_directorate_of_another_academy_is_refused(client_for, academy_staff, other_directorate):
    response = client_for(academy_staff).post(
        "/staff/structure/schools/new/",
        {"directorate": other_directorate.pk, "code": "S-EVIL", "name_fr": "X", "name_ar": "س"},
    )
    assert response.status_code == 400
    assert not School.objects.filter(code="S-EVIL").exists()
    response = client_for(academy_staff).post(
        "/staff/structure/centres/new/",
        {
            "directorate": other_directorate.pk,
            "code": "C-EVIL",
            "name_fr": "X",
            "name_ar": "س",
            "capacity": 100,
        },
    )
    assert response.status_code == 400
    assert not ExamCentre.objects.filter(code="C-EVIL").exists()
    assert not AuditEntry.objects.exists()


def test_academy_staff_cannot_edit_a_school_or_centre_of_another_academy(
    client_for, academy_staff, far_school, other_directorate
):
    centre = ExamCentreFactory(directorate=other_directorate)
    client = client_for(academy_staff)
    assert get(client, f"/staff/structure/schools/{far_school.pk}/edit/").status_code == 404
    assert (
        client.post(
            f"/staff/structure/schools/{far_school.pk}/edit/", {"name_fr": "Pris"}
        ).status_code
        == 404
    )
    assert get(client, f"/staff/structure/centres/{centre.pk}/edit/").status_code == 404


def test_academy_staff_cannot_move_their_school_to_another_academy(
    client_for, academy_staff, school, other_directorate
):
    response = client_for(academy_staff).post(
        f"/staff/structure/schools/{school.pk}/edit/",
        {
            "directorate": other_directorate.pk,
            "code": school.code,
            "name_fr": school.name_fr,
            "name_ar": school.name_ar,
        },
    )
    assert response.status_code == 400
    school.refresh_from_db()
    assert school.directorate.academy_id == academy_staff.academy_id


def test_editing_an_exam_centre_records_only_what_changed(client_for, academy_staff, directorate):
    centre = ExamCentreFactory(directorate=directorate, capacity=300)
    response = client_for(academy_staff).post(
        f"/staff/structure/centres/{centre.pk}/edit/",
        {
            "directorate": directorate.pk,
            "code": centre.code,
            "name_fr": centre.name_fr,
            "name_ar": centre.name_ar,
            "address": "",
            "capacity": 450,
        },
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(object_type="exam_centre")
    assert entry.action == "exam_centre.update"
    assert entry.before == {"capacity": 300} and entry.after == {"capacity": 450}


def test_saving_a_school_unchanged_writes_no_entry(client_for, academy_staff, school):
    client_for(academy_staff).post(
        f"/staff/structure/schools/{school.pk}/edit/",
        {
            "directorate": school.directorate_id,
            "code": school.code,
            "name_fr": school.name_fr,
            "name_ar": school.name_ar,
            "is_public": "on",
        },
    )
    assert not AuditEntry.objects.exists()


def test_academy_staff_cannot_manage_sessions_windows_or_tracks(
    client_for, academy_staff, session, track
):
    client = client_for(academy_staff)
    for url in (
        "/staff/structure/sessions/new/",
        f"/staff/structure/sessions/{session.pk}/edit/",
        f"/staff/structure/sessions/{session.pk}/windows/new/",
        "/staff/structure/tracks/new/",
        f"/staff/structure/tracks/{track.pk}/edit/",
    ):
        assert get(client, url).status_code == 403, url
        assert client.post(url, {}).status_code == 403, url


def test_ministry_staff_create_a_current_session_which_ends_the_previous_one(
    client_for, ministry_staff, session
):
    response = client_for(ministry_staff).post(
        "/staff/structure/sessions/new/",
        {"code": "2027-N", "name": "Session normale 2027", "year": 2027, "make_current": "on"},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.is_current is False
    assert ExamSession.current().code == "2027-N"
    actions = sorted(
        AuditEntry.objects.filter(object_type="exam_session").values_list("action", flat=True)
    )
    assert actions == ["exam_session.create", "exam_session.update"]


def test_a_window_must_close_after_it_opens(client_for, ministry_staff, session):
    response = client_for(ministry_staff).post(
        f"/staff/structure/sessions/{session.pk}/windows/new/",
        {"kind": "complaints", "opens_at": "2026-07-10T09:00", "closes_at": "2026-07-09T09:00"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "A window must close after it opens." in response.content.decode()
    assert not SessionWindow.objects.exists()


def test_a_window_is_entered_in_casablanca_time_and_audited(
    client_for, ministry_staff, session, settings
):
    settings.TIME_ZONE = "UTC"
    response = client_for(ministry_staff).post(
        f"/staff/structure/sessions/{session.pk}/windows/new/",
        {"kind": "complaints", "opens_at": "2026-07-10T09:00", "closes_at": "2026-07-13T09:00"},
    )
    assert response.status_code == 302
    window = SessionWindow.objects.get(session=session, kind="complaints")
    assert window.opens_at == datetime.datetime(2026, 7, 10, 9, 0, tzinfo=CASABLANCA)
    entry = AuditEntry.objects.get(object_type="session_window")
    assert entry.action == "session_window.create" and entry.candidate_id is None


def test_a_second_window_of_the_same_kind_is_refused(client_for, ministry_staff, session):
    SessionWindowFactory(session=session, kind="complaints")
    response = client_for(ministry_staff).post(
        f"/staff/structure/sessions/{session.pk}/windows/new/",
        {"kind": "complaints", "opens_at": "2026-07-10T09:00", "closes_at": ""},
    )
    assert response.status_code == 400


def test_ministry_staff_change_a_coefficient_and_the_track_is_audited(
    client_for, ministry_staff, track
):
    math = TrackSubject.objects.get(track=track, subject__code="MATH")
    french = TrackSubject.objects.get(track=track, subject__code="FR")
    philo = SubjectFactory(code="PHILO", name_fr="Philosophie", name_ar="الفلسفة")
    data = {
        "code": track.code,
        "name_fr": track.name_fr,
        "name_ar": track.name_ar,
        "subjects-TOTAL_FORMS": "3",
        "subjects-INITIAL_FORMS": "2",
        "subjects-MIN_NUM_FORMS": "0",
        "subjects-MAX_NUM_FORMS": "1000",
        "subjects-0-id": math.pk,
        "subjects-0-subject": math.subject_id,
        "subjects-0-component": "national",
        "subjects-0-coefficient": "9",
        "subjects-1-id": french.pk,
        "subjects-1-subject": french.subject_id,
        "subjects-1-component": "regional",
        "subjects-1-coefficient": "4",
        "subjects-1-DELETE": "on",
        "subjects-2-subject": philo.pk,
        "subjects-2-component": "national",
        "subjects-2-coefficient": "2",
    }
    response = client_for(ministry_staff).post(f"/staff/structure/tracks/{track.pk}/edit/", data)
    assert response.status_code == 302
    assert TrackSubject.objects.get(pk=math.pk).coefficient == Decimal("9")
    assert not TrackSubject.objects.filter(pk=french.pk).exists()
    assert TrackSubject.objects.filter(track=track, subject=philo).exists()
    entry = AuditEntry.objects.get(object_type="track")
    assert entry.action == "track.update"
    assert "MATH/national/7.0" in entry.before["subjects"]
    assert (
        "MATH/national/9.0" in entry.after["subjects"]
        and "PHILO/national/2.0" in entry.after["subjects"]
    )
    assert not any(s.startswith("FR/") for s in entry.after["subjects"])


def test_a_zero_coefficient_is_refused(client_for, ministry_staff, track):
    data = {
        "code": "NEW",
        "name_fr": "Nouvelle",
        "name_ar": "جديدة",
        "subjects-TOTAL_FORMS": "1",
        "subjects-INITIAL_FORMS": "0",
        "subjects-MIN_NUM_FORMS": "0",
        "subjects-MAX_NUM_FORMS": "1000",
        "subjects-0-subject": Subject.objects.get(code="MATH").pk,
        "subjects-0-component": "national",
        "subjects-0-coefficient": "0",
    }
    response = client_for(ministry_staff).post("/staff/structure/tracks/new/", data)
    assert response.status_code == 400
    assert not AuditEntry.objects.exists()


def test_structure_pages_render_for_ministry_without_inline_styles(
    client_for, ministry_staff, session, track, academy, directorate
):
    client = client_for(ministry_staff)
    SessionWindowFactory(session=session)
    for url in (
        "/staff/structure/",
        f"/staff/structure/academies/{academy.pk}/",
        "/staff/structure/sessions/",
        f"/staff/structure/sessions/{session.pk}/",
        "/staff/structure/tracks/",
        "/staff/structure/sessions/new/",
        f"/staff/structure/sessions/{session.pk}/edit/",
        f"/staff/structure/sessions/{session.pk}/windows/new/",
        "/staff/structure/tracks/new/",
        f"/staff/structure/tracks/{track.pk}/edit/",
        "/staff/structure/schools/new/",
        "/staff/structure/centres/new/",
    ):
        response = get(client, url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "style=" not in html and "<script" not in html, url
