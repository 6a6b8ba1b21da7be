"""SMS providers behind one interface. Console by default; memory for tests."""

from __future__ import annotations

import sys
import threading

from django.conf import settings
from django.utils.module_loading import import_string


class BaseSMSBackend:
    def send(self, phone: str, text: str) -> None:
        raise NotImplementedError


class ConsoleSMSBackend(BaseSMSBackend):
    def send(self, phone: str, text: str) -> None:
        sys.stdout.write(f"[SMS to {phone}] {text}\n")
        sys.stdout.flush()


class MemorySMSBackend(BaseSMSBackend):
    """Keeps sent messages in `outbox`, like Django's locmem e-mail backend."""

    outbox: list[tuple[str, str]] = []
    _lock = threading.Lock()

    def send(self, phone: str, text: str) -> None:
        with self._lock:
            MemorySMSBackend.outbox.append((phone, text))


def send_sms(phone: str, text: str) -> None:
    import_string(settings.SMS_BACKEND)().send(phone, text)
