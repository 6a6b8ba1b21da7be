from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CANDIDATE = "candidate", _("Candidate")
    SCHOOL = "school", _("School staff")
    ACADEMY = "academy", _("Academy staff")
    MINISTRY = "ministry", _("Ministry staff")


class User(AbstractUser):
    """A person who signs in: a candidate (username = Massar code) or a staff member.

    Staff are scoped: school staff to their school, academy staff to their academy,
    ministry staff to the nation. Django's admin is for superusers only.
    """

    role = models.CharField(_("role"), max_length=12, choices=Role.choices, default=Role.CANDIDATE)
    school = models.ForeignKey(
        "exams.School", on_delete=models.PROTECT, null=True, blank=True, related_name="staff"
    )
    academy = models.ForeignKey(
        "exams.Academy", on_delete=models.PROTECT, null=True, blank=True, related_name="staff"
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    # Base32 TOTP secret, encrypted with the document keys (see identity.totp).
    totp_secret_encrypted = models.TextField(blank=True)
    totp_confirmed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="school") | models.Q(school__isnull=False),
                name="school_staff_has_school",
            ),
            models.CheckConstraint(
                condition=~models.Q(role="academy") | models.Q(academy__isnull=False),
                name="academy_staff_has_academy",
            ),
        ]

    @property
    def is_candidate(self) -> bool:
        return self.role == Role.CANDIDATE

    @property
    def is_staff_member(self) -> bool:
        return self.role in (Role.SCHOOL, Role.ACADEMY, Role.MINISTRY)


class OneTimeCode(models.Model):
    """A one-time code sent by SMS or e-mail. Only its hash is kept."""

    class Purpose(models.TextChoices):
        SIGN_IN = "sign_in", _("Sign-in")
        ACTIVATION = "activation", _("Account activation")
        PASSWORD_RESET = "password_reset", _("Password reset")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="one_time_codes")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    code_hash = models.CharField(max_length=128)
    channel = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose", "created_at"])]


class SignInEvent(models.Model):
    """A record of each sign-in attempt, kept for security review (and purged on schedule)."""

    username = models.CharField(max_length=150)
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    succeeded = models.BooleanField()
    reason = models.CharField(max_length=40, blank=True)

    class Meta:
        indexes = [models.Index(fields=["at"])]
