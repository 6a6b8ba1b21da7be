"""Messages to candidates and staff, through the configured SMS and e-mail backends.

Two families: one-time codes, sent at once (send_one_time_code), and pushed notifications,
which go through the outbox (queue_bulk_notifications, notify_candidate): created once,
sent by Celery tasks at the providers' rate, retried, never sent twice.
"""

from __future__ import annotations

import logging
import random
import re
import smtplib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import TYPE_CHECKING

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage, get_connection, send_mail
from django.db import connection, transaction
from django.db.models import F, Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bac.pg import copy_from_stdin, use_copy
from candidates.identifiers import normalize_phone

from .messages import MessageKind, RenderedTexts, get_kind, texts_in
from .models import Notification, Status
from .sms import PermanentSMSError, SMSError, get_sms_backend, send_sms
from .throttle import limiter_for

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


# ---------------------------------------------------------------------------------------------
# The notification outbox: pushed messages (results published, complaint decided, ...).
#
# queue_bulk_notifications / notify_candidate create the rows (once: the idempotency key is
# unique) and queue sending tasks after the transaction commits. send_notification_batch (run by
# the notifications.send_notifications task) claims each row before handing it to the provider,
# so that no retry, duplicate or redelivered task can send it twice.
# ---------------------------------------------------------------------------------------------

REFERENCE_RE = re.compile(r"[\w.:-]{1,100}", re.ASCII)
# Candidates rendered and inserted per round trip when queueing.
QUEUE_CHUNK = 2000
# Rows claimed at once by a sending task. Small, so that a worker killed mid-batch leaves few
# rows in "sending" (they are then reported as interrupted, never sent again).
CLAIM_CHUNK = 20

ContextArg = Callable[["Candidate"], Mapping[str, object]] | Mapping[str, object] | None


@dataclass
class BatchOutcome:
    """What one sending task did."""

    sent: int = 0
    failed: int = 0
    not_claimed: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_in: float = 0.0

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "not_claimed": self.not_claimed,
            "to_retry": len(self.retry_ids),
        }


def site_url() -> str:
    return settings.NOTIFICATIONS_SITE_URL.rstrip("/")


def _language_code(candidate: Candidate) -> str:
    user = candidate.user if candidate.user_id else None
    language = (getattr(user, "language", "") or "").lower()
    available = {code for code, _name in settings.LANGUAGES}
    if language in available:
        return language
    if language.split("-")[0] in available:
        return language.split("-")[0]
    return settings.LANGUAGE_CODE


def _name_of(candidate: Candidate, language: str) -> str:
    if language == "ar" and (candidate.first_name_ar or candidate.last_name_ar):
        return f"{candidate.first_name_ar} {candidate.last_name_ar}".strip()
    return f"{candidate.first_name_latin} {candidate.last_name_latin}".strip()


def _context_function(context: ContextArg) -> Callable[[Candidate], Mapping[str, object]]:
    if context is None:
        return lambda candidate: {}
    if callable(context):
        return context
    fixed = dict(context)
    return lambda candidate: fixed


def _candidate_ids(candidate_ids: Iterable[int] | QuerySet) -> list[int]:
    from candidates.models import Candidate

    if isinstance(candidate_ids, QuerySet) and candidate_ids.model is Candidate:
        candidate_ids = candidate_ids.order_by().values_list("pk", flat=True)
    return sorted({int(pk) for pk in candidate_ids})


def _check_request(kind: str, reference: str, channels: Sequence[str]) -> MessageKind:
    spec = get_kind(kind)
    if not REFERENCE_RE.fullmatch(reference):
        raise ValueError(
            f"a notification reference is 1 to 100 letters, digits and . : _ -: {reference!r}"
        )
    unknown = set(channels) - set(CHANNELS)
    if unknown or not channels:
        raise ValueError(f"channels must be among {CHANNELS}, got {tuple(channels)!r}")
    return spec


