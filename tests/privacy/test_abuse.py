"""Abuse: what the other test folders do not already cover, and the inventory of every lookup
by a guessable key with its limit and the test that proves it.

Already covered elsewhere (not repeated here):
* brute force of passwords: tests/identity/test_lockout.py (per account and per address);
* brute force of one-time codes: tests/identity/test_candidate_sign_in.py (five attempts per
  code, one code a minute, five an hour) and test_lockout (wrong codes count);
* replay of a one-time code: test_candidate_sign_in (used code, after signing out), of a
  reset code: test_password_reset, of an authenticator code: test_staff_sign_in / test_totp,
  of an OpenID Connect code or state: tests/identity/test_oidc.py (replayed callback);
* a candidate's session fixed before sign-in: test_candidate_sign_in;
* CSRF on every state-changing URL: tests/privacy/test_csrf.py.
"""

from __future__ import annotations

import importlib

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.identity.conftest import (
    enrol,
    is_signed_in,
    last_sms_code,
    send_code,
    start_sign_in,
    submit_code,
    wrong_code,
)

# Every lookup that takes a guessable key, its limit, and the test that proves it.
GUESSABLE_LOOKUPS = [
    (
        "results lookup (Massar code or CNIE number + birth date), page and API",
        "10 failures per code an hour; 300 lookups per address (IPv6 /64) per 10 minutes",
        "tests.results.test_lookup",
        "test_the_per_code_limit_holds_even_with_the_right_birth_date_afterwards",
    ),
    (
        "results lookup, per address",
        "RESULTS_LOOKUP_PER_ADDRESS per RESULTS_LOOKUP_ADDRESS_WINDOW_SECONDS",
        "tests.results.test_lookup",
        "test_the_per_address_limit_holds_across_codes",
    ),
    (
        "sign-in password (user name + password)",
        "5 failures per account, 30 per address, then locked 15 minutes",
        "tests.identity.test_lockout",
        "test_an_account_is_locked_after_too_many_wrong_passwords",
    ),
    (
        "sign-in password, per address",
        "SIGN_IN_MAX_FAILURES_PER_ADDRESS",
        "tests.identity.test_lockout",
        "test_an_address_is_locked_after_too_many_failures_on_any_accounts",
    ),
    (
        "one-time code (6 digits)",
        "5 attempts per code; one code a minute, 5 an hour; failures count to the lockout",
        "tests.identity.test_candidate_sign_in",
        "test_a_code_dies_after_five_wrong_attempts_even_if_the_sixth_is_right",
    ),
    (
        "authenticator code of staff (6 digits)",
        "failures count to the account lockout (5)",
        "tests.privacy.test_abuse",
        "test_wrong_authenticator_codes_lock_the_staff_account",
    ),
    (
        "account activation (Massar code + birth date + CNIE number)",
        "5 attempts per Massar code, 20 per address, an hour",
        "tests.identity.test_activation",
        "test_activation_attempts_are_limited_per_massar_code",
    ),
    (
        "account activation, per address",
        "20 per address an hour",
        "tests.identity.test_activation",
        "test_activation_attempts_are_limited_per_address",
    ),
    (
        "password reset (user name + birth date)",
        "5 attempts per account, 20 per address, an hour",
        "tests.identity.test_password_reset",
        "test_reset_lookups_are_rate_limited",
    ),
    (
        "convocation verification API (signed QR code)",
        "120 per address a minute (CONVOCATION_VERIFY_PER_ADDRESS)",
        "tests.convocations.test_verify",
        "test_the_api_is_rate_limited_per_address",
    ),
    (
        "diploma share link (token in the URL), page and SD-JWT: unknown tokens",
        "10 unknown tokens per address (IPv6 /64) per 15 minutes, then the address is locked "
        "out for 15 minutes, real tokens included (SHARE_MISSES_PER_ADDRESS)",
        "tests.sharing.test_links",
        "test_unknown_tokens_get_a_generic_404_then_the_address_is_locked_out",
    ),
    (
        "diploma share link, every lookup per address",
        "60 per address a minute (SHARE_LOOKUPS_PER_ADDRESS)",
        "tests.privacy.test_abuse",
        "test_share_link_lookups_are_limited_per_address",
    ),
    (
        "diploma verification page (share link, QR code, credential or PDF)",
        "60 per address a minute (DIPLOMA_VERIFY_PER_ADDRESS)",
        "tests.sharing.test_verify",
        "test_the_page_is_rate_limited_too",
    ),
    (
        "diploma verification API",
        "60 per address a minute (DIPLOMA_VERIFY_PER_ADDRESS)",
        "tests.sharing.test_verify",
        "test_the_api_is_rate_limited_per_address",
    ),
    (
        "export of a candidate's data (decrypts every document)",
        "5 per account an hour (PRIVACY_EXPORTS_PER_HOUR)",
        "tests.privacy.test_export",
        "test_exports_are_limited_per_hour",
    ),
]


