"""The production WSGI entry point: bac.wsgi (Django with the results lookup's fast path),
wrapped so that EVERY request, fast path included, gets a request id and is counted.

    gunicorn -c deploy/gunicorn.conf.py ops.wsgi:application
"""

from __future__ import annotations

import os
import time

from .context import accept_request_id, request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bac.settings")

from bac.wsgi import application as _django  # noqa: E402

from . import metrics  # noqa: E402

# Set by ops.middleware.ViewNameMiddleware for requests Django routes; the lookup's fast path
# answers before Django, so its path names it.
VIEW_KEY = "bac.view"
_FAST_PATHS = {"/results/api/lookup": "results:api_lookup"}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestContext:
    """X-Request-ID in and out, latency and status per view."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        rid = accept_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        status_code = ["500"]

        def start(status, headers, exc_info=None):
            status_code[0] = status[:3]
            if not any(name.lower() == "x-request-id" for name, _value in headers):
                headers.append(("X-Request-ID", rid))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            view = environ.get(VIEW_KEY) or _FAST_PATHS.get(environ.get("PATH_INFO", ""), "other")
            try:
                method = environ.get("REQUEST_METHOD", "")
                if method not in _METHODS:
                    method = "other"  # any token is a method: never a series per made-up one
                metrics.TALLY.count(view, method, status_code[0], time.perf_counter() - started)
            finally:
                request_id.reset(token)


application = RequestContext(_django)