# The columns an outbox row is created with, in this order; the others take their defaults.
_ROW_COLUMNS = (
    "candidate_id",
    "channel",
    "kind",
    "reference",
    "idempotency_key",
    "language",
    "destination",
    "subject",
    "body",
    "status",
    "not_before",
)


def _create_rows(
    spec: MessageKind,
    reference: str,
    candidates: Sequence[Candidate],
    context: Callable[[Candidate], Mapping[str, object]],
    channels: Sequence[str],
    send_at: datetime | None = None,
) -> int:
    """Insert the missing outbox rows for these candidates; queue the new ones after commit."""
    if not candidates:
        return 0
    bulk = use_copy(len(candidates) * len(channels))
    keys = {
        (candidate.pk, channel): Notification.key_for(spec.name, reference, candidate.pk, channel)
        for candidate in candidates
        for channel in channels
    }
    existing: set[str] = set()
    if not bulk:  # the COPY path lets PostgreSQL skip them (ON CONFLICT) instead
        existing = set(
            Notification.objects.filter(idempotency_key__in=keys.values()).values_list(
                "idempotency_key", flat=True
            )
        )
    default_url = site_url() + reverse(spec.url_name)
    texts: dict[str, RenderedTexts] = {}
    rows: list[tuple] = []
    for candidate in candidates:
        wanted = [c for c in channels if keys[candidate.pk, c] not in existing]
        if not wanted:
            continue
        language = _language_code(candidate)
        if language not in texts:
            texts[language] = texts_in(spec, language)
        values = {"name": _name_of(candidate, language), "url": default_url}
        values.update(context(candidate))
        sms_text, subject, body = texts[language].fill(values)
        addresses = destinations(candidate)
        for channel in wanted:
            address = addresses.get(channel, "")
            rows.append(
                (
                    candidate.pk,
                    channel,
                    spec.name,
                    reference,
                    keys[candidate.pk, channel],
                    language,
                    address,
                    subject if channel == EMAIL else "",
                    sms_text if channel == SMS else body,
                    Status.QUEUED.value if address else Status.SKIPPED.value,
                    send_at,
                )
            )
    if not rows:
        return 0
    created = _insert_with_copy(rows) if bulk else _insert_with_orm(rows)
    queued = [(pk, channel) for pk, channel, status in created if status == Status.QUEUED]
    if queued:

        def dispatch_after_commit() -> None:
            dispatch(queued, eta=send_at)

        transaction.on_commit(dispatch_after_commit, robust=True)
    return len(created)


def _insert_with_orm(rows: list[tuple]) -> list[tuple[int, str, str]]:
    """(id, channel, status) of the rows inserted. A concurrent call may have inserted some
    since the look-up: ignore_conflicts keeps theirs, and queueing a row twice is harmless
    (only one task can claim it)."""
    Notification.objects.bulk_create(
        [Notification(**dict(zip(_ROW_COLUMNS, row, strict=True))) for row in rows],
        ignore_conflicts=True,
    )
    key = _ROW_COLUMNS.index("idempotency_key")
    return list(
        Notification.objects.filter(idempotency_key__in=[row[key] for row in rows]).values_list(
            "pk", "channel", "status"
        )
    )


def _insert_with_copy(rows: list[tuple]) -> list[tuple[int, str, str]]:
    """The same on PostgreSQL, streamed through COPY into a temporary table and inserted from
    there with ON CONFLICT DO NOTHING, whose RETURNING gives exactly the rows created: model
    instances and a bulk INSERT cost more than the rendering at 500,000 candidates."""
    quote = connection.ops.quote_name
    table = quote(Notification._meta.db_table)
    columns = ", ".join(quote(c) for c in _ROW_COLUMNS)
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE notification_copy (candidate_id bigint, channel text, "
            "kind text, reference text, idempotency_key text, language text, "
            "destination text, subject text, body text, status text, not_before timestamptz)"
        )
        with copy_from_stdin(cursor, f"COPY notification_copy ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}, attempts, last_error, provider_message_id, "  # noqa: S608 - names from the model
            f"created_at, updated_at) SELECT {columns}, 0, '', '', %s, %s "
            f"FROM notification_copy ORDER BY candidate_id, channel "
            f"ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, channel, status",
            [now, now],
        )
        created = cursor.fetchall()
        cursor.execute("DROP TABLE notification_copy")
    return created


