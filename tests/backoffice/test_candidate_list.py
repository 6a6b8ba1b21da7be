"""The candidate list: search by prefix, filters within the scope, pages of 50, and a number of
SQL queries that does not grow with the number of rows."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from candidates.file_services import upload_cnie_copy
from tests.factories import CandidateFactory, ExamSessionFactory, TrackFactory

from .conftest import make_png


def listing(client, **params) -> str:
    response = client.get("/staff/candidates/", params, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def cohort(session, school, track, clerk):
    """Three candidates of the clerk's school with distinct names and identifiers."""
    people = [
        CandidateFactory(
            session=session,
            school=school,
            track=track,
            massar_code="R111111111",
            cnie_number="AB123456",
            last_name_latin="Benjelloun",
            first_name_latin="Yassine",
            last_name_ar="بنجلون",
            first_name_ar="ياسين",
        ),
        CandidateFactory(
            session=session,
            school=school,
            track=track,
            massar_code="K222222222",
            cnie_number="J54321",
            last_name_latin="El Fassi",
            first_name_latin="Salma",
            last_name_ar="الفاسي",
            first_name_ar="سلمى",
            candidate_type="free",
        ),
        CandidateFactory(
            session=session,
            school=school,
            track=TrackFactory(code="SVT"),
            massar_code="R333333333",
            cnie_number="",
            last_name_latin="Tazi",
            first_name_latin="Omar",
            last_name_ar="التازي",
            first_name_ar="عمر",
        ),
    ]
    upload_cnie_copy(people[0], io.BytesIO(make_png()), clerk, None)
    return people


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("R11111", {"R111111111"}),
        ("r 111 111", {"R111111111"}),
        ("AB1234", {"R111111111"}),
        ("j54321", {"K222222222"}),
        ("benj", {"R111111111"}),
        ("El Fa", {"K222222222"}),
        ("salma", {"K222222222"}),
        ("بنج", {"R111111111"}),
        ("عمر", {"R333333333"}),
        ("Zzz", set()),
    ],
)
def test_staff_search_by_massar_code_cnie_number_or_name_prefix(
    client_for, clerk, cohort, query, expected
):
    html = listing(client_for(clerk), q=query)
    shown = {c.massar_code for c in cohort if c.massar_code in html}
    assert shown == expected


def test_filters_by_track_type_and_cnie_copy(client_for, clerk, cohort):
    client = client_for(clerk)
    svt = cohort[2].track
    assert "R333333333" in listing(client, track=svt.pk) and "R111111111" not in listing(
        client, track=svt.pk
    )
    free = listing(client, candidate_type="free")
    assert "K222222222" in free and "R111111111" not in free
    with_copy = listing(client, cnie_copy="yes")
    assert "R111111111" in with_copy and "K222222222" not in with_copy
    without = listing(client, cnie_copy="no")
    assert "R111111111" not in without and "K222222222" in without and "R333333333" in without


def test_the_list_shows_the_current_session_by_default(client_for, clerk, cohort, school, track):
    old = ExamSessionFactory(
        code="2025-N", name="Session normale 2025", year=2025, is_current=False
    )
    CandidateFactory(session=old, school=school, track=track, massar_code="R999999999")
    client = client_for(clerk)
    assert "R999999999" not in listing(client)
    assert "R999999999" in listing(client, session=old.pk)
    assert "R999999999" in listing(client, session="all")


def test_the_school_filter_offers_only_schools_in_scope(
    client_for, academy_staff, academy_staff_of_other_academy, school, other_school
):
    html = listing(client_for(academy_staff))
    assert school.code in html and other_school.code in html
    assert school.code not in listing(client_for(academy_staff_of_other_academy))


def test_a_school_outside_the_scope_cannot_be_forced_into_the_filter(
    client_for, academy_staff_of_other_academy, school, cohort
):
    html = listing(client_for(academy_staff_of_other_academy), school=school.pk)
    assert all(c.massar_code not in html for c in cohort)


def test_the_list_is_paginated_by_fifty(client_for, ministry_staff, session, school, track):
    CandidateFactory.create_batch(55, session=session, school=school, track=track)
    client = client_for(ministry_staff)
    first = listing(client)
    assert first.count('<th scope="row">') == 50
    assert "Page 1 of 2" in first and "page=2" in first
    second = listing(client, page=2)
    assert second.count('<th scope="row">') == 5


def test_the_count_is_capped_on_very_large_lists(
    client_for, ministry_staff, session, school, track, monkeypatch
):
    from candidates.file_services import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "cap", 10)
    CandidateFactory.create_batch(12, session=session, school=school, track=track)
    html = listing(client_for(ministry_staff))
    assert "More than 10 candidates" in html


def _queries_for_list(client) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get("/staff/candidates/").status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize("persona", ["clerk", "academy_staff", "ministry_staff"])
def test_the_list_makes_the_same_number_of_queries_for_5_and_60_candidates(
    request, client_for, persona, session, school, track
):
    user = request.getfixturevalue(persona)
    client = client_for(user)
    few = CandidateFactory.create_batch(5, session=session, school=school, track=track)
    for candidate in few[:2]:
        upload_cnie_copy(candidate, io.BytesIO(make_png()), None, None)
    client.get("/staff/candidates/")  # warm the session and content-type caches
    with_five = _queries_for_list(client)
    many = CandidateFactory.create_batch(
        55, session=session, school=school, track=TrackFactory(code="LET")
    )
    for candidate in many[:20]:
        upload_cnie_copy(candidate, io.BytesIO(make_png()), None, None)
    with_sixty = _queries_for_list(client)
    assert with_five == with_sixty
    assert with_sixty <= 10


def test_the_list_fits_a_phone_without_inline_styles_or_scripts(client_for, clerk, cohort):
    html = listing(client_for(clerk))
    assert 'class="table-wrap"' in html
    assert "style=" not in html and "<script" not in html
    assert '<th scope="col">' in html and "<caption" in html


def test_ministry_staff_filter_by_school_code(
    client_for, ministry_staff, cohort, other_school, session, track
):
    elsewhere = CandidateFactory(
        session=session, school=other_school, track=track, massar_code="R144444444"
    )
    client = client_for(ministry_staff)
    html = listing(client, school=other_school.code.lower())
    assert elsewhere.massar_code in html
    assert all(c.massar_code not in html for c in cohort)
    assert 'name="school"' in html and 'type="text"' in html
