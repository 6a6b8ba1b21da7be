"""Helpers for the sign-in tests: a clock that can be moved, codes read from the outboxes, and
staff members with an authenticator already set up."""

from __future__ import annotations

import datetime
import re

import pyotp
import pytest
from django.core import mail
from django.utils import timezone

from identity import totp
from notifications.sms import MemorySMSBackend

PASSWORD = "correct horse battery staple"
_CODE = re.compile(r"\b(\d{6})\b")


class Clock:
    """Moves django.utils.timezone.now, which codes, limits and TOTP all read."""

    def __init__(self) -> None:
        self.offset = datetime.timedelta(0)

    def advance(self, seconds: float) -> None:
        self.offset += datetime.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    real_now = timezone.now
    moved = Clock()
    monkeypatch.setattr(timezone, "now", lambda: real_now() + moved.offset)
    return moved


def last_sms_code(phone: str = "+212612345678") -> str:
    for to, text in reversed(MemorySMSBackend.outbox):
        if to == phone:
            return _CODE.search(text).group(1)
    raise AssertionError(f"no SMS sent to {phone}")


def last_email_code(address: str) -> str:
    for message in reversed(mail.outbox):
        if address in message.to:
            return _CODE.search(message.body).group(1)
    raise AssertionError(f"no e-mail sent to {address}")


DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol(user, secret: str = DEMO_TOTP_SECRET) -> pyotp.TOTP:
    """Give a staff member a confirmed authenticator; returns the app's view of it."""
    user.totp_secret_encrypted = totp.encrypt_secret(secret)
    user.totp_confirmed = True
    user.save()
    return pyotp.TOTP(secret)


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 1_000_000:06d}"


def start_sign_in(client, username: str = "R130000001", password: str = PASSWORD, **extra):
    """The password step; extra keys go into the POST (e.g. next)."""
    return client.post("/account/sign-in/", {"username": username, "password": password, **extra})


def send_code(client, username: str = "R130000001", channel: str = "sms", **extra) -> None:
    """Password, then the choice of channel: a code is now in the SMS or e-mail outbox."""
    response = start_sign_in(client, username, **extra)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response.url == "/account/sign-in/code/"
    response = client.post("/account/sign-in/code/", {"action": "send", "send-channel": channel})
    assert response.status_code == 302


def submit_code(client, code: str):
    return client.post("/account/sign-in/code/", {"action": "verify", "code": code})


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session
