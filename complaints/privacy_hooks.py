"""The complaints app's entries in the register of personal data (privacy.register): the
complaint and its decision, the candidate's comment, the scans of answer sheets and the log of
who looked at them; with their exporters (the candidate's own data, scans decrypted) and the
scans' purger. Declared from ComplaintsConfig.ready()."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

# The scan of an answer sheet: one year after the complaint is decided, long enough for an
# appeal to the courts against the decision (and its inspection), after which the marked
# answer sheet itself, kept by the academy, remains the reference.
SCAN_DAYS = 365
PUBLIC_TASK = _(
    "Public task: correcting material errors in the marks of the baccalaureate exam "
    "(law 09-08, article 4)"
)
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _complaints(candidate):
    from .models import Complaint

    return (
        Complaint.objects.filter(candidate=candidate)
        .select_related("session", "subject")
        .order_by("filed_at", "pk")
    )


# -- Exporters --------------------------------------------------------------------------------

# What the candidate sees of their complaint, and what was found on their answer sheet. Who
# reviewed and approved is left out (the academy decides as a body; the staff's names are
# theirs), and so is a second reviewer's note sent back to review (an internal deliberation).
COMPLAINT_FIELDS = (
    "reference",
    "sitting",
    "kind",
    "status",
    "original_mark",
    "publication_version",
    "filed_at",
    "assigned_at",
    "finding",
    "corrected_mark",
    "decision_reason",
    "decided_at",
    "mark_change",
    "new_publication_version",
)


def export_complaints(candidate, actor, address: str | None):
    """Each complaint of the candidate with its decision."""
    from privacy.register import Export

    records = []
    for complaint in _complaints(candidate):
        row = {name: _plain(getattr(complaint, name)) for name in COMPLAINT_FIELDS}
        row["session"] = complaint.session.code
        row["subject"] = complaint.subject.code
        row["has_scan"] = bool(complaint.scan_file)
        records.append(row)
    return Export(records=records)


def export_comments(candidate, actor, address: str | None):
    """What the candidate wrote with each complaint (a complaint without a comment is left
    out: there is nothing to show)."""
    from privacy.register import Export

    return Export(
        records=[
            {"complaint": c.reference, "comment": c.comment, "filed_at": _plain(c.filed_at)}
            for c in _complaints(candidate).exclude(comment="")
        ]
    )


def export_scans(candidate, actor, address: str | None):
    """The scan of each complaint's answer sheet, decrypted; each read is logged as a view by
    the candidate, as complaints.services.read_scan logs the staff's."""
    from privacy.register import Export

    from . import services

    out = Export()
    for complaint in _complaints(candidate).exclude(scan_file=""):
        row = {
            "complaint": complaint.reference,
            "subject": complaint.subject.code,
            "content_type": complaint.scan_content_type,
            "size": complaint.scan_size,
            "sha256": complaint.scan_sha256,
            "uploaded_at": _plain(complaint.scan_uploaded_at),
            "file": None,
        }
        try:
            data = services.read_scan(complaint, actor, address)
        except services.ScanUnavailable:
            row["note"] = "the stored scan cannot be read"
        else:
            extension = EXTENSIONS.get(complaint.scan_content_type, "bin")
            name = f"documents/answer-sheet-{complaint.reference}.{extension}"
            out.files[name] = data
            row["file"] = name
        out.records.append(row)
    return out


def export_scan_accesses(candidate, actor, address: str | None):
    """Who uploaded or viewed the scans of the candidate's answer sheets, and when."""
    from privacy.register import Export

    from .models import ScanAccess

    rows = (
        ScanAccess.objects.filter(complaint__candidate=candidate)
        .select_related("complaint")
        .order_by("at", "pk")
    )
    return Export(
        records=[
            {
                "complaint": a.complaint.reference,
                "by": a.user_label,
                "action": a.action,
                "at": _plain(a.at),
            }
            for a in rows
        ]
    )


# -- Purger -----------------------------------------------------------------------------------


def purge_scans(cutoff: datetime.datetime, dry_run: bool) -> int:
    """Delete the scans of complaints decided before `cutoff` (an open complaint keeps its
    scan, whatever its age): the file goes, the complaint forgets it; the complaint, its
    decision and the log of views stay. One audit entry per complaint, in the candidate's
    history and the complaint's. Returns the number of scans."""
    from privacy.purging import purge_stored_documents

    from .models import FINAL_STATUSES, Complaint

    expired = list(
        Complaint.objects.filter(status__in=FINAL_STATUSES, decided_at__lt=cutoff)
        .exclude(scan_file="")
        .order_by("pk")
        .values_list("pk", "reference", "candidate_id", "scan_sha256", "scan_file")
    )
    if dry_run or not expired:
        return len(expired)
    purge_stored_documents(
        expired,
        action="complaints.purge_scan",
        object_type="complaint",
        describe=lambda row: (row[1], row[2], {"sha256": row[3]}),
        forget=lambda batch: Complaint.objects.filter(pk__in=[row[0] for row in batch]).update(
            scan_file="",
            scan_content_type="",
            scan_size=0,
            scan_sha256="",
            scan_uploaded_at=None,
        ),
        files=lambda batch: [row[4] for row in batch],
    )
    return len(expired)


# -- The register -----------------------------------------------------------------------------


def register_data_kinds() -> None:
    from privacy.register import data_kind

    recipients = _(
        "The candidate; the staff of their academy who review complaints; the ministry, which "
        "oversees them"
    )
    data_kind(
        "complaints.complaint",
        label=_("Complaints about marks"),
        fields=_(
            "Reference, subject, kind of material error, mark complained about, status, what "
            "the reviewers found on the answer sheet, the corrected mark and the reason of the "
            "decision"
        ),
        purpose=_("Check and correct a material error in the marking of a national-exam subject"),
        legal_basis=PUBLIC_TASK,
        recipients=recipients,
        retention=_("Kept: part of the exam record"),
        exporter=export_complaints,
        models=("complaints.Complaint",),
    )
    data_kind(
        "complaints.comment",
        label=_("Comments written with a complaint"),
        fields=_("What the candidate wrote to explain the error they complain about"),
        purpose=_("Help the reviewers find the error on the answer sheet"),
        legal_basis=PUBLIC_TASK,
        recipients=recipients,
        retention=_("Kept with the complaint"),
        exporter=export_comments,
        models=("complaints.Complaint",),
    )
    data_kind(
        "complaints.answer_sheet_scan",
        label=_("Scans of answer sheets"),
        fields=_("Scanned pages of the answer sheet under complaint, encrypted at rest"),
        purpose=_("Re-examine the mark the candidate complains about"),
        legal_basis=PUBLIC_TASK,
        recipients=_(
            "The candidate; the staff of their academy who review complaints (every view is logged)"
        ),
        retention=_("Deleted one year after the complaint is decided"),
        retention_days=SCAN_DAYS,
        purger=purge_scans,
        exporter=export_scans,
        models=("complaints.Complaint",),
    )
    data_kind(
        "complaints.scan_access",
        label=_("Log of views of answer-sheet scans"),
        fields=_("Who uploaded or viewed the scan of an answer sheet, when, from which address"),
        purpose=_("Let the candidate and inspectors see who looked at the scans"),
        legal_basis=_("Legitimate interest: the security of the service"),
        recipients=_("The candidate; inspectors of the ministry"),
        retention=_("Kept with the complaint, after the scan itself is deleted"),
        exporter=export_scan_accesses,
        models=("complaints.ScanAccess",),
    )