@pytest.mark.parametrize(("lookup", "limit", "module", "test"), GUESSABLE_LOOKUPS)
def test_every_guessable_lookup_has_a_limit_proven_by_a_test(lookup, limit, module, test):
    assert callable(getattr(importlib.import_module(module), test, None)), (lookup, test)


def test_wrong_authenticator_codes_lock_the_staff_account(client, clerk, settings):
    app = enrol(clerk)
    right = app.at(timezone.now())
    for n in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        attacker = Client(REMOTE_ADDR=f"10.0.1.{n}")
        start_sign_in(attacker, "clerk")
        submit_code(attacker, wrong_code(right))
    # Even the right password then the right code are refused while the lockout lasts.
    response = start_sign_in(client, "clerk")
    if response.status_code == 302:
        response = submit_code(client, app.at(timezone.now()))
    assert not is_signed_in(client)
    assert "Too many failed attempts" in response.content.decode()


def test_share_link_lookups_are_limited_per_address(candidate_a, settings):
    """Every lookup counts, a real token's too: the limit holds however the guesses are split
    between the page and the SD-JWT; other addresses are unaffected."""
    from sharing import services
    from tests.sharing.access_matrix import seed_share_link

    settings.SHARE_LOOKUPS_PER_ADDRESS = 3
    _link, token = seed_share_link(candidate_a)
    page = services.share_path(token)
    sd_jwt = reverse("sharing:shared_sd_jwt", args=[token])
    guesser = Client(REMOTE_ADDR="192.0.2.20")
    assert [guesser.get(url).status_code for url in (page, sd_jwt, page)] == [200, 200, 200]
    for url in (page, sd_jwt):
        limited = guesser.get(url)
        assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert Client(REMOTE_ADDR="192.0.2.99").get(page).status_code == 200


def test_the_session_key_changes_when_staff_sign_in(client, clerk):
    app = enrol(clerk)
    client.get("/account/sign-in/")
    client.cookies[settings.SESSION_COOKIE_NAME] = "planted-by-an-attacker"
    start_sign_in(client, "clerk")
    before = client.session.session_key
    submit_code(client, app.at(timezone.now()))
    assert is_signed_in(client)
    assert client.session.session_key not in (before, "planted-by-an-attacker")


def test_a_session_key_known_before_sign_in_gives_nothing_afterwards(client, candidate_a):
    """The attacker's copy of the pre-sign-in cookie is worthless once the victim signs in."""
    client.get("/account/sign-in/")
    send_code(client)
    fixed = client.cookies[settings.SESSION_COOKIE_NAME].value
    submit_code(client, last_sms_code())
    assert is_signed_in(client)
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = fixed
    assert attacker.get("/my-file/history/").status_code == 302
    assert attacker.get("/privacy/mine/").status_code == 302


def test_signing_out_kills_the_session_on_the_server(client, candidate_a):
    send_code(client)
    submit_code(client, last_sms_code())
    stolen = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/account/sign-out/")
    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert thief.get("/privacy/mine/").status_code == 302
