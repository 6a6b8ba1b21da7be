import datetime

from django.utils import timezone

from tests.factories import SessionWindowFactory


def test_anonymous_visitor_sees_the_landing_page_with_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert b"/account/sign-in/" in response.content


def test_candidate_home_lists_every_service_with_its_window(client_for, candidate_a):
    opens = timezone.now() + datetime.timedelta(days=3)
    SessionWindowFactory(
        session=candidate_a.session, kind="results", opens_at=opens, closes_at=None
    )
    response = client_for(candidate_a.user).get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    for kind in ("verification", "convocation", "results", "complaints", "scholarship", "diploma"):
        assert f'id="service-{kind}"' in html
    assert "Not open yet" in html
    assert "Dates not announced yet." in html


def test_an_open_service_links_to_its_page(client_for, candidate_a):
    SessionWindowFactory(session=candidate_a.session, kind="scholarship")
    html = client_for(candidate_a.user).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    section = html.split('id="service-scholarship"')[1].split("</li>")[0]
    assert "state-open" in section and 'href="/scholarship/' in section


def test_a_service_not_built_never_shows_as_open(monkeypatch, candidate_a):
    from portal import services

    SessionWindowFactory(session=candidate_a.session, kind="scholarship")
    unbuilt = tuple(
        (kind, title, text, built and kind != "scholarship")
        for kind, title, text, built in services.CANDIDATE_SERVICES
    )
    monkeypatch.setattr(services, "CANDIDATE_SERVICES", unbuilt)
    card = {c.kind: c for c in services.service_cards(candidate_a.session)}["scholarship"]
    assert card.state == "upcoming" and card.url == ""


def test_home_page_is_served_with_a_strict_content_security_policy(client, db):
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


def test_candidate_sees_only_the_history_of_their_own_file(client_for, candidate_a, candidate_b):
    from audit.services import Change, record_change

    record_change(
        None,
        Change(
            "update",
            "candidate",
            candidate_a.pk,
            {"phone": "1"},
            {"phone": "2"},
            "a",
            candidate_a.pk,
        ),
    )
    record_change(
        None,
        Change(
            "update",
            "candidate",
            candidate_b.pk,
            {"email": "x"},
            {"email": "secret-b"},
            "b",
            candidate_b.pk,
        ),
    )
    html = client_for(candidate_a.user).get("/my-file/history/").content.decode()
    assert "secret-b" not in html
    assert "phone" in html


def test_marks_do_not_leak_into_the_file_history_before_publication(client_for, candidate_a):
    from audit.services import Change, record_change

    record_change(
        None,
        Change(
            "grades.import",
            "grade",
            candidate_a.pk,
            {},
            {"MATH": "17.50"},
            "import",
            candidate_a.pk,
        ),
    )
    html = client_for(candidate_a.user).get("/my-file/history/").content.decode()
    assert "17.50" not in html
