"""The notification outbox: created once, rendered in the candidate's language, sent after the
commit, retried on transient failures, never sent twice."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils.translation import gettext_lazy as _

from candidates.models import Candidate
from notifications import messages, services
from notifications.models import Notification, Status
from notifications.sms import MemorySMSBackend
from notifications.tasks import send_notifications
from tests.factories import CandidateFactory

RESULTS = "results_published"


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit():` runs what the block queued after the commit, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_queueing_twice_creates_each_notification_once(candidate_a, candidate_b, commit):
    ids = [candidate_a.pk, candidate_b.pk]
    with commit():
        first = services.queue_bulk_notifications(RESULTS, "publication:1", ids)
    with commit():
        second = services.queue_bulk_notifications(RESULTS, "publication:1", ids)

    assert (first, second) == (4, 0)
    assert Notification.objects.count() == 4
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}
    assert len(MemorySMSBackend.outbox) == 2
    assert len(mail.outbox) == 2


def test_another_reference_is_another_notification(candidate_a, commit):
    with commit():
        services.queue_bulk_notifications(RESULTS, "publication:1", [candidate_a.pk])
        services.queue_bulk_notifications(RESULTS, "publication:2", [candidate_a.pk])
    assert Notification.objects.filter(candidate=candidate_a).count() == 4


def test_candidates_may_be_named_by_a_queryset_or_a_values_list(candidate_a, candidate_b, commit):
    with commit():
        created = services.queue_bulk_notifications(
            RESULTS, "publication:1", Candidate.objects.filter(pk=candidate_a.pk)
        )
        created += services.queue_bulk_notifications(
            RESULTS, "publication:1", Candidate.objects.values_list("pk", flat=True)
        )
    assert created == 4


def test_nothing_leaves_before_the_transaction_commits(
    candidate_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.queue_bulk_notifications(RESULTS, "publication:1", [candidate_a.pk])
    assert MemorySMSBackend.outbox == [] and mail.outbox == []
    assert Notification.objects.filter(status=Status.QUEUED).count() == 2

    for callback in callbacks:
        callback()
    assert len(MemorySMSBackend.outbox) == 1 and len(mail.outbox) == 1


def test_the_sms_gives_the_link_and_never_the_result(candidate_a, commit):
    with commit():
        services.queue_bulk_notifications(RESULTS, "publication:1", [candidate_a.pk])
    phone, text = MemorySMSBackend.outbox[0]
    assert phone == "+212612345678"
    assert "http://127.0.0.1:8000/" in text
    for secret in ("admitted", "average", "mention", "/20", candidate_a.massar_code):
        assert secret not in text.lower()
    email = mail.outbox[0]
    assert email.to == [candidate_a.email]
    assert "Mohammed El Amrani" in email.body
    assert "http://127.0.0.1:8000/" in email.body


def test_the_caller_may_give_the_link(candidate_a, commit):
    with commit():
        services.queue_bulk_notifications(
            "complaint_decided",
            "complaint:7",
            [candidate_a.pk],
            context=lambda candidate: {"url": f"https://bac.example/complaints/{candidate.pk}/"},
        )
    assert f"https://bac.example/complaints/{candidate_a.pk}/" in MemorySMSBackend.outbox[0][1]


def test_a_candidate_without_a_phone_is_skipped_by_sms_and_still_gets_the_email(
    candidate_a, commit
):
    candidate_a.phone = ""
    candidate_a.save()
    with commit():
        services.queue_bulk_notifications(RESULTS, "publication:1", [candidate_a.pk])
    statuses = dict(Notification.objects.values_list("channel", "status"))
    assert statuses == {"sms": Status.SKIPPED, "email": Status.SENT}
    assert MemorySMSBackend.outbox == []


def test_an_unknown_kind_or_a_malformed_reference_is_refused(candidate_a):
    with pytest.raises(messages.UnknownKind):
        services.queue_bulk_notifications("results_leaked", "publication:1", [candidate_a.pk])
    with pytest.raises(ValueError, match="reference"):
        services.queue_bulk_notifications(RESULTS, "publication 1/../x", [candidate_a.pk])
    with pytest.raises(ValueError, match="channels"):
        services.queue_bulk_notifications(RESULTS, "p:1", [candidate_a.pk], channels=("fax",))
    assert not Notification.objects.exists()


def test_notify_candidate_tells_one_candidate_once(candidate_a, commit):
    with commit():
        rows = services.notify_candidate(candidate_a, "scholarship_status", "scholarship:3")
        again = services.notify_candidate(candidate_a, "scholarship_status", "scholarship:3")
    assert [row.channel for row in rows] == ["email", "sms"]
    assert [row.pk for row in again] == [row.pk for row in rows]
    assert len(MemorySMSBackend.outbox) == 1 and len(mail.outbox) == 1


# --- Language ---------------------------------------------------------------------------------


@pytest.fixture
def probe_kind():
    # Texts whose translations the catalogues already hold, to see gettext at work.
    messages.register_kind(
        "language_probe", sms=_("Candidate"), subject=_("Sign in"), paragraphs=(_("Failed"),)
    )
    yield "language_probe"
    messages._KINDS.pop("language_probe")


def test_messages_are_rendered_in_each_candidates_language(
    candidate_a, candidate_b, session, school, track, probe_kind, commit
):
    candidate_a.user.language = "ar"
    candidate_a.user.save()
    candidate_b.user.language = "fr"
    candidate_b.user.save()
    no_account = CandidateFactory(session=session, school=school, track=track, user=None)

    with commit():
        services.queue_bulk_notifications(
            probe_kind, "probe:1", [candidate_a.pk, candidate_b.pk, no_account.pk]
        )

    def sms_of(candidate):
        return Notification.objects.get(candidate=candidate, channel="sms")

    assert (sms_of(candidate_a).language, sms_of(candidate_a).body) == ("ar", "مترشح")
    assert (sms_of(candidate_b).language, sms_of(candidate_b).body) == ("fr", "Candidat")
    # No account, so no language chosen: the site's (English in the tests).
    assert (sms_of(no_account).language, sms_of(no_account).body) == ("en", "Candidate")
    email_fr = Notification.objects.get(candidate=candidate_b, channel="email")
    assert email_fr.subject == "Se connecter"
    assert "Échec" in email_fr.body


def test_the_email_greets_an_arabic_reader_by_the_arabic_name(candidate_a, commit):
    candidate_a.user.language = "ar"
    candidate_a.user.save()
    with commit():
        services.queue_bulk_notifications(RESULTS, "publication:1", [candidate_a.pk])
    email = Notification.objects.get(candidate=candidate_a, channel="email")
    assert "محمد العمراني" in email.body
    assert "Mohammed" not in email.body


# --- Retries ----------------------------------------------------------------------------------


def test_a_task_retried_after_a_transient_failure_sends_exactly_once(
    candidate_a, flaky_sms, commit
):
    with commit():
        services.queue_bulk_notifications(
            RESULTS, "publication:1", [candidate_a.pk], channels=("sms",)
        )
    row = Notification.objects.get()
    assert flaky_sms.calls == 2
    assert len(MemorySMSBackend.outbox) == 1
    assert (row.status, row.attempts) == (Status.SENT, 2)
    assert row.provider_message_id == "memory-1"
    assert row.sent_at is not None and row.last_error == ""


def test_a_permanent_failure_is_not_retried(candidate_a, flaky_sms, commit):
    flaky_sms.permanent = True
    with commit():
        services.queue_bulk_notifications(
            RESULTS, "publication:1", [candidate_a.pk], channels=("sms",)
        )
    row = Notification.objects.get()
    assert flaky_sms.calls == 1
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert "invalid number" in row.last_error


def test_a_notification_that_keeps_failing_gives_up_after_the_last_attempt(
    candidate_a, flaky_sms, settings, commit
):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    flaky_sms.failures = 100
    with commit():
        services.queue_bulk_notifications(
            RESULTS, "publication:1", [candidate_a.pk], channels=("sms",)
        )
    row = Notification.objects.get()
    assert flaky_sms.calls == 3
    assert (row.status, row.attempts) == (Status.FAILED, 3)
    assert "provider busy" in row.last_error
    assert MemorySMSBackend.outbox == []


def test_a_transient_failure_puts_the_row_back_with_an_exponential_delay(
    candidate_a, flaky_sms, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_RETRY_BACKOFF_SECONDS = 30
    with django_capture_on_commit_callbacks():  # queued, not sent
        services.queue_bulk_notifications(
            RESULTS, "publication:1", [candidate_a.pk], channels=("sms",)
        )
    row = Notification.objects.get()

    outcome = services.send_notification_batch([row.pk])

    row.refresh_from_db()
    assert outcome.retry_ids == [row.pk]
    assert 24 <= outcome.retry_in <= 36
    assert (row.status, row.attempts) == (Status.QUEUED, 1)
    assert row.next_attempt_at is not None


def test_retry_delays_grow_exponentially_up_to_the_cap(settings):
    settings.NOTIFICATIONS_RETRY_BACKOFF_SECONDS = 10
    settings.NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS = 100
    for attempts, nominal in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        delay = services.retry_delay(attempts)
        assert nominal * 0.8 <= delay <= nominal * 1.2


def test_a_worker_retries_the_failed_rows_later_with_celery(
    candidate_a, flaky_sms, django_capture_on_commit_callbacks, monkeypatch
):
    ids = _queued_rows([candidate_a], django_capture_on_commit_callbacks, channels=("sms",))
    scheduled = {}

    class Scheduled(Exception):
        pass

    def retry(**kwargs):
        scheduled.update(kwargs)
        return Scheduled()

    monkeypatch.setattr(send_notifications, "retry", retry)
    send_notifications.push_request(id="t-1", retries=0, is_eager=False, called_directly=False)
    try:
        with pytest.raises(Scheduled):
            send_notifications.run(ids)
    finally:
        send_notifications.pop_request()

    assert scheduled["args"] == [ids]
    assert 24 <= scheduled["countdown"] <= 36  # NOTIFICATIONS_RETRY_BACKOFF_SECONDS ± 20 %
    assert Notification.objects.get().status == Status.QUEUED
    assert MemorySMSBackend.outbox == []


def test_an_email_refused_by_the_server_fails_permanently(candidate_a, settings, commit):
    settings.EMAIL_BACKEND = "tests.notifications.test_outbox.RefusingEmailBackend"
    with commit():
        services.queue_bulk_notifications(
            RESULTS, "publication:1", [candidate_a.pk], channels=("email",)
        )
    row = Notification.objects.get()
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert "SMTPRecipientsRefused" in row.last_error


class RefusingEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise smtplib.SMTPRecipientsRefused(
            {m.to[0]: (550, b"no such user") for m in email_messages}
        )


def test_an_email_records_its_message_id(candidate_a, commit):
    with commit():
        services.queue_bulk_notifications(
            RESULTS, "publication:1", [candidate_a.pk], channels=("email",)
        )
    row = Notification.objects.get()
    assert row.provider_message_id == mail.outbox[0].extra_headers["Message-ID"]
    assert row.provider_message_id.startswith("<") and row.provider_message_id.endswith(">")


# --- Never twice ------------------------------------------------------------------------------


def _queued_rows(candidates, django_capture_on_commit_callbacks, **kwargs) -> list[int]:
    with django_capture_on_commit_callbacks():  # rows queued, their tasks not run
        services.queue_bulk_notifications(
            RESULTS, "publication:1", [c.pk for c in candidates], **kwargs
        )
    return list(Notification.objects.filter(status=Status.QUEUED).values_list("pk", flat=True))


def test_two_tasks_racing_on_the_same_rows_send_each_message_once(
    candidate_a, candidate_b, django_capture_on_commit_callbacks
):
    ids = _queued_rows([candidate_a, candidate_b], django_capture_on_commit_callbacks)
    assert len(ids) == 4

    first = send_notifications.apply(args=[ids]).get()
    second = send_notifications.apply(args=[ids]).get()

    assert first == {"sent": 4, "failed": 0, "not_claimed": 0, "to_retry": 0}
    assert second == {"sent": 0, "failed": 0, "not_claimed": 4, "to_retry": 0}
    assert len(MemorySMSBackend.outbox) == 2 and len(mail.outbox) == 2


def test_a_row_claimed_by_one_worker_is_left_alone_by_another(
    candidate_a, django_capture_on_commit_callbacks
):
    ids = _queued_rows([candidate_a], django_capture_on_commit_callbacks)
    claimed = services._claim(ids)  # worker A has claimed them and is talking to the provider

    outcome = services.send_notification_batch(ids)  # worker B, same ids

    assert len(claimed) == 2
    assert (outcome.sent, outcome.not_claimed) == (0, 2)
    assert MemorySMSBackend.outbox == [] and mail.outbox == []


def test_a_row_interrupted_while_sending_is_failed_and_never_sent_again(
    candidate_a, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    ids = _queued_rows([candidate_a], django_capture_on_commit_callbacks)
    services._claim(ids)  # then the worker died
    Notification.objects.update(claimed_at=services.timezone.now() - timedelta(hours=1))

    assert services.fail_interrupted() == 2
    assert services.dispatch_due(timedelta(0)) == 0
    send_notifications.apply(args=[ids])
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.FAILED}
    assert MemorySMSBackend.outbox == [] and mail.outbox == []


def test_a_batch_stopped_before_sending_puts_its_unsent_claims_back(
    candidate_a, candidate_b, django_capture_on_commit_callbacks, monkeypatch
):
    ids = _queued_rows([candidate_a, candidate_b], django_capture_on_commit_callbacks)

    class CacheDown:
        calls = 0

        def acquire(self):
            CacheDown.calls += 1
            if CacheDown.calls == 2:
                raise ConnectionError("cache unreachable")
            return 0.0

    monkeypatch.setattr(services, "limiter_for", lambda channel: CacheDown())
    with pytest.raises(ConnectionError):
        services.send_notification_batch(ids)

    statuses = sorted(Notification.objects.values_list("status", "attempts"))
    assert statuses == [("queued", 0), ("queued", 0), ("queued", 0), ("sent", 1)]


class SlowSMS:
    def send(self, phone: str, text: str) -> str:
        time.sleep(0.002)
        return MemorySMSBackend().send(phone, text)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_at_the_same_time_send_each_message_once(
    session, school, track, settings
):
    settings.SMS_BACKEND = "tests.notifications.test_outbox.SlowSMS"
    candidates = [
        CandidateFactory(session=session, school=school, track=track, phone=f"+2126{n:08d}")
        for n in range(60)
    ]
    # Rows created directly: through the service, outside a transaction, they would be sent at
    # once by the eager task.
    rows = [
        Notification(
            candidate=c,
            channel="sms",
            kind=RESULTS,
            reference="publication:1",
            idempotency_key=Notification.key_for(RESULTS, "publication:1", c.pk, "sms"),
            language="en",
            destination=c.phone,
            body="hello",
        )
        for c in candidates
    ]
    Notification.objects.bulk_create(rows)
    ids = list(Notification.objects.values_list("pk", flat=True))
    start = threading.Barrier(2)
    outcomes, errors = [], []

    def worker():
        from django.db import connections

        try:
            start.wait()
            outcomes.append(services.send_notification_batch(ids))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    phones = [phone for phone, _text in MemorySMSBackend.outbox]
    assert sorted(phones) == sorted(c.phone for c in candidates)
    assert sum(o.sent for o in outcomes) == 60
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}


# --- Embargo ----------------------------------------------------------------------------------


def test_messages_held_until_a_moment_are_not_sent_before_it(candidate_a, commit, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    moment = timezone.now() + timedelta(hours=2)
    queued_with = []
    real_apply_async = send_notifications.apply_async

    def spy(*args, **kwargs):
        queued_with.append(kwargs.get("eta"))
        return real_apply_async(*args, **kwargs)

    monkeypatch.setattr(send_notifications, "apply_async", spy)
    with commit():  # the eager task runs at once, as a worker would on an early delivery
        services.queue_bulk_notifications(
            RESULTS, "publication:1", [candidate_a.pk], send_at=moment
        )

    assert queued_with == [moment, moment]  # one task per channel, both for the moment
    assert MemorySMSBackend.outbox == [] and mail.outbox == []
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.QUEUED}

    # The moment has come (moved here instead of the clock).
    Notification.objects.update(not_before=timezone.now() - timedelta(seconds=1))
    assert services.dispatch_due(timedelta(0)) == 2
    assert len(MemorySMSBackend.outbox) == 1 and len(mail.outbox) == 1


def test_a_withdrawn_publication_cancels_what_has_not_left(candidate_a, candidate_b, commit):
    from datetime import timedelta

    from django.utils import timezone

    with commit():
        services.queue_bulk_notifications(
            RESULTS,
            "publication:1",
            [candidate_a.pk, candidate_b.pk],
            send_at=timezone.now() + timedelta(hours=2),
        )

    assert services.cancel_notifications(RESULTS, "publication:1") == 4
    Notification.objects.update(not_before=timezone.now() - timedelta(seconds=1))
    assert services.dispatch_due(timedelta(0)) == 0
    send_notifications.apply(args=[list(Notification.objects.values_list("pk", flat=True))])
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.CANCELLED}
    assert MemorySMSBackend.outbox == [] and mail.outbox == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
def test_the_postgresql_bulk_path_creates_each_notification_once(
    candidate_a, candidate_b, commit, monkeypatch
):
    monkeypatch.setattr(services, "use_copy", lambda count: True)  # whatever the number of rows
    candidate_b.phone = ""
    candidate_b.save()
    candidate_a.user.language = "ar"
    candidate_a.user.save()
    ids = [candidate_a.pk, candidate_b.pk]

    with commit():
        first = services.queue_bulk_notifications(RESULTS, "publication:1", ids)
    with commit():
        second = services.queue_bulk_notifications(RESULTS, "publication:1", ids)

    assert (first, second) == (4, 0)
    rows = {(n.candidate_id, n.channel): n for n in Notification.objects.all()}
    assert rows[candidate_b.pk, "sms"].status == Status.SKIPPED
    assert rows[candidate_a.pk, "sms"].status == Status.SENT
    assert rows[candidate_a.pk, "email"].language == "ar"
    assert "محمد العمراني" in rows[candidate_a.pk, "email"].body
    assert len(MemorySMSBackend.outbox) == 1 and len(mail.outbox) == 2


class CutOffSMS:
    def send(self, phone: str, text: str) -> str:
        from celery.exceptions import SoftTimeLimitExceeded

        raise SoftTimeLimitExceeded()


def test_a_task_cut_off_mid_send_never_sends_that_message_again(
    candidate_a, candidate_b, settings, django_capture_on_commit_callbacks
):
    from celery.exceptions import SoftTimeLimitExceeded

    settings.SMS_BACKEND = "tests.notifications.test_outbox.CutOffSMS"
    ids = _queued_rows(
        [candidate_a, candidate_b], django_capture_on_commit_callbacks, channels=("sms",)
    )
    with pytest.raises(SoftTimeLimitExceeded):
        services.send_notification_batch(ids)

    first, second = Notification.objects.order_by("pk")
    assert (first.status, first.attempts) == (Status.SENDING, 1)  # unknown: not retried
    assert (second.status, second.attempts) == (Status.QUEUED, 0)  # never tried: back in line
