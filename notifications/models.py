"""The notification outbox: one row per message to one candidate by one channel.

A row is created once (its idempotency key is unique), rendered in the candidate's language at
that moment, then claimed by exactly one sending task (queued → sending) before it goes to the
provider, so that a retried, duplicated or redelivered task never sends it a second time.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")


class Status(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped: no address on file")
    CANCELLED = "cancelled", _("Cancelled")


class Notification(models.Model):
    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    # What happened ("results_published") and to what ("publication:12").
    kind = models.CharField(_("kind"), max_length=50)
    reference = models.CharField(_("reference"), max_length=100)
    # kind:reference:candidate:channel. The same notification is never created twice.
    idempotency_key = models.CharField(max_length=200, unique=True)
    language = models.CharField(_("language"), max_length=8)
    # Where it goes, as on the file when it was queued (empty when skipped).
    destination = models.CharField(_("destination"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Not sent before this moment (an embargo, e.g. the publication time of results).
    not_before = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "reference", "status"], name="notification_batch_status"),
            models.Index(fields=["status", "updated_at"], name="notification_status_age"),
        ]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return f"{self.kind} {self.reference} to candidate {self.candidate_id} by {self.channel}"

    @staticmethod
    def key_for(kind: str, reference: str, candidate_id: int, channel: str) -> str:
        return f"{kind}:{reference}:{candidate_id}:{channel}"
