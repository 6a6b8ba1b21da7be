"""The operations layer in-process (part of `make test`): health endpoints, metrics access, the
request id, JSON logs, the outbox when the broker is down, the replica router, the storage that
never leaves half-written files, the error pages."""

from __future__ import annotations

import errno
import json
import logging
import re
from pathlib import Path
from unittest.mock import patch

import pytest
from django.core.files.base import ContentFile
from django.test import RequestFactory, override_settings

from ops.celery import _carry_request_id, flush_outbox
from ops.context import accept_request_id, new_request_id, request_id
from ops.jsonlog import JsonFormatter, RequestIdFilter
from ops.middleware import StorageFullMiddleware
from ops.models import OutboxTask
from ops.router import ReplicaRouter, unpin
from ops.storage import SafeFileSystemStorage


def test_healthz(client):
    reply = client.get("/healthz")
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_dependency(client):
    reply = client.get("/readyz")
    assert reply.status_code == 200
    checks = reply.json()["checks"]
    assert set(checks) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in checks.values())


@pytest.mark.django_db
def test_readyz_is_503_when_a_dependency_is_down(client, monkeypatch):
    from ops import health

    def down():
        raise ConnectionRefusedError("secret-host:5432 password=hunter2")

    monkeypatch.setitem(health.CHECKS, "cache", down)
    reply = client.get("/readyz")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"] == {
        "ok": False,
        "error": "ConnectionRefusedError",
        "ms": body["checks"]["cache"]["ms"],
    }
    assert "hunter2" not in reply.content.decode()  # no internals


@pytest.mark.django_db
def test_metrics_from_loopback_only_or_with_the_token(client):
    client.get("/healthz")
    reply = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert reply.status_code == 200
    text = reply.content.decode()
    assert "bac_http_requests_total" in text or "bac_http_requests_created" in text
    assert "bac_results_publications" in text and "bac_sign_in_failures_total" in text
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 403
    # Relayed by a proxy we do not trust: the client is unknown, refused.
    assert (
        client.get(
            "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5"
        ).status_code
        == 403
    )
    with override_settings(METRICS_TOKEN="t" * 40):
        ok = client.get(
            "/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer " + "t" * 40
        )
        assert ok.status_code == 200
        bad = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer nope")
        assert bad.status_code == 403


def test_request_id_in_and_out(client):
    reply = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123-def-456")
    assert reply["X-Request-ID"] == "abc-123-def-456"
    # Junk is replaced, not echoed.
    reply = client.get("/healthz", HTTP_X_REQUEST_ID="bad\r\nid")
    assert reply["X-Request-ID"] != "bad\r\nid" and len(reply["X-Request-ID"]) == 32
    assert accept_request_id("x" * 200) != "x" * 200


def _child_request_id(queue) -> None:
    queue.put(new_request_id())


