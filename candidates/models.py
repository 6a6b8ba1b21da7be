from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from exams.models import CandidateType


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")


class VerificationStatus(models.TextChoices):
    PENDING = "pending", _("Not verified yet")
    REPORTED = "reported", _("Errors reported, awaiting the school")
    CONFIRMED = "confirmed", _("Verified")


class Candidate(models.Model):
    """A candidate's file for one exam session."""

    session = models.ForeignKey(
        "exams.ExamSession", on_delete=models.PROTECT, related_name="candidates"
    )
    massar_code = models.CharField(_("Massar code"), max_length=10)
    cnie_number = models.CharField(_("CNIE number"), max_length=8, blank=True)
    last_name_latin = models.CharField(_("family name (Latin)"), max_length=80)
    first_name_latin = models.CharField(_("given name (Latin)"), max_length=80)
    last_name_ar = models.CharField(_("family name (Arabic)"), max_length=80)
    first_name_ar = models.CharField(_("given name (Arabic)"), max_length=80)
    birth_date = models.DateField(_("birth date"))
    birth_place_latin = models.CharField(_("birth place (Latin)"), max_length=80)
    birth_place_ar = models.CharField(_("birth place (Arabic)"), max_length=80)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    nationality = models.CharField(_("nationality"), max_length=3, default="MAR")
    school = models.ForeignKey("exams.School", on_delete=models.PROTECT, related_name="candidates")
    track = models.ForeignKey("exams.Track", on_delete=models.PROTECT, related_name="candidates")
    candidate_type = models.CharField(
        _("candidate type"),
        max_length=8,
        choices=CandidateType.choices,
        default=CandidateType.SCHOOL,
    )
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    photo = models.ImageField(_("photo"), upload_to="photos/", blank=True)
    # Where the candidate sits the exams (assigned by the academy before convocations).
    exam_centre = models.ForeignKey(
        "exams.ExamCentre",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="candidates",
    )
    exam_room = models.CharField(_("exam room"), max_length=20, blank=True)
    # Data verification (DESIGN journey 2): only a confirmed file yields a convocation.
    verification_status = models.CharField(
        _("data verification"),
        max_length=10,
        choices=VerificationStatus.choices,
        default=VerificationStatus.PENDING,
    )
    verified_at = models.DateTimeField(_("data confirmed at"), null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="candidate_file",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["massar_code"]
        constraints = [
            models.UniqueConstraint(fields=["session", "massar_code"], name="one_file_per_session"),
        ]
        # Pattern-ops indexes serve the back office's prefix searches on PostgreSQL whatever
        # the database collation (other databases ignore opclasses).
        indexes = [
            models.Index(fields=["session", "school", "massar_code"]),
            models.Index(
                fields=["massar_code"],
                name="candidate_massar_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["cnie_number"],
                name="candidate_cnie_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["last_name_latin"],
                name="candidate_family_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["last_name_ar"],
                name="candidate_family_ar_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
        ]
        verbose_name = _("candidate")
        verbose_name_plural = _("candidates")

    def __str__(self) -> str:
        return f"{self.massar_code} {self.last_name_latin} {self.first_name_latin}"

    @property
    def has_cnie(self) -> bool:
        return bool(self.cnie_number) and self.cnie_documents.filter(is_current=True).exists()


# The fields of a file that are audited and imported, in the documented column order.
AUDITED_FIELDS = (
    "massar_code",
    "cnie_number",
    "last_name_latin",
    "first_name_latin",
    "last_name_ar",
    "first_name_ar",
    "birth_date",
    "birth_place_latin",
    "birth_place_ar",
    "sex",
    "nationality",
    "school_id",
    "track_id",
    "candidate_type",
    "phone",
    "email",
)


class CnieDocument(models.Model):
    """A copy of a candidate's CNIE, encrypted at rest. Uploads replace; old copies are kept."""

    candidate = models.ForeignKey(
        Candidate, on_delete=models.CASCADE, related_name="cnie_documents"
    )
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    encrypted_file = models.CharField(max_length=255)
    is_current = models.BooleanField(default=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["candidate"],
                condition=models.Q(is_current=True),
                name="one_current_cnie_copy",
            )
        ]

    def __str__(self) -> str:
        return f"CNIE copy of candidate {self.candidate_id} ({self.content_type})"


class DocumentAccess(models.Model):
    """Every view or upload of an identity document, for the candidate and for inspectors."""

    class Action(models.TextChoices):
        UPLOAD = "upload", _("Uploaded")
        VIEW = "view", _("Viewed")

    document = models.ForeignKey(CnieDocument, on_delete=models.CASCADE, related_name="accesses")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    user_label = models.CharField(max_length=150)
    action = models.CharField(max_length=8, choices=Action.choices)
    address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.action} of document {self.document_id} by {self.user_label}"


class ImportJob(models.Model):
    """One upload of a candidate list, processed in the background with progress."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("In progress")
        DONE = "done", _("Imported")
        REJECTED = "rejected", _("Rejected: errors found")
        FAILED = "failed", _("Failed")

    session = models.ForeignKey("exams.ExamSession", on_delete=models.PROTECT, related_name="+")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    original_name = models.CharField(max_length=255)
    stored_file = models.CharField(max_length=255)
    keep_valid_rows = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    # [{"line": 3, "column": "birth_date", "code": "date_format", "params": {"value": "..."},
    # "reason": "..."}] (candidates.tasks), capped for very bad files. The params and the reason
    # hold the rejected values until the retention purge erases them (erase_rejected_values).
    errors = models.JSONField(default=list)
    error_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the retention period ended (privacy register: candidates.import_report): the
    # rejected values in `errors` were erased and any uploaded file left was deleted.
    report_erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.original_name})"

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 0 if self.status in (self.Status.PENDING, self.Status.RUNNING) else 100
        return min(100, round(100 * self.processed_rows / self.total_rows))


class IdentitySource(models.Model):
    """What an identity source says about the candidate (the CNIE card, the identity provider,
    the school's own records): evidence to compare with the file, never a silent overwrite."""

    class Kind(models.TextChoices):
        CNIE_CARD = "cnie_card", _("CNIE card")
        MRZ = "mrz", _("Machine-readable zone of the CNIE")
        IDENTITY_PROVIDER = "idp", _("National digital identity")
        SCHOOL_RECORDS = "school", _("School records")

    candidate = models.ForeignKey(
        Candidate, on_delete=models.CASCADE, related_name="identity_sources"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    data = models.JSONField(default=dict)
    captured_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["candidate", "kind"], name="one_source_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for candidate {self.candidate_id}"
