"""The candidate's consent choices. Everything else the register lists lives in its own app."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Consent(models.Model):
    """A candidate's choice on one consent topic (privacy.register.consent_topic). No row means
    the topic's default."""

    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.CASCADE, related_name="consents"
    )
    topic = models.CharField(_("topic"), max_length=50)
    granted = models.BooleanField(_("granted"))
    changed_at = models.DateTimeField(_("changed at"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["candidate", "topic"], name="one_consent_per_topic"),
        ]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")

    def __str__(self) -> str:
        return f"{self.topic}={'yes' if self.granted else 'no'} for candidate {self.candidate_id}"
