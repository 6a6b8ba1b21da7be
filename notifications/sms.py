"""SMS providers behind one interface.

Console by default, memory for tests, a file of JSON lines for a demo or a hand-off to another
system, and an HTTP gateway adapter for a real provider. `send(phone, text)` returns the
provider's message id (or None when the provider gives none) and raises:

- TransientSMSError when trying again later may work (5xx, timeouts, connection refused, 429);
- PermanentSMSError when it will not (the gateway refused the message: 4xx).

Any other exception is treated as transient by the notification outbox.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


class SMSError(Exception):
    """The provider did not accept the message."""


class TransientSMSError(SMSError):
    """The provider failed in a way that trying again later may fix."""


class PermanentSMSError(SMSError):
    """The provider refused the message; sending it again will not help."""


class BaseSMSBackend:
    def send(self, phone: str, text: str) -> str | None:
        """Hand one message to the provider; return its message id if it gives one."""
        raise NotImplementedError


class ConsoleSMSBackend(BaseSMSBackend):
    def send(self, phone: str, text: str) -> str | None:
        sys.stdout.write(f"[SMS to {phone}] {text}\n")
        sys.stdout.flush()
        return None


class MemorySMSBackend(BaseSMSBackend):
    """Keeps sent messages in `outbox`, like Django's locmem e-mail backend."""

    outbox: list[tuple[str, str]] = []
    _lock = threading.Lock()

    def send(self, phone: str, text: str) -> str | None:
        with self._lock:
            MemorySMSBackend.outbox.append((phone, text))
            return f"memory-{len(MemorySMSBackend.outbox)}"


class FileSMSBackend(BaseSMSBackend):
    """Appends one JSON line per message to settings.SMS_FILE_PATH.

    Each message is one write() on a file opened in append mode, so several workers on one
    machine can share the file without interleaving lines.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, phone: str, text: str) -> str | None:
        message_id = f"file-{uuid.uuid4().hex}"
        line = json.dumps(
            {
                "id": message_id,
                "to": phone,
                "text": text,
                "sender": settings.SMS_SENDER_ID,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            ensure_ascii=False,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)
        return message_id


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A gateway that redirects a POST is misconfigured; following it would resend the message
    # as a GET (or to another host with our token). Surface the 3xx as an error instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class HttpSMSBackend(BaseSMSBackend):
    """A JSON-over-HTTP SMS gateway.

    POSTs {"to", "text", "sender"} to settings.SMS_GATEWAY_URL with
    `Authorization: Bearer <SMS_GATEWAY_TOKEN>`. A 2xx answer is success; its JSON "id" (or
    "message_id") is the provider's message id. 5xx, 408, 429, timeouts and connection errors
    are transient; other 4xx (and 3xx) are permanent.
    """

    max_response_bytes = 64 * 1024

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        sender: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.url = url if url is not None else settings.SMS_GATEWAY_URL
        self.token = token if token is not None else settings.SMS_GATEWAY_TOKEN
        self.sender = sender if sender is not None else settings.SMS_SENDER_ID
        self.timeout = timeout if timeout is not None else settings.SMS_GATEWAY_TIMEOUT_SECONDS
        if urllib.parse.urlparse(self.url).scheme not in ("http", "https"):
            raise ImproperlyConfigured("SMS_GATEWAY_URL must be an http:// or https:// URL")
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, phone: str, text: str) -> str | None:
        payload = json.dumps({"to": phone, "text": text, "sender": self.sender}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")  # noqa: S310 - scheme checked in __init__
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(self.max_response_bytes)
        except urllib.error.HTTPError as exc:
            detail = _short(exc.read(512) if exc.fp else b"")
            exc.close()
            if exc.code >= 500 or exc.code in (408, 429):
                raise TransientSMSError(f"gateway answered {exc.code} {detail}".strip()) from None
            raise PermanentSMSError(
                f"gateway refused the message: {exc.code} {detail}".strip()
            ) from None
        except TimeoutError:
            raise TransientSMSError(f"gateway timed out after {self.timeout} s") from None
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise TransientSMSError(f"gateway timed out after {self.timeout} s") from None
            raise TransientSMSError(f"gateway unreachable: {reason}") from None
        return _message_id(body)


def _short(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", "replace").split())[:200]


def _message_id(body: bytes) -> str | None:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    if isinstance(data, dict):
        value = data.get("id") or data.get("message_id")
        if value is not None:
            return str(value)[:200]
    return None


def get_sms_backend() -> BaseSMSBackend:
    """An instance of the configured backend (settings.SMS_BACKEND)."""
    return import_string(settings.SMS_BACKEND)()


def send_sms(phone: str, text: str) -> str | None:
    return get_sms_backend().send(phone, text)
