"""The register entries, purgers and exporters of the apps that existed before the register
(identity, candidates, verification, convocations, results, notifications, audit) and of the
privacy app itself. Declared from PrivacyConfig.ready(); new apps declare their own kinds from
their own AppConfig.ready() (see privacy/register.py)."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .purging import purge_stored_documents
from .register import Export, consent_topic, data_kind

PUBLIC_TASK = _("Public task: organising the baccalaureate exam (law 09-08, article 4)")
LEGAL_OBLIGATION = _("Legal obligation: the rules of the baccalaureate exam")
SECURITY = _("Legitimate interest: the security of the service")
CONSENT = _("The candidate's consent, which they may withdraw")


def _iso(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def _row(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _iso(getattr(obj, name)) for name in names}


# -- candidates -------------------------------------------------------------------------------

FILE_FIELDS = (
    "massar_code",
    "cnie_number",
    "last_name_latin",
    "first_name_latin",
    "last_name_ar",
    "first_name_ar",
    "birth_date",
    "birth_place_latin",
    "birth_place_ar",
    "sex",
    "nationality",
    "candidate_type",
    "phone",
    "email",
    "exam_room",
    "verification_status",
    "verified_at",
    "created_at",
    "updated_at",
)


def export_file(candidate, actor, address) -> Export:
    row = _row(candidate, FILE_FIELDS)
    row["session"] = candidate.session.code
    row["school"] = candidate.school.code
    row["track"] = candidate.track.code
    row["exam_centre"] = candidate.exam_centre.code if candidate.exam_centre_id else None
    return Export(records=[row])


def export_cnie_copies(candidate, actor, address) -> Export:
    """Every stored copy, decrypted, each read logged as a view by the candidate."""
    from candidates import documents
    from candidates.models import CnieDocument, DocumentAccess

    out = Export()
    for document in CnieDocument.objects.filter(candidate=candidate).order_by("uploaded_at"):
        row = _row(document, ("content_type", "size", "sha256", "is_current", "uploaded_at"))
        try:
            with default_storage.open(document.encrypted_file, "rb") as handle:
                data = documents.decrypt(handle.read(), settings.DOCUMENT_KEYS)
        except (OSError, documents.InvalidToken):
            row["file"] = None
            row["note"] = "the stored copy cannot be read"
        else:
            extension = documents.EXTENSIONS.get(document.content_type, "bin")
            name = f"documents/cnie-{document.pk}.{extension}"
            out.files[name] = data
            row["file"] = name
            DocumentAccess.objects.create(
                document=document,
                user=actor,
                user_label=actor.get_username() if actor is not None else "system",
                action=DocumentAccess.Action.VIEW,
                address=address,
            )
        out.records.append(row)
    return out


def purge_cnie_copies(cutoff: datetime.datetime, dry_run: bool) -> int:
    from candidates.models import CnieDocument

    expired = list(
        CnieDocument.objects.filter(uploaded_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", "candidate_id", "sha256", "encrypted_file")
    )
    if dry_run or not expired:
        return len(expired)
    # The rows go with their access logs (cascade) and the audit entries; the files after.
    purge_stored_documents(
        expired,
        action="cnie_copy.purge",
        object_type="cnie_document",
        describe=lambda row: (str(row[0]), row[1], {"document": row[0], "sha256": row[2]}),
        forget=lambda batch: CnieDocument.objects.filter(pk__in=[row[0] for row in batch]).delete(),
        files=lambda batch: [row[3] for row in batch],
    )
    return len(expired)


def _import_jobs_ended_before(cutoff: datetime.datetime):
    from django.db.models import Q

    from candidates.models import ImportJob

    ended = Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff)
    return (
        ImportJob.objects.filter(ended, report_erased_at__isnull=True)
        # Nothing to erase: no error and no uploaded file named.
        .exclude(Q(errors=[]) & Q(stored_file=""))
    )


# Jobs per transaction: a job keeps up to candidates.tasks.MAX_STORED_ERRORS errors.
IMPORT_REPORT_BATCH = 50


def purge_import_reports(cutoff: datetime.datetime, dry_run: bool) -> int:
    """Error reports of imports that finished (or, never finished, were created) before
    `cutoff`: the rejected values (Massar codes, CNIE numbers, birth dates, phones...) are
    erased from the errors, which keep their line, column and code
    (candidates.services.erase_rejected_values); an uploaded file still stored is deleted.
    A report is not one candidate's: one audit entry per job, in no candidate's history.
    Returns the number of jobs."""
    from candidates.models import ImportJob
    from candidates.services import erase_rejected_values

    expired = list(
        _import_jobs_ended_before(cutoff)
        .order_by("pk")
        .values_list("pk", "error_count", "stored_file")
    )
    if dry_run or not expired:
        return len(expired)
    now = timezone.now()

    def forget(batch) -> None:
        jobs = ImportJob.objects.filter(pk__in=[row[0] for row in batch])
        for pk, errors in jobs.values_list("pk", "errors"):
            ImportJob.objects.filter(pk=pk).update(
                errors=erase_rejected_values(errors or []), stored_file="", report_erased_at=now
            )

    purge_stored_documents(
        expired,
        action="import_report.purge",
        object_type="import_job",
        describe=lambda row: (str(row[0]), None, {"error_count": row[1], "file": row[2]}),
        forget=forget,
        files=lambda batch: [row[2] for row in batch],
        batch_size=IMPORT_REPORT_BATCH,
    )
    return len(expired)


def export_document_accesses(candidate, actor, address) -> Export:
    from candidates.models import DocumentAccess

    rows = DocumentAccess.objects.filter(document__candidate=candidate).order_by("at", "pk")
    return Export(
        records=[
            {"document": a.document_id, "by": a.user_label, "action": a.action, "at": _iso(a.at)}
            for a in rows
        ]
    )


def export_identity_sources(candidate, actor, address) -> Export:
    return Export(
        records=[
            {"kind": s.kind, "data": s.data, "captured_at": _iso(s.captured_at)}
            for s in candidate.identity_sources.order_by("kind")
        ]
    )


# -- identity ---------------------------------------------------------------------------------


def export_account(candidate, actor, address) -> Export:
    user = candidate.user
    if user is None:
        return Export()
    row = _row(user, ("username", "email", "phone", "language", "date_joined", "last_login"))
    row["authenticator_enrolled"] = user.totp_confirmed
    return Export(records=[row])


def export_one_time_codes(candidate, actor, address) -> Export:
    from django.db.models import Q

    from identity.models import OneTimeCode

    owner = Q(candidate=candidate)
    if candidate.user_id:
        owner |= Q(user_id=candidate.user_id)
    # The codes' hashes are of no use to anyone and are left out.
    rows = OneTimeCode.objects.filter(owner).order_by("created_at")
    return Export(
        records=[
            _row(c, ("purpose", "channel", "created_at", "expires_at", "attempts", "used_at"))
            for c in rows
        ]
    )


def purge_one_time_codes(cutoff: datetime.datetime, dry_run: bool) -> int:
    from identity.models import OneTimeCode

    expired = OneTimeCode.objects.filter(expires_at__lt=cutoff)
    return expired.count() if dry_run else expired.delete()[1].get(OneTimeCode._meta.label, 0)


def export_sign_in_events(candidate, actor, address) -> Export:
    from identity.models import SignInEvent

    if not candidate.user_id:
        return Export()
    rows = SignInEvent.objects.filter(user_id=candidate.user_id).order_by("at", "pk")
    return Export(records=[_row(e, ("at", "address", "succeeded", "reason")) for e in rows])


def purge_sign_in_events(cutoff: datetime.datetime, dry_run: bool) -> int:
    from identity.models import SignInEvent

    expired = SignInEvent.objects.filter(at__lt=cutoff)
    return expired.count() if dry_run else expired.delete()[1].get(SignInEvent._meta.label, 0)


# -- verification -----------------------------------------------------------------------------


def export_file_check(candidate, actor, address) -> Export:
    from verification.models import FileCheck

    check = FileCheck.objects.filter(candidate=candidate).first()
    if check is None:
        return Export()
    return Export(
        records=[
            {
                "worst_grade": check.worst_grade,
                "findings": check.findings,
                "sources": check.sources,
                "checked_at": _iso(check.checked_at),
            }
        ]
    )


def export_correction_requests(candidate, actor, address) -> Export:
    """The candidate's reports and their evidence, decrypted (the read is audited)."""
    from verification import services
    from verification.models import CorrectionRequest

    out = Export()
    rows = CorrectionRequest.objects.filter(candidate=candidate).order_by("submitted_at", "pk")
    for report in rows:
        row = _row(
            report,
            (
                "field",
                "current_value",
                "proposed_value",
                "comment",
                "status",
                "reason",
                "submitted_at",
                "decided_at",
                "evidence_content_type",
                "evidence_size",
            ),
        )
        row["evidence"] = None
        if report.evidence_file:
            try:
                data = services.read_evidence(report, actor, address)
            except services.EvidenceUnavailable:
                row["note"] = "the stored evidence cannot be read"
            else:
                extension = {"image/jpeg": "jpg", "image/png": "png"}.get(
                    report.evidence_content_type, "pdf"
                )
                name = f"documents/evidence-{report.pk}.{extension}"
                out.files[name] = data
                row["evidence"] = name
        out.records.append(row)
    return out


