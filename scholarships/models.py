"""Post-bac scholarships: the programme of each year (versioned configuration), the
applications with their household, documents and history, the commission, the social-register
extract."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Programme(models.Model):
    """The scholarship programme of one exam session (one academic year)."""

    session = models.OneToOneField(
        "exams.ExamSession", on_delete=models.PROTECT, related_name="scholarship_programme"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("scholarship programme")
        verbose_name_plural = _("scholarship programmes")

    def __str__(self) -> str:
        return f"programme {self.session_id}"

    def current_version(self) -> ProgrammeVersion | None:
        return self.versions.order_by("-number").first()


def default_documents() -> list[str]:
    return ["income_certificate", "rsu_certificate"]


def default_weights() -> dict[str, int]:
    return {"social": 50, "income": 25, "household": 10, "merit": 15}


class ProgrammeVersion(models.Model):
    """One version of a programme's configuration. Never edited: an edit is a new version, and
    each application records the version it was judged under."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    opens_at = models.DateTimeField(_("applications open at"))
    closes_at = models.DateTimeField(_("applications close at"))
    bac_date = models.DateField(_("bac date (for the age rule)"))
    full_amount = models.DecimalField(
        _("full grant (MAD a year)"), max_digits=9, decimal_places=2, default=Decimal("6334")
    )
    half_amount = models.DecimalField(
        _("half grant (MAD a year)"), max_digits=9, decimal_places=2, default=Decimal("3167")
    )
    nationality = models.CharField(
        _("required nationality"), max_length=3, default="MAR", blank=True
    )
    age_limit = models.PositiveSmallIntegerField(_("age limit on the bac date"), default=26)
    require_bac_of_year = models.BooleanField(_("bac of the year required"), default=True)
    require_public_institution = models.BooleanField(
        _("enrolment in a public institution required"), default=True
    )
    require_no_employment = models.BooleanField(_("no employment required"), default=True)
    require_rnp = models.BooleanField(_("RNP registration required"), default=True)
    require_rsu = models.BooleanField(_("RSU registration required"), default=True)
    rsu_threshold = models.DecimalField(
        _("RSU index threshold"), max_digits=10, decimal_places=7, default=Decimal("9.3264284")
    )
    full_grant_max_index = models.DecimalField(
        _("RSU index up to which the full grant is proposed"),
        max_digits=10,
        decimal_places=7,
        default=Decimal("8.5"),
    )
    income_ceiling = models.DecimalField(
        _("yearly income per person that scores 0 (MAD)"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("30000"),
    )
    required_documents = models.JSONField(_("required documents"), default=default_documents)
    weights = models.JSONField(_("scoring weights"), default=default_weights)
    budget_grants = models.PositiveIntegerField(
        _("budget: number of grants"), null=True, blank=True
    )
    budget_amount = models.DecimalField(
        _("budget: total amount (MAD)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    appeal_days = models.PositiveSmallIntegerField(_("days to appeal after a decision"), default=10)
    max_document_bytes = models.PositiveIntegerField(
        _("largest document (bytes)"), default=5 * 1024 * 1024
    )
    reason = models.CharField(_("reason for the change"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["programme", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "number"], name="one_programme_version"),
        ]
        verbose_name = _("programme version")
        verbose_name_plural = _("programme versions")

    def __str__(self) -> str:
        return f"programme {self.programme_id} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("a programme version is immutable: save a new version instead")
        super().save(*args, **kwargs)


class CommissionMember(models.Model):
    """A staff user who sits on the scholarship commission, for one academy or (no academy)
    for the nation. Only members decide, and only on applications within their scope."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scholarship_commission"
    )
    academy = models.ForeignKey(
        "exams.Academy", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("commission member")
        verbose_name_plural = _("commission members")

    def __str__(self) -> str:
        return f"{self.user_id} ({self.academy_id or 'nation'})"


class Status(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("scholarship application", "Draft")
    SUBMITTED = "submitted", pgettext_lazy("scholarship application", "Submitted, under review")
    VOID = "void", pgettext_lazy("scholarship application", "Void: not eligible")
    DECIDED = "decided", pgettext_lazy("scholarship application", "Decided")


class Decision(models.TextChoices):
    NONE = "", pgettext_lazy("scholarship decision", "No decision yet")
    FULL = "full", pgettext_lazy("scholarship decision", "Full grant")
    HALF = "half", pgettext_lazy("scholarship decision", "Half grant")
    REFUSED = "refused", pgettext_lazy("scholarship decision", "Refused")


class AppealStatus(models.TextChoices):
    NONE = "", _("No appeal")
    PENDING = "pending", _("Appeal under review")
    UPHELD = "upheld", _("Appeal upheld")
    DISMISSED = "dismissed", _("Appeal dismissed")


class Application(models.Model):
    """One candidate's application to one programme; a draft until submitted."""

    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="applications")
    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.PROTECT, related_name="scholarship_applications"
    )
    version = models.ForeignKey(
        ProgrammeVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(max_length=24, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Contact and studies
    address = models.CharField(_("postal address"), max_length=240, blank=True)
    # Social registers
    rnp_number = models.CharField(_("RNP identifier"), max_length=20, blank=True)
    rsu_number = models.CharField(_("RSU identifier"), max_length=20, blank=True)
    rsu_index = models.DecimalField(
        _("RSU index"), max_digits=10, decimal_places=7, null=True, blank=True
    )
    # Incomes (MAD a year)
    household_income = models.DecimalField(
        _("household income (MAD a year)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    other_income = models.DecimalField(
        _("other income (MAD a year)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    employed = models.BooleanField(_("I have a paid job"), default=False)
    # Intended studies
    institution = models.CharField(_("institution"), max_length=160, blank=True)
    institution_city = models.CharField(_("city"), max_length=80, blank=True)
    field_of_study = models.CharField(_("field of study"), max_length=120, blank=True)
    public_institution = models.BooleanField(_("it is a public institution"), default=False)
    # Progress and decisions
    steps_done = models.JSONField(default=list)
    submitted_at = models.DateTimeField(null=True, blank=True)
    void_reasons = models.JSONField(default=list, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    general_average = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    score = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True)
    proposal = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    amount = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    appeal_status = models.CharField(
        max_length=10, choices=AppealStatus.choices, blank=True, default=""
    )
    appeal_text = models.TextField(blank=True)
    appealed_at = models.DateTimeField(null=True, blank=True)
    appeal_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "candidate"], name="one_application_per_programme"
            ),
        ]
        indexes = [
            models.Index(fields=["programme", "status"]),
            models.Index(fields=["rsu_number"]),
            models.Index(fields=["reference"]),
        ]
        verbose_name = _("scholarship application")
        verbose_name_plural = _("scholarship applications")

    def __str__(self) -> str:
        return self.reference or f"draft {self.pk}"


class Relation(models.TextChoices):
    FATHER = "father", _("Father")
    MOTHER = "mother", _("Mother")
    GUARDIAN = "guardian", _("Guardian")
    SIBLING = "sibling", _("Brother or sister")
    SPOUSE = "spouse", _("Spouse")
    GRANDPARENT = "grandparent", _("Grandparent")
    OTHER = "other", _("Other relative")


class Situation(models.TextChoices):
    EMPLOYED = "employed", _("Employed")
    SELF_EMPLOYED = "self_employed", _("Self-employed")
    UNEMPLOYED = "unemployed", _("Unemployed")
    RETIRED = "retired", _("Retired")
    PUPIL = "pupil", _("Pupil or student")
    DECEASED = "deceased", _("Deceased")
    OTHER = "other", _("Other")


class HouseholdMember(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="members")
    relation = models.CharField(_("relation"), max_length=12, choices=Relation.choices)
    age = models.PositiveSmallIntegerField(_("age"))
    situation = models.CharField(_("situation"), max_length=14, choices=Situation.choices)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.relation} ({self.age})"


class DocumentKind(models.TextChoices):
    INCOME_CERTIFICATE = "income_certificate", _("Income certificate or declaration")
    RSU_CERTIFICATE = "rsu_certificate", _("RSU registration certificate")
    ENROLMENT = "enrolment", _("Pre-enrolment certificate")
    OTHER = "other", _("Other supporting document")


class ApplicationDocument(models.Model):
    """A supporting document, encrypted at rest like the CNIE copies. A new upload of a kind
    replaces the previous one (kept, no longer current)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    encrypted_file = models.CharField(max_length=255)
    is_current = models.BooleanField(default=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.kind} of application {self.application_id}"


class StatusEvent(models.Model):
    """What the candidate sees in the history of their application."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=10, choices=Status.choices)
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    appeal_status = models.CharField(max_length=10, choices=AppealStatus.choices, blank=True)
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.application_id} {self.status} at {self.at}"


class SocialRegisterEntry(models.Model):
    """One household of an imported RSU extract: what the register says, to compare with what
    applicants declare. A new import replaces the programme's extract as a whole."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="register")
    rsu_number = models.CharField(max_length=20)
    household_size = models.PositiveSmallIntegerField()
    rsu_index = models.DecimalField(max_digits=10, decimal_places=7)
    yearly_income = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "rsu_number"], name="one_register_entry_per_household"
            ),
        ]

    def __str__(self) -> str:
        return self.rsu_number
