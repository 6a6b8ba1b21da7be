import datetime
import re

import pytest

from audit.models import AuditEntry
from candidates.models import Candidate
from identity import services
from identity.models import Role, SignInEvent, User
from notifications.sms import MemorySMSBackend
from tests.factories import CandidateFactory, ExamSessionFactory

from .conftest import is_signed_in, last_email_code, last_sms_code, submit_code

BIRTH_DATE = "2008-03-14"
NEW_PASSWORD = "a long sentence nobody guesses"


@pytest.fixture
def new_candidate(session, school, track):
    """A file the school has created; the candidate has never signed in."""
    return CandidateFactory(
        session=session,
        school=school,
        track=track,
        massar_code="R130000009",
        cnie_number="BE987654",
        user=None,
    )


def _identify(client, massar="R130000009", birth_date=BIRTH_DATE, cnie="BE987654"):
    return client.post(
        "/account/activate/",
        {"massar_code": massar, "birth_date": birth_date, "cnie_number": cnie},
    )


def _error_box(response) -> str:
    match = re.search(
        r'<div class="msg msg-error" role="alert" id="form-errors">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    assert match, "an error is shown"
    return match.group(1).strip()


def test_a_candidate_activates_the_account_and_is_signed_in(client, new_candidate):
    response = _identify(client, massar=" r130000009 ", cnie="be 987654")
    assert response.status_code == 302
    assert response.url == "/account/activate/code/"
    assert not is_signed_in(client)
    client.post("/account/activate/code/", {"action": "send", "send-channel": "sms"})
    response = client.post(
        "/account/activate/code/",
        {
            "action": "verify",
            "code": last_sms_code(),
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response.url == "/"
    assert is_signed_in(client)
    user = User.objects.get(username="R130000009")
    assert user.role == Role.CANDIDATE
    assert user.check_password(NEW_PASSWORD)
    new_candidate.refresh_from_db()
    assert new_candidate.user == user
    assert AuditEntry.objects.filter(candidate=new_candidate, action="activate_account").exists()
    assert SignInEvent.objects.filter(user=user, reason=SignInEvent.Reason.ACTIVATED).exists()


def test_the_activated_account_signs_in_with_password_and_code(client, new_candidate):
    from django.test import Client

    _identify(client)
    client.post("/account/activate/code/", {"action": "send", "send-channel": "email"})
    client.post(
        "/account/activate/code/",
        {
            "action": "verify",
            "code": last_email_code(new_candidate.email),
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    later = Client()
    response = later.post("/account/sign-in/", {"username": "R130000009", "password": NEW_PASSWORD})
    assert response.url == "/account/sign-in/code/"
    later.post("/account/sign-in/code/", {"action": "send", "send-channel": "sms"})
    submit_code(later, last_sms_code())
    assert is_signed_in(later)


def test_a_wrong_birth_date_gets_the_same_answer_as_an_unknown_massar_code(client, new_candidate):
    wrong_date = _identify(client, birth_date="2008-03-15")
    unknown = _identify(client, massar="R199999999")
    assert wrong_date.status_code == unknown.status_code == 200
    assert _error_box(wrong_date) == _error_box(unknown)
    assert MemorySMSBackend.outbox == []
    assert not User.objects.filter(username="R130000009").exists()


def test_a_wrong_cnie_number_gets_the_same_answer(client, new_candidate):
    wrong_cnie = _identify(client, cnie="BE000000")
    missing_cnie = _identify(client, cnie="")
    unknown = _identify(client, massar="R199999999")
    assert _error_box(wrong_cnie) == _error_box(missing_cnie) == _error_box(unknown)


def test_a_file_without_cnie_is_activated_with_massar_code_and_birth_date(client, new_candidate):
    Candidate.objects.filter(pk=new_candidate.pk).update(cnie_number="")
    assert _identify(client, cnie="").status_code == 302


def test_only_a_file_of_the_current_session_can_be_activated(client, new_candidate):
    old = ExamSessionFactory(
        code="2025-N", name="Session normale 2025", year=2025, is_current=False
    )
    Candidate.objects.filter(pk=new_candidate.pk).update(session=old)
    assert _identify(client).status_code == 200


def test_an_account_cannot_be_activated_twice(client, candidate_a):
    unknown = _identify(client, massar="R199999999")
    already = _identify(client, massar="R130000001", cnie=candidate_a.cnie_number)
    assert _error_box(already) == _error_box(unknown)
    assert "sign in or reset your password" in _error_box(already)
    assert MemorySMSBackend.outbox == []


def test_activation_is_refused_if_the_account_appeared_meanwhile(client, rf, new_candidate):
    _identify(client)
    client.post("/account/activate/code/", {"action": "send", "send-channel": "sms"})
    code = last_sms_code()
    request = rf.post("/")
    services.activate_account(request, new_candidate, NEW_PASSWORD)
    response = client.post(
        "/account/activate/code/",
        {"action": "verify", "code": code, "new_password1": "x" * 12, "new_password2": "x" * 12},
    )
    assert response.status_code == 302
    assert response.url == "/account/activate/"
    assert User.objects.filter(username="R130000009").count() == 1


def test_a_weak_password_is_refused_with_the_validators_messages(client, new_candidate):
    _identify(client)
    client.post("/account/activate/code/", {"action": "send", "send-channel": "sms"})
    response = client.post(
        "/account/activate/code/",
        {
            "action": "verify",
            "code": last_sms_code(),
            "new_password1": "123456789",
            "new_password2": "123456789",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "too short" in html and "entirely numeric" in html
    assert 'id="id_new_password1_error"' in html
    assert not User.objects.filter(username="R130000009").exists()


def test_a_password_like_the_massar_code_is_refused(client, new_candidate):
    _identify(client)
    client.post("/account/activate/code/", {"action": "send", "send-channel": "sms"})
    response = client.post(
        "/account/activate/code/",
        {
            "action": "verify",
            "code": last_sms_code(),
            "new_password1": "R130000009x",
            "new_password2": "R130000009x",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "too similar" in response.content.decode()


def test_activation_with_a_wrong_code_creates_nothing(client, new_candidate):
    _identify(client)
    client.post("/account/activate/code/", {"action": "send", "send-channel": "sms"})
    code = last_sms_code()
    response = client.post(
        "/account/activate/code/",
        {
            "action": "verify",
            "code": f"{(int(code) + 1) % 1_000_000:06d}",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert "not right" in response.content.decode()
    assert not User.objects.filter(username="R130000009").exists()


def test_activation_attempts_are_limited_per_massar_code(client, new_candidate):
    from django.test import Client

    for n in range(services.LOOKUP_ATTEMPTS_PER_CODE):
        Client(REMOTE_ADDR=f"10.0.0.{n}").post(
            "/account/activate/",
            {
                "massar_code": "R130000009",
                "birth_date": f"2008-01-{n + 1:02d}",
                "cnie_number": "BE987654",
            },
        )
    response = _identify(client)
    assert response.status_code == 200
    assert "Too many failed attempts" in _error_box(response)
    assert MemorySMSBackend.outbox == []


def test_activation_attempts_are_limited_per_address(client, new_candidate, monkeypatch):
    monkeypatch.setattr(services, "LOOKUP_ATTEMPTS_PER_ADDRESS", 3)
    for n in range(3):
        _identify(client, massar=f"R1300001{n:02d}")
    response = _identify(client)
    assert "Too many failed attempts" in _error_box(response)
    from django.test import Client

    assert _identify(Client(REMOTE_ADDR="10.9.9.9")).status_code == 302


def test_the_activation_page_is_accessible_without_javascript(client, db):
    html = client.get("/account/activate/").content.decode()
    assert 'autocomplete="username"' in html and 'autocomplete="bday"' in html
    assert 'type="date"' in html
    assert "style=" not in html and "<script" not in html


def test_the_birth_date_can_be_typed_day_first(client, new_candidate):
    assert (
        _identify(client, birth_date=datetime.date(2008, 3, 14).strftime("%d/%m/%Y")).status_code
        == 302
    )


def test_the_code_page_offers_both_ways_with_masked_destinations(client, new_candidate):
    _identify(client)
    html = client.get("/account/activate/code/").content.decode()
    assert "+212 6•• ••• 678" in html
    assert new_candidate.email not in html
