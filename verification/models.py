"""What the last re-check found for each file, and a record of each re-check of a session."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class GradeChoices(models.IntegerChoices):
    """The grades of verification.names.Grade, with their labels."""

    NONE = 0, _("No discrepancy")
    COSMETIC = 1, _("Cosmetic difference")
    NEEDS_REVIEW = 2, _("To review")
    BLOCKING = 3, _("Blocking discrepancy")


class FileCheck(models.Model):
    """The discrepancies found between one file and its identity sources, graded; rewritten
    only when they change. `findings` holds those graded above none, as
    verification.compare.Finding.as_dict() writes them."""

    candidate = models.OneToOneField(
        "candidates.Candidate",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="file_check",
    )
    # Denormalised from the candidate, for the dashboards' counts per session.
    session = models.ForeignKey("exams.ExamSession", on_delete=models.CASCADE, related_name="+")
    worst_grade = models.PositiveSmallIntegerField(
        _("worst discrepancy"), choices=GradeChoices.choices, default=GradeChoices.NONE
    )
    findings = models.JSONField(default=list)
    sources = models.JSONField(default=list)  # the kinds of identity source compared
    fingerprint = models.CharField(max_length=32)
    checked_at = models.DateTimeField(_("checked at"))

    class Meta:
        indexes = [models.Index(fields=["session", "worst_grade"])]
        verbose_name = _("file check")
        verbose_name_plural = _("file checks")

    def __str__(self) -> str:
        return f"check of candidate {self.candidate_id}: grade {self.worst_grade}"


class CheckRun(models.Model):
    """One re-check of a whole session, for the dashboards and the operators."""

    session = models.ForeignKey("exams.ExamSession", on_delete=models.CASCADE, related_name="+")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    files = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    # {"0": n, "1": n, "2": n, "3": n}: files per worst grade after the run.
    by_grade = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("verification run")
        verbose_name_plural = _("verification runs")

    def __str__(self) -> str:
        return f"re-check of session {self.session_id} at {self.started_at:%Y-%m-%d %H:%M}"


class CorrectionRequest(models.Model):
    """A candidate's report that one field of their file is wrong, with the correct value and
    evidence (encrypted at rest like CNIE copies), and the school's decision."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting the school")
        ACCEPTED = "accepted", _("Accepted: your file was corrected")
        REJECTED = "rejected", _("Rejected")

    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.CASCADE, related_name="correction_requests"
    )
    field = models.CharField(_("field"), max_length=32)
    current_value = models.CharField(_("value in the file"), max_length=120, blank=True)
    proposed_value = models.CharField(_("correct value"), max_length=120)
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    evidence_file = models.CharField(max_length=255)
    evidence_content_type = models.CharField(max_length=40)
    evidence_size = models.PositiveIntegerField()
    evidence_sha256 = models.CharField(max_length=64)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    reason = models.TextField(_("reason of the decision"), blank=True)
    submitted_at = models.DateTimeField(_("reported at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        ordering = ["submitted_at", "pk"]
        indexes = [models.Index(fields=["status", "candidate"])]
        constraints = [
            models.UniqueConstraint(
                fields=["candidate", "field"],
                condition=models.Q(status="pending"),
                name="one_pending_report_per_field",
            )
        ]
        verbose_name = _("correction request")
        verbose_name_plural = _("correction requests")

    def __str__(self) -> str:
        return f"report on {self.field} of candidate {self.candidate_id} ({self.status})"
