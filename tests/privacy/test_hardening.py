"""Security by default: the production settings pass `check --deploy`, every response carries
the strict headers, cookies are secure and HttpOnly, no template needs an inline script or
style, and secrets come only from the environment or files.

(Start-up refusing to run without a secret key outside debug: tests/bac.)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

ROOT = Path(settings.BASE_DIR)


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
        and not k.startswith(("SECURE_", "PYTEST", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    }
    env.update(
        {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SECRET_KEY_FILE": "",
            "ALLOWED_HOSTS": "bac.example.ma",
            "BAC_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "bac.settings",
        }
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_switches_every_transport_protection_on(tmp_path):
    probe = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ("
        "'DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'CSRF_COOKIE_HTTPONLY', 'LANGUAGE_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', "
        "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', "
        "'X_FRAME_OPTIONS', 'SECURE_REFERRER_POLICY', 'SECURE_CONTENT_TYPE_NOSNIFF', "
        "'SESSION_COOKIE_NAME', 'CSRF_COOKIE_NAME', 'SESSION_COOKIE_SAMESITE')}))"
    )
    result = _run(["-c", probe], _production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    for name in (
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_HTTPONLY",
        "LANGUAGE_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_CONTENT_TYPE_NOSNIFF",
    ):
        assert values[name] is True, name
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"
    # __Host- cookies: Secure, path /, no Domain: a subdomain cannot plant or read them.
    assert values["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert values["CSRF_COOKIE_NAME"].startswith("__Host-")


def test_the_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text(secrets.token_urlsafe(50))
    env = _production_env(tmp_path, SECRET_KEY="", SECRET_KEY_FILE=str(key_file))
    probe = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    result = _run(["-c", probe], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == key_file.read_text()


_SECRET_NAME = re.compile(r"(?:SECRET|PASSWORD|TOKEN|PRIVATE|_KEYS?)\b", re.IGNORECASE)
_LITERAL_ASSIGNMENT = re.compile(r"""^\s*([A-Z0-9_]+)\s*=\s*["']([^"']{16,})["']""", re.M)
# What a generated secret looks like: long, mixed letters and digits, no word separators.
_RANDOM_LOOKING = re.compile(r"^(?=.*\d)(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9+/=_-]{20,}$")


def test_no_secret_is_written_in_the_source():
    """Secrets come from the environment or files: no private key or secret-looking literal
    in the project's Python files."""
    found = []
    skip = {".venv", "build", "node_modules", "tests", "bench", "staticfiles", "var"}
    for path in ROOT.rglob("*.py"):
        if skip & set(path.relative_to(ROOT).parts):
            continue
        text = path.read_text(errors="replace")
        if "-----BEGIN" in text and "PRIVATE KEY-----" in text:
            found.append(f"{path}: a PEM private key")
        for name, value in _LITERAL_ASSIGNMENT.findall(text):
            if _SECRET_NAME.search(name) and _RANDOM_LOOKING.match(value):
                found.append(f"{path}: {name} = {value[:6]}…")
    assert not found, found


@pytest.fixture
def secure_settings(settings):
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    return settings


def test_every_response_carries_the_strict_headers(client, db, secure_settings):
    response = client.get(reverse("identity:sign_in"), secure=True)
    csp = response["Content-Security-Policy"]
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in csp.split(";") if part.strip()
    )
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]


def test_error_pages_and_json_answers_carry_them_too(client, db):
    for response in (
        client.get("/no-such-page/"),
        client.get(reverse("results:openapi")),
    ):
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"


def test_the_session_and_csrf_cookies_are_secure_and_http_only(client, candidate_a, settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    page = client.get(reverse("identity:sign_in"), secure=True)
    csrf = page.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
    # The password step stores the pending sign-in in the session: the cookie is set.
    response = client.post(
        reverse("identity:sign_in"),
        {"username": "R130000001", "password": "correct horse battery staple"},
        secure=True,
    )
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


def test_pages_with_personal_data_are_not_kept_by_caches(candidate_a, client_for):
    page = client_for(candidate_a.user).get(reverse("privacy:mine"))
    assert "no-store" in page["Cache-Control"]


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
_INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
_EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=\s*[\"']", re.IGNORECASE)
_JS_URL = re.compile(r"href\s*=\s*[\"']\s*javascript:", re.IGNORECASE)


def _templates() -> list[Path]:
    found = []
    for folder in [ROOT / "templates", *ROOT.glob("*/templates")]:
        if ".venv" in folder.parts:
            continue
        found.extend(p for p in folder.rglob("*") if p.suffix in (".html", ".txt", ".svg"))
    return found


def test_no_template_needs_an_inline_script_style_or_handler():
    """The CSP forbids them: a template that used one would break silently in the browser.
    (Templates for PDFs and e-mails are not served under the CSP but follow the rule too.)"""
    offenders = []
    for path in _templates():
        text = path.read_text(errors="replace")
        for pattern, what in (
            (_INLINE_SCRIPT, "inline <script>"),
            (_INLINE_STYLE, "inline style"),
            (_EVENT_HANDLER, "on…= handler"),
            (_JS_URL, "javascript: URL"),
        ):
            if pattern.search(text):
                offenders.append(f"{path.relative_to(ROOT)}: {what}")
    assert len(_templates()) > 20
    assert not offenders, "\n".join(offenders)
