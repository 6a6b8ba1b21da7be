"""Smoke test of the production stack that `make prod` runs (nginx -> gunicorn -> PostgreSQL,
Redis, the broker, Celery): every journey's main page, as an anonymous visitor, a candidate and
staff, through nginx."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from .stack import BIN, ROOT, Browser

pytestmark = pytest.mark.prod

BASE = os.environ.get("PROD_URL", "http://127.0.0.1:8080")
PROD_DIR = Path(os.environ.get("PROD_DIR", ROOT / "var" / "prod"))
PASSWORD = "bac-demo-2026"  # the demo seed's


@pytest.fixture(scope="module")
def prod_env() -> dict[str, str]:
    if Browser(BASE).get("/healthz", timeout=3).status != 200:
        pytest.fail(f"the production stack does not answer on {BASE}: run `make prod` first")
    out = subprocess.run(  # noqa: S603
        [str(BIN / "python"), "deploy/prod.py", "env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = dict(re.findall(r'^export (\w+)="(.*)"$', out, re.M))
    return {**os.environ, **env}


def _manage(env: dict[str, str], *args: str, debug: bool = False) -> str:
    return subprocess.run(  # noqa: S603
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env={**env, **({"DEBUG": "true"} if debug else {})},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _sql(env: dict[str, str], query: str) -> list[tuple]:
    import psycopg

    url = env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as db:
        return db.execute(query).fetchall()


def _page_ok(reply, path: str) -> None:
    assert reply.status == 200, (path, reply.status, reply.url)
    assert "Traceback" not in reply.text
    assert reply.headers.get("X-Request-ID"), path


def test_public_pages_and_endpoints(prod_env):
    browser = Browser(BASE)
    for path in ("/", "/account/sign-in/", "/account/activate/", "/results/"):
        _page_ok(browser.get(path), path)
    assert browser.get("/healthz").json() == {"status": "ok"}
    ready = browser.get("/readyz")
    assert ready.status == 200 and ready.json()["status"] == "ok", ready.text
    assert set(ready.json()["checks"]) == {"database", "cache", "broker"}
    metrics = browser.get("/metrics")  # nginx on loopback: allowed
    assert metrics.status == 200
    for name in (
        "bac_http_requests_total",
        "bac_http_request_duration_seconds_bucket",
        "bac_results_publications",
        "bac_task_queue_length",
        "bac_sign_in_failures_total",
    ):
        assert name in metrics.text, name
    # Static files and the static results export come from nginx itself.
    css = browser.get("/static/css/site.css")
    assert css.status == 200 and "nginx" in css.headers.get("Server", "")
    assert browser.get("/results-export/").status == 200
    assert "keys" in browser.get("/results-export/export-key.json").json()
    # Documents are never served as files.
    assert browser.get("/media/anything").status == 404


def test_request_id_in_and_out(prod_env):
    reply = Browser(BASE).get("/healthz", headers={"X-Request-ID": "smoke-test-0001"})
    assert reply.headers["X-Request-ID"] == "smoke-test-0001"
    time.sleep(0.5)
    access = (PROD_DIR / "log" / "nginx-access.log").read_text().splitlines()[-50:]
    assert any(json.loads(line)["request_id"] == "smoke-test-0001" for line in access)


def test_error_pages_do_not_leak(prod_env):
    reply = Browser(BASE).get("/no/such/page/")
    assert reply.status == 404
    for leak in ("Traceback", "django", "settings", "/work/", "DEBUG"):
        assert leak not in reply.text


def test_results_lookup_through_nginx(prod_env):
    (code, birth), *_ = _sql(
        prod_env,
        "SELECT massar_code, birth_date::text FROM results_publishedresult ORDER BY id LIMIT 1",
    )
    browser = Browser(BASE)
    found = browser.get("/results/api/lookup", json_body={"massar_code": code, "birth_date": birth})
    assert found.status == 200 and found.json()["status"] == "found", found.text
    assert found.headers.get("X-Request-ID")
    wrong = browser.get(
        "/results/api/lookup", json_body={"massar_code": code, "birth_date": "1990-01-01"}
    )
    assert wrong.status == 404
    page = browser.submit("/results/", {"massar_code": code, "birth_date": birth})
    _page_ok(page, "/results/ (post)")
    assert code in page.text


def _sms_lines() -> list[str]:
    path = PROD_DIR / "log" / "sms.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def _send_code(browser: Browser) -> str:
    """Ask for the one-time code by SMS and read it from the SMS file (FileSMSBackend)."""
    for _attempt in range(3):
        before = len(_sms_lines())
        reply = browser.request(
            "/account/sign-in/code/",
            {"csrfmiddlewaretoken": browser.csrf(), "action": "send", "send-channel": "sms"},
        )
        for _ in range(20):
            for line in _sms_lines()[before:]:
                match = re.match(r"(\d{6})\b", json.loads(line)["text"])
                if match:
                    return match.group(1)
            time.sleep(0.25)
        # A code was sent moments ago (another run): wait as the page says, then ask again.
        wait = re.search(r"(\d+) (?:secondes|seconds)", reply.text)
        time.sleep(int(wait.group(1)) + 1 if wait else 2)
    raise AssertionError("no one-time code in the SMS file")


def test_candidate_journeys(prod_env):
    browser = Browser(BASE)
    reply = browser.submit("/account/sign-in/", {"username": "D100000000", "password": PASSWORD})
    assert reply.url.endswith("/account/sign-in/code/"), reply.url
    code = _send_code(browser)
    home = browser.request(
        "/account/sign-in/code/",
        {"csrfmiddlewaretoken": browser.csrf(), "action": "verify", "code": code},
    )
    _page_ok(home, "home (signed in)")
    for path in (
        "/",
        "/results/mine/",
        "/convocation/",
        "/verification/",
        "/my-file/history/",
        "/complaints/",
        "/scholarship/",
        "/diploma/",
        "/privacy/mine/",
    ):
        reply = browser.get(path)
        _page_ok(reply, path)
        assert "/account/sign-in/" not in reply.url, path
    for path in ("/privacy/", "/diploma/verify/", "/.well-known/did.json", "/diplomas/jwks.json"):
        _page_ok(Browser(BASE).get(path), path)  # public, signed out


def test_staff_journeys(prod_env):
    browser = Browser(BASE)
    reply = browser.submit("/account/sign-in/", {"username": "ministry", "password": PASSWORD})
    assert "/account/sign-in/" in reply.url, reply.url
    code = _manage(prod_env, "demo_totp", "ministry", debug=True).strip().split()[-1]
    home = browser.request(
        "/account/sign-in/code/",
        {"csrfmiddlewaretoken": browser.csrf(), "action": "verify", "code": code},
    )
    assert home.status == 200, home.status
    assert "/account/sign-in/" not in home.url, home.text[:2000]
    for path in (
        "/staff/candidates/",
        "/staff/imports/",
        "/verification/staff/",
        "/verification/staff/dashboard/",
        "/convocation/check/",
        "/staff/structure/",
        "/staff/results/",
        "/staff/publications/",
        "/staff/notifications/",
        "/complaints/staff/",
        "/scholarship/commission/",
        "/diplomas/staff/",
    ):
        reply = browser.get(path)
        _page_ok(reply, path)
        assert "/account/sign-in/" not in reply.url, path
