"""Time-based one-time passwords (RFC 6238) for staff: secrets, QR codes and checking.

The secret is stored encrypted with the document keys (MultiFernet: the first key encrypts,
every key decrypts), so a copy of the database alone does not let anyone mint codes.
"""

from __future__ import annotations

import hmac
import time

import pyotp
import segno
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
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
    return int((time.time() if at is None else at) // STEP_SECONDS)


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def current_code(secret: str, at: float | None = None) -> str:
    return code_at_step(secret, current_step(at))


def matching_step(secret: str, code: str, last_used_step: int | None, at: float | None = None) -> int | None:
    """The time-step `code` belongs to, within the window and after `last_used_step`; else None.

    Steps at or before the last used one are never accepted, which makes every code single-use
    and also refuses an older code once a newer one has been used.
    """
    code = code.strip()
    if len(code) != DIGITS or not code.isdigit():
        return None
    now_step = current_step(at)
    found = None
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        # Compare against every step in the window, in constant time, so that timing does not
        # reveal which one matched.
        if hmac.compare_digest(code_at_step(secret, step), code) and found is None:
            found = step
    if found is None or (last_used_step is not None and found <= last_used_step):
        return None
    return found


def is_replay(secret: str, code: str, last_used_step: int | None, at: float | None = None) -> bool:
    """Whether `code` is a valid code of an already used step (to tell the user why it failed)."""
    if last_used_step is None:
        return False
    now_step = current_step(at)
    return any(
        hmac.compare_digest(code_at_step(secret, step), code.strip())
        for step in range(now_step - VALID_WINDOW, min(now_step + VALID_WINDOW, last_used_step) + 1)
    )
