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
