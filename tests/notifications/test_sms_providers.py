"""SMS providers behind one interface: the HTTP gateway adapter against a real HTTP server on
loopback, and the file sink."""

from __future__ import annotations

import json
import socket

import pytest

from notifications import services
from notifications.models import Notification, Status
from notifications.sms import (
    FileSMSBackend,
    HttpSMSBackend,
    PermanentSMSError,
    TransientSMSError,
    send_sms,
)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_the_gateway_receives_json_with_the_bearer_token_and_gives_an_id(gateway):
    message_id = HttpSMSBackend().send("+212612345678", "Bonjour")

    assert message_id == "gw-1"
    (request,) = gateway.requests
    assert request["path"] == "/v1/messages"
    assert request["headers"]["Authorization"] == "Bearer test-token-123"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"] == {"to": "+212612345678", "text": "Bonjour", "sender": "MEN-BAC"}


def test_arabic_text_reaches_the_gateway_intact(gateway):
    send_sms("+212612345678", "نتائج البكالوريا")
    assert gateway.requests[0]["json"]["text"] == "نتائج البكالوريا"


def test_a_notification_through_the_gateway_is_sent(candidate_a, gateway, commit):
    with commit():
        services.queue_bulk_notifications(
            "results_published", "publication:1", [candidate_a.pk], channels=("sms",)
        )
    row = Notification.objects.get()
    assert (row.status, row.attempts, row.provider_message_id) == (Status.SENT, 1, "gw-1")
    assert gateway.requests[0]["json"]["to"] == "+212612345678"
    assert gateway.requests[0]["json"]["text"] == row.body


def test_a_500_is_retried_and_the_message_sent_once(candidate_a, gateway, commit):
    gateway.answer((500, {"error": "overloaded"}))
    with commit():
        services.queue_bulk_notifications(
            "results_published", "publication:1", [candidate_a.pk], channels=("sms",)
        )
    row = Notification.objects.get()
    assert len(gateway.requests) == 2
    assert gateway.requests[0]["json"] == gateway.requests[1]["json"]
    assert (row.status, row.attempts, row.provider_message_id) == (Status.SENT, 2, "gw-2")


def test_a_400_fails_the_notification_permanently(candidate_a, gateway, commit):
    gateway.answer((400, {"error": "invalid destination"}))
    with commit():
        services.queue_bulk_notifications(
            "results_published", "publication:1", [candidate_a.pk], channels=("sms",)
        )
    row = Notification.objects.get()
    assert len(gateway.requests) == 1
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert "400" in row.last_error and "invalid destination" in row.last_error


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_server_errors_and_rate_limits_are_transient(gateway, status):
    gateway.answer((status,))
    with pytest.raises(TransientSMSError, match=str(status)):
        HttpSMSBackend().send("+212612345678", "x")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_permanent(gateway, status):
    gateway.answer((status,))
    with pytest.raises(PermanentSMSError, match=str(status)):
        HttpSMSBackend().send("+212612345678", "x")


def test_a_gateway_that_does_not_answer_in_time_is_a_transient_error(gateway):
    gateway.answer((200, {"id": "late"}, 2.0))
    with pytest.raises(TransientSMSError, match="timed out"):
        HttpSMSBackend(timeout=0.2).send("+212612345678", "x")


def test_a_gateway_that_refuses_connections_is_a_transient_error(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientSMSError, match="unreachable"):
        HttpSMSBackend(url=f"http://127.0.0.1:{port}/sms", timeout=1).send("+212612345678", "x")


def test_a_gateway_without_an_id_in_its_answer_still_counts_as_sent(gateway):
    gateway.answer((200, {"status": "accepted"}))
    assert HttpSMSBackend().send("+212612345678", "x") is None


def test_a_gateway_url_that_is_not_http_is_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.SMS_GATEWAY_URL = "file:///etc/passwd"
    with pytest.raises(ImproperlyConfigured):
        HttpSMSBackend()


def test_the_file_sink_appends_one_json_line_per_message(settings, tmp_path):
    settings.SMS_FILE_PATH = str(tmp_path / "out" / "sms.jsonl")
    settings.SMS_BACKEND = "notifications.sms.FileSMSBackend"
    first = send_sms("+212612345678", "un")
    second = FileSMSBackend().send("+212700000000", "نتيجة")

    lines = [json.loads(line) for line in (tmp_path / "out" / "sms.jsonl").read_text().splitlines()]
    assert [(line["to"], line["text"]) for line in lines] == [
        ("+212612345678", "un"),
        ("+212700000000", "نتيجة"),
    ]
    assert [line["id"] for line in lines] == [first, second]
    assert first != second


def test_the_http_gateway_without_a_url_stops_the_start_up_checks(settings):
    from notifications.checks import check_sms_gateway

    settings.SMS_BACKEND = "notifications.sms.HttpSMSBackend"
    settings.SMS_GATEWAY_URL = ""
    assert [m.id for m in check_sms_gateway(None)] == ["notifications.E001", "notifications.W001"]
    settings.SMS_GATEWAY_URL = "https://sms.example/v1/messages"
    settings.SMS_GATEWAY_TOKEN = "t"
    assert check_sms_gateway(None) == []
