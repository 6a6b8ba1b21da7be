"""Faults on a real stack (gunicorn + a Celery worker) running on PRIVATE PostgreSQL and Redis
instances started by the tests (tests/ops/conftest.py): each test stops or breaks one of them,
never the machine's shared services."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import time

import pytest

from .stack import Browser, PrivateStack, wait_for

pytestmark = pytest.mark.prod

PASSWORD = "bac-demo-2026"


def _sql(stack: PrivateStack, query: str, params=()) -> list[tuple]:
    import psycopg

    url = stack.env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(query, params).fetchall()


def _pair(stack: PrivateStack, offset: int = 0) -> tuple[str, str]:
    rows = _sql(
        stack,
        "SELECT massar_code, birth_date::text FROM results_publishedresult "
        "ORDER BY id LIMIT 1 OFFSET %s",
        [offset],
    )
    return rows[0]


def _lookup(browser: Browser, code: str, birth: str, address: str = "100.64.1.1"):
    return browser.get(
        "/results/api/lookup",
        json_body={"massar_code": code, "birth_date": birth},
        headers={"X-Forwarded-For": address},
    )


def _sign_in_candidate(stack: PrivateStack, browser: Browser, username: str) -> None:
    reply = browser.submit("/account/sign-in/", {"username": username, "password": PASSWORD})
    assert reply.status == 200 and reply.url.endswith("/account/sign-in/code/"), (
        reply.status,
        reply.url,
    )
    sms = stack.directory / "sms.jsonl"
    before = len(sms.read_text().splitlines()) if sms.exists() else 0
    browser.request(
        "/account/sign-in/code/",
        {"csrfmiddlewaretoken": browser.csrf(), "action": "send", "send-channel": "sms"},
    )

    def code():
        lines = sms.read_text().splitlines() if sms.exists() else []
        for line in lines[before:]:
            match = re.match(r"(\d{6})\b", json.loads(line)["text"])
            if match:
                return match.group(1)
        return None

    otp = wait_for(code, 10, "the one-time code SMS")
    home = browser.request(
        "/account/sign-in/code/",
        {"csrfmiddlewaretoken": browser.csrf(), "action": "verify", "code": otp},
    )
    assert home.status == 200 and "/account/sign-in/" not in home.url, (home.status, home.url)


def _sign_in_staff(stack: PrivateStack, browser: Browser, username: str) -> None:
    reply = browser.submit("/account/sign-in/", {"username": username, "password": PASSWORD})
    assert reply.status == 200, reply.status
    code = stack.manage("demo_totp", username, env={"DEBUG": "true"}).strip().split()[-1]
    home = browser.request(
        "/account/sign-in/code/",
        {"csrfmiddlewaretoken": browser.csrf(), "action": "verify", "code": code},
    )
    assert home.status == 200 and "/account/sign-in/" not in home.url, (home.status, home.url)


# --- Redis down -------------------------------------------------------------------------------


def test_redis_down_lookup_and_sign_in_keep_working(private_stack, private_services):
    stack, cache = private_stack, private_services["cache"]
    browser = Browser(stack.base)
    code, birth = _pair(stack)
    assert _lookup(browser, code, birth).status == 200
    cache.stop()
    try:
        # Readiness says so (a load balancer would take the node out if it had another).
        ready = browser.get("/readyz")
        assert ready.status == 503
        assert ready.json()["checks"]["cache"]["ok"] is False
        assert ready.json()["checks"]["database"]["ok"] is True
        # The lookup answers from the database.
        started = time.monotonic()
        found = _lookup(browser, code, birth)
        assert found.status == 200, found.text
        assert found.json()["status"] == "found"
        assert found.json()["candidate"]["massar_code"] == code
        assert time.monotonic() - started < 5
        assert _lookup(browser, code, "1990-01-01").status == 404
        # Rate limits fail closed: one code guessed from many addresses is still refused, after
        # at most (web workers x per-code limit) failures while counting is per process.
        other, other_birth = _pair(stack, offset=7)
        statuses = []
        for attempt in range(2 * 10 + 5):
            reply = _lookup(
                browser, other, f"19{attempt % 90 + 10:02d}-01-01", f"100.65.0.{attempt + 1}"
            )
            statuses.append(reply.status)
        assert 429 in statuses, statuses
        assert set(statuses) <= {404, 429}
        # Pages and the candidate's sign-in (sessions in the database) keep working.
        assert browser.get("/").status == 200
        candidate = Browser(stack.base)
        _sign_in_candidate(stack, candidate, "D100000000")
        mine = candidate.get("/results/mine/")
        assert mine.status == 200 and "/account/sign-in/" not in mine.url
    finally:
        cache.start()
    # Back to normal without restarting anything: readiness, and the lookup (the cache is empty:
    # it answers from the database until `manage.py warm_results` refills it).
    wait_for(lambda: browser.get("/readyz").status == 200, 20, "readiness after Redis is back")
    assert _lookup(browser, code, birth, "100.64.9.9").status == 200
    stack.manage("warm_results")
    assert _lookup(browser, code, birth, "100.64.9.10").status == 200


# --- broker down ------------------------------------------------------------------------------


def _ping_count(stack: PrivateStack, marker: str) -> int:
    out = stack.shell(
        f"from django.core.cache import cache; print(cache.get('ops:ping:{marker}') or 0)"
    )
    return int(out.splitlines()[-1])


def test_broker_down_pages_work_and_tasks_run_once_it_is_back(private_stack, private_services):
    stack, broker = private_stack, private_services["broker"]
    browser = Browser(stack.base)
    marker = secrets.token_hex(4)
    broker.stop()
    try:
        for path in ("/", "/results/", "/account/sign-in/"):
            started = time.monotonic()
            assert browser.get(path).status == 200, path
            assert time.monotonic() - started < 5, path
        ready = browser.get("/readyz")
        assert ready.status == 503 and ready.json()["checks"]["broker"]["ok"] is False
        # Queuing work neither hangs nor fails: the publication is scheduled and its preparation
        # waits in the outbox, as does a plain task.
        out = stack.shell(
            "import time\n"
            "from django.utils import timezone\n"
            "from results.models import Computation\n"
            "from results.publication import schedule_publication\n"
            "from ops.tasks import ping_task\n"
            "started = time.monotonic()\n"
            "c = Computation.objects.filter(status='done').latest('pk')\n"
            "p = schedule_publication(c, timezone.now(), None, 'broker down test')\n"
            f"ping_task.delay('{marker}')\n"
            "print(p.pk, round(time.monotonic() - started, 2))\n"
        )
        publication_id, seconds = out.split()[-2:]
        assert float(seconds) < 5, seconds
        waiting = {name for (name,) in _sql(stack, "SELECT name FROM ops_outboxtask")}
        assert {"results.prepare_publication", "ops.ping"} <= waiting, waiting
        assert (
            _sql(stack, "SELECT status FROM results_publication WHERE id = %s", [publication_id])[
                0
            ][0]
            == "preparing"
        )
    finally:
        broker.start()
    # Once the broker is back, the outbox is sent (Celery beat runs this every 30 s).
    wait_for(lambda: browser.get("/readyz").status == 200, 30, "readiness after the broker")
    assert "sent" in stack.manage("flush_outbox")
    assert _sql(stack, "SELECT COUNT(*) FROM ops_outboxtask")[0][0] == 0

    def prepared():
        rows = _sql(stack, "SELECT status FROM results_publication WHERE id = %s", [publication_id])
        return rows[0][0] == "ready"

    wait_for(prepared, 90, "the publication prepared by the worker")
    wait_for(lambda: _ping_count(stack, marker) >= 1, 30, "the ping task")
    time.sleep(2)
    assert _ping_count(stack, marker) == 1


# --- a worker killed in the middle of a publication -----------------------------------------------


def _progress(stack: PrivateStack, publication_id: int) -> int:
    import redis

    client = redis.Redis.from_url(stack.env["REDIS_URL"])
    for key in client.scan_iter(match=f"*results:progress:{publication_id}"):
        value = client.get(key)
        if value is not None:
            return int(value)  # Django's Redis cache stores integers as they are
    return 0


def _published_rows(stack: PrivateStack, publication_id: int) -> int:
    return _sql(
        stack,
        "SELECT COUNT(*) FROM results_publishedresult WHERE publication_id = %s",
        [publication_id],
    )[0][0]


def test_worker_killed_mid_publication_completes_exactly_once(private_stack):
    import psycopg

    stack = private_stack
    stack.kill_worker()
    stack.env["RESULTS_PUBLICATION_BATCH"] = "10"  # many batches
    stack.start_worker()
    # Held until the worker is killed: the preparation writes every batch, then waits for the
    # audit chain to record itself, inside its transaction. The kill lands there, between the
    # last row and the commit, however fast the machine writes the rows.
    url = stack.env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    holder = psycopg.connect(url)
    try:
        assert holder.execute(
            "SELECT id FROM audit_auditchainhead WHERE id = 1 FOR UPDATE"
        ).fetchone()
        out = stack.shell(
            "from django.utils import timezone\n"
            "from results.models import Computation\n"
            "from results.publication import schedule_publication\n"
            "c = Computation.objects.filter(status='done').latest('pk')\n"
            "print(schedule_publication(c, timezone.now(), None, 'kill test').pk, c.processed)\n"
        )
        publication_id, expected = (int(x) for x in out.split()[-2:])
        # The worker may first finish sending the notices of the session's first publication.
        wait_for(
            lambda: _progress(stack, publication_id) >= expected, 180, "every batch to be written"
        )
        stack.kill_worker()
        status = _sql(
            stack, "SELECT status, count FROM results_publication WHERE id = %s", [publication_id]
        )
        assert status[0] == ("preparing", 0), status  # nothing half-committed
        assert _published_rows(stack, publication_id) == 0
    finally:
        holder.rollback()
        holder.close()
    stack.start_worker()  # the message comes back (acks_late, visibility timeout 10 s)

    def ready():
        rows = _sql(stack, "SELECT status FROM results_publication WHERE id = %s", [publication_id])
        return rows[0][0] in ("ready", "failed") and rows[0][0]

    assert wait_for(ready, 150, "the publication after the restart", step=1) == "ready"
    rows = _sql(
        stack,
        "SELECT COUNT(*), COUNT(DISTINCT candidate_id) FROM results_publishedresult "
        "WHERE publication_id = %s",
        [publication_id],
    )
    assert rows[0] == (expected, expected)
    assert (
        _sql(stack, "SELECT count FROM results_publication WHERE id = %s", [publication_id])[0][0]
        == expected
    )
    audits = _sql(
        stack,
        "SELECT COUNT(*) FROM audit_auditentry WHERE action = 'results.publish' AND object_id = %s",
        [str(publication_id)],
    )
    assert audits[0][0] == 1
    # Once more for good measure: a late duplicate delivery changes nothing.
    stack.shell(
        f"from results.publication import prepare_publication_task as t; t({publication_id})"
    )
    assert _published_rows(stack, publication_id) == expected


# --- PostgreSQL restarted ---------------------------------------------------------------------


def test_postgres_restart_web_tier_recovers_without_restart(private_stack, private_services):
    stack, postgres = private_stack, private_services["postgres"]
    browser = Browser(stack.base)
    web_pid = stack.web.pid
    for _ in range(6):  # every worker holds a persistent connection (CONN_MAX_AGE)
        assert browser.get("/readyz").status == 200
        assert browser.get("/account/sign-in/").status == 200
    postgres.restart()
    statuses = [browser.get("/readyz").status for _ in range(10)]
    statuses += [browser.get("/results/").status for _ in range(10)]
    assert statuses == [200] * 20, statuses
    assert stack.web.pid == web_pid and stack.web.poll() is None  # not restarted


# --- a full disk for uploads ------------------------------------------------------------------


def _jpeg(size: int) -> bytes:
    from PIL import Image

    side = 700
    while True:
        image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=95)
        if buffer.tell() >= size:
            return buffer.getvalue()
        side += 100


def _multipart(fields: dict[str, str], name: str, filename: str, data: bytes, kind: str):
    boundary = secrets.token_hex(16)
    parts = []
    for key, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {kind}\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
def test_full_disk_upload_clear_error_nothing_half_written(private_stack):
    import urllib.request

    stack = private_stack
    media = stack.env["MEDIA_ROOT"]
    os.makedirs(media, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", media], check=True)  # noqa: S603,S607
    try:
        browser = Browser(stack.base)
        _sign_in_staff(stack, browser, "clerk")
        (pk,) = _sql(
            stack,
            "SELECT c.id FROM candidates_candidate c JOIN exams_school s ON s.id = c.school_id "
            "WHERE s.code = 'BMK-01-001' ORDER BY c.id LIMIT 1",
        )[0]
        documents_before = _sql(stack, "SELECT COUNT(*) FROM candidates_cniedocument")[0][0]
        page = browser.get(f"/staff/candidates/{pk}/cnie/upload/")
        assert page.status == 200
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
        body, content_type = _multipart(
            {"csrfmiddlewaretoken": token.decode()},
            "document",
            "cnie.jpg",
            _jpeg(900_000),  # encrypted, it no longer fits in 1 MB
            "image/jpeg",
        )
        request = urllib.request.Request(  # noqa: S310 - http on loopback
            f"{stack.base}/staff/candidates/{pk}/cnie/upload/",
            data=body,
            headers={"Content-Type": content_type},
        )
        try:
            with browser.stay.open(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        assert status == 507, (status, text[:500])
        assert "Traceback" not in text and "No space" not in text
        assert "Nothing was saved" in text or "Rien n" in text or "لم يحفظ" in text, text[:2000]
        # Nothing half-written: no file, no temporary file, no row.
        leftovers = [os.path.join(d, f) for d, _s, files in os.walk(media) for f in files]
        assert leftovers == []
        assert _sql(stack, "SELECT COUNT(*) FROM candidates_cniedocument")[0][0] == documents_before
    finally:
        subprocess.run(["umount", media], check=False)  # noqa: S603,S607
