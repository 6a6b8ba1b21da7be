"""Share links of a diploma and the log of their views.

A link is found by the hash of its token: the token itself is shown to the holder once, at
creation, and never stored, so that a copy of the database does not open anyone's diploma.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class FieldGroup(models.TextChoices):
    """What a holder may hide from a link. Names, the diploma itself and its status always show."""

    RESULT = "result", _("General average and mention")
    GRADES = "grades", _("Grades and component averages")
    BIRTH = "birth", _("Birth date and place")
    CNIE = "cnie", _("CNIE number")


# Revealed unless the holder unticks them; the others must be chosen (law 09-08: the least data).
DEFAULT_REVEALED = (FieldGroup.RESULT,)


class ShareLink(models.Model):
    diploma = models.ForeignKey(
        "diplomas.Diploma", on_delete=models.PROTECT, related_name="share_links"
    )
    # The holder at creation: the owner check never depends on the diploma's later history.
    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.PROTECT, related_name="share_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(_("label"), max_length=80, blank=True)
    revealed = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["candidate", "-created_at"])]

    def __str__(self) -> str:
        return f"share link {self.pk} of diploma {self.diploma_id}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def is_active(self, now=None) -> bool:
        return self.revoked_at is None and not self.is_expired(now)

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired() else "active"


class ShareView(models.Model):
    """One view of a link: when, from which coarse network and country, in which form."""

    class Kind(models.TextChoices):
        PAGE = "page", _("Share page")
        SD_JWT = "sd_jwt", _("SD-JWT download")
        VERIFY = "verify", _("Verification page or API")
        REFUSED = "refused", _("Refused (expired or revoked link)")

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="views")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # IPv4 /24 or IPv6 /48: enough for the holder to tell networks apart, not to find a person.
    network = models.CharField(max_length=64, blank=True)
    country = models.CharField(max_length=2, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["link", "-at"]), models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"{self.kind} of link {self.link_id} at {self.at:%Y-%m-%d %H:%M}"
