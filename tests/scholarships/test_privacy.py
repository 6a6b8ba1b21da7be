"""The scholarships app in the register of personal data: supporting documents go a year after
the application closed for good (audited in the candidate's history, a dry run changes
nothing), never while a decision or an appeal may still come; the social-register extract a
year after its import; the export gives the candidate their application and their documents,
decrypted."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from privacy import register
from privacy.services import collect_export, purge_expired
from scholarships import privacy_hooks, services
from scholarships.models import (
    AppealStatus,
    Application,
    ApplicationDocument,
    SocialRegisterEntry,
    Status,
)

from .conftest import png_bytes

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
RETENTION = datetime.timedelta(days=privacy_hooks.DOCUMENT_DAYS)


class Clock:
    def __init__(self) -> None:
        self.now = timezone.now().replace(microsecond=0)

    def at(self, moment: datetime.datetime) -> datetime.datetime:
        self.now = moment
        return moment


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """django.utils.timezone.now, frozen where the test puts it (services, models and the
    audit all read it). Ask for it first, so that the programme is made under it."""
    frozen = Clock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


def documents_of(application) -> list[ApplicationDocument]:
    return list(ApplicationDocument.objects.filter(application=application))


def purge(moment: datetime.datetime, dry_run: bool = False) -> int:
    return privacy_hooks.purge_documents(moment - RETENTION, dry_run)


def test_the_kinds_are_registered_with_their_purgers_and_exporters():
    for key in (
        "scholarships.application",
        "scholarships.household",
        "scholarships.income",
        "scholarships.document",
        "scholarships.social_register",
    ):
        kind = register.kind(key)
        assert kind.exporter is not None and kind.concerns_candidate
        assert str(kind.purpose) and str(kind.legal_basis) and str(kind.retention)
    assert register.kind("scholarships.document").purger is privacy_hooks.purge_documents
    assert register.kind("scholarships.application").retention_days is None


def test_documents_go_a_year_after_the_appeal_window_and_a_dry_run_changes_nothing(
    clock, submitted, academy_member, candidate_a
):
    decided = services.decide(submitted, academy_member, "full")
    documents = documents_of(decided)
    assert len(documents) == 2
    closed = decided.decided_at + datetime.timedelta(days=decided.version.appeal_days)

    # A day before the year is over: nothing, even in a dry run.
    assert purge(closed + RETENTION - DAY, dry_run=True) == 0
    assert purge(closed + RETENTION - DAY) == 0

    moment = clock.at(closed + RETENTION + DAY)
    assert purge(moment, dry_run=True) == 2
    assert len(documents_of(decided)) == 2
    assert all(default_storage.exists(d.encrypted_file) for d in documents)
    assert not AuditEntry.objects.filter(action="scholarships.purge_documents").exists()

    assert purge(moment) == 2
    assert documents_of(decided) == []
    assert not any(default_storage.exists(d.encrypted_file) for d in documents)
    # The application, its decision and history stay; the candidate sees the deletion.
    decided.refresh_from_db()
    assert decided.decision == "full" and decided.events.exists()
    entry = AuditEntry.objects.get(action="scholarships.purge_documents")
    assert entry.candidate_id == candidate_a.pk and entry.object_id == str(decided.pk)
    assert {d["kind"] for d in entry.before["documents"]} == {d.kind for d in documents}
    assert purge(moment) == 0


def test_the_retention_purge_command_runs_the_purger_and_records_a_summary(
    clock, submitted, academy_member
):
    decided = services.decide(submitted, academy_member, "full")
    later = clock.at(decided.decided_at + RETENTION + 30 * DAY)
    lines = {line.kind: line.count for line in purge_expired(later, dry_run=True)}
    assert lines["scholarships.document"] == 2
    assert len(documents_of(decided)) == 2
    lines = {line.kind: line.count for line in purge_expired(later)}
    assert lines["scholarships.document"] == 2 and documents_of(decided) == []
    assert AuditEntry.objects.filter(
        action="privacy.purge", object_id="scholarships.document"
    ).exists()


def test_nothing_goes_while_a_decision_or_an_appeal_may_still_come(
    clock, submitted, submitted_b, academy_member
):
    # B's application is refused and appealed: pending, it keeps its documents for ever.
    refused = services.decide(submitted_b, academy_member, "refused", "Budget exhausted")
    services.file_appeal(refused, refused.candidate.user, "My household income fell.")
    # A's application is never decided.
    far = clock.at(timezone.now() + 5 * RETENTION)
    assert purge(far, dry_run=True) == 0
    assert purge(far) == 0
    assert len(documents_of(submitted)) == 2 and len(documents_of(refused)) == 2

    # Once the appeal is decided, the year runs from that decision.
    clock.at(far)
    services.decide_appeal(refused, academy_member, False, "", "The register shows no change.")
    assert Application.objects.get(pk=refused.pk).appeal_status == AppealStatus.DISMISSED
    assert purge(far + RETENTION - DAY) == 0
    assert purge(far + RETENTION + DAY) == 2
    assert documents_of(refused) == [] and len(documents_of(submitted)) == 2


def test_a_draft_keeps_its_documents_until_a_year_after_the_window_closed(
    clock, programme, candidate_a
):
    import io

    draft = services.start_application(candidate_a, candidate_a.user)
    services.upload_document(draft, candidate_a.user, "income_certificate", io.BytesIO(png_bytes()))
    closes_at = programme.current_version().closes_at
    assert draft.status == Status.DRAFT
    assert purge(closes_at + RETENTION - DAY) == 0
    assert purge(closes_at + RETENTION + DAY) == 1
    assert documents_of(draft) == []


def test_the_social_register_extract_goes_a_year_after_its_import(clock, programme):
    SocialRegisterEntry.objects.create(
        programme=programme, rsu_number="RSU0009", household_size=4, rsu_index="7.2"
    )
    imported = clock.now
    cutoff = imported + DAY
    assert privacy_hooks.purge_register(imported - DAY, dry_run=False) == 0
    assert privacy_hooks.purge_register(cutoff, dry_run=True) == 1
    assert SocialRegisterEntry.objects.count() == 1
    assert privacy_hooks.purge_register(cutoff, dry_run=False) == 1
    assert not SocialRegisterEntry.objects.exists()


def test_the_export_gives_the_application_and_the_documents_decrypted_and_logs_the_reads(
    submitted, submitted_b, candidate_a
):
    SocialRegisterEntry.objects.create(
        programme=submitted.programme,
        rsu_number=submitted.rsu_number,
        household_size=4,
        rsu_index="7.5",
    )
    data, files = collect_export(candidate_a, candidate_a.user, None)
    kinds = data["kinds"]
    [application] = kinds["scholarships.application"]["records"]
    assert application["reference"] == submitted.reference
    assert application["status"] == Status.SUBMITTED and application["history"]
    assert "decided_by" not in application
    assert len(kinds["scholarships.household"]["records"]) == 3
    assert kinds["scholarships.income"]["records"] == [
        {
            "application": submitted.reference,
            "household_income": "24000.00",
            "other_income": "0.00",
            "employed": False,
        }
    ]
    assert kinds["scholarships.social_register"]["records"][0]["household_size"] == 4
    documents = kinds["scholarships.document"]["records"]
    assert len(documents) == 2
    for row in documents:
        assert files[row["file"]] == png_bytes() and row["file"].endswith(".png")
    # Each read is in the candidate's history, as the document page's reads are.
    assert (
        AuditEntry.objects.filter(
            action="scholarships.view_document", candidate=candidate_a, actor=candidate_a.user
        ).count()
        == 2
    )
    # Nothing of B's.
    assert submitted_b.reference not in str(data)


def test_an_unreadable_document_is_said_so_in_the_export(submitted, candidate_a):
    document = documents_of(submitted)[0]
    default_storage.delete(document.encrypted_file)
    data, files = collect_export(candidate_a, candidate_a.user, None)
    rows = {r["kind"]: r for r in data["kinds"]["scholarships.document"]["records"]}
    assert rows[document.kind]["file"] is None and rows[document.kind]["note"]
    assert sum(name.startswith("documents/scholarship-") for name in files) == 1


def test_the_candidate_reads_the_purge_and_their_steps_in_plain_words_in_their_history(
    clock, submitted, academy_member, candidate_a, client_for
):
    decided = services.decide(submitted, academy_member, "full")
    later = clock.at(decided.decided_at + RETENTION + 30 * DAY)
    assert purge(later) == 2
    page = client_for(candidate_a.user).get(reverse("portal:history")).content.decode()
    for label in (
        "Scholarship supporting documents deleted (retention period over)",
        "Scholarship application submitted",
        "Scholarship decision",
        "Scholarship application: document uploaded",
    ):
        assert label in page
    assert "scholarships.purge_documents" not in page and "scholarships.submit" not in page
