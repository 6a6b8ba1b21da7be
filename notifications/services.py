"""Messages to candidates and staff, through the configured SMS and e-mail backends."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from candidates.identifiers import normalize_phone

from .sms import send_sms

if TYPE_CHECKING:
    from candidates.models import Candidate
    from identity.models import User

logger = logging.getLogger(__name__)

SMS = "sms"
EMAIL = "email"
CHANNELS = (SMS, EMAIL)


class DeliveryError(Exception):
    """The message could not be handed to the provider (or there is nowhere to send it)."""


def _candidate_file(recipient: User | Candidate) -> Candidate | None:
    from candidates.models import Candidate

    if isinstance(recipient, Candidate):
        return recipient
    try:
        return recipient.candidate_file
    except Candidate.DoesNotExist:
        return None


def destinations(recipient: User | Candidate) -> dict[str, str]:
    """Where a one-time code can go: {"sms": phone, "email": address}, SMS first.

    A candidate's codes go to the phone and e-mail on their file, which the school keeps and
    the candidate verifies; a staff member's to their account.
    """
    source = _candidate_file(recipient) or recipient
    found: dict[str, str] = {}
    phone = (source.phone or "").strip()
    if phone:
        found[SMS] = normalize_phone(phone) or phone
    email = (source.email or "").strip()
    if email:
        found[EMAIL] = email
    return found


def mask(channel: str, address: str) -> str:
    """Enough of a destination for its owner to recognise it, too little to be worth stealing."""
    if channel == EMAIL:
        local, _at, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    phone = normalize_phone(address)
    if phone:
        # +212612345678 -> +212 6•• ••• 678, the way Moroccan numbers are written.
        return f"+212 {phone[4]}•• ••• {phone[-3:]}"
    return f"•••{address[-3:]}"


def _language_of(recipient: User | Candidate) -> str:
    user = getattr(recipient, "user", None) or recipient
    return getattr(user, "language", "") or settings.LANGUAGE_CODE


def _texts(purpose: str, code: str) -> tuple[str, str, str]:
    """(SMS text, e-mail subject, e-mail body) in the active language."""
    minutes = max(1, settings.OTP_TTL_SECONDS // 60)
    expiry = ngettext(
        "It expires in %(minutes)d minute.", "It expires in %(minutes)d minutes.", minutes
    ) % {"minutes": minutes}
    if purpose == "activation":
        what = _("%(code)s is your code to activate your Bac e-Services account.") % {"code": code}
        subject = _("Your Bac e-Services activation code")
    elif purpose == "password_reset":
        what = _("%(code)s is your code to choose a new Bac e-Services password.") % {"code": code}
        subject = _("Your Bac e-Services password reset code")
    else:
        what = _("%(code)s is your Bac e-Services sign-in code.") % {"code": code}
        subject = _("Your Bac e-Services sign-in code")
    warning = _("Never share it: no one from the ministry or your school will ask for it.")
    sms = f"{what} {expiry} {warning}"
    body = "\n\n".join(
        [
            what,
            expiry,
            warning,
            _("If you did not ask for this code, ignore this message: nothing has been changed."),
            _("Bac e-Services, Ministry of National Education"),
        ]
    )
    return sms, subject, body


def send_one_time_code(
    recipient: User | Candidate,
    channel: str,
    code: str,
    purpose: str,
    language: str | None = None,
) -> str:
    """Send `code` by `channel` to the recipient's phone or e-mail; returns the destination.

    `language` defaults to the one the recipient last used. Raises DeliveryError when the
    recipient has no such destination or the provider refuses the message.
    """
    address = destinations(recipient).get(channel)
    if not address:
        raise DeliveryError(f"no {channel} destination")
    with translation.override(language or _language_of(recipient)):
        sms_text, subject, body = _texts(purpose, code)
    try:
        if channel == SMS:
            send_sms(address, sms_text)
        else:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    except Exception as exc:
        # Providers fail in their own ways (HTTP errors, SMTP errors, timeouts); the caller only
        # needs to know that the code did not leave, to offer the other channel or a retry.
        logger.exception("one-time code not delivered by %s", channel)
        raise DeliveryError(str(exc)) from exc
    return address
