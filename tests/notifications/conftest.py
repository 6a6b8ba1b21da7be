"""Personas and test doubles for the notification outbox: a candidate of another academy,
SMS providers that fail on purpose, a fake clock, and a real HTTP SMS gateway on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications import throttle
from notifications.sms import MemorySMSBackend, PermanentSMSError, TransientSMSError
from tests.factories import CandidateFactory, DirectorateFactory, SchoolFactory, UserFactory


@pytest.fixture
def candidate_of_other_academy(session, other_academy, track):
    school = SchoolFactory(directorate=DirectorateFactory(academy=other_academy), code="S-OUJDA-1")
    user = UserFactory(username="R199999999", role="candidate")
    return CandidateFactory(
        session=session,
        school=school,
        track=track,
        massar_code="R199999999",
        user=user,
        phone="+212699999999",
    )


class FlakySMS:
    """Fails the first `failures` calls (transiently unless `permanent`), then delivers to
    MemorySMSBackend.outbox. Counts every call."""

    calls = 0
    failures = 1
    permanent = False

    def send(self, phone: str, text: str) -> str:
        FlakySMS.calls += 1
        if FlakySMS.calls <= FlakySMS.failures:
            if FlakySMS.permanent:
                raise PermanentSMSError("invalid number")
            raise TransientSMSError("provider busy")
        return MemorySMSBackend().send(phone, text)


@pytest.fixture
def flaky_sms(settings):
    FlakySMS.calls, FlakySMS.failures, FlakySMS.permanent = 0, 1, False
    settings.SMS_BACKEND = "tests.notifications.conftest.FlakySMS"
    return FlakySMS


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.now = start
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds
        self.slept += seconds


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(throttle, "_clock", clock.time)
    monkeypatch.setattr(throttle, "_sleep", clock.sleep)
    return clock


class Gateway:
    """A real HTTP server on 127.0.0.1 playing an SMS gateway: it records every request and
    answers from a script of (status, json body, delay) entries, then 200 with an id."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, float]] = []
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with gateway.lock:
                    gateway.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "json": json.loads(raw)}
                    )
                    number = len(gateway.requests)
                    status, body, delay = (
                        gateway.script.pop(0) if gateway.script else (200, {}, 0.0)
                    )
                if delay:
                    threading.Event().wait(delay)
                if status == 200 and not body:
                    body = {"id": f"gw-{number}"}
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def answer(self, *entries: tuple) -> None:
        for entry in entries:
            status, body, delay = tuple(entry) + ({}, 0.0)[len(entry) - 1 :]
            self.script.append((status, body, delay))


@pytest.fixture
def gateway(settings):
    server = Gateway()
    server.thread.start()
    settings.SMS_BACKEND = "notifications.sms.HttpSMSBackend"
    settings.SMS_GATEWAY_URL = server.url
    settings.SMS_GATEWAY_TOKEN = "test-token-123"
    settings.SMS_SENDER_ID = "MEN-BAC"
    yield server
    server.server.shutdown()
    server.server.server_close()