def test_request_ids_are_unique_within_and_across_forked_workers():
    import multiprocessing

    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    # gunicorn forks its workers from one loaded application: each must draw its own prefix.
    queue = multiprocessing.get_context("fork").Queue()
    children = [
        multiprocessing.get_context("fork").Process(target=_child_request_id, args=(queue,))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    theirs = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(timeout=30)
    prefixes = {i[:20] for i in [*theirs, new_request_id()]}
    assert len(prefixes) == 3


def test_json_logs_carry_the_request_id():
    record = logging.LogRecord(
        "results.api", logging.WARNING, __file__, 1, "slow %s", ("lookup",), None
    )
    token = request_id.set("req-0000-1111")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "req-0000-1111"
    assert entry["message"] == "slow lookup" and entry["level"] == "WARNING"


def test_request_id_travels_into_task_headers():
    headers: dict = {}
    token = request_id.set("req-2222-3333")
    try:
        _carry_request_id(headers=headers)
    finally:
        request_id.reset(token)
    assert headers["request_id"] == "req-2222-3333"


@pytest.mark.django_db(transaction=True)
def test_a_task_published_while_the_broker_is_down_waits_in_the_outbox(monkeypatch):
    import time

    from bac.celery import app
    from ops import celery as ops_celery
    from ops.tasks import ping_task

    saved = {"task_always_eager": app.conf.task_always_eager, "broker_url": app.conf.broker_url}
    # Nothing listens on port 1.
    app.conf.update(task_always_eager=False, broker_url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(ops_celery, "_broker_down_until", 0.0)
    # Fresh connection pools (on the unreachable broker), dropped again afterwards.
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    started = time.monotonic()
    try:
        ping_task.delay("outbox")
        ping_task.apply_async(args=["later"], countdown=60)
        assert time.monotonic() - started < 10
        rows = list(OutboxTask.objects.values_list("name", "args", "options"))
        assert rows[0][:2] == ("ops.ping", ["outbox"])
        assert rows[1][2]["countdown"] == 60
        # Still down: nothing is lost, the rows wait for the next run.
        assert flush_outbox() == 0
        assert OutboxTask.objects.count() == 2
    finally:
        app.conf.update(**saved)
        app.pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None


def test_replica_router_reads_replicas_until_a_write():
    router = ReplicaRouter()
    unpin()
    with patch("ops.router.replica_aliases", return_value=["replica_1", "replica_2"]):
        assert router.db_for_read(None) in ("replica_1", "replica_2")
        assert router.db_for_write(None) == "default"
        assert router.db_for_read(None) == "default"  # read-your-writes for the rest of it
        unpin()
        assert router.allow_migrate("replica_1", "results") is False
        assert router.allow_migrate("default", "results") is True
    unpin()


class _FullDisk:
    """A file whose second chunk does not fit on the disk."""

    def __init__(self) -> None:
        self.size = 2

    def seek(self, _position: int) -> None:
        pass

    def chunks(self):
        yield b"first half"
        raise OSError(errno.ENOSPC, "No space left on device")


def test_storage_never_leaves_half_written_files(tmp_path: Path):
    storage = SafeFileSystemStorage(location=tmp_path)
    with pytest.raises(OSError) as raised:
        storage.save("cnie/copy.bin", _FullDisk())
    assert raised.value.errno == errno.ENOSPC
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    name = storage.save("cnie/copy.bin", ContentFile(b"whole"))
    assert (tmp_path / name).read_bytes() == b"whole"
    other = storage.save("cnie/copy.bin", ContentFile(b"second"))
    assert other != name and (tmp_path / name).read_bytes() == b"whole"


def test_full_disk_gets_a_clear_page_not_a_traceback(rf: RequestFactory):
    middleware = StorageFullMiddleware(lambda request: None)
    request = rf.post("/staff/candidates/1/cnie/upload/")
    reply = middleware.process_exception(request, OSError(errno.ENOSPC, "No space left on device"))
    assert reply.status_code == 507
    text = reply.content.decode()
    assert "Nothing was saved" in text and "No space" not in text
    assert middleware.process_exception(request, ValueError("other")) is None


@override_settings(DEBUG=False)
def test_error_pages_never_leak(client):
    reply = client.get("/no/such/page/")
    assert reply.status_code == 404
    assert "Page not found" in reply.content.decode()
    from django.template.loader import render_to_string

    page = render_to_string("500.html")  # rendered with no context at all, as Django does
    assert "Something went wrong on our side" in page and "Traceback" not in page


def test_a_task_logs_under_the_request_id_that_queued_it():
    from types import SimpleNamespace

    from ops.celery import _adopt_request_id, _drop_request_id

    task = SimpleNamespace(request=SimpleNamespace(request_id="req-4444-5555", headers=None))
    _adopt_request_id(task_id="t1", task=task)
    try:
        assert request_id.get() == "req-4444-5555"
    finally:
        _drop_request_id(task_id="t1")
    assert request_id.get() == ""
    # A task nobody's request queued (beat) logs under its own id.
    _adopt_request_id(task_id="t2", task=SimpleNamespace(request=SimpleNamespace(headers={})))
    try:
        assert request_id.get() == "task-t2"
    finally:
        _drop_request_id(task_id="t2")


def test_a_made_up_method_never_makes_a_series_of_its_own(db):
    import io

    from ops import metrics
    from ops.wsgi import application

    def start_response(status, headers, exc_info=None):
        return lambda data: None

    for method in ("BREW", "X" * 40):
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": "/healthz",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
        }
        b"".join(application(environ, start_response))
    metrics.TALLY.flush()
    methods = {
        sample.labels["method"]
        for family in metrics.REQUESTS.collect()
        for sample in family.samples
    }
    assert "other" in methods and not methods & {"BREW", "X" * 40}


def test_requests_tallied_in_memory_reach_the_metrics_as_if_each_was_observed():
    from ops import metrics

    for seconds in (0.001, 0.002, 0.003, 0.7, 20.0):
        metrics.TALLY.count("tests:tally", "GET", "200", seconds)
    metrics.TALLY.count("tests:tally", "POST", "429", 0.001)
    metrics.TALLY.flush()
    latency = {
        (sample.name, sample.labels.get("le")): sample.value
        for family in metrics.LATENCY.collect()
        for sample in family.samples
        if sample.labels.get("view") == "tests:tally"
    }
    bucket = "bac_http_request_duration_seconds_bucket"
    assert latency[(bucket, "0.002")] == 3  # 0.001 twice and 0.002: "le" includes the bound
    assert latency[(bucket, "0.005")] == 4
    assert latency[(bucket, "1.0")] == 5
    assert latency[(bucket, "10.0")] == 5
    assert latency[(bucket, "+Inf")] == 6
    assert latency[("bac_http_request_duration_seconds_count", None)] == 6
    assert latency[("bac_http_request_duration_seconds_sum", None)] == pytest.approx(20.707)
    requests = {
        (sample.labels["method"], sample.labels["status"]): sample.value
        for family in metrics.REQUESTS.collect()
        for sample in family.samples
        if sample.labels.get("view") == "tests:tally" and sample.name.endswith("_total")
    }
    assert requests == {("GET", "200"): 5, ("POST", "429"): 1}
