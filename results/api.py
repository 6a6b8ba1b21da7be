"""The public results lookup as a JSON API, served by Django and, on the hot path, before it.

    POST /results/api/lookup        Content-Type: application/json
         {"massar_code": "R130046852", "birth_date": "2008-03-14"}
      or {"cnie_number": "BE123456", "birth_date": "2008-03-14"}
    GET  /results/api/lookup?massar_code=R130046852&birth_date=2008-03-14
         (works, but the query string ends up in logs: prefer POST)

    200 {"status": "found", "session": ..., "candidate": ..., "result": ..., "subjects": [...]}
    404 {"status": "not_found", "message": ...}      wrong pair and unknown code alike
    404 {"status": "not_published", "message": ...}  before the moment, as with no results
    400 {"status": "invalid", "errors": {"identifier"|"birth_date"|"body": ...}}
    429 {"status": "rate_limited", "message": ..., "retry_after": seconds}  (+ Retry-After)
    503 {"status": "unavailable", "message": ...}

Labels and messages follow `lang` (ar, fr, en) if given, else the language cookie, else
Accept-Language. The OpenAPI description is at /results/api/openapi.json.

`LookupFastPath` wraps the WSGI application (bac/wsgi.py) and answers this one URL without
going through Django's request and middleware machinery, which costs more than the lookup
itself: one HMAC and one Redis round trip. It computes exactly the same answer as the Django
view (the same `answer` function) with the same security headers, and hands anything unusual
(another method, a host not allowed, plain HTTP when HTTPS is required, a body that is not
small JSON) to Django, which then answers through the view.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.db import close_old_connections, connections
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from bac.perthread import PerThread
from exams.models import Component
from identity.ratelimit import client_address

from .lookup import Labels, parse_query, present
from .models import Decision, Mention, Sitting
from .snapshot import FOUND, LIMITED, NOT_PUBLISHED, Outcome, lookup_public

logger = logging.getLogger(__name__)

API_PATH = "/results/api/lookup"
MAX_BODY = 4096

ERRORS = {
    ("identifier", "missing"): gettext_lazy("Give your Massar code or your CNIE number."),
    ("identifier", "both"): gettext_lazy("Give your Massar code or your CNIE number, not both."),
    ("identifier", "massar_invalid"): gettext_lazy(
        "A Massar code is one letter and nine digits, e.g. R130046852."
    ),
    ("identifier", "cnie_invalid"): gettext_lazy(
        "A CNIE number is one or two letters and five or six digits, e.g. BE123456."
    ),
    ("birth_date", "missing"): gettext_lazy("Give your birth date."),
    ("birth_date", "invalid"): gettext_lazy("Give your birth date as day/month/year."),
    ("body", "invalid"): gettext_lazy("The request body must be a small JSON object."),
}
NOT_FOUND_MESSAGE = gettext_lazy(
    "No published result matches these details. Check the code and the birth date: they must be "
    "exactly those of your candidate file."
)
NOT_PUBLISHED_MESSAGE = gettext_lazy("No results are published for the moment.")
UNAVAILABLE_MESSAGE = gettext_lazy(
    "The service is very busy. Please try again in a minute; your result will not change."
)


def error_message(field: str, code: str) -> str:
    return str(ERRORS.get((field, code), code))


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def wait_message(seconds: int) -> str:
    minutes = _minutes(seconds)
    return ngettext(
        "Too many attempts. Try again in %(count)d minute.",
        "Too many attempts. Try again in %(count)d minutes.",
        minutes,
    ) % {"count": minutes}


@functools.lru_cache(maxsize=512)
def _wait_message_in(minutes: int, language: str) -> str:
    # Once per minute count and language: switching the translation costs a lookup more than
    # the rest of its work, and a limited address or code comes back often.
    with translation.override(language):
        return wait_message(minutes * 60)


@functools.cache
def _labels(language: str) -> Labels:
    with translation.override(language):
        return Labels(
            decisions={k: str(v) for k, v in Decision.choices},
            mentions={k: str(v) for k, v in Mention.choices},
            components={k: str(v) for k, v in Component.choices},
            sittings={k: str(v) for k, v in Sitting.choices},
        )


def labels(language: str | None = None) -> Labels:
    return _labels(language or translation.get_language() or settings.LANGUAGE_CODE)


@functools.lru_cache(maxsize=32)
def _subject_cache(namespace: str, language: str) -> dict:
    """The labelled subject lines of one publication in one language (see lookup.present):
    a publication's names never change, and the labels only with the code."""
    return {}


