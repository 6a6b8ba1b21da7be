"""The exam timetable and the convocations issued to candidates."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from exams.models import Component


class ExamSlot(models.Model):
    """One sitting of the timetable: a subject of a track, at a time, for a session."""

    session = models.ForeignKey(
        "exams.ExamSession", on_delete=models.CASCADE, related_name="timetable"
    )
    track = models.ForeignKey("exams.Track", on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey("exams.Subject", on_delete=models.PROTECT, related_name="+")
    component = models.CharField(
        _("component"), max_length=12, choices=Component.choices, default=Component.NATIONAL
    )
    starts_at = models.DateTimeField(_("starts at"))
    duration_minutes = models.PositiveSmallIntegerField(
        _("duration (minutes)"), validators=[MinValueValidator(15), MaxValueValidator(600)]
    )

    class Meta:
        ordering = ["session", "track", "starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "track", "subject", "component"], name="one_slot_per_subject"
            ),
            models.CheckConstraint(
                condition=models.Q(duration_minutes__gte=15), name="slot_duration_positive"
            ),
        ]
        indexes = [models.Index(fields=["session", "track", "starts_at"])]
        verbose_name = _("exam slot")
        verbose_name_plural = _("exam timetable")

    def __str__(self) -> str:
        return (
            f"{self.session_id} {self.track_id} {self.subject_id} {self.starts_at:%Y-%m-%d %H:%M}"
        )


class Convocation(models.Model):
    """One issued version of a candidate's convocation.

    `file_hash` is the SHA-256 of the printed fields (`fields`, a snapshot). When the file
    changes after issue, the next download supersedes this version and issues the next one;
    the QR code of a superseded version verifies as "superseded".
    """

    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.CASCADE, related_name="convocations"
    )
    number = models.CharField(_("convocation number"), max_length=32, unique=True)
    version = models.PositiveIntegerField(_("version"))
    file_hash = models.CharField(max_length=64)
    fields = models.JSONField(default=dict)
    kid = models.CharField(_("signing key"), max_length=16)
    issued_at = models.DateTimeField(_("issued at"))
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)

    class Meta:
        ordering = ["candidate", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["candidate", "version"], name="one_convocation_version"
            ),
            models.UniqueConstraint(
                fields=["candidate"],
                condition=models.Q(superseded_at__isnull=True),
                name="one_current_convocation",
            ),
        ]
        verbose_name = _("convocation")
        verbose_name_plural = _("convocations")

    def __str__(self) -> str:
        return self.number

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None
