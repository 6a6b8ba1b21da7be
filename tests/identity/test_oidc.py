"""Sign-in with the national digital identity, against a real OpenID Connect provider.

The provider is panva's `oidc-provider` (npm), started on loopback by
tests/identity/oidc_provider/provider.mjs. Our side is driven with Django's test client; the
provider's pages with urllib and a cookie jar, as a browser would. Without Node.js or the
installed package the tests are skipped, except under CI=true where they fail.
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from candidates.models import IdentitySource
from identity import oidc
from identity.models import Role, SignInEvent, User
from tests.factories import CandidateFactory

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
CALLBACK = "http://testserver/account/sign-in/national-identity/callback/"
CLIENT_ID = "bac-eservices"
CLIENT_SECRET = "bac-test-secret"
POST_CLIENT_ID = "bac-eservices-post"
OTHER_CLIENT_ID = "other-service"
OTHER_CLIENT_SECRET = "other-test-secret"
OTHER_CALLBACK = "http://other.example/callback"
CNIE = "BE654321"
ACCOUNTS = {
    "amine": {
        "given_name": "Mohamed",
        "family_name": "EL AMRANI",
        "given_name#ar": "محمد",
        "family_name#ar": "العمراني",
        "birthdate": "2008-03-14",
        "gender": "male",
        "place_of_birth": "Rabat",
        "nationalities": ["MAR"],
        "cnie": "be 654321",
    },
    "stranger": {
        "given_name": "Nadia",
        "family_name": "Stranger",
        "birthdate": "2007-01-01",
        "cnie": "ZZ999999",
    },
}


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The issuer URL of a running oidc-provider with our client and another one."""
    node = shutil.which("node")
    if node is None:
        _missing("Node.js is not installed: the OIDC provider tests need it")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            _missing("npm is not installed: cannot install the test OIDC provider")
        done = subprocess.run(  # noqa: S603
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PROVIDER_DIR,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            _missing(f"npm ci failed in {PROVIDER_DIR}: {done.stderr.decode()[-500:]}")
    port = _free_port()
    env = {
        **os.environ,
        "OP_PORT": str(port),
        "OP_ACCOUNTS": json.dumps(ACCOUNTS),
        "OP_CLIENTS": json.dumps(
            [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": [CALLBACK],
                    "token_endpoint_auth_method": "client_secret_basic",
                },
                {
                    "client_id": POST_CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": [CALLBACK],
                    "token_endpoint_auth_method": "client_secret_post",
                },
                {
                    "client_id": OTHER_CLIENT_ID,
                    "client_secret": OTHER_CLIENT_SECRET,
                    "redirect_uris": [OTHER_CALLBACK],
                    "token_endpoint_auth_method": "client_secret_post",
                },
            ]
        ),
    }
    process = subprocess.Popen(  # noqa: S603
        [node, "provider.mjs"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("ready "):
            pytest.fail(f"the OIDC provider did not start: {line!r}")
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def configured(settings, provider: str) -> str:
    settings.OIDC_ISSUER = provider
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_SCOPES = ["openid", "profile", "cnie"]
    settings.OIDC_CNIE_CLAIM = "cnie"
    settings.OIDC_TOKEN_AUTH_METHOD = "client_secret_basic"
    settings.OIDC_REDIRECT_URI = ""
    settings.OIDC_USE_USERINFO = False
    settings.OIDC_LEEWAY_SECONDS = 60
    return provider


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Browser:
    """urllib with a cookie jar, following redirects itself until they leave the provider."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def _open(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            request = urllib.request.Request(url, data=body)  # noqa: S310 (loopback provider)
            with self.opener.open(request, timeout=10) as answer:
                return answer.status, "", answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode()

    def follow(self, url: str, data: dict[str, str] | None = None) -> tuple[str, str]:
        """(final URL, page) after the redirects inside the provider; stops at other hosts."""
        for _ in range(10):
            if not url.startswith(self.issuer):
                return url, ""
            status, location, page = self._open(url, data)
            data = None
            if status in (302, 303) and location:
                url = urllib.parse.urljoin(url, location)
                continue
            return url, page
        raise AssertionError("too many redirects")

    def sign_in(self, authorization_url: str, account: str = "amine") -> str:
        """Log in at the provider; the URL it sends the browser back to."""
        url, page = self.follow(authorization_url)
        action = re.search(r'action="([^"]+/login)"', page)
        assert action, page
        url, page = self.follow(
            urllib.parse.urljoin(url, unescape(action.group(1))), {"login": account}
        )
        assert not url.startswith(self.issuer), page
        return url

    def cancel(self, authorization_url: str) -> str:
        url, page = self.follow(authorization_url)
        action = re.search(r'action="([^"]+)/login"', page)
        assert action, page
        url, _page = self.follow(
            urllib.parse.urljoin(url, unescape(action.group(1)) + "/abort"), {}
        )
        return url


def _start(client: Client) -> str:
    response = client.post(reverse("identity:oidc_start"))
    assert response.status_code == 302
    return response["Location"]


def _callback(client: Client, url: str):
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return client.get(f"{parts.path}?{parts.query}")


def _params(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


@pytest.fixture
def candidate(session, school, track):
    return CandidateFactory(
        session=session, school=school, track=track, massar_code="R130046852", cnie_number=CNIE
    )


def _signed_in(client: Client) -> User | None:
    response = client.get(reverse("portal:home"))
    user = response.wsgi_request.user
    return user if user.is_authenticated else None


def _assert_nothing_stored(client: Client, candidate) -> None:
    assert not IdentitySource.objects.filter(candidate=candidate).exists()
    assert not User.objects.filter(username=candidate.massar_code).exists()
    assert _signed_in(client) is None


# --- the button ---------------------------------------------------------------------------------


def test_button_only_when_configured(client, settings, db):
    settings.OIDC_ISSUER = ""
    page = client.get(reverse("identity:sign_in")).content.decode()
    assert "national digital identity" not in page
    settings.OIDC_ISSUER = "https://idp.example"
    settings.OIDC_CLIENT_ID = "x"
    page = client.get(reverse("identity:sign_in")).content.decode()
    assert "Sign in with the national digital identity" in page
    assert reverse("identity:oidc_start") in page


def test_start_refused_when_not_configured(client, settings, db):
    settings.OIDC_ISSUER = ""
    response = client.post(reverse("identity:oidc_start"))
    assert response.status_code == 403
    assert "not available" in response.content.decode()


# --- against the real provider ------------------------------------------------------------------


def test_success_creates_account_stores_claims_and_signs_in(client, configured, candidate):
    authorization = _start(client)
    query = _params(authorization)
    assert query["code_challenge_method"] == "S256"
    assert query["state"] and query["nonce"] and query["code_challenge"]
    back = Browser(configured).sign_in(authorization)

    response = _callback(client, back)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    user = User.objects.get(username="R130046852")
    assert user.role == Role.CANDIDATE
    assert not user.has_usable_password()
    candidate.refresh_from_db()
    assert candidate.user == user
    source = IdentitySource.objects.get(candidate=candidate, kind="idp")
    assert source.data["cnie"] == CNIE
    assert source.data["given_name"] == "Mohamed"
    assert source.data["family_name#ar"] == "العمراني"
    assert source.data["birthdate"] == "2008-03-14"
    assert source.data["iss"] == configured
    assert source.data["sub"] == "amine"
    assert AuditEntry.objects.filter(action="identity_source_idp").exists()
    assert AuditEntry.objects.filter(action="activate_account").exists()
    assert _signed_in(client) == user
    assert SignInEvent.objects.filter(user=user, succeeded=True, reason="signed_in").exists()


def test_claims_compare_with_the_file(client, configured, candidate):
    from verification.compare import source_values

    _callback(client, Browser(configured).sign_in(_start(client)))
    values = source_values(IdentitySource.objects.get(candidate=candidate).data)
    assert values.get("cnie_number") == CNIE
    assert "birth_date" in values


def test_existing_account_is_reused(client, configured, candidate):
    user = User.objects.create_user(username=candidate.massar_code, role=Role.CANDIDATE)
    candidate.user = user
    candidate.save()
    response = _callback(client, Browser(configured).sign_in(_start(client)))
    assert response.status_code == 302
    assert _signed_in(client) == user
    assert User.objects.filter(username=candidate.massar_code).count() == 1


def test_client_secret_post_and_userinfo(client, configured, settings, candidate):
    # The provider accepts only the authentication method registered for the client.
    settings.OIDC_CLIENT_ID = POST_CLIENT_ID
    settings.OIDC_TOKEN_AUTH_METHOD = "client_secret_post"
    settings.OIDC_USE_USERINFO = True
    response = _callback(client, Browser(configured).sign_in(_start(client)))
    assert response.status_code == 302
    assert IdentitySource.objects.get(candidate=candidate).data["cnie"] == CNIE


def test_wrong_client_authentication_is_refused(client, configured, settings, candidate):
    settings.OIDC_CLIENT_SECRET = "not-the-secret"
    response = _callback(client, Browser(configured).sign_in(_start(client)))
    assert response.status_code == 403
    _assert_nothing_stored(client, candidate)


def test_no_file_with_this_cnie_is_refused(client, configured, candidate):
    response = _callback(client, Browser(configured).sign_in(_start(client), "stranger"))
    assert response.status_code == 403
    assert "no candidate file" in response.content.decode()
    _assert_nothing_stored(client, candidate)
    assert not User.objects.filter(role=Role.CANDIDATE).exists()


def test_access_denied_at_the_provider(client, configured, candidate):
    back = Browser(configured).cancel(_start(client))
    assert _params(back)["error"] == "access_denied"
    response = _callback(client, back)
    assert response.status_code == 403
    assert "cancelled or refused" in response.content.decode()
    _assert_nothing_stored(client, candidate)


def test_wrong_state_is_refused(client, configured, candidate):
    back = Browser(configured).sign_in(_start(client))
    query = _params(back)
    query["state"] = secrets.token_urlsafe(32)
    response = client.get(f"{reverse('identity:oidc_callback')}?{urllib.parse.urlencode(query)}")
    assert response.status_code == 403
    assert "does not belong to the sign-in started in this browser" in response.content.decode()
    _assert_nothing_stored(client, candidate)


def test_wrong_nonce_is_refused(client, configured, candidate, caplog):
    back = Browser(configured).sign_in(_start(client))
    session = client.session
    attempt = session[oidc.SESSION_KEY]
    attempt["nonce"] = secrets.token_urlsafe(32)  # the provider signed the original nonce
    session[oidc.SESSION_KEY] = attempt
    session.save()
    response = _callback(client, back)
    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert "nonce does not match" in caplog.text
    _assert_nothing_stored(client, candidate)


def test_expired_id_token_is_refused(client, configured, candidate, monkeypatch, caplog):
    back = Browser(configured).sign_in(_start(client))
    # Our clock runs two hours ahead of the provider's: its ID token (10 minutes) has expired.
    real = time.time
    monkeypatch.setattr(oidc, "_now", lambda: real() + 7200)
    session = client.session
    attempt = session[oidc.SESSION_KEY]
    attempt["expires_at"] = real() + 7200 + 60
    session[oidc.SESSION_KEY] = attempt
    session.save()
    response = _callback(client, back)
    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert "ID token expired" in caplog.text
    _assert_nothing_stored(client, candidate)


def test_replayed_callback_is_refused(client, configured, candidate, caplog):
    back = Browser(configured).sign_in(_start(client))
    saved = dict(client.session[oidc.SESSION_KEY])
    assert _callback(client, back).status_code == 302
    client.post(reverse("identity:sign_out"))

    # The same answer again: the attempt was consumed.
    response = _callback(client, back)
    assert response.status_code == 403
    assert "already been used or has expired" in response.content.decode()

    # Even with the attempt put into a session (another browser holding the stolen answer and
    # the attempt), the provider refuses the code it has already exchanged.
    thief = Client()
    session = thief.session
    session[oidc.SESSION_KEY] = saved
    session.save()
    response = _callback(thief, back)
    assert response.status_code == 403
    assert "already been used or has expired" in response.content.decode()
    assert "invalid_grant" in caplog.text
    assert _signed_in(thief) is None
    assert _signed_in(client) is None
    assert IdentitySource.objects.filter(candidate=candidate).count() == 1


def test_attempt_of_another_browser_is_refused(client, configured, candidate):
    back = Browser(configured).sign_in(_start(client))
    response = _callback(Client(), back)
    assert response.status_code == 403
    _assert_nothing_stored(Client(), candidate)


def test_id_token_for_another_client_is_refused(configured, candidate, db):
    """A real ID token of this provider, issued to another client (wrong audience)."""
    browser = Browser(configured)
    verifier = secrets.token_urlsafe(64)
    nonce = secrets.token_urlsafe(16)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    conf = oidc.config()
    assert conf is not None
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": OTHER_CLIENT_ID,
            "redirect_uri": OTHER_CALLBACK,
            "scope": "openid profile cnie",
            "state": "s",
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    back = browser.sign_in(f"{oidc.discovery(conf)['authorization_endpoint']}?{query}")
    tokens = oidc._http_json(
        conf,
        oidc.discovery(conf)["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": _params(back)["code"],
            "redirect_uri": OTHER_CALLBACK,
            "code_verifier": verifier,
            "client_id": OTHER_CLIENT_ID,
            "client_secret": OTHER_CLIENT_SECRET,
        },
    )
    token = tokens["id_token"]
    with pytest.raises(oidc.OIDCError, match="audience"):
        oidc.verify_id_token(conf, token, nonce)
    # The same token checked as the other client would pass: only the audience is wrong.
    other = oidc.Config(**{**conf.__dict__, "client_id": OTHER_CLIENT_ID})
    assert oidc.verify_id_token(other, token, nonce)["aud"] == OTHER_CLIENT_ID


def test_file_of_another_session_does_not_count(client, configured, school, track, db):
    from tests.factories import ExamSessionFactory

    old = ExamSessionFactory(code="2025-N", year=2025, is_current=False)
    ExamSessionFactory(code="2026-N", year=2026, is_current=True)
    CandidateFactory(session=old, school=school, track=track, cnie_number=CNIE)
    response = _callback(client, Browser(configured).sign_in(_start(client)))
    assert response.status_code == 403
    assert "no candidate file" in response.content.decode()
    assert not IdentitySource.objects.exists()
    assert not User.objects.exists()


def test_deactivated_account_is_refused(client, configured, candidate):
    user = User.objects.create_user(
        username=candidate.massar_code, role=Role.CANDIDATE, is_active=False
    )
    candidate.user = user
    candidate.save()
    response = _callback(client, Browser(configured).sign_in(_start(client)))
    assert response.status_code == 403
    assert "cannot sign in" in response.content.decode()
    assert not IdentitySource.objects.exists()
    assert _signed_in(client) is None


def test_unlinked_account_with_the_massar_code_is_refused(client, configured, candidate):
    User.objects.create_user(username=candidate.massar_code, role=Role.CANDIDATE)
    response = _callback(client, Browser(configured).sign_in(_start(client)))
    assert response.status_code == 403
    assert "not linked to your file" in response.content.decode()
    assert not IdentitySource.objects.exists()
    assert _signed_in(client) is None


def test_cnie_claim_name_is_configurable(client, configured, settings, candidate):
    settings.OIDC_CNIE_CLAIM = "national_id"  # the provider sends "cnie": nothing matches
    response = _callback(client, Browser(configured).sign_in(_start(client)))
    assert response.status_code == 403
    assert not IdentitySource.objects.exists()