@functools.cache
def _zone() -> datetime.tzinfo:
    return timezone.get_default_timezone()


@functools.lru_cache(maxsize=64)
def _iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, tz=_zone()).isoformat()


def published_at_iso(outcome: Outcome) -> str | None:
    """The moment of publication, Morocco time (ISO 8601 with its offset)."""
    return None if outcome.publish_at is None else _iso(outcome.publish_at)


# --- the answer, shared by the Django view and the fast path ----------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    headers: list[tuple[str, str]]


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}
_REASONS[503] = "Service Unavailable"


# A JSON answer needs few headers (each costs the server time on every lookup): never stored,
# never sniffed as HTML, never framed or allowed to load anything. (Through Django the middleware
# adds its usual page headers too; the answer is the same.)
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


@functools.cache
def _static_headers() -> tuple[tuple[str, str], ...]:
    return (
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", API_CSP),
    )


def _json(status: int, data: dict[str, Any], language: str, extra=()) -> Answer:
    body = orjson.dumps(data)  # compact UTF-8, as json.dumps(ensure_ascii=False) would write
    headers = [*_static_headers(), ("Content-Language", language), *extra]
    return Answer(status, body, headers)


@functools.cache
def _fixed(status: str, language: str) -> Answer:
    """The answers that depend on nothing but the language, built once per process."""
    messages = {
        "not_found": NOT_FOUND_MESSAGE,
        "not_published": NOT_PUBLISHED_MESSAGE,
        "unavailable": UNAVAILABLE_MESSAGE,
    }
    with translation.override(language):
        return _json(
            503 if status == "unavailable" else 404,
            {"status": status, "message": str(messages[status])},
            language,
        )


def answer(params: Mapping[str, Any], address: str, language: str) -> Answer:
    """The API's answer to one lookup (translated to `language`)."""

    def text(name: str) -> str:
        value = params.get(name)
        return value if isinstance(value, str) else ""

    query, errors = parse_query(text("massar_code"), text("cnie_number"), text("birth_date"))
    if query is None:
        with translation.override(language):
            return _json(
                400,
                {
                    "status": "invalid",
                    "errors": {field: error_message(field, code) for field, code in errors.items()},
                },
                language,
            )
    try:
        outcome = lookup_public(query, address)
    except Exception:
        logger.exception("results lookup failed")
        return _fixed("unavailable", language)
    if outcome.status == LIMITED:
        return _json(
            429,
            {
                "status": "rate_limited",
                "message": _wait_message_in(_minutes(outcome.retry_after), language),
                "retry_after": outcome.retry_after,
            },
            language,
            extra=[("Retry-After", str(outcome.retry_after))],
        )
    if outcome.status == NOT_PUBLISHED:
        return _fixed("not_published", language)
    if outcome.status != FOUND or outcome.entry is None:
        return _fixed("not_found", language)
    shown = present(
        outcome.entry,
        outcome.names,
        labels(language),
        language,
        published_at_iso(outcome),
        _subject_cache(outcome.namespace, language),
    )
    return _json(200, {"status": "found", **shown}, language)


@functools.lru_cache(maxsize=512)
def negotiate(explicit: str, cookie: str, accept: str) -> str:
    """The answer's language: `lang`, then the language cookie, then Accept-Language."""
    from django.utils.translation.trans_real import (
        get_supported_language_variant,
        parse_accept_lang_header,
    )

    for code in (explicit, cookie):
        if code:
            try:
                return get_supported_language_variant(code)
            except LookupError:
                pass
    for code, _quality in parse_accept_lang_header(accept or ""):
        if code == "*":
            break
        try:
            return get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


# --- the Django view ----------------------------------------------------------------------------


@csrf_exempt  # changes nothing (beyond rate-limit counters): nothing for CSRF to protect
@require_http_methods(["GET", "POST"])
def lookup_api(request: HttpRequest) -> HttpResponse:
    params: Mapping[str, Any]
    bad_body = False
    if request.method == "POST":
        if request.content_type == "application/json":
            try:
                raw = request.read(MAX_BODY + 1)
                params = json.loads(raw) if len(raw) <= MAX_BODY else None
            except ValueError:
                params = None
            if not isinstance(params, dict):
                bad_body, params = True, {}
        else:
            params = request.POST
    else:
        params = request.GET
    language = negotiate(
        str(params.get("lang") or ""),
        request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, ""),
        request.META.get("HTTP_ACCEPT_LANGUAGE", ""),
    )
    if bad_body:
        with translation.override(language):
            result = _json(
                400,
                {"status": "invalid", "errors": {"body": error_message("body", "invalid")}},
                language,
            )
    else:
        result = answer(params, client_address(request), language)
    response = HttpResponse(result.body, status=result.status)
    for name, value in result.headers:
        response.headers[name] = value
    return response


