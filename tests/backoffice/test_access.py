"""Who may reach which back-office page: roles give 403, objects outside the scope give 404."""

import pytest

from tests.factories import CandidateFactory, DirectorateFactory, SchoolFactory

from .conftest import make_png, upload


def staff_urls(pk: int) -> list[str]:
    return [
        "/staff/candidates/",
        f"/staff/candidates/{pk}/",
        f"/staff/candidates/{pk}/edit/",
        f"/staff/candidates/{pk}/cnie/",
        f"/staff/candidates/{pk}/cnie/upload/",
        "/staff/structure/",
        "/staff/structure/sessions/",
        "/staff/structure/tracks/",
    ]


def file_urls(pk: int) -> list[str]:
    return [
        f"/staff/candidates/{pk}/",
        f"/staff/candidates/{pk}/edit/",
        f"/staff/candidates/{pk}/cnie/",
        f"/staff/candidates/{pk}/cnie/upload/",
    ]


@pytest.fixture
def candidate_of_other_academy(session, track, other_academy):
    school = SchoolFactory(directorate=DirectorateFactory(academy=other_academy), code="S-OUJDA-1")
    return CandidateFactory(
        session=session,
        school=school,
        track=track,
        massar_code="S140000009",
        last_name_latin="Oujdi",
    )


def test_a_candidate_cannot_reach_any_staff_url(client_for, candidate_a, stored_copy):
    client = client_for(candidate_a.user)
    for url in staff_urls(candidate_a.pk):
        assert client.get(url).status_code == 403, url
    response = client.post(
        f"/staff/candidates/{candidate_a.pk}/cnie/upload/",
        {"document": upload("card.png", make_png(), "image/png")},
    )
    assert response.status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in(client, candidate_a):
    response = client.get(f"/staff/candidates/{candidate_a.pk}/")
    assert response.status_code == 302
    assert "/account/sign-in/" in response["Location"]


def test_a_school_clerk_lists_only_the_candidates_of_their_school(
    client_for, clerk, candidate_a, other_school, session, track
):
    stranger = CandidateFactory(
        session=session,
        school=other_school,
        track=track,
        massar_code="R139999999",
        last_name_latin="Slaoui",
    )
    html = client_for(clerk).get("/staff/candidates/").content.decode()
    assert candidate_a.massar_code in html
    assert stranger.massar_code not in html


def test_a_clerk_of_another_school_gets_404_on_the_file_its_edit_and_its_cnie_copy(
    client_for, clerk_of_other_school, candidate_a, stored_copy
):
    client = client_for(clerk_of_other_school)
    for url in file_urls(candidate_a.pk):
        assert client.get(url).status_code == 404, url
    response = client.post(
        f"/staff/candidates/{candidate_a.pk}/cnie/upload/",
        {"document": upload("card.png", make_png(), "image/png")},
    )
    assert response.status_code == 404
    response = client.post(f"/staff/candidates/{candidate_a.pk}/edit/", {"reason": "x"})
    assert response.status_code == 404
    html = client.get("/staff/candidates/").content.decode()
    assert candidate_a.massar_code not in html


def test_academy_staff_of_another_academy_cannot_list_or_open_the_file(
    client_for, academy_staff_of_other_academy, candidate_a, stored_copy
):
    client = client_for(academy_staff_of_other_academy)
    assert candidate_a.massar_code not in client.get("/staff/candidates/").content.decode()
    for url in file_urls(candidate_a.pk):
        assert client.get(url).status_code == 404, url
    response = client.post(
        f"/staff/candidates/{candidate_a.pk}/cnie/upload/",
        {"document": upload("card.png", make_png(), "image/png")},
    )
    assert response.status_code == 404


def test_academy_staff_see_every_school_of_their_academy_and_no_other(
    client_for, academy_staff, candidate_a, other_school, candidate_of_other_academy, session, track
):
    neighbour = CandidateFactory(
        session=session, school=other_school, track=track, massar_code="R138888888"
    )
    client = client_for(academy_staff)
    html = client.get("/staff/candidates/").content.decode()
    assert candidate_a.massar_code in html and neighbour.massar_code in html
    assert candidate_of_other_academy.massar_code not in html
    assert client.get(f"/staff/candidates/{neighbour.pk}/").status_code == 200
    assert client.get(f"/staff/candidates/{candidate_of_other_academy.pk}/").status_code == 404


def test_ministry_staff_see_and_open_every_file(
    client_for, ministry_staff, candidate_a, candidate_of_other_academy, stored_copy
):
    client = client_for(ministry_staff)
    html = client.get("/staff/candidates/").content.decode()
    assert candidate_a.massar_code in html and candidate_of_other_academy.massar_code in html
    for url in file_urls(candidate_of_other_academy.pk)[:3]:
        expected = 404 if url.endswith("/cnie/") else 200  # no copy uploaded for this one
        assert client.get(url).status_code == expected, url
    assert client.get(f"/staff/candidates/{candidate_a.pk}/cnie/").status_code == 200


def test_the_clerk_of_the_school_opens_the_file_with_every_section(
    client_for, clerk, candidate_a, stored_copy
):
    html = (
        client_for(clerk)
        .get(f"/staff/candidates/{candidate_a.pk}/", HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )
    for text in (
        candidate_a.massar_code,
        candidate_a.cnie_number,
        candidate_a.last_name_ar,
        candidate_a.first_name_ar,
        candidate_a.birth_place_ar,
        "Copy of the CNIE",
        "Identity sources",
        "History of the file",
        "CNIE copy uploaded",
        "192.0.2.10",
        f"/staff/candidates/{candidate_a.pk}/cnie/",
    ):
        assert text in html, text
    assert 'style="' not in html and "<script" not in html


def test_the_file_page_shows_what_each_identity_source_says(client_for, clerk, candidate_a):
    from candidates.models import IdentitySource

    IdentitySource.objects.create(
        candidate=candidate_a,
        kind="mrz",
        data={"cnie_number": "BE999999", "last_name_latin": "AMRANI"},
    )
    html = (
        client_for(clerk)
        .get(f"/staff/candidates/{candidate_a.pk}/", HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )
    assert "Machine-readable zone of the CNIE" in html
    assert "BE999999" in html and "AMRANI" in html
    assert "<dt>CNIE number</dt><dd><bdi>BE999999</bdi>" in html