def queue_bulk_notifications(
    kind: str,
    reference: str,
    candidate_ids: Iterable[int] | QuerySet,
    context: ContextArg = None,
    *,
    channels: Sequence[str] = CHANNELS,
    send_at: datetime | None = None,
) -> int:
    """Create the outbox rows telling these candidates about `kind` of `reference`, by SMS and
    e-mail, and queue their sending once the current transaction commits.

    `candidate_ids` is a list of ids, a Candidate queryset, or a flat values_list of ids.
    `context(candidate)` (or a fixed mapping) adds or overrides placeholders (`url`, `name` are
    provided); it is called once per candidate, so it must not query the database.
    `send_at` holds the messages back until that moment (an embargo: a scheduled publication);
    no task sends them earlier, even one that runs too soon.
    Calling it again for the same kind and reference creates nothing new. Returns the number of
    rows created (candidates without a phone or e-mail get a "skipped" row for that channel).
    """
    from candidates.models import Candidate

    spec = _check_request(kind, reference, channels)
    make_context = _context_function(context)
    created = 0
    ids = _candidate_ids(candidate_ids)
    for start in range(0, len(ids), QUEUE_CHUNK):
        chunk = ids[start : start + QUEUE_CHUNK]
        candidates = list(
            Candidate.objects.filter(pk__in=chunk)
            .select_related("user")
            .only(
                "pk",
                "phone",
                "email",
                "first_name_latin",
                "last_name_latin",
                "first_name_ar",
                "last_name_ar",
                "user__language",
            )
            .order_by("pk")
        )
        created += _create_rows(spec, reference, candidates, make_context, channels, send_at)
    return created


def notify_candidate(
    candidate: Candidate,
    kind: str,
    reference: str,
    context: ContextArg = None,
    *,
    channels: Sequence[str] = CHANNELS,
    send_at: datetime | None = None,
) -> list[Notification]:
    """Tell one candidate about `kind` of `reference` (once, whatever the number of calls);
    returns the candidate's outbox rows for it, one per channel."""
    spec = _check_request(kind, reference, channels)
    _create_rows(spec, reference, [candidate], _context_function(context), channels, send_at)
    return list(
        Notification.objects.filter(
            kind=kind, reference=reference, candidate_id=candidate.pk, channel__in=channels
        ).order_by("channel")
    )


def dispatch(rows: Iterable[tuple[int, str]], eta: datetime | None = None) -> int:
    """Queue sending tasks for (id, channel) pairs, one channel per task so that a slow SMS
    provider never holds e-mail back, to run at `eta` if given; returns the number of tasks."""
    from .tasks import send_notifications

    by_channel: dict[str, list[int]] = {}
    for pk, channel in rows:
        by_channel.setdefault(channel, []).append(pk)
    size = settings.NOTIFICATIONS_BATCH_SIZE
    options: dict[str, object] = {}
    if settings.NOTIFICATIONS_QUEUE:
        options["queue"] = settings.NOTIFICATIONS_QUEUE
    if eta is not None and eta > timezone.now():
        options["eta"] = eta
    tasks = 0
    for ids in by_channel.values():
        for start in range(0, len(ids), size):
            send_notifications.apply_async(args=[ids[start : start + size]], **options)
            tasks += 1
    return tasks


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: base, 2×base, 4×base... capped."""
    base = settings.NOTIFICATIONS_RETRY_BACKOFF_SECONDS
    delay = min(base * 2 ** max(0, attempts - 1), settings.NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS)
    return delay * random.uniform(0.8, 1.2)


def _claim(ids: Sequence[int]) -> list[Notification]:
    """Move the still-queued rows among `ids` that are due (past their `not_before`) to
    "sending" and return them.

    On PostgreSQL the rows are locked with SKIP LOCKED, so two workers on the same ids split
    them instead of waiting; the UPDATE re-checks the status in any case. On SQLite the
    transaction takes the write lock at BEGIN (transaction_mode IMMEDIATE), so claims are
    serialised.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status=Status.QUEUED)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .only("pk", "channel", "destination", "subject", "body", "attempts")
            .order_by("pk")
        )
        if rows:
            Notification.objects.filter(
                pk__in=[row.pk for row in rows], status=Status.QUEUED
            ).update(
                status=Status.SENDING,
                attempts=F("attempts") + 1,
                claimed_at=now,
                updated_at=now,
            )
    for row in rows:
        row.status = Status.SENDING
        row.attempts += 1
    return rows