# --- the fast path ------------------------------------------------------------------------------


class _Meta:
    """Enough of a request for identity.ratelimit.client_address."""

    __slots__ = ("META",)

    def __init__(self, environ: dict) -> None:
        self.META = environ


@functools.lru_cache(maxsize=64)
def _host_allowed(host: str) -> bool:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _host_of(environ: dict) -> str:
    if _config().forwarded_host and environ.get("HTTP_X_FORWARDED_HOST"):
        return environ["HTTP_X_FORWARDED_HOST"]
    if environ.get("HTTP_HOST"):
        return environ["HTTP_HOST"]
    host = environ.get("SERVER_NAME", "")
    port = str(environ.get("SERVER_PORT", ""))
    secure = environ.get("wsgi.url_scheme") == "https"
    if port and port != ("443" if secure else "80"):
        host = f"{host}:{port}"
    return host


def _is_secure(environ: dict) -> bool:
    header = _config().proxy_ssl_header
    if header:
        name, value = header
        forwarded = environ.get(name)
        if forwarded is not None:
            return forwarded.split(",")[0].strip() == value
    return environ.get("wsgi.url_scheme") == "https"


@dataclass(frozen=True)
class _Config:
    ssl_redirect: bool
    cookie_name: str
    hsts: str
    forwarded_host: bool
    proxy_ssl_header: tuple[str, str] | None


_CONFIG: list[_Config] = []


# This thread's database wrapper, remembered: connections[...] goes through asgiref's Local.
_default_database = PerThread(lambda: connections["default"]).get


@receiver(setting_changed)
def _forget_config(**kwargs) -> None:
    _CONFIG.clear()
    _host_allowed.cache_clear()
    _static_headers.cache_clear()
    _subject_cache.cache_clear()
    _fixed.cache_clear()
    _wait_message_in.cache_clear()


def _config() -> _Config:
    if not _CONFIG:
        hsts = ""
        if settings.SECURE_HSTS_SECONDS:
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                hsts += "; preload"
        _CONFIG.append(
            _Config(
                settings.SECURE_SSL_REDIRECT,
                settings.LANGUAGE_COOKIE_NAME,
                hsts,
                settings.USE_X_FORWARDED_HOST,
                settings.SECURE_PROXY_SSL_HEADER,
            )
        )
    return _CONFIG[0]


