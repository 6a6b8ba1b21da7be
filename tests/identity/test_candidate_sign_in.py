import pytest
from django.conf import settings

from identity import services
from identity.models import OneTimeCode, SignInEvent
from notifications.sms import MemorySMSBackend

from .conftest import (
    is_signed_in,
    last_email_code,
    last_sms_code,
    send_code,
    start_sign_in,
    submit_code,
    wrong_code,
)


def test_a_candidate_signs_in_with_password_then_the_code_sent_by_sms(client, candidate_a):
    send_code(client, channel="sms")
    assert MemorySMSBackend.outbox[-1][0] == "+212612345678"
    response = submit_code(client, last_sms_code())
    assert response.status_code == 302
    assert response.url == "/"
    assert is_signed_in(client)
    assert client.get("/").status_code == 200


def test_a_candidate_may_choose_to_receive_the_code_by_email(client, candidate_a):
    response = start_sign_in(client)
    page = client.get(response.url).content.decode()
    assert "+212 6•• ••• 678" in page
    assert "c•••@example.org" in page
    client.post("/account/sign-in/code/", {"action": "send", "send-channel": "email"})
    assert MemorySMSBackend.outbox == []
    submit_code(client, last_email_code(candidate_a.email))
    assert is_signed_in(client)


def test_a_lower_case_massar_code_still_signs_the_candidate_in(client, candidate_a):
    send_code(client, username=" r130000001 ")
    submit_code(client, last_sms_code())
    assert is_signed_in(client)


def test_the_session_is_not_authenticated_between_password_and_code(client, candidate_a):
    send_code(client)
    assert not is_signed_in(client)
    assert client.get("/my-file/history/").status_code == 302
    assert b"Sign in" in client.get("/").content


def test_the_session_key_changes_when_the_candidate_signs_in(client, candidate_a):
    client.get("/account/sign-in/")
    client.cookies[settings.SESSION_COOKIE_NAME] = "planted-by-an-attacker"
    send_code(client)
    before = client.session.session_key
    submit_code(client, last_sms_code())
    assert client.session.session_key != before


def test_the_code_is_stored_hashed_and_never_in_clear(client, candidate_a):
    send_code(client)
    code = last_sms_code()
    stored = OneTimeCode.objects.get(user=candidate_a.user)
    assert code not in stored.code_hash
    assert len(stored.code_hash) == 64


def test_a_wrong_code_is_refused_and_the_session_stays_anonymous(client, candidate_a):
    send_code(client)
    response = submit_code(client, wrong_code(last_sms_code()))
    assert response.status_code == 200
    assert "This code is not right" in response.content.decode()
    assert 'aria-describedby="id_code_helptext id_code_error"' in response.content.decode()
    assert not is_signed_in(client)


def test_a_code_that_is_not_six_digits_is_refused_before_checking(client, candidate_a):
    send_code(client)
    response = submit_code(client, "12ab")
    assert "Enter the 6 digits" in response.content.decode()
    assert OneTimeCode.objects.get(user=candidate_a.user).attempts == 0


def test_a_code_with_spaces_is_accepted(client, candidate_a):
    send_code(client)
    code = last_sms_code()
    submit_code(client, f"{code[:3]} {code[3:]}")
    assert is_signed_in(client)


def test_an_expired_code_is_refused(client, candidate_a, clock):
    send_code(client)
    clock.advance(settings.OTP_TTL_SECONDS + 1)
    response = submit_code(client, last_sms_code())
    assert "expired" in response.content.decode()
    assert not is_signed_in(client)


def test_a_code_is_accepted_until_it_expires(client, candidate_a, clock):
    send_code(client)
    clock.advance(settings.OTP_TTL_SECONDS - 5)
    submit_code(client, last_sms_code())
    assert is_signed_in(client)


def test_a_used_code_cannot_be_used_again(candidate_a):
    user = candidate_a.user
    services.issue_code(user, OneTimeCode.Purpose.SIGN_IN, "sms")
    code = last_sms_code()
    services.check_code(user, OneTimeCode.Purpose.SIGN_IN, code)
    with pytest.raises(services.Refused) as refusal:
        services.check_code(user, OneTimeCode.Purpose.SIGN_IN, code)
    assert refusal.value.reason == SignInEvent.Reason.CODE_EXPIRED


def test_replaying_the_code_after_signing_out_does_not_sign_in(client, candidate_a):
    send_code(client)
    code = last_sms_code()
    submit_code(client, code)
    client.post("/account/sign-out/")
    start_sign_in(client)
    response = submit_code(client, code)
    assert not is_signed_in(client)
    assert response.status_code in (200, 302)