class _Senders:
    """The providers' clients for one batch: one SMS backend, one SMTP connection."""

    def __init__(self) -> None:
        self._sms: object | None = None
        self._mail = None
        self._domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"

    def send(self, row: Notification) -> str:
        if row.channel == SMS:
            if self._sms is None:
                self._sms = get_sms_backend()
            return str(self._sms.send(row.destination, row.body) or "")
        if self._mail is None:
            self._mail = get_connection(fail_silently=False)
            self._mail.open()  # one SMTP session for the batch, not one per message
        message_id = make_msgid(domain=self._domain)
        message = EmailMessage(
            row.subject,
            row.body,
            settings.DEFAULT_FROM_EMAIL,
            [row.destination],
            headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
            connection=self._mail,
        )
        try:
            message.send()
        except Exception:
            self.close()  # a broken SMTP session is not reused for the next message
            raise
        return message_id

    def close(self) -> None:
        if self._mail is not None:
            try:
                self._mail.close()
            except Exception:  # closing a dead connection must not mask the error
                logger.debug("closing the mail connection failed", exc_info=True)
            self._mail = None


def _is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, PermanentSMSError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    # A malformed address or header (Django's BadHeaderError is a ValueError): no retry helps.
    return isinstance(exc, ValueError | UnicodeError) and not isinstance(exc, SMSError)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def send_notification_batch(notification_ids: Sequence[int]) -> BatchOutcome:
    """Send the queued notifications among `notification_ids`, at the providers' rate.

    Each row is claimed before it is sent and marked sent with the provider's id after; a row
    that is not queued any more (sent, being sent by another worker, failed) is left alone.
    Transient failures put the row back in the queue for a retry (outcome.retry_ids, after
    outcome.retry_in seconds) until NOTIFICATIONS_MAX_ATTEMPTS; permanent ones fail it.
    """
    outcome = BatchOutcome()
    senders = _Senders()
    limiters: dict[str, object] = {}
    ids = sorted({int(pk) for pk in notification_ids})
    try:
        for start in range(0, len(ids), CLAIM_CHUNK):
            chunk = ids[start : start + CLAIM_CHUNK]
            pending = _claim(chunk)
            outcome.not_claimed += len(chunk) - len(pending)
            try:
                while pending:
                    row = pending[0]
                    if row.channel not in limiters:
                        limiters[row.channel] = limiter_for(row.channel)
                    limiters[row.channel].acquire()
                    # From here on the row counts as attempted: whatever happens, it is never
                    # put back in the queue unless the provider said it failed.
                    pending.pop(0)
                    try:
                        provider_id = senders.send(row)
                    except SoftTimeLimitExceeded:
                        # Cut off mid-call: whether it left is unknown, so the row stays
                        # "sending" (reported as interrupted later), never sent again.
                        raise
                    except Exception as exc:  # every provider fails its own way
                        _record_failure(row, exc, outcome)
                    else:
                        _record_sent(row, provider_id)
                        outcome.sent += 1
            except BaseException:
                _release(pending)
                raise
    finally:
        senders.close()
    if outcome.retry_ids:
        outcome.retry_in = _schedule_retry(outcome.retry_ids)
    return outcome


