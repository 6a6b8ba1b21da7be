"""Calling the production WSGI stack (with the lookup fast path) directly, as gunicorn does."""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from results.api import LookupFastPath

_app = None


def app():
    global _app
    if _app is None:
        _app = LookupFastPath(get_wsgi_application())
    return _app


class Reply:
    def __init__(self, status: str, headers: list, body: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.headers = {k.lower(): v for k, v in headers}
        self.content = body

    def json(self):
        return json.loads(self.content)


def call(method: str, path: str, body: bytes = b"", query: str = "", **environ) -> Reply:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_HOST": "127.0.0.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "192.0.2.9",
        "wsgi.input": io.BytesIO(body),
    }
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
        env.setdefault("CONTENT_TYPE", "application/json")
    env.update(environ)
    setup_testing_defaults(env)
    captured: dict = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    # As Django's test client does: a request's end must not close the test's connection (it
    # would, being inside the test's transaction), which later queries of the test then need.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        chunks = app()(env, start_response)
        data = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return Reply(captured["status"], captured["headers"], data)


def post_json(data: dict, **environ) -> Reply:
    return call("POST", "/results/api/lookup", json.dumps(data).encode(), **environ)
