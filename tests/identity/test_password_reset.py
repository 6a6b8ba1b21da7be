import re

from django.core import mail
from django.test import Client

from identity import services
from identity.models import SignInEvent
from notifications.sms import MemorySMSBackend

from .conftest import (
    PASSWORD,
    is_signed_in,
    last_email_code,
    last_sms_code,
    start_sign_in,
    wrong_code,
)

NEW_PASSWORD = "another long sentence to remember"


def _error_box(response) -> str:
    match = re.search(
        r'<div class="msg msg-error" role="alert" id="form-errors">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    assert match, "an error is shown"
    return match.group(1).strip()


def _new_password(client, code: str, password: str = NEW_PASSWORD):
    return client.post(
        "/account/password-reset/code/",
        {"action": "verify", "code": code, "new_password1": password, "new_password2": password},
    )


def test_a_candidate_resets_the_password_with_massar_code_birth_date_and_code(client, candidate_a):
    response = client.post(
        "/account/password-reset/", {"identifier": "R130000001", "birth_date": "2008-03-14"}
    )
    assert response.status_code == 302
    assert response.url == "/account/password-reset/code/"
    client.post("/account/password-reset/code/", {"action": "send", "send-channel": "sms"})
    response = _new_password(client, last_sms_code())
    assert response.status_code == 302
    assert response.url == "/account/sign-in/"
    assert not is_signed_in(client)

    user = candidate_a.user
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(PASSWORD)
    assert start_sign_in(Client(), password=NEW_PASSWORD).url == "/account/sign-in/code/"
    assert SignInEvent.objects.filter(user=user, reason=SignInEvent.Reason.PASSWORD_RESET).exists()


def test_a_reset_ends_the_other_sessions_of_the_account(client, client_for, candidate_a):
    elsewhere = client_for(candidate_a.user)
    assert elsewhere.get("/my-file/history/").status_code == 200
    client.post(
        "/account/password-reset/", {"identifier": "R130000001", "birth_date": "2008-03-14"}
    )
    client.post("/account/password-reset/code/", {"action": "send", "send-channel": "email"})
    _new_password(client, last_email_code(candidate_a.email))
    assert elsewhere.get("/my-file/history/").status_code == 302


def test_a_wrong_birth_date_gets_the_same_answer_as_an_unknown_massar_code(client, candidate_a):
    wrong = client.post(
        "/account/password-reset/", {"identifier": "R130000001", "birth_date": "2008-03-15"}
    )
    unknown = client.post(
        "/account/password-reset/", {"identifier": "R199999999", "birth_date": "2008-03-14"}
    )
    assert _error_box(wrong) == _error_box(unknown)
    assert MemorySMSBackend.outbox == [] and mail.outbox == []


def test_a_massar_code_without_birth_date_is_asked_for_it(client, candidate_a):
    response = client.post("/account/password-reset/", {"identifier": "R130000001"})
    assert response.status_code == 200
    assert 'id="id_birth_date_error"' in response.content.decode()


def test_staff_reset_their_password_with_a_code_sent_by_email(client, clerk):
    response = client.post("/account/password-reset/", {"identifier": "clerk"})
    assert response.url == "/account/password-reset/code/"
    assert mail.outbox[-1].to == [clerk.email]
    _new_password(client, last_email_code(clerk.email))
    clerk.refresh_from_db()
    assert clerk.check_password(NEW_PASSWORD)


def test_a_reset_for_an_unknown_username_looks_the_same_and_sends_nothing(client, clerk):
    known = Client()
    known_page = known.get(known.post("/account/password-reset/", {"identifier": "clerk"}).url)
    response = client.post("/account/password-reset/", {"identifier": "nobody"})
    assert response.url == "/account/password-reset/code/"
    unknown_page = client.get(response.url)
    assert len(mail.outbox) == 1
    text = "If an account with this username exists"
    assert text in known_page.content.decode() and text in unknown_page.content.decode()
    response = _new_password(client, "123456")
    assert "This code is not right" in response.content.decode()


def test_a_wrong_reset_code_changes_nothing(client, clerk):
    client.post("/account/password-reset/", {"identifier": "clerk"})
    _new_password(client, wrong_code(last_email_code(clerk.email)))
    clerk.refresh_from_db()
    assert clerk.check_password(PASSWORD)


def test_a_reset_code_cannot_be_replayed(client, clerk):
    client.post("/account/password-reset/", {"identifier": "clerk"})
    code = last_email_code(clerk.email)
    _new_password(client, code)
    client.post("/account/password-reset/", {"identifier": "clerk"})
    response = _new_password(client, code, password="yet another long sentence")
    clerk.refresh_from_db()
    assert clerk.check_password(NEW_PASSWORD)
    assert response.status_code == 200


def test_a_reset_lifts_the_lockout_of_the_account(client, candidate_a, settings):
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        start_sign_in(Client(REMOTE_ADDR="10.1.1.1"), password="wrong")
    assert services.sign_in_wait("R130000001", "10.2.2.2") > 0
    client.post(
        "/account/password-reset/", {"identifier": "R130000001", "birth_date": "2008-03-14"}
    )
    client.post("/account/password-reset/code/", {"action": "send", "send-channel": "sms"})
    _new_password(client, last_sms_code())
    assert services.sign_in_wait("R130000001", "10.2.2.2") == 0


def test_reset_lookups_are_rate_limited(client, candidate_a):
    for day in range(1, services.LOOKUP_ATTEMPTS_PER_CODE + 1):
        client.post(
            "/account/password-reset/",
            {"identifier": "R130000001", "birth_date": f"2008-01-{day:02d}"},
        )
    response = client.post(
        "/account/password-reset/", {"identifier": "R130000001", "birth_date": "2008-03-14"}
    )
    assert "Too many failed attempts" in _error_box(response)
