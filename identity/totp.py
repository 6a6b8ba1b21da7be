"""Time-based one-time passwords (RFC 6238) for staff: secrets, QR codes and checking.

The secret is stored encrypted with the document keys (MultiFernet: the first key encrypts,
every key decrypts), so a copy of the database alone does not let anyone mint codes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import pyotp
import segno
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ISSUER = "Bac e-Services"
STEP_SECONDS = 30
DIGITS = 6
# Accept the previous and the next step too: phones and servers drift by a few seconds.
VALID_WINDOW = 1


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.DOCUMENT_KEYS])


def new_secret() -> str:
    """A fresh base32 secret of 160 bits, the size RFC 4226 recommends."""
    return pyotp.random_base32(length=32)


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, account_name: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=ISSUER
    )


def qr_svg(uri: str, title: str) -> SafeString:
    """The QR code of `uri` as inline SVG.

    segno writes presentation attributes (stroke, fill, transform) and no `style` attribute or
    element, so the page keeps a CSP without 'unsafe-inline'. A white quiet zone is drawn in so
    that the code scans on any background.
    """
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, border=4, light="#fff", dark="#000", svgclass="qr", title=title
    )
    # The title is the accessible name; role="img" makes screen readers announce it as one.
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)
    return mark_safe(svg)  # noqa: S308 - segno's own markup, the only text in it is escaped


def current_step(at: float | None = None) -> int:
    # Read through django.utils.timezone so that tests can move one clock for everything.
    return int((timezone.now().timestamp() if at is None else at) // STEP_SECONDS)


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def current_code(secret: str, at: float | None = None) -> str:
    return code_at_step(secret, current_step(at))


@dataclass(frozen=True)
class Check:
    step: int | None  # the accepted time-step, None when the code is refused
    replayed: bool  # the code was right but its step has already been used


def check_code(
    secret: str, code: str, last_used_step: int | None, at: float | None = None
) -> Check:
    """Check `code` against the steps of the window, refusing steps already used.

    Steps at or before the last used one are never accepted, which makes every code single-use
    and also refuses an older code once a newer one has been used.
    """
    code = code.strip()
    if len(code) != DIGITS or not code.isdigit():
        return Check(None, False)
    now_step = current_step(at)
    # Every step of the window is computed and compared in constant time, so that the response
    # time does not tell which step matched.
    matches = [
        step
        for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1)
        if hmac.compare_digest(code_at_step(secret, step), code)
    ]
    fresh = [step for step in matches if last_used_step is None or step > last_used_step]
    if fresh:
        return Check(fresh[0], False)
    return Check(None, bool(matches))