def _record_sent(row: Notification, provider_id: str) -> None:
    now = timezone.now()
    Notification.objects.filter(pk=row.pk, status=Status.SENDING).update(
        status=Status.SENT,
        provider_message_id=provider_id[:200],
        sent_at=now,
        updated_at=now,
        last_error="",
        next_attempt_at=None,
    )


def _record_failure(row: Notification, exc: BaseException, outcome: BatchOutcome) -> None:
    error = _describe(exc)
    permanent = _is_permanent(exc)
    final = permanent or row.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS
    logger.warning(
        "notification %s by %s: attempt %s failed (%s)%s",
        row.pk,
        row.channel,
        row.attempts,
        type(exc).__name__,
        "" if not final else ", giving up",
    )
    Notification.objects.filter(pk=row.pk, status=Status.SENDING).update(
        status=Status.FAILED if final else Status.QUEUED,
        last_error=error,
        updated_at=timezone.now(),
    )
    if final:
        outcome.failed += 1
    else:
        outcome.retry_ids.append(row.pk)


def _schedule_retry(ids: list[int]) -> float:
    attempts = Notification.objects.filter(pk__in=ids).aggregate(most=Max("attempts"))["most"] or 1
    delay = retry_delay(attempts)
    Notification.objects.filter(pk__in=ids, status=Status.QUEUED).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    return delay


def _release(rows: Sequence[Notification]) -> None:
    """Put back rows claimed but not attempted (the batch stopped before reaching them)."""
    if rows:
        Notification.objects.filter(pk__in=[row.pk for row in rows], status=Status.SENDING).update(
            status=Status.QUEUED, attempts=F("attempts") - 1, claimed_at=None
        )


def fail_interrupted(older_than: timedelta | None = None) -> int:
    """Rows claimed long ago and still "sending": their worker died between the claim and the
    provider's answer. Whether they left is unknown, so they are failed, not sent again."""
    if older_than is None:
        older_than = timedelta(seconds=settings.NOTIFICATIONS_STALE_CLAIM_SECONDS)
    return Notification.objects.filter(
        status=Status.SENDING, claimed_at__lt=timezone.now() - older_than
    ).update(
        status=Status.FAILED,
        last_error="interrupted while sending: delivery unknown, not sent again",
        updated_at=timezone.now(),
    )


def dispatch_due(older_than: timedelta | None = None, limit: int | None = None) -> int:
    """Queue tasks again for rows still queued whose task may have been lost (a broker restart,
    a worker killed before it retried): rows untouched for `older_than` and due for an attempt.
    Harmless if their task is still alive: only one of them can claim each row."""
    if older_than is None:
        older_than = timedelta(seconds=settings.NOTIFICATIONS_STALE_CLAIM_SECONDS)
    now = timezone.now()
    rows = (
        Notification.objects.filter(status=Status.QUEUED, updated_at__lt=now - older_than)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .order_by("pk")
        .values_list("pk", "channel")
    )
    if limit is not None:
        rows = rows[:limit]
    rows = list(rows)
    if rows:
        dispatch(rows)
    return len(rows)


def cancel_notifications(
    kind: str, reference: str, candidate_ids: Iterable[int] | QuerySet | None = None
) -> int:
    """Cancel what of `kind` of `reference` has not left yet (e.g. a scheduled publication
    withdrawn before its moment), for all candidates or only these; returns the rows cancelled.
    Rows already sent, or being sent, are not affected."""
    rows = Notification.objects.filter(kind=kind, reference=reference, status=Status.QUEUED)
    if candidate_ids is not None:
        rows = rows.filter(candidate_id__in=_candidate_ids(candidate_ids))
    return rows.update(status=Status.CANCELLED, updated_at=timezone.now())
