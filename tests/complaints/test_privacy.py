"""The complaints app in the register of personal data: the scan of an answer sheet goes a year
after its complaint is decided (audited in the candidate's history, a dry run changes nothing),
never while the complaint is open; the complaint, its comment and the log of views stay. The
export gives the candidate their complaints, their comments, the scans decrypted (each read
logged) and who looked at them, and nothing of anyone else's."""

from __future__ import annotations

import datetime
import io
import json

import pytest
from django.core.files.storage import default_storage

from audit.models import AuditEntry
from complaints import privacy_hooks, services
from complaints.models import ScanAccess, Status
from privacy import register
from privacy.services import collect_export, purge_expired

from .helpers import file

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
RETENTION = datetime.timedelta(days=privacy_hooks.SCAN_DAYS)
KINDS = (
    "complaints.complaint",
    "complaints.comment",
    "complaints.answer_sheet_scan",
    "complaints.scan_access",
)


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def scan_png() -> bytes:
    from tests.complaints.access_matrix import scan_png

    return scan_png()


@pytest.fixture
def scanned(published, candidate_a, academy_staff):
    """A's complaint about MATH, with the scan of its answer sheet."""
    complaint = file(candidate_a, comment="Exercise 3 seems unmarked.")
    return services.attach_scan(complaint, io.BytesIO(scan_png()), academy_staff, "192.0.2.7")


def reject(complaint, reviewer):
    return services.propose_decision(
        complaint, reviewer, False, "Every answer was marked.", "No material error was found."
    )


def purge(moment: datetime.datetime, dry_run: bool = False) -> int:
    return privacy_hooks.purge_scans(moment - RETENTION, dry_run)


def test_the_kinds_are_registered_with_their_purger_and_exporters():
    for key in KINDS:
        kind = register.kind(key)
        assert kind.exporter is not None and kind.concerns_candidate
        assert str(kind.purpose) and str(kind.legal_basis) and str(kind.retention)
    scans = register.kind("complaints.answer_sheet_scan")
    assert scans.purger is privacy_hooks.purge_scans and scans.retention_days == 365
    assert register.kind("complaints.complaint").retention_days is None


def test_a_scan_goes_a_year_after_the_decision_and_a_dry_run_changes_nothing(
    scanned, academy_staff, candidate_a, clock
):
    decided = reject(scanned, academy_staff)
    name = decided.scan_file
    assert decided.status == Status.REJECTED and default_storage.exists(name)

    # A day before the year is over: nothing, even in a dry run.
    assert purge(decided.decided_at + RETENTION - DAY, dry_run=True) == 0
    assert purge(decided.decided_at + RETENTION - DAY) == 0

    clock.set(decided.decided_at + RETENTION + DAY)
    assert purge(clock.now, dry_run=True) == 1
    decided.refresh_from_db()
    assert decided.scan_file == name and default_storage.exists(name)
    assert not AuditEntry.objects.filter(action="complaints.purge_scan").exists()

    assert purge(clock.now) == 1
    assert not default_storage.exists(name)
    decided.refresh_from_db()
    assert (decided.scan_file, decided.scan_sha256, decided.scan_size) == ("", "", 0)
    assert decided.scan_uploaded_at is None
    # The complaint, its decision and the log of views stay; the candidate sees the deletion,
    # and so does the complaint's history on the staff page.
    assert decided.status == Status.REJECTED and decided.decision_reason
    assert ScanAccess.objects.filter(complaint=decided).exists()
    entry = AuditEntry.objects.get(action="complaints.purge_scan")
    assert entry.candidate_id == candidate_a.pk and entry.object_id == decided.reference
    assert entry.before["sha256"] == scanned.scan_sha256
    assert entry in list(services.history(decided))
    with pytest.raises(services.ScanUnavailable):
        services.read_scan(decided, academy_staff, None)
    assert purge(clock.now) == 0


def test_an_open_complaint_keeps_its_scan_whatever_its_age(scanned, academy_staff, clock):
    services.assign_complaint(scanned, academy_staff, academy_staff)
    far = scanned.filed_at + 5 * RETENTION
    clock.set(far)
    assert purge(far, dry_run=True) == 0
    assert purge(far) == 0
    scanned.refresh_from_db()
    assert scanned.scan_file and default_storage.exists(scanned.scan_file)


def test_the_retention_purge_command_runs_the_purger_and_records_a_summary(
    scanned, academy_staff, clock
):
    decided = reject(scanned, academy_staff)
    later = decided.decided_at + RETENTION + 30 * DAY
    clock.set(later)
    lines = {line.kind: line.count for line in purge_expired(later, dry_run=True)}
    assert lines["complaints.answer_sheet_scan"] == 1
    decided.refresh_from_db()
    assert decided.scan_file
    lines = {line.kind: line.count for line in purge_expired(later)}
    assert lines["complaints.answer_sheet_scan"] == 1
    decided.refresh_from_db()
    assert decided.scan_file == ""
    assert AuditEntry.objects.filter(
        action="privacy.purge", object_id="complaints.answer_sheet_scan"
    ).exists()


def test_the_export_gives_the_complaint_its_comment_the_scan_and_who_looked(
    scanned, academy_staff, candidate_a
):
    services.read_scan(scanned, academy_staff, "192.0.2.7")
    decided = reject(scanned, academy_staff)
    data, files = collect_export(candidate_a, candidate_a.user, "203.0.113.5")
    kinds = data["kinds"]

    (complaint,) = kinds["complaints.complaint"]["records"]
    assert complaint["reference"] == decided.reference and complaint["subject"] == "MATH"
    assert complaint["status"] == Status.REJECTED and complaint["original_mark"] == "14.25"
    assert complaint["finding"] == "Every answer was marked."
    assert complaint["decision_reason"] == "No material error was found."
    assert complaint["decided_at"] == decided.decided_at.isoformat()
    # The staff's names and their internal notes are theirs, not the candidate's.
    text = json.dumps(kinds["complaints.complaint"], default=str)
    assert academy_staff.username not in text and "return_note" not in text

    assert kinds["complaints.comment"]["records"] == [
        {
            "complaint": decided.reference,
            "comment": "Exercise 3 seems unmarked.",
            "filed_at": decided.filed_at.isoformat(),
        }
    ]

    (scan,) = kinds["complaints.answer_sheet_scan"]["records"]
    assert scan["file"] == f"documents/answer-sheet-{decided.reference}.png"
    assert files[scan["file"]] == scan_png() and scan["sha256"] == decided.scan_sha256
    # The candidate's own read is logged like the staff's, and listed in the same export.
    assert ScanAccess.objects.filter(
        complaint=decided, user=candidate_a.user, action="view", address="203.0.113.5"
    ).exists()
    views = [(r["by"], r["action"]) for r in kinds["complaints.scan_access"]["records"]]
    assert views == [
        (academy_staff.username, "upload"),
        (academy_staff.username, "view"),
        (candidate_a.user.username, "view"),
    ]


def test_the_export_holds_nothing_of_another_candidates_complaint(scanned, candidate_b):
    data, files = collect_export(candidate_b, candidate_b.user, None)
    for key in KINDS:
        assert data["kinds"][key]["records"] == [], key
    assert not any("answer-sheet" in name for name in files)
    assert scanned.reference not in json.dumps(data, default=str)
