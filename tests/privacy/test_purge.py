"""The retention purge, run with a frozen clock: what has passed its period is deleted or
anonymised (audited), what has not stays, a dry run changes nothing."""

import datetime
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from audit.models import AuditEntry
from candidates.models import CnieDocument, DocumentAccess
from convocations.models import Convocation
from identity.models import OneTimeCode, SignInEvent
from notifications.models import Notification
from privacy.services import purge_expired
from verification.models import CorrectionRequest

DAY = datetime.timedelta(days=1)


def counts():
    return {
        "cnie": CnieDocument.objects.count(),
        "accesses": DocumentAccess.objects.count(),
        "codes": OneTimeCode.objects.count(),
        "events": SignInEvent.objects.count(),
        "evidence": CorrectionRequest.objects.exclude(evidence_file="").count(),
        "messages": Notification.objects.exclude(body="").count(),
        "old_convocations": Convocation.objects.exclude(fields={}).count(),
    }


def test_nothing_is_purged_before_its_time(frozen, seeded):
    before = counts()
    frozen.at(frozen.moment + DAY / 2)
    lines = purge_expired()
    assert sum(line.count for line in lines) == 0
    assert counts() == before


def test_each_kind_goes_when_its_retention_is_over(frozen, seeded, candidate_a):
    start = frozen.moment
    Notification.objects.update(status="sent")
    before = counts()
    assert before["codes"] == 1 and before["events"] == 1 and before["messages"] >= 1

    # Two days on: one-time codes (a day after expiry) go, nothing else.
    result = {line.kind: line.count for line in purge_expired(frozen.at(start + 2 * DAY))}
    assert result["identity.one_time_code"] == 1
    assert OneTimeCode.objects.count() == 0
    assert counts()["events"] == 1

    # 91 days on: delivered messages lose address and text (the row stays: idempotency);
    # the superseded convocation loses its printed details, the current one keeps them.
    purge_expired(frozen.at(start + 91 * DAY))
    assert Notification.objects.exclude(body="").count() == 0
    assert Notification.objects.exclude(destination="").count() == 0
    assert Notification.objects.count() == before["messages"]
    assert Convocation.objects.filter(superseded_at__isnull=False).get().fields == {}
    assert Convocation.objects.get(superseded_at__isnull=True).fields["room"] == "12"

    # 181 days: sign-in records go.
    purge_expired(frozen.at(start + 181 * DAY))
    assert SignInEvent.objects.count() == 0
    assert CnieDocument.objects.count() == 1

    # 366 days: the CNIE copy (file, row and view log) and the decided report's evidence go;
    # the pending report keeps its evidence, and the reports themselves stay.
    copy = seeded.cnie_copy
    evidence_file = seeded.decided_report.evidence_file
    assert default_storage.exists(copy.encrypted_file) and default_storage.exists(evidence_file)
    purge_expired(frozen.at(start + 366 * DAY))
    assert CnieDocument.objects.count() == 0 and DocumentAccess.objects.count() == 0
    assert not default_storage.exists(copy.encrypted_file)
    assert not default_storage.exists(evidence_file)
    seeded.decided_report.refresh_from_db()
    seeded.pending_report.refresh_from_db()
    assert seeded.decided_report.evidence_file == ""
    assert seeded.pending_report.evidence_file != ""
    assert CorrectionRequest.objects.count() == 2


def test_the_purge_is_audited_per_document_and_per_kind(frozen, seeded, candidate_a):
    purge_expired(frozen.at(frozen.moment + 400 * DAY))
    mine = AuditEntry.objects.filter(candidate=candidate_a)
    assert mine.filter(action="cnie_copy.purge", object_id=str(seeded.cnie_copy.pk)).exists()
    assert mine.filter(action="evidence.purge").count() == 1
    summary = AuditEntry.objects.filter(action="privacy.purge")
    assert set(summary.values_list("object_id", flat=True)) >= {
        "candidates.cnie_copy",
        "identity.one_time_code",
        "identity.sign_in_event",
        "verification.correction_request",
    }
    call_command("verify_audit", stdout=StringIO())


def test_a_dry_run_counts_and_changes_nothing(frozen, seeded):
    before = counts()
    audit_before = AuditEntry.objects.count()
    out = StringIO()
    later = (frozen.moment + 400 * DAY).isoformat()
    call_command("purge_expired", "--dry-run", "--now", later, stdout=out)
    assert counts() == before
    assert AuditEntry.objects.count() == audit_before
    text = out.getvalue()
    assert "candidates.cnie_copy: would purge 1" in text
    assert "identity.sign_in_event: would purge 1" in text


def test_the_command_purges_and_prints_the_counts(frozen, seeded):
    out = StringIO()
    call_command("purge_expired", "--now", (frozen.moment + 400 * DAY).isoformat(), stdout=out)
    assert "candidates.cnie_copy: purged 1" in out.getvalue()
    assert CnieDocument.objects.count() == 0


def test_the_command_refuses_a_malformed_moment(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("purge_expired", "--now", "tomorrow")


def test_celery_beat_runs_the_purge_every_day(settings, frozen, seeded):
    from privacy.tasks import purge_expired as task

    entry = settings.CELERY_BEAT_SCHEDULE["privacy-purge-expired"]
    assert entry["task"] == task.name == "privacy.purge_expired"
    assert "privacy.tasks" in settings.CELERY_IMPORTS
    frozen.at(frozen.moment + 400 * DAY)
    assert task.delay().get()["candidates.cnie_copy"] == 1
