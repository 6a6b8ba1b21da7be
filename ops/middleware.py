"""Django middleware of the operations layer.

* RequestIdMiddleware: the request id for requests that did not come through ops.wsgi (runserver,
  the test client), and the view's name for the metrics.
* StorageFullMiddleware: a full disk while storing an upload is answered with a clear page
  (507), never a traceback; the storage (ops.storage) has left nothing half-written.
"""

from __future__ import annotations

import errno
import logging

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from .context import accept_request_id, request_id

logger = logging.getLogger(__name__)
VIEW_KEY = "bac.view"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request.META.get("HTTP_X_REQUEST_ID", "")
        request.META["bac.request_id_given"] = bool(rid)
        token = None
        if request_id.get() != rid or not rid:
            rid = accept_request_id(rid)
            request.META["HTTP_X_REQUEST_ID"] = rid
            token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            if token is not None:
                request_id.reset(token)
        if request.META.get("bac.request_id_given") or token is None:
            # Echoed when the client (or nginx) sent one; ops.wsgi adds it to every answer in
            # production. Without either, answers stay byte-identical (the lookup's own tests).
            response.headers.setdefault("X-Request-ID", rid)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is not None:
            request.META[VIEW_KEY] = match.view_name
        return None


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


class StorageFullMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_disk_full(exception):
            return None
        logger.error("storage full while answering %s", request.path)
        return HttpResponse(render_to_string("ops/storage_full.html", request=request), status=507)
