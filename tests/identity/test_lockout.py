from django.test import Client

from identity import services
from identity.models import SignInEvent

from .conftest import is_signed_in, last_sms_code, send_code, start_sign_in, submit_code, wrong_code


def test_an_account_is_locked_after_too_many_wrong_passwords(client, candidate_a, settings):
    for n in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        Client(REMOTE_ADDR=f"10.0.0.{n}").post(
            "/account/sign-in/", {"username": "R130000001", "password": "wrong"}
        )
    response = start_sign_in(client)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Too many failed attempts" in html
    assert "15 minutes" in html
    assert not is_signed_in(client)


def test_a_locked_account_does_not_even_check_the_password(
    client, candidate_a, settings, monkeypatch
):
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        start_sign_in(Client(), password="wrong")

    def must_not_be_called(*args, **kwargs):
        raise AssertionError("the password was checked during a lockout")

    monkeypatch.setattr(services, "authenticate", must_not_be_called)
    start_sign_in(client)
    assert SignInEvent.objects.filter(reason=SignInEvent.Reason.LOCKED).count() == 1


def test_the_lockout_ends_after_the_lockout_period(client, candidate_a, settings, clock):
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        start_sign_in(Client(), password="wrong")
    clock.advance(settings.SIGN_IN_LOCKOUT_SECONDS + 1)
    assert start_sign_in(client).status_code == 302


def test_an_address_is_locked_after_too_many_failures_on_any_accounts(
    client, candidate_a, settings
):
    settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS = 3
    for n in range(3):
        start_sign_in(client, username=f"R19999999{n}", password="wrong")
    response = start_sign_in(client)
    assert "Too many failed attempts" in response.content.decode()
    assert start_sign_in(Client(REMOTE_ADDR="192.0.2.7")).status_code == 302


def test_the_address_behind_a_trusted_proxy_is_the_one_counted(candidate_a, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS = 2
    proxy = "10.0.0.1"
    for _ in range(2):
        start_sign_in(
            Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1"),
            username="R199999999",
            password="wrong",
        )
    blocked = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert "Too many failed attempts" in start_sign_in(blocked).content.decode()
    other_client_same_proxy = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert start_sign_in(other_client_same_proxy).status_code == 302
    assert SignInEvent.objects.filter(address="198.51.100.1").exists()


def test_wrong_codes_count_towards_the_lockout(client, candidate_a, settings):
    send_code(client)
    code = last_sms_code()
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        submit_code(client, wrong_code(code))
    assert services.sign_in_wait("R130000001", "10.3.3.3") > 0
    assert "Too many failed attempts" in start_sign_in(Client()).content.decode()


def test_a_successful_sign_in_forgets_earlier_failures_of_the_account(
    client, candidate_a, settings
):
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT - 1):
        start_sign_in(Client(), password="wrong")
    send_code(client)
    submit_code(client, last_sms_code())
    assert is_signed_in(client)
    start_sign_in(Client(), password="wrong")
    assert services.sign_in_wait("R130000001", "10.4.4.4") == 0


def test_every_attempt_writes_a_sign_in_event(client, candidate_a):
    start_sign_in(client, password="wrong")
    send_code(client)
    submit_code(client, wrong_code(last_sms_code()))
    submit_code(client, last_sms_code())
    reasons = list(SignInEvent.objects.order_by("pk").values_list("reason", "succeeded"))
    assert reasons == [
        ("bad_password", False),
        ("password_ok", True),
        ("bad_code", False),
        ("signed_in", True),
    ]
    event = SignInEvent.objects.get(reason="signed_in")
    assert event.user == candidate_a.user
    assert event.username == "R130000001"
    assert event.address == "127.0.0.1"