def test_a_code_for_sign_in_does_not_work_for_a_password_reset(candidate_a):
    user = candidate_a.user
    services.issue_code(user, OneTimeCode.Purpose.SIGN_IN, "sms")
    with pytest.raises(services.Refused):
        services.check_code(user, OneTimeCode.Purpose.PASSWORD_RESET, last_sms_code())


def test_a_code_dies_after_five_wrong_attempts_even_if_the_sixth_is_right(
    client, candidate_a, settings
):
    settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT = 100  # isolate the per-code limit
    send_code(client)
    code = last_sms_code()
    for _ in range(5):
        submit_code(client, wrong_code(code))
    response = submit_code(client, code)
    assert "Too many wrong codes" in response.content.decode()
    assert not is_signed_in(client)


def test_a_new_code_replaces_the_previous_one(client, candidate_a, clock):
    send_code(client)
    first = last_sms_code()
    clock.advance(61)
    client.post("/account/sign-in/code/", {"action": "resend", "send-channel": "sms"})
    second = last_sms_code()
    assert len(MemorySMSBackend.outbox) == 2
    if first != second:
        response = submit_code(client, first)
        assert "not right" in response.content.decode()
    submit_code(client, second)
    assert is_signed_in(client)


def test_a_new_code_cannot_be_asked_for_within_a_minute(client, candidate_a):
    send_code(client)
    response = client.post("/account/sign-in/code/", {"action": "resend", "send-channel": "sms"})
    assert response.status_code == 200
    assert "Please wait" in response.content.decode()
    assert len(MemorySMSBackend.outbox) == 1


def test_at_most_five_codes_are_sent_in_an_hour(client, candidate_a, clock):
    send_code(client)
    for _ in range(6):
        clock.advance(61)
        client.post("/account/sign-in/code/", {"action": "resend", "send-channel": "sms"})
    assert len(MemorySMSBackend.outbox) == 5
    clock.advance(3600)
    send_code(client)
    assert len(MemorySMSBackend.outbox) == 6


def test_a_candidate_with_only_a_phone_gets_the_sms_without_choosing(client, candidate_a):
    candidate_a.email = ""
    candidate_a.save()
    response = start_sign_in(client)
    assert response.url == "/account/sign-in/code/"
    assert len(MemorySMSBackend.outbox) == 1
    page = client.get(response.url).content.decode()
    assert 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    submit_code(client, last_sms_code())
    assert is_signed_in(client)


def test_a_candidate_with_no_phone_and_no_email_is_told_to_ask_the_school(client, candidate_a):
    candidate_a.email = ""
    candidate_a.phone = ""
    candidate_a.save()
    response = start_sign_in(client)
    assert response.status_code == 200
    assert "Ask your school" in response.content.decode()
    assert not is_signed_in(client)


def test_a_wrong_password_gets_the_same_answer_as_an_unknown_account(client, candidate_a):
    wrong = start_sign_in(client, password="not the password").content.decode()
    unknown = start_sign_in(client, username="R999999999").content.decode()
    message = "The Massar code (or username) or the password is not right."
    assert message in wrong and message in unknown
    assert MemorySMSBackend.outbox == []


def test_the_code_step_without_a_password_step_sends_back_to_sign_in(client, candidate_a):
    response = client.get("/account/sign-in/code/")
    assert response.status_code == 302
    assert response.url == "/account/sign-in/"


def test_the_pending_sign_in_expires(client, candidate_a, clock):
    send_code(client)
    clock.advance(16 * 60)
    response = submit_code(client, last_sms_code())
    assert response.status_code == 302
    assert response.url == "/account/sign-in/"
    assert not is_signed_in(client)


def test_a_tampered_pending_state_is_ignored(client, candidate_a):
    send_code(client)
    session = client.session
    session["identity.pending"] = session["identity.pending"].replace(":", ";", 1)
    session.save()
    response = submit_code(client, last_sms_code())
    assert response.status_code == 302
    assert not is_signed_in(client)


def test_sign_in_pages_use_no_inline_style_or_script(client, candidate_a):
    pages = [client.get("/account/sign-in/").content.decode()]
    send_code(client)
    pages.append(client.get("/account/sign-in/code/").content.decode())
    for html in pages:
        assert "style=" not in html and "<script" not in html
    assert 'autocomplete="username"' in pages[0]
    assert 'autocomplete="current-password"' in pages[0]
    assert "Massar code or staff username" in pages[0]
