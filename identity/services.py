"""Sign-in, account activation and password reset: the rules.

Views parse forms and move between steps; every decision (is this password right, may this
address try again, is this code valid, who may activate which file) is taken here, and every
attempt is written as a SignInEvent.
"""

from __future__ import annotations

import datetime
import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.services import Change, record_changes
from candidates.identifiers import is_valid_massar, normalize_cnie, normalize_massar
from candidates.models import Candidate
from exams.models import ExamSession
from notifications.services import DeliveryError, destinations, mask, send_one_time_code

from . import totp
from .access import STAFF_ROLES
from .models import OneTimeCode, Role, SignInEvent, User
from .pending import Step
from .ratelimit import RateLimit, address_bucket, client_address

Reason = SignInEvent.Reason
Purpose = OneTimeCode.Purpose

CODE_DIGITS = 6
MAX_CODE_ATTEMPTS = 5
RESEND_INTERVAL = datetime.timedelta(seconds=60)
MAX_CODES_PER_HOUR = 5

# A Massar code with a birth date has about 10^4 possibilities (DESIGN §4): a handful of tries
# per code and per address each hour keeps guessing slower than asking the school.
LOOKUP_ATTEMPTS_PER_CODE = 5
LOOKUP_ATTEMPTS_PER_ADDRESS = 20
LOOKUP_WINDOW_SECONDS = 3600