def purge_evidence(cutoff: datetime.datetime, dry_run: bool) -> int:
    """Evidence of decided reports: the file is deleted, the report (and its decision) stays."""
    from verification.models import CorrectionRequest

    expired = list(
        CorrectionRequest.objects.exclude(status=CorrectionRequest.Status.PENDING)
        .exclude(evidence_file="")
        .filter(decided_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", "candidate_id", "evidence_sha256", "evidence_file")
    )
    if dry_run or not expired:
        return len(expired)
    purge_stored_documents(
        expired,
        action="evidence.purge",
        object_type="correction_request",
        describe=lambda row: (str(row[0]), row[1], {"evidence_sha256": row[2]}),
        forget=lambda batch: CorrectionRequest.objects.filter(
            pk__in=[row[0] for row in batch]
        ).update(evidence_file=""),
        files=lambda batch: [row[3] for row in batch],
    )
    return len(expired)


# -- convocations -----------------------------------------------------------------------------


def export_convocations(candidate, actor, address) -> Export:
    from convocations.models import Convocation

    rows = Convocation.objects.filter(candidate=candidate).order_by("version")
    return Export(
        records=[
            _row(c, ("number", "version", "fields", "issued_at", "superseded_at")) for c in rows
        ]
    )


def purge_superseded_convocations(cutoff: datetime.datetime, dry_run: bool) -> int:
    """A superseded version keeps its number (its QR code still answers "superseded") but not
    the personal data it printed."""
    from convocations.models import Convocation

    expired = Convocation.objects.filter(superseded_at__lt=cutoff).exclude(fields={})
    return expired.count() if dry_run else expired.update(fields={})


# -- results ----------------------------------------------------------------------------------


def _published_outcome(candidate):
    from results.snapshot import FOUND, result_for_candidate

    outcome = result_for_candidate(candidate)
    return outcome if outcome.status == FOUND else None


def export_result(candidate, actor, address) -> Export:
    outcome = _published_outcome(candidate)
    if outcome is None:
        return Export()
    return Export(records=[{"publication": outcome.namespace, "result": outcome.entry}])


def export_grades(candidate, actor, address) -> Export:
    """Marks reach the candidate through the published results, never before publication."""
    from results.models import Grade, Publication
    from results.snapshot import publication_id_of

    outcome = _published_outcome(candidate)
    if outcome is None:
        return Export()
    # Only the sitting whose result is public: a catch-up sitting's marks wait for theirs.
    sitting = Publication.objects.get(pk=publication_id_of(outcome.namespace)).sitting
    rows = Grade.objects.filter(candidate=candidate, sitting=sitting).select_related("subject")
    return Export(
        records=[
            {
                "subject": g.subject.code,
                "component": g.component,
                "sitting": g.sitting,
                "mark": str(g.mark),
            }
            for g in rows
        ]
    )


# -- notifications ----------------------------------------------------------------------------

DELIVERED = ("sent", "failed", "skipped", "cancelled")


def export_notifications(candidate, actor, address) -> Export:
    rows = candidate.notifications.order_by("created_at", "pk")
    return Export(
        records=[
            _row(
                n,
                (
                    "channel",
                    "kind",
                    "reference",
                    "destination",
                    "subject",
                    "body",
                    "status",
                    "created_at",
                    "sent_at",
                ),
            )
            for n in rows
        ]
    )


def purge_notifications(cutoff: datetime.datetime, dry_run: bool) -> int:
    """Delivered messages lose their address and text; the row stays, because its
    idempotency key is what stops the same message being sent twice."""
    from django.db.models import Q

    from notifications.models import Notification

    expired = Notification.objects.filter(status__in=DELIVERED, updated_at__lt=cutoff).exclude(
        Q(destination="") & Q(body="") & Q(subject="")
    )
    if dry_run:
        return expired.count()
    return expired.update(destination="", subject="", body="", last_error="")


# -- audit and privacy ------------------------------------------------------------------------


def export_history(candidate, actor, address) -> Export:
    from audit.models import AuditEntry

    rows = (
        AuditEntry.objects.filter(candidate=candidate)
        # As on the history page: marks only through the published result.
        .exclude(object_type="grade")
        .order_by("sequence")
    )
    return Export(
        records=[
            {
                "sequence": e.sequence,
                "at": _iso(e.at),
                "by": e.actor_label,
                "action": e.action,
                "object": f"{e.object_type}:{e.object_id}",
                "before": e.before,
                "after": e.after,
                "reason": e.reason,
            }
            for e in rows
        ]
    )


def export_consents(candidate, actor, address) -> Export:
    from .services import consent_choices

    return Export(
        records=[
            {
                "topic": c.topic.key,
                "granted": c.granted,
                "is_default": c.is_default,
                "changed_at": _iso(c.changed_at),
            }
            for c in consent_choices(candidate)
        ]
    )


def declare() -> None:
    """Declare the kinds and consent topics above (from PrivacyConfig.ready())."""
    data_kind(
        "candidates.file",
        label=_("Candidate file"),
        fields=_(
            "Massar code, CNIE number, names in both scripts, birth date and place, sex, "
            "nationality, school, track, phone, e-mail, exam centre and room"
        ),
        purpose=_("Register the candidate for the exam and identify them at every step"),
        legal_basis=PUBLIC_TASK,
        recipients=_(
            "The candidate; staff of their school, of their academy and of the ministry; "
            "invigilators see name, photo and exam room"
        ),
        retention=_("Kept: the exam record is part of the national archives"),
        exporter=export_file,
        models=("candidates.Candidate",),
    )
    data_kind(
        "candidates.cnie_copy",
        label=_("Copies of the identity card (CNIE)"),
        fields=_("Photo or scan of both faces of the card, encrypted at rest"),
        purpose=_("Compare the file with the identity card before the exam"),
        legal_basis=LEGAL_OBLIGATION,
        recipients=_("The candidate; staff of their school and academy (every view is logged)"),
        retention=_("Deleted one year after upload"),
        retention_days=365,
        purger=purge_cnie_copies,
        exporter=export_cnie_copies,
        models=("candidates.CnieDocument",),
    )
    data_kind(
        "candidates.document_access",
        label=_("Log of views of identity documents"),
        fields=_("Who viewed or uploaded an identity document, when, from which address"),
        purpose=_("Let the candidate and inspectors see who looked at identity documents"),
        legal_basis=SECURITY,
        recipients=_("The candidate; inspectors of the ministry"),
        retention=_("Kept as long as the document, deleted with it"),
        exporter=export_document_accesses,
        models=("candidates.DocumentAccess",),
    )
    data_kind(
        "candidates.identity_source",
        label=_("Identity sources"),
        fields=_(
            "What the CNIE card, its machine-readable zone and the national digital identity "
            "say about the candidate"
        ),
        purpose=_("Find differences between the file and the candidate's identity"),
        legal_basis=LEGAL_OBLIGATION,
        recipients=_("The candidate; staff of their school and academy"),
        retention=_("Kept with the file"),
        exporter=export_identity_sources,
        models=("candidates.IdentitySource",),
    )
    data_kind(
        "candidates.import_report",
        label=_("Error reports of candidate imports"),
        fields=_(
            "For each line rejected from a list of candidates sent by a school or an academy: "
            "the line, the column, the error and the rejected value (Massar code, CNIE number, "
            "name, birth date, phone, e-mail)"
        ),
        purpose=_("Let the school or academy correct its list and send it again"),
        legal_basis=PUBLIC_TASK,
        recipients=_("Staff of the school, academy or ministry that ran the import"),
        retention=_("90 days after the import, then the rejected values are erased"),
        retention_days=90,
        # A report spans many candidates and is tied to none: it is not in a candidate's export.
        concerns_candidate=False,
        purger=purge_import_reports,
        models=("candidates.ImportJob",),
    )
    data_kind(
        "identity.account",
        label=_("Account"),
        fields=_("User name, e-mail, phone, language, dates of creation and last sign-in"),
        purpose=_("Let the candidate sign in and reach them"),
        legal_basis=PUBLIC_TASK,
        recipients=_("The candidate; the service's administrators"),
        retention=_("Kept while the file is kept"),
        exporter=export_account,
        models=("identity.User",),
    )
    data_kind(
        "identity.one_time_code",
        label=_("One-time codes"),
        fields=_("Purpose, channel, times and attempts of each code sent (never the code)"),
        purpose=_("Confirm the candidate's identity at sign-in, activation and password reset"),
        legal_basis=SECURITY,
        recipients=_("Nobody: used by the system only"),
        retention=_("Deleted one day after the code expires"),
        retention_days=1,
        purger=purge_one_time_codes,
        exporter=export_one_time_codes,
        models=("identity.OneTimeCode",),
    )
    data_kind(
        "identity.sign_in_event",
        label=_("Sign-in records"),
        fields=_("Time, network address and outcome of each sign-in attempt"),
        purpose=_("Detect and investigate attacks on accounts"),
        legal_basis=SECURITY,
        recipients=_("The candidate; the service's security team"),
        retention=_("Deleted after 180 days"),
        retention_days=180,
        purger=purge_sign_in_events,
        exporter=export_sign_in_events,
        models=("identity.SignInEvent",),
    )
    data_kind(
        "verification.file_check",
        label=_("Verification findings"),
        fields=_("Differences found between the file and the identity sources, graded"),
        purpose=_("Correct the file before the convocation is issued"),
        legal_basis=LEGAL_OBLIGATION,
        recipients=_("The candidate; staff of their school and academy"),
        retention=_("Kept with the file"),
        exporter=export_file_check,
        models=("verification.FileCheck",),
    )
    data_kind(
        "verification.correction_request",
        label=_("Correction requests and their evidence"),
        fields=_(
            "The field reported as wrong, the correct value, the comment, the evidence "
            "(encrypted at rest) and the school's decision"
        ),
        purpose=_("Correct errors in the file at the candidate's request"),
        legal_basis=LEGAL_OBLIGATION,
        recipients=_("The candidate; staff of their school and academy"),
        retention=_(
            "The request is kept with the file; its evidence is deleted one year after the decision"
        ),
        retention_days=365,
        purger=purge_evidence,
        exporter=export_correction_requests,
        models=("verification.CorrectionRequest",),
    )
    data_kind(
        "convocations.convocation",
        label=_("Convocations"),
        fields=_("The printed details of each version of the convocation"),
        purpose=_("Admit the candidate to the exam rooms and check their convocation"),
        legal_basis=PUBLIC_TASK,
        recipients=_("The candidate; invigilators who scan the QR code; staff"),
        retention=_(
            "The printed details of a replaced version are erased 90 days after it was "
            "replaced; the current version is kept with the file"
        ),
        retention_days=90,
        purger=purge_superseded_convocations,
        exporter=export_convocations,
        models=("convocations.Convocation",),
    )
    data_kind(
        "results.grade",
        label=_("Marks"),
        fields=_(
            "The marks of every subject, and the averages and decision computed from them "
            "before publication"
        ),
        purpose=_("Compute the result of the exam"),
        legal_basis=PUBLIC_TASK,
        recipients=_(
            "Staff of the academy and the ministry; the candidate once results are published"
        ),
        retention=_("Kept: the exam record is part of the national archives"),
        exporter=export_grades,
        # ComputedResult: the grading engine's output, seen by staff until it is published
        # (then it is results.result); the exporter follows the same rule as for the marks.
        models=("results.Grade", "results.ComputedResult"),
    )
    data_kind(
        "results.result",
        label=_("Published result"),
        fields=_("Averages, decision and mention as published"),
        purpose=_("Tell the candidate their result and certify it"),
        legal_basis=PUBLIC_TASK,
        recipients=_(
            "The candidate; anyone who knows their Massar code and birth date (rate-limited)"
        ),
        retention=_("Kept: the exam record is part of the national archives"),
        exporter=export_result,
        models=("results.PublishedResult",),
    )
    data_kind(
        "notifications.message",
        label=_("Messages sent"),
        fields=_("Phone number or e-mail address, text and delivery status of each SMS or e-mail"),
        purpose=_("Tell the candidate of results, decisions and deadlines"),
        legal_basis=PUBLIC_TASK,
        recipients=_("The candidate; staff who follow deliveries (counts only)"),
        retention=_("Address and text erased 90 days after delivery"),
        retention_days=90,
        purger=purge_notifications,
        exporter=export_notifications,
        models=("notifications.Notification",),
    )
    data_kind(
        "audit.history",
        label=_("History of the file"),
        fields=_("Every change to the file: who, when, what before and after, why"),
        purpose=_("Make every change traceable and tamper-evident"),
        legal_basis=LEGAL_OBLIGATION,
        recipients=_("The candidate; inspectors of the ministry"),
        retention=_("Kept: the history cannot be altered"),
        exporter=export_history,
        models=("audit.AuditEntry",),
    )
    data_kind(
        "privacy.consent",
        label=_("Consent choices"),
        fields=_("The candidate's choices on this page, and when they made them"),
        purpose=_("Respect the candidate's choices"),
        legal_basis=CONSENT,
        recipients=_("The candidate; the services the choice applies to"),
        retention=_("Kept with the file"),
        exporter=export_consents,
        models=("privacy.Consent",),
    )
    consent_topic(
        "published_lists",
        label=_("My name may appear in published lists of admitted candidates"),
        help_text=_(
            "Schools and newspapers publish lists of admitted candidates. Without your "
            "consent your name is left out; your result stays available to you."
        ),
        default=False,
    )
    consent_topic(
        "identity_check",
        label=_("My identity is compared with the CNIE and the national digital identity"),
        help_text=_(
            "Required by the rules of the exam: this cannot be switched off. You may ask for "
            "a correction of any error."
        ),
        default=True,
        changeable=False,
    )
