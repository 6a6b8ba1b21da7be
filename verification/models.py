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