class Refused(Exception):
    """The attempt is refused; `message` is what the person should read."""

    def __init__(self, message: str, reason: str = "", retry_after: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.retry_after = retry_after


# --- limits -----------------------------------------------------------------------------------
# Built on each use so that settings overridden at run time (and in tests) take effect.


def _account_failures() -> RateLimit:
    return RateLimit(
        "sign-in-account",
        settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT,
        settings.SIGN_IN_LOCKOUT_SECONDS,
        lockout=settings.SIGN_IN_LOCKOUT_SECONDS,
    )


def _address_failures() -> RateLimit:
    return RateLimit(
        "sign-in-address",
        settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS,
        settings.SIGN_IN_LOCKOUT_SECONDS,
        lockout=settings.SIGN_IN_LOCKOUT_SECONDS,
    )


def _lookups_per_code(scope: str) -> RateLimit:
    return RateLimit(f"{scope}-code", LOOKUP_ATTEMPTS_PER_CODE, LOOKUP_WINDOW_SECONDS)


def _lookups_per_address(scope: str) -> RateLimit:
    return RateLimit(f"{scope}-address", LOOKUP_ATTEMPTS_PER_ADDRESS, LOOKUP_WINDOW_SECONDS)


def _wait_message(seconds: int) -> str:
    if seconds < 120:
        return ngettext(
            "Please wait %(count)d second before trying again.",
            "Please wait %(count)d seconds before trying again.",
            seconds,
        ) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext(
        "Please wait %(count)d minute before trying again.",
        "Please wait %(count)d minutes before trying again.",
        minutes,
    ) % {"count": minutes}


def _locked(seconds: int) -> Refused:
    return Refused(
        _("Too many failed attempts.") + " " + _wait_message(seconds),
        Reason.LOCKED,
        retry_after=seconds,
    )


# --- events -----------------------------------------------------------------------------------


def record_event(
    username: str, user: User | None, address: str, succeeded: bool, reason: str
) -> SignInEvent:
    return SignInEvent.objects.create(
        username=username[:150],
        user=user,
        address=address or None,
        succeeded=succeeded,
        reason=reason,
    )


# --- sign-in ----------------------------------------------------------------------------------


def normalize_username(raw: str) -> str:
    """A Massar code typed in lower case or with spaces still names the candidate's account."""
    massar = normalize_massar(raw)
    return massar if is_valid_massar(massar) else raw.strip()


def _account_key(username: str) -> str:
    return username.strip().lower()


def sign_in_wait(username: str, address: str) -> int:
    """Seconds before this account or address may try again; 0 when it may try now."""
    decisions = (
        _account_failures().check(_account_key(username)),
        _address_failures().check(address_bucket(address)),
    )
    return max((d.retry_after for d in decisions if not d.allowed), default=0)


def _count_failure(username: str, user: User | None, address: str, reason: str) -> None:
    _account_failures().hit(_account_key(username))
    _address_failures().hit(address_bucket(address))
    record_event(username, user, address, False, reason)


def _refuse_if_locked(username: str, user: User | None, address: str) -> None:
    wait = sign_in_wait(username, address)
    if wait:
        record_event(username, user, address, False, Reason.LOCKED)
        raise _locked(wait)


def check_password(request: HttpRequest, username: str, password: str) -> User:
    """The first step: the user whose password this is, or Refused.

    While the account or the address is locked the password is not even checked, so that a
    locked account cannot be used as an oracle for guesses.
    """
    address = client_address(request)
    username = normalize_username(username)
    _refuse_if_locked(username, None, address)
    # ModelBackend hashes the password even for an unknown username, so the answer takes the
    # same time whether the account exists or not; it also refuses inactive accounts.
    user = authenticate(request, username=username, password=password)
    if user is None:
        _count_failure(username, None, address, Reason.BAD_PASSWORD)
        raise Refused(
            _("The Massar code (or username) or the password is not right."), Reason.BAD_PASSWORD
        )
    record_event(username, user, address, True, Reason.PASSWORD_OK)
    return user


def second_factor(user: User) -> str:
    """The step after the password: an authenticator code for staff (after enrolling one if
    they have none yet), a code sent by SMS or e-mail for everyone else."""
    if user.role in STAFF_ROLES:
        return Step.TOTP if user.totp_confirmed and user.totp_secret_encrypted else Step.ENROL
    return Step.CODE


def complete_sign_in(request: HttpRequest, user: User) -> None:
    """Authenticate the session, once every factor has been checked."""
    address = client_address(request)
    _account_failures().reset(_account_key(user.get_username()))
    # login() gives the session a new key, so the pre-authentication session id (which may have
    # been planted) never becomes an authenticated one.
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    language = getattr(request, "LANGUAGE_CODE", "") or ""
    if language and language != user.language:
        User.objects.filter(pk=user.pk).update(language=language)
        user.language = language
    record_event(user.get_username(), user, address, True, Reason.SIGNED_IN)


# --- one-time codes ---------------------------------------------------------------------------

CodeOwner = User | Candidate


def _owner(owner: CodeOwner) -> dict[str, object]:
    return {"user": owner} if isinstance(owner, User) else {"candidate": owner}


def _code_hash(owner: CodeOwner, purpose: str, code: str) -> str:
    # Keyed with SECRET_KEY: a copy of the table alone does not allow trying the 10^6 codes.
    kind = "user" if isinstance(owner, User) else "candidate"
    return salted_hmac(
        "identity.one_time_code", f"{kind}:{owner.pk}:{purpose}:{code}", algorithm="sha256"
    ).hexdigest()


def channels_for(owner: CodeOwner) -> dict[str, str]:
    """{channel: masked destination} for each way a code can reach this person."""
    return {channel: mask(channel, address) for channel, address in destinations(owner).items()}


def require_channels(request: HttpRequest, owner: CodeOwner) -> dict[str, str]:
    """channels_for(owner), refusing (and recording it) when there is no way to send a code."""
    channels = channels_for(owner)
    if not channels:
        user = owner if isinstance(owner, User) else None
        label = owner.get_username() if user else owner.massar_code
        record_event(label, user, client_address(request), False, Reason.NO_CHANNEL)
        raise Refused(
            _(
                "We have no phone number or e-mail address to send a code to. Ask your school "
                "to add one to your file."
            ),
            Reason.NO_CHANNEL,
        )
    return channels


def _resend_wait(owner: CodeOwner, purpose: str, now: datetime.datetime) -> int:
    recent = list(
        OneTimeCode.objects.filter(
            **_owner(owner), purpose=purpose, created_at__gt=now - datetime.timedelta(hours=1)
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    waits = []
    if recent and recent[-1] + RESEND_INTERVAL > now:
        waits.append(recent[-1] + RESEND_INTERVAL - now)
    if len(recent) >= MAX_CODES_PER_HOUR:
        waits.append(recent[-MAX_CODES_PER_HOUR] + datetime.timedelta(hours=1) - now)
    return math.ceil(max(waits).total_seconds()) if waits else 0


def issue_code(owner: CodeOwner, purpose: str, channel: str, language: str | None = None) -> str:
    """Create a new code, send it, and return the masked destination.

    A new code replaces every earlier one of the same purpose. Refused when codes are asked for
    too often (one a minute, five an hour) or the message cannot be sent.
    """
    now = timezone.now()
    wait = _resend_wait(owner, purpose, now)
    if wait:
        raise Refused(
            _("A code was sent a short while ago.") + " " + _wait_message(wait),
            "throttled",
            retry_after=wait,
        )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with transaction.atomic():
        OneTimeCode.objects.filter(**_owner(owner), purpose=purpose, used_at__isnull=True).update(
            used_at=now
        )
        issued = OneTimeCode.objects.create(
            **_owner(owner),
            purpose=purpose,
            channel=channel,
            code_hash=_code_hash(owner, purpose, code),
            expires_at=now + datetime.timedelta(seconds=settings.OTP_TTL_SECONDS),
        )
    # Sent after the commit: the row must exist before the code can be typed back.
    try:
        address = send_one_time_code(owner, channel, code, purpose, language=language)
    except DeliveryError:
        # A code that never left must not count against the resend limits, or the person could
        # not switch to the other channel straight away.
        issued.delete()
        raise Refused(
            _("We could not send the code. Try again in a minute or choose another way."),
            "not_sent",
        ) from None
    return mask(channel, address)


def check_code(owner: CodeOwner, purpose: str, code: str) -> None:
    """Accept the latest code of this purpose once; raise Refused otherwise."""
    now = timezone.now()
    latest = (
        OneTimeCode.objects.filter(**_owner(owner), purpose=purpose)
        .order_by("-created_at", "-pk")
        .first()
    )
    expired = Refused(
        _("This code has expired or has already been used. Ask for a new code."),
        Reason.CODE_EXPIRED,
    )
    exhausted = Refused(
        _("Too many wrong codes. Ask for a new code."),
        Reason.CODE_EXHAUSTED,
    )
    if latest is None or latest.used_at is not None or latest.expires_at <= now:
        raise expired
    # The attempt is counted before the comparison, in one UPDATE, so parallel guesses cannot
    # slip past the limit.
    counted = OneTimeCode.objects.filter(
        pk=latest.pk, used_at__isnull=True, attempts__lt=MAX_CODE_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not counted:
        raise exhausted
    if not constant_time_compare(latest.code_hash, _code_hash(owner, purpose, code)):
        raise Refused(
            _("This code is not right. Check the last message we sent you."), Reason.BAD_CODE
        )
    # Single use: of two requests carrying the right code, only one can mark it used.
    if not OneTimeCode.objects.filter(pk=latest.pk, used_at__isnull=True).update(used_at=now):
        raise expired


def check_sign_in_code(request: HttpRequest, user: User, code: str) -> None:
    address = client_address(request)
    _refuse_if_locked(user.get_username(), user, address)
    try:
        check_code(user, Purpose.SIGN_IN, code)
    except Refused as refusal:
        if refusal.reason in (Reason.BAD_CODE, Reason.CODE_EXHAUSTED):
            _count_failure(user.get_username(), user, address, refusal.reason)
        else:
            record_event(user.get_username(), user, address, False, refusal.reason)
        raise


# --- TOTP for staff ---------------------------------------------------------------------------


def check_totp(request: HttpRequest, user: User, code: str) -> None:
    """Accept a code of the user's authenticator once; raise Refused otherwise."""
    address = client_address(request)
    _refuse_if_locked(user.get_username(), user, address)
    secret = totp.decrypt_secret(user.totp_secret_encrypted)
    result = totp.check_code(secret, code, user.totp_last_step)
    step = result.step
    # Claiming the step in one conditional UPDATE makes two requests with the same code (a
    # replay racing the original) unable to both succeed.
    if step is not None and not User.objects.filter(
        Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step), pk=user.pk
    ).update(totp_last_step=step):
        step = None
        result = totp.Check(None, True)
    if step is None:
        reason = Reason.TOTP_REPLAY if result.replayed else Reason.BAD_TOTP
        _count_failure(user.get_username(), user, address, reason)
        if result.replayed:
            raise Refused(
                _("This code has already been used. Wait for the next code in your app."), reason
            )
        raise Refused(_("This code is not right. Enter the code your app shows now."), reason)
    user.totp_last_step = step


def totp_enrolment_secret(user: User) -> str:
    """The secret to show during enrolment, created on first visit and kept until confirmed."""
    if user.totp_confirmed:
        raise Refused(_("An authenticator app is already set up for this account."), "enrolled")
    if not user.totp_secret_encrypted:
        secret = totp.new_secret()
        user.totp_secret_encrypted = totp.encrypt_secret(secret)
        user.totp_last_step = None
        user.save(update_fields=["totp_secret_encrypted", "totp_last_step"])
        return secret
    return totp.decrypt_secret(user.totp_secret_encrypted)


def confirm_totp_enrolment(request: HttpRequest, user: User, code: str) -> None:
    """Confirm enrolment with a first code from the app; raise Refused if it is not right."""
    address = client_address(request)
    _refuse_if_locked(user.get_username(), user, address)
    secret = totp.decrypt_secret(user.totp_secret_encrypted)
    result = totp.check_code(secret, code, None)
    if result.step is None or not User.objects.filter(pk=user.pk, totp_confirmed=False).update(
        totp_confirmed=True, totp_last_step=result.step
    ):
        _count_failure(user.get_username(), user, address, Reason.BAD_TOTP)
        raise Refused(
            _(
                "This code is not right. Check that the app was set up with this key and that the time on your phone is correct."
            ),
            Reason.BAD_TOTP,
        )
    user.totp_confirmed = True
    user.totp_last_step = result.step
    record_event(user.get_username(), user, address, True, Reason.TOTP_ENROLLED)


# --- activation and reset (lookups by guessable keys) -----------------------------------------


def _check_lookup_limits(scope: str, key: str, address: str) -> None:
    decisions = (
        _lookups_per_code(scope).hit(key),
        _lookups_per_address(scope).hit(address_bucket(address)),
    )
    refused = [d.retry_after for d in decisions if not d.allowed]
    if refused:
        raise _locked(max(refused))


def _cnie_matches(candidate: Candidate, entered: str) -> bool:
    if not candidate.cnie_number:
        return True
    return constant_time_compare(normalize_cnie(entered or ""), candidate.cnie_number)


def activation_refused_message() -> str:
    # One answer for an unknown code, a wrong birth date or CNIE, and an account that already
    # exists: anything more precise would tell a stranger which Massar codes are real.
    return _(
        "We could not activate an account with these details. Check your Massar code, birth "
        "date and CNIE number. If you have already activated your account, sign in or reset "
        "your password."
    )


def find_file_to_activate(
    request: HttpRequest, massar_code: str, birth_date: datetime.date, cnie_number: str = ""
) -> Candidate:
    """The current-session file these details prove to be the caller's, if it has no account."""
    address = client_address(request)
    massar_code = normalize_massar(massar_code)
    try:
        _check_lookup_limits("activation", massar_code, address)
    except Refused:
        record_event(massar_code, None, address, False, Reason.LOCKED)
        raise
    session = ExamSession.current()
    candidate = (
        Candidate.objects.filter(session=session, massar_code=massar_code).first()
        if session is not None
        else None
    )
    matches = (
        candidate is not None
        and candidate.birth_date == birth_date
        and _cnie_matches(candidate, cnie_number)
        and candidate.user_id is None
        and not User.objects.filter(username=massar_code).exists()
    )
    if not matches:
        record_event(massar_code, None, address, False, Reason.ACTIVATION_REFUSED)
        raise Refused(activation_refused_message(), Reason.ACTIVATION_REFUSED)
    return candidate


def account_for_new_file(candidate: Candidate) -> User:
    """An unsaved user as the activation would create it (for the password validators)."""
    return User(
        username=candidate.massar_code,
        first_name=candidate.first_name_latin,
        last_name=candidate.last_name_latin,
        email=candidate.email,
        role=Role.CANDIDATE,
    )


def check_lookup_code(request: HttpRequest, owner: CodeOwner, purpose: str, code: str) -> None:
    """Check an activation or reset code; wrong ones count against the address."""
    address = client_address(request)
    label = owner.massar_code if isinstance(owner, Candidate) else owner.get_username()
    wait = _address_failures().check(address_bucket(address))
    if not wait.allowed:
        record_event(label, None, address, False, Reason.LOCKED)
        raise _locked(wait.retry_after)
    try:
        check_code(owner, purpose, code)
    except Refused as refusal:
        if refusal.reason in (Reason.BAD_CODE, Reason.CODE_EXHAUSTED):
            _address_failures().hit(address_bucket(address))
        record_event(
            label, owner if isinstance(owner, User) else None, address, False, refusal.reason
        )
        raise


def count_decoy_failure(request: HttpRequest, username: str) -> None:
    """A code typed for an account that does not exist counts like any wrong code."""
    address = client_address(request)
    _address_failures().hit(address_bucket(address))
    record_event(username, None, address, False, Reason.BAD_CODE)


def activate_account(request: HttpRequest, candidate: Candidate, password: str) -> User:
    """Create the candidate's account with this password and link it to their file."""
    address = client_address(request)
    with transaction.atomic():
        candidate = Candidate.objects.select_for_update().get(pk=candidate.pk)
        if candidate.user_id or User.objects.filter(username=candidate.massar_code).exists():
            raise Refused(activation_refused_message(), Reason.ACTIVATION_REFUSED)
        # Only what signing in needs: names, phone and e-mail stay on the file, their one source.
        user = User(username=candidate.massar_code, role=Role.CANDIDATE)
        user.set_password(password)
        user.language = getattr(request, "LANGUAGE_CODE", "") or ""
        user.save()
        candidate.user = user
        candidate.save(update_fields=["user", "updated_at"])
        record_changes(
            user,
            [
                Change(
                    action="activate_account",
                    object_type="candidate",
                    object_id=str(candidate.pk),
                    before={"user": None},
                    after={"user": user.username},
                    reason="account activated by the candidate (Massar code, birth date, one-time code)",
                    candidate_id=candidate.pk,
                )
            ],
        )
    record_event(user.username, user, address, True, Reason.ACTIVATED)
    return user


def reset_refused_message() -> str:
    return _(
        "We could not find an account with these details. Check your Massar code and birth "
        "date. If you have never signed in, activate your account first."
    )


@dataclass(frozen=True)
class ResetTarget:
    """Who a reset request is for. `user` is None for an unknown staff username: the request
    then carries on as if it existed, so that usernames cannot be discovered this way."""

    user: User | None
    username: str
    is_candidate: bool


def find_account_to_reset(
    request: HttpRequest, identifier: str, birth_date: datetime.date | None
) -> ResetTarget:
    address = client_address(request)
    username = normalize_username(identifier)
    try:
        _check_lookup_limits("reset", _account_key(username), address)
    except Refused:
        record_event(username, None, address, False, Reason.LOCKED)
        raise
    if is_valid_massar(username):
        user = (
            User.objects.filter(username=username, role=Role.CANDIDATE, is_active=True)
            .select_related("candidate_file")
            .first()
        )
        file = getattr(user, "candidate_file", None) if user else None
        if file is None or birth_date is None or file.birth_date != birth_date:
            record_event(username, None, address, False, Reason.RESET_REFUSED)
            raise Refused(reset_refused_message(), Reason.RESET_REFUSED)
        return ResetTarget(user, username, True)
    user = User.objects.filter(username=username, role__in=STAFF_ROLES, is_active=True).first()
    if user is None:
        record_event(username, None, address, False, Reason.RESET_REFUSED)
    return ResetTarget(user, username, False)


def reset_password(request: HttpRequest, user: User, password: str) -> None:
    """Set the new password; other sessions of the account end (their auth hash changes)."""
    address = client_address(request)
    user.set_password(password)
    user.save(update_fields=["password"])
    # The person just proved they hold the phone or mailbox: their own lockout should not keep
    # them out of the account they have recovered.
    _account_failures().reset(_account_key(user.get_username()))
    record_event(user.get_username(), user, address, True, Reason.PASSWORD_RESET)
