"""The digital bac diploma: one row per diploma ever issued, never deleted.

A diploma is issued once per admitted candidate with a CNIE; a corrected result revokes it and
issues a replacement that points back to it (`replaces`). Its faces (the Verifiable Credential,
the SD-JWT VC and the QR code) are signed at issuance and stored as issued; the PDF is rendered
on demand from them and cached.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DiplomaStatus(models.TextChoices):
    VALID = "valid", _("Valid")
    REVOKED = "revoked", _("Revoked")
    REPLACED = "replaced", _("Replaced")


class Diploma(models.Model):
    number = models.CharField(_("diploma number"), max_length=32, unique=True)
    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.PROTECT, related_name="diplomas"
    )
    session = models.ForeignKey(
        "exams.ExamSession", on_delete=models.PROTECT, related_name="diplomas"
    )
    published_result = models.ForeignKey(
        "results.PublishedResult",
        on_delete=models.PROTECT,
        related_name="diplomas",
        null=True,
        blank=True,
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DiplomaStatus.choices, default=DiplomaStatus.VALID
    )
    # The data the diploma states, as issued (names in both scripts, birth data, track, session,
    # averages, mention, grades): every face is built from it.
    claims = models.JSONField(default=dict)
    issued_at = models.DateTimeField(_("issued at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revocation_reason = models.TextField(_("reason of revocation"), blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    replaces = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by",
    )
    # Position of this diploma in the issuer's Bitstring Status List.
    status_list_index = models.PositiveIntegerField(unique=True)
    credential = models.JSONField(_("verifiable credential"), default=dict)
    sd_jwt = models.TextField(_("SD-JWT VC"), blank=True)
    qr = models.TextField(_("QR code payload"), blank=True)

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["candidate"],
                condition=models.Q(status="valid"),
                name="one_valid_diploma_per_candidate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"


class StatusList(models.Model):
    """The issuer's signed Bitstring Status List credential number `list_id`, as last signed.

    Rebuilt from the diplomas' statuses whenever one of its diplomas is revoked or replaced, so
    that the URL serves a ready document; the bits are never stored elsewhere."""

    list_id = models.PositiveIntegerField(primary_key=True)
    credential = models.JSONField(default=dict)
    revoked_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"status list {self.list_id}"


class IndexCounter(models.Model):
    """The next free status list index (one row): allocated in blocks under a row lock."""

    name = models.CharField(max_length=20, primary_key=True)
    next_value = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.next_value}"


class Refusal(models.Model):
    """An admitted candidate who got no diploma, and why: the candidate and their school see it."""

    class Reason(models.TextChoices):
        NO_CNIE = "no_cnie", _("No CNIE number on file")

    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.CASCADE, related_name="diploma_refusals"
    )
    session = models.ForeignKey("exams.ExamSession", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["candidate", "session", "reason"], name="one_refusal_per_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.candidate_id}: {self.reason}"


class IssuanceRun(models.Model):
    """One bulk issuance for a session (and optionally one academy), followed by staff."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")

    session = models.ForeignKey("exams.ExamSession", on_delete=models.PROTECT, related_name="+")
    academy = models.ForeignKey(
        "exams.Academy", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    issued = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    already = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"issuance {self.pk} of session {self.session_id} ({self.status})"
