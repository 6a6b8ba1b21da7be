"""Complaints (réclamations) about a material error in the marking of a national-exam subject.

A complaint is not a re-marking: the academy checks the answer sheet for an answer left
unmarked, a wrong sum of partial marks or a mark copied wrongly. The rules live in
`complaints.services`; these models only hold the state.

Life of a complaint:

    filed -> in_review (assigned to a reviewer) -> rejected                       (final)
                                                -> awaiting_approval -> accepted   (final)
                                                                     -> in_review  (sent back)
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from results.models import Sitting


class ErrorKind(models.TextChoices):
    UNMARKED_ANSWER = "unmarked_answer", _("An answer was left unmarked")
    WRONG_SUM = "wrong_sum", _("The partial marks were added up wrongly")
    TRANSCRIPTION = "transcription", _("The mark was copied wrongly")


class Status(models.TextChoices):
    FILED = "filed", _("Received")
    IN_REVIEW = "in_review", _("Being reviewed")
    AWAITING_APPROVAL = "awaiting_approval", _("Correction awaiting a second approval")
    REJECTED = "rejected", _("Rejected")
    ACCEPTED = "accepted", _("Accepted: mark corrected")


OPEN_STATUSES = (Status.FILED, Status.IN_REVIEW, Status.AWAITING_APPROVAL)
FINAL_STATUSES = (Status.REJECTED, Status.ACCEPTED)


class Complaint(models.Model):
    # Unguessable and printable on a receipt: "REC-" and 10 characters of Crockford base 32.
    reference = models.CharField(_("reference"), max_length=20, unique=True)
    session = models.ForeignKey("exams.ExamSession", on_delete=models.PROTECT, related_name="+")
    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.PROTECT, related_name="complaints"
    )
    subject = models.ForeignKey("exams.Subject", on_delete=models.PROTECT, related_name="+")
    sitting = models.CharField(max_length=10, choices=Sitting.choices, default=Sitting.NORMAL)
    # Copied at filing so that the queue and the statistics group without joining the file
    # (and keep their meaning if the candidate later changes school).
    academy = models.ForeignKey("exams.Academy", on_delete=models.PROTECT, related_name="+")
    exam_centre = models.ForeignKey(
        "exams.ExamCentre", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind of error"), max_length=16, choices=ErrorKind.choices)
    comment = models.TextField(_("comment"), blank=True)
    # The mark and published version the complaint is about.
    original_mark = models.DecimalField(max_digits=4, decimal_places=2)
    publication_version = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.FILED)
    filed_at = models.DateTimeField()
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    # The reviewer's finding and proposal (a rejection, or a corrected mark to approve).
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    finding = models.TextField(_("finding"), blank=True)
    corrected_mark = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    proposed_at = models.DateTimeField(null=True, blank=True)
    # What the candidate reads: the reason for a rejection, or the explanation of a correction.
    decision_reason = models.TextField(_("reason"), blank=True)
    # A second reviewer who sent a proposal back says why here (staff only).
    return_note = models.TextField(blank=True)

    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Denormalised at the decision for the statistics (portable averages on any database).
    decision_seconds = models.PositiveIntegerField(null=True, blank=True)
    mark_change = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    new_publication_version = models.PositiveIntegerField(null=True, blank=True)

    # The scan of the answer sheet, encrypted at rest like the CNIE copies.
    scan_file = models.CharField(max_length=255, blank=True)
    scan_content_type = models.CharField(max_length=40, blank=True)
    scan_size = models.PositiveIntegerField(default=0)
    scan_sha256 = models.CharField(max_length=64, blank=True)
    scan_uploaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["filed_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["candidate", "subject", "sitting"], name="one_complaint_per_subject"
            ),
        ]
        indexes = [
            models.Index(fields=["academy", "status", "filed_at"]),
            models.Index(fields=["session", "status"]),
        ]
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ScanAccess(models.Model):
    """Every upload and view of an answer-sheet scan (as for the CNIE copies)."""

    class Action(models.TextChoices):
        UPLOAD = "upload", _("Upload")
        VIEW = "view", _("View")

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="accesses")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    user_label = models.CharField(max_length=150)
    action = models.CharField(max_length=8, choices=Action.choices)
    address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.user_label} {self.action} {self.complaint_id}"
