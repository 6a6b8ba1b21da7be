"""Who gets a convocation, and when: a verified file, a CNIE (number and copy), a centre and
room, inside the convocation window. Otherwise the candidate reads why, in plain words."""

import datetime

import pytest
from django.utils import timezone

from candidates.models import CnieDocument, VerificationStatus
from convocations.models import Convocation
from tests.factories import SessionWindowFactory

PAGE = "/convocation/"
DOWNLOAD = "/convocation/download.pdf"


def page(client_for, candidate) -> str:
    response = client_for(candidate.user).get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


def test_a_ready_candidate_inside_the_window_is_offered_the_download(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    html = page(client_for, candidate_a)
    assert DOWNLOAD in html
    assert "Why you cannot have your convocation yet" not in html


def test_no_convocation_before_the_data_is_verified(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    candidate_a.verification_status = VerificationStatus.PENDING
    candidate_a.save()
    html = page(client_for, candidate_a)
    assert "You have not confirmed your data yet" in html
    assert DOWNLOAD not in html
    response = client_for(candidate_a.user).get(DOWNLOAD)
    assert response.status_code == 302 and response.url == PAGE
    assert not Convocation.objects.exists()


def test_no_convocation_while_reported_errors_await_the_school(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    candidate_a.verification_status = VerificationStatus.REPORTED
    candidate_a.save()
    assert "your school is still reviewing them" in page(client_for, candidate_a)
    client_for(candidate_a.user).get(DOWNLOAD)
    assert not Convocation.objects.exists()


def test_no_convocation_without_a_cnie_number(client_for, candidate_a, ready, convocation_window):
    ready(candidate_a)
    candidate_a.cnie_number = ""
    candidate_a.save()
    html = page(client_for, candidate_a)
    assert "Your file has no CNIE number" in html
    assert DOWNLOAD not in html
    client_for(candidate_a.user).get(DOWNLOAD)
    assert not Convocation.objects.exists()


def test_no_convocation_without_a_current_copy_of_the_cnie(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    CnieDocument.objects.filter(candidate=candidate_a).update(is_current=False)
    assert "has not uploaded a copy of your CNIE yet" in page(client_for, candidate_a)
    client_for(candidate_a.user).get(DOWNLOAD)
    assert not Convocation.objects.exists()


def test_no_convocation_before_a_centre_and_room_are_assigned(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    candidate_a.exam_room = ""
    candidate_a.save()
    assert "Your exam centre and room have not been assigned yet" in page(client_for, candidate_a)
    client_for(candidate_a.user).get(DOWNLOAD)
    assert not Convocation.objects.exists()


def test_every_reason_is_listed_at_once(client_for, candidate_a, convocation_window):
    candidate_a.cnie_number = ""
    candidate_a.save()
    html = page(client_for, candidate_a)
    assert "You have not confirmed your data yet" in html
    assert "Your file has no CNIE number" in html
    assert "Your exam centre and room have not been assigned yet" in html


def test_before_the_window_the_candidate_reads_when_it_opens(client_for, candidate_a, ready):
    ready(candidate_a)
    opens = timezone.now() + datetime.timedelta(days=3)
    SessionWindowFactory(
        session=candidate_a.session, kind="convocation", opens_at=opens, closes_at=None
    )
    html = page(client_for, candidate_a)
    assert "Convocations can be downloaded from" in html
    assert str(timezone.localtime(opens).year) in html
    assert DOWNLOAD not in html
    assert client_for(candidate_a.user).get(DOWNLOAD).status_code == 302
    assert not Convocation.objects.exists()


def test_after_the_window_the_candidate_reads_that_it_closed(client_for, candidate_a, ready):
    ready(candidate_a)
    now = timezone.now()
    SessionWindowFactory(
        session=candidate_a.session,
        kind="convocation",
        opens_at=now - datetime.timedelta(days=10),
        closes_at=now - datetime.timedelta(days=1),
    )
    assert "The download period closed on" in page(client_for, candidate_a)
    client_for(candidate_a.user).get(DOWNLOAD)
    assert not Convocation.objects.exists()


def test_without_a_window_the_candidate_reads_that_dates_are_not_announced(
    client_for, candidate_a, ready
):
    ready(candidate_a)
    assert "have not been announced yet" in page(client_for, candidate_a)


def test_the_page_speaks_arabic_to_an_arabic_reader(client_for, candidate_a, convocation_window):
    html = client_for(candidate_a.user).get(PAGE, HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert 'dir="rtl"' in html


@pytest.mark.parametrize("url", [PAGE, DOWNLOAD])
def test_staff_have_no_candidate_convocation_page(client_for, clerk, url):
    assert client_for(clerk).get(url).status_code == 403


@pytest.mark.parametrize("url", [PAGE, DOWNLOAD])
def test_anonymous_visitors_are_sent_to_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and "/account/sign-in/" in response.url


def test_the_home_page_card_links_to_the_convocation_page(
    client_for, candidate_a, convocation_window
):
    html = client_for(candidate_a.user).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    card = html.split('id="service-convocation"')[1].split("</li>")[0]
    assert 'href="/convocation/"' in card and "state-open" in card
