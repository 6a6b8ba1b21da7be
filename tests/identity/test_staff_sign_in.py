import datetime
import re

import pyotp
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from identity import totp
from identity.models import SignInEvent

from .conftest import PASSWORD, enrol, is_signed_in, start_sign_in, submit_code, wrong_code


def _secret_on_page(html: str) -> str:
    match = re.search(r'<code dir="ltr" translate="no">([A-Z2-7 ]+)</code>', html)
    assert match, "the key is shown for typing by hand"
    return match.group(1).replace(" ", "")


def test_staff_without_an_authenticator_enrol_after_the_password(client, clerk):
    response = start_sign_in(client, "clerk")
    assert response.status_code == 302
    assert response.url == "/account/sign-in/authenticator/"
    assert not is_signed_in(client)

    html = client.get(response.url).content.decode()
    secret = _secret_on_page(html)
    assert '<svg role="img"' in html and "style=" not in html and "<script" not in html

    response = client.post(
        "/account/sign-in/authenticator/",
        {"action": "verify", "code": pyotp.TOTP(secret).at(timezone.now())},
    )
    assert response.status_code == 302
    assert response.url == "/staff/candidates/"
    assert is_signed_in(client)
    clerk.refresh_from_db()
    assert clerk.totp_confirmed
    assert secret not in clerk.totp_secret_encrypted
    assert totp.decrypt_secret(clerk.totp_secret_encrypted) == secret


def test_the_enrolment_key_stays_the_same_when_the_page_is_reloaded(client, clerk):
    start_sign_in(client, "clerk")
    first = _secret_on_page(client.get("/account/sign-in/authenticator/").content.decode())
    second = _secret_on_page(client.get("/account/sign-in/authenticator/").content.decode())
    assert first == second


def test_a_wrong_first_code_does_not_confirm_the_enrolment(client, clerk):
    start_sign_in(client, "clerk")
    secret = _secret_on_page(client.get("/account/sign-in/authenticator/").content.decode())
    response = client.post(
        "/account/sign-in/authenticator/",
        {"action": "verify", "code": wrong_code(pyotp.TOTP(secret).now())},
    )
    assert response.status_code == 200
    assert "not right" in response.content.decode()
    clerk.refresh_from_db()
    assert not clerk.totp_confirmed
    assert not is_signed_in(client)


def test_the_enrolment_page_needs_the_password_first(client, clerk):
    response = client.get("/account/sign-in/authenticator/")
    assert response.status_code == 302
    assert response.url == "/account/sign-in/"


def test_an_enrolled_staff_member_signs_in_with_the_code_of_the_app(client, academy_staff):
    app = enrol(academy_staff)
    response = start_sign_in(client, "aref")
    assert response.url == "/account/sign-in/code/"
    page = client.get(response.url).content.decode()
    assert "authenticator app" in page
    assert not is_signed_in(client)
    response = submit_code(client, app.at(timezone.now()))
    assert response.url == "/staff/candidates/"
    assert is_signed_in(client)


@pytest.mark.parametrize("offset", [-30, 30])
def test_a_code_one_step_early_or_late_is_accepted(client, ministry_staff, offset):
    app = enrol(ministry_staff)
    start_sign_in(client, "ministry")
    submit_code(client, app.at(timezone.now() + datetime.timedelta(seconds=offset)))
    assert is_signed_in(client)


def test_a_code_two_steps_old_is_refused(client, ministry_staff):
    app = enrol(ministry_staff)
    start_sign_in(client, "ministry")
    response = submit_code(client, app.at(timezone.now() - datetime.timedelta(seconds=65)))
    assert "not right" in response.content.decode()
    assert not is_signed_in(client)


def test_an_authenticator_code_cannot_be_used_twice(client, client_for, clerk):
    from django.test import Client

    app = enrol(clerk)
    code = app.at(timezone.now())
    start_sign_in(client, "clerk")
    submit_code(client, code)
    assert is_signed_in(client)

    other = Client()
    start_sign_in(other, "clerk")
    response = submit_code(other, code)
    assert "already been used" in response.content.decode()
    assert not is_signed_in(other)
    assert SignInEvent.objects.filter(reason=SignInEvent.Reason.TOTP_REPLAY).count() == 1


def test_the_next_code_works_after_one_was_used(client, clerk, clock):
    app = enrol(clerk)
    start_sign_in(client, "clerk")
    submit_code(client, app.at(timezone.now()))
    client.post("/account/sign-out/")
    clock.advance(30)
    start_sign_in(client, "clerk")
    submit_code(client, app.at(timezone.now()))
    assert is_signed_in(client)


def test_staff_are_never_sent_an_sms_code(client, clerk):
    from notifications.sms import MemorySMSBackend

    clerk.phone = "+212612345678"
    clerk.save()
    enrol(clerk)
    start_sign_in(client, "clerk")
    assert MemorySMSBackend.outbox == []


def test_demo_totp_prints_the_current_code_in_debug(clerk, settings, capsys):
    settings.DEBUG = True
    app = enrol(clerk)
    call_command("demo_totp", "clerk")
    assert capsys.readouterr().out.strip() in {
        app.at(timezone.now()),
        app.at(timezone.now() - datetime.timedelta(seconds=1)),
    }


def test_demo_totp_refuses_to_run_outside_debug(clerk, settings):
    settings.DEBUG = False
    enrol(clerk)
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo_totp", "clerk")


def test_demo_totp_refuses_candidates(candidate_a, settings):
    settings.DEBUG = True
    with pytest.raises(CommandError):
        call_command("demo_totp", candidate_a.user.username)


def test_the_same_password_page_serves_candidates_and_staff(client, candidate_a, clerk):
    html = client.get("/account/sign-in/").content.decode()
    assert "Massar code or staff username" in html
    assert PASSWORD not in html
