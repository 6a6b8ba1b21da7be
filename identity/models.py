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
    # Language of the person's last sign-in, so that messages sent later (codes, results) are
    # in the language they read; empty means the site default.
    language = models.CharField(_("language"), max_length=8, blank=True)
    # Base32 TOTP secret, encrypted with the document keys (see identity.totp).
    totp_secret_encrypted = models.TextField(blank=True)
    totp_confirmed = models.BooleanField(default=False)
    # The last accepted TOTP time-step: a code is valid for up to three steps (the ±1 window),
    # so without this a code seen over someone's shoulder could be replayed for 90 seconds.
    totp_last_step = models.BigIntegerField(null=True, blank=True)

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
    """A one-time code sent by SMS or e-mail. Only its hash is kept.

    It belongs to a user, or, while an account is being activated and no user exists yet, to
    the candidate's file.
    """

    class Purpose(models.TextChoices):
        SIGN_IN = "sign_in", _("Sign-in")
        ACTIVATION = "activation", _("Account activation")
        PASSWORD_RESET = "password_reset", _("Password reset")

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="one_time_codes"
    )
    candidate = models.ForeignKey(
        "candidates.Candidate",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="one_time_codes",
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    code_hash = models.CharField(max_length=128)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "purpose", "created_at"]),
            models.Index(fields=["candidate", "purpose", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, candidate__isnull=True)
                    | models.Q(user__isnull=True, candidate__isnull=False)
                ),
                name="one_time_code_has_one_owner",
            ),
        ]

    def __str__(self) -> str:
        owner = f"user {self.user_id}" if self.user_id else f"candidate {self.candidate_id}"
        return f"{self.get_purpose_display()} code for {owner}"


class SignInEvent(models.Model):
    """A record of each sign-in attempt, kept for security review (and purged on schedule)."""

    class Reason(models.TextChoices):
        PASSWORD_OK = "password_ok", _("Password accepted, second factor pending")
        BAD_PASSWORD = "bad_password", _("Wrong username or password")
        LOCKED = "locked", _("Refused: too many failures")
        NO_CHANNEL = "no_channel", _("No phone or e-mail to send a code to")
        BAD_CODE = "bad_code", _("Wrong one-time code")
        CODE_EXPIRED = "code_expired", _("Expired or used one-time code")
        CODE_EXHAUSTED = "code_exhausted", _("Too many attempts on one code")
        BAD_TOTP = "bad_totp", _("Wrong authenticator code")
        TOTP_REPLAY = "totp_replay", _("Authenticator code already used")
        TOTP_ENROLLED = "totp_enrolled", _("Authenticator app enrolled")
        SIGNED_IN = "signed_in", _("Signed in")
        ACTIVATION_REFUSED = "activation_refused", _("Activation: details not matched")
        ACTIVATED = "activated", _("Account activated")
        RESET_REFUSED = "reset_refused", _("Password reset: details not matched")
        PASSWORD_RESET = "password_reset", _("Password reset")

    username = models.CharField(max_length=150)
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    succeeded = models.BooleanField()
    reason = models.CharField(max_length=40, blank=True, choices=Reason.choices)

    class Meta:
        indexes = [models.Index(fields=["at"])]

    def __str__(self) -> str:
        outcome = "ok" if self.succeeded else "refused"
        return f"{self.username} {outcome} ({self.reason}) at {self.at}"