class LookupFastPath:
    """WSGI middleware answering the lookup API before Django (see the module docstring)."""

    def __init__(self, application: Callable) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != API_PATH:
            return self.application(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        secure = _is_secure(environ)
        config = _config()
        if (
            method not in ("GET", "POST")
            or not _host_allowed(_host_of(environ))
            or (config.ssl_redirect and not secure)
        ):
            return self.application(environ, start_response)
        if method == "POST":
            if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
                return self.application(environ, start_response)
            try:
                length = int(environ.get("CONTENT_LENGTH") or "")
            except ValueError:
                return self.application(environ, start_response)
            if not 0 < length <= MAX_BODY:
                return self.application(environ, start_response)
            raw = environ["wsgi.input"].read(length)
            try:
                params = orjson.loads(raw)
            except ValueError:  # orjson.JSONDecodeError is a ValueError
                params = None
            if not isinstance(params, dict):
                # Django gives the same 400 (it reads the same bytes).
                return self.application(_replay(environ, raw), start_response)
        else:
            params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        cookies = parse_cookie(environ.get("HTTP_COOKIE", "")) if "HTTP_COOKIE" in environ else {}
        language = negotiate(
            str(params.get("lang") or ""),
            cookies.get(config.cookie_name, ""),
            environ.get("HTTP_ACCEPT_LANGUAGE", ""),
        )
        result = answer(params, client_address(_Meta(environ)), language)
        database = _default_database()
        if database.connection is not None and not database.in_atomic_block and _used(database):
            # This request used the database (a cold cache, a replica's refresh) or the
            # connection has outlived CONN_MAX_AGE: close what Django would close.
            close_old_connections()
        headers = list(result.headers)
        if secure and config.hsts:
            headers.append(("Strict-Transport-Security", config.hsts))
        headers.append(("Content-Length", str(len(result.body))))
        start_response(f"{result.status} {_REASONS.get(result.status, '')}", headers)
        return [result.body]


def _used(database) -> bool:
    """Whether the connection may need closing after a fast-path request. Django checks every
    connection after every request; most lookups never touch the database, and a worker that
    served a Django page before keeps an open connection: checking it on each lookup would cost
    more than the lookup's own work. With health checks on, Django marks a connection unchecked
    when it runs these checks, and checked again once a query has used it."""
    if not database.settings_dict.get("CONN_HEALTH_CHECKS"):
        return True
    close_at = database.close_at
    return database.health_check_done or (close_at is not None and time.monotonic() >= close_at)


def _replay(environ: dict, body: bytes) -> dict:
    import io

    replay = dict(environ)
    replay["wsgi.input"] = io.BytesIO(body)
    return replay


def with_lookup_fast_path(application: Callable) -> Callable:
    return LookupFastPath(application)


# --- OpenAPI ------------------------------------------------------------------------------------

_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["found"]},
        "session": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
        },
        "sitting": {"$ref": "#/components/schemas/Coded"},
        "version": {"type": "integer"},
        "published_at": {"type": "string", "format": "date-time"},
        "corrected_at": {"type": ["number", "null"]},
        "candidate": {
            "type": "object",
            "properties": {
                "massar_code": {"type": "string"},
                "last_name": {"type": "string"},
                "first_name": {"type": "string"},
                "last_name_ar": {"type": "string"},
                "first_name_ar": {"type": "string"},
                "candidate_type": {"type": "string", "enum": ["school", "free"]},
                "track": {"$ref": "#/components/schemas/Named"},
            },
        },
        "result": {
            "type": "object",
            "properties": {
                "general_average": {"type": ["string", "null"], "example": "14.25"},
                "decision": {"$ref": "#/components/schemas/Coded"},
                "mention": {"oneOf": [{"$ref": "#/components/schemas/Coded"}, {"type": "null"}]},
                "averages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "component": {"type": "string"},
                            "label": {"type": "string"},
                            "average": {"type": "string"},
                        },
                    },
                },
            },
        },
        "subjects": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "component": {"type": "string"},
                    "component_label": {"type": "string"},
                    "coefficient": {"type": ["string", "null"]},
                    "mark": {"type": ["string", "null"]},
                    "sitting": {"type": "string"},
                    "sitting_label": {"type": "string"},
                },
            },
        },
    },
}

_MESSAGE = {
    "type": "object",
    "properties": {
        "status": {"type": "string"},
        "message": {"type": "string"},
        "retry_after": {"type": "integer"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

_PARAMETERS = [
    {
        "name": "massar_code",
        "in": "query",
        "schema": {"type": "string", "pattern": "^[A-Z][0-9]{9}$"},
    },
    {"name": "cnie_number", "in": "query", "schema": {"type": "string"}},
    {
        "name": "birth_date",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "format": "date"},
    },
    {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["ar", "fr", "en"]}},
]

_RESPONSES = {
    "200": {
        "description": "The published result",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}},
    },
    "400": {
        "description": "Malformed query",
        "content": {"application/json": {"schema": _MESSAGE}},
    },
    "404": {
        "description": "not_found (same answer for a wrong pair and an unknown code) or "
        "not_published (before the publication moment)",
        "content": {"application/json": {"schema": _MESSAGE}},
    },
    "429": {
        "description": "Too many attempts from this address or for this code",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": _MESSAGE}},
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Bac e-Services: results lookup",
        "version": "1",
        "description": "Look up a published baccalaureate result with the Massar code (or the "
        "CNIE number) and the birth date. Rate-limited per address and per code.",
    },
    "paths": {
        API_PATH: {
            "post": {
                "operationId": "lookupResult",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["birth_date"],
                                "properties": {
                                    "massar_code": {"type": "string", "example": "R130046852"},
                                    "cnie_number": {"type": "string", "example": "BE123456"},
                                    "birth_date": {"type": "string", "format": "date"},
                                    "lang": {"type": "string", "enum": ["ar", "fr", "en"]},
                                },
                            }
                        }
                    },
                },
                "responses": _RESPONSES,
            },
            "get": {
                "operationId": "lookupResultByQuery",
                "description": "As POST; the query string may be logged by proxies: prefer POST.",
                "parameters": _PARAMETERS,
                "responses": _RESPONSES,
            },
        }
    },
    "components": {
        "schemas": {
            "Result": _RESULT_SCHEMA,
            "Coded": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "label": {"type": "string"}},
            },
            "Named": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
            },
        }
    },
}
