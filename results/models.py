"""Grades, computed results and published result snapshots.

The grading rules themselves live in `results.grading` (pure, no Django). A computation stores
one ComputedResult per candidate; a publication freezes a computation into an immutable,
versioned snapshot (PublishedResult rows) that candidates read from the moment it is public.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from exams.models import Component


class Sitting(models.TextChoices):
    NORMAL = "normal", _("Normal session")
    CATCH_UP = "catch_up", _("Catch-up session")


class Decision(models.TextChoices):
    ADMITTED = "admitted", _("Admitted")
    CATCH_UP = "catch_up", _("Eligible for the catch-up session")
    FAILED = "failed", _("Not admitted")
    INCOMPLETE = "incomplete", _("Result pending: grades missing")


class Mention(models.TextChoices):
    NONE = "", _("No mention")
    PASSABLE = "passable", _("Passable")
    ASSEZ_BIEN = "assez_bien", _("Assez bien")
    BIEN = "bien", _("Bien")
    TRES_BIEN = "tres_bien", _("Très bien")


class Grade(models.Model):
    """One mark of one candidate in one subject of one component, for one sitting (/20)."""

    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.CASCADE, related_name="grades"
    )
    subject = models.ForeignKey("exams.Subject", on_delete=models.PROTECT, related_name="+")
    component = models.CharField(_("component"), max_length=12, choices=Component.choices)
    sitting = models.CharField(
        _("sitting"), max_length=10, choices=Sitting.choices, default=Sitting.NORMAL
    )
    mark = models.DecimalField(
        _("mark"),
        max_digits=4,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(20)],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["candidate", "subject", "component", "sitting"], name="one_mark_per_subject"
            ),
            models.CheckConstraint(
                condition=models.Q(mark__gte=0, mark__lte=20), name="mark_between_0_and_20"
            ),
        ]
        verbose_name = _("grade")
        verbose_name_plural = _("grades")

    def __str__(self) -> str:
        return f"{self.candidate_id} {self.subject_id} {self.component} {self.sitting}: {self.mark}"


class Computation(models.Model):
    """One run of the grading engine over a session's candidates, with progress."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("In progress")
        DONE = "done", _("Computed")
        FAILED = "failed", _("Failed")

    session = models.ForeignKey(
        "exams.ExamSession", on_delete=models.PROTECT, related_name="computations"
    )
    sitting = models.CharField(max_length=10, choices=Sitting.choices, default=Sitting.NORMAL)
    # None: the whole session (the only kind that may be published or serve as the reference
    # of a catch-up). An academy: a preview of that academy's candidates, started by its staff.
    academy = models.ForeignKey(
        "exams.Academy", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    # Statistics computed with the results (pass rates by academy, track, sex, type; histogram).
    statistics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Whether its results keep the marks they were computed from (ComputedResult.marks):
    # false only for computations made before they did, which cannot be published.
    marks_kept = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"computation {self.pk} of {self.session_id} ({self.sitting})"


class ComputedResult(models.Model):
    """The grading engine's output for one candidate in one computation (not public)."""

    # No database-level foreign keys: a computation writes half a million rows in one
    # transaction, and checking them costs more than the computation itself (each check also
    # locks the candidate's row). The rows are written only by results.services, from the
    # candidates and the computation it has just read; Django still cascades deletions.
    # The (computation, candidate) unique index serves lookups by computation.
    computation = models.ForeignKey(
        Computation,
        on_delete=models.CASCADE,
        related_name="results",
        db_constraint=False,
        db_index=False,
    )
    candidate = models.ForeignKey(
        "candidates.Candidate", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    continuous_average = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    regional_average = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    national_average = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    general_average = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    mention = models.CharField(max_length=10, choices=Mention.choices, blank=True)
    # Why: e.g. "eliminated: 0 in MATH", "missing: PC national".
    reason = models.CharField(max_length=200, blank=True)
    # The marks this result was computed from, packed as the computation read them (see
    # results.services.pack_marks); None for a candidate without any. A publication shows
    # these, so that its marks are always those its averages came from, whatever grade was
    # corrected after the computation.
    mark_keys = models.BinaryField(null=True, editable=False)
    marks = models.BinaryField(null=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["computation", "candidate"], name="one_result_per_computation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.candidate_id}: {self.general_average} {self.decision}"


# --- Publication: immutable, versioned snapshots served to candidates (results.publication) ---


class Publication(models.Model):
    """A published result set: an immutable, versioned snapshot of a computation.

    A full publication freezes every result of a computation into PublishedResult rows and the
    lookup cache before its moment; candidates see it from `publish_at` on, with no job at that
    moment (the lookup compares the time with `publish_at`). It stays the current one of its
    session and sitting until a later version is public or it is withdrawn. A correction
    publishes one candidate's new result on top of a full publication (`base`).
    """

    class Kind(models.TextChoices):
        FULL = "full", _("Full publication")
        CORRECTION = "correction", _("Correction of one result")

    class Status(models.TextChoices):
        PREPARING = "preparing", _("Being prepared")
        READY = "ready", _("Ready")  # scheduled or public, depending on publish_at
        REPLACED = "replaced", _("Replaced by a later version")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        FAILED = "failed", _("Preparation failed")

    session = models.ForeignKey(
        "exams.ExamSession", on_delete=models.PROTECT, related_name="publications"
    )
    sitting = models.CharField(max_length=10, choices=Sitting.choices, default=Sitting.NORMAL)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FULL)
    computation = models.ForeignKey(
        Computation, on_delete=models.PROTECT, related_name="publications"
    )
    base = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections"
    )
    replaces = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replacements"
    )
    publish_at = models.DateTimeField(_("publication moment"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREPARING)
    count = models.PositiveIntegerField(default=0)
    # SHA-256 over the rows' payloads in candidate order: what exactly was published.
    digest = models.CharField(max_length=64, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    prepared_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    replaced_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawal_reason = models.TextField(_("reason for the withdrawal"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "sitting", "version"], name="one_publication_per_version"
            ),
        ]
        indexes = [models.Index(fields=["session", "sitting", "status"])]
        verbose_name = _("publication of results")
        verbose_name_plural = _("publications of results")

    def __str__(self) -> str:
        return f"publication v{self.version} of {self.session_id} ({self.sitting}, {self.status})"


class PublishedResult(models.Model):
    """One candidate's result as published: frozen, never updated (a change is a new version).

    The identifiers and birth date are copied as they were at publication, so that the lookup
    keys can be rebuilt from the snapshot alone; `payload` is the compact JSON the lookup serves.
    """

    # No foreign key constraints in the database: a publication writes 500,000 rows at once,
    # and checking two keys per row at the commit took longer (4 s) than writing the rows
    # (2.7 s). The rows come from a join of the computation's results with their candidates,
    # in the transaction that creates the publication, so both keys exist when written; Django
    # enforces on_delete (PROTECT keeps a published candidate, CASCADE removes a publication's
    # rows with it). The (publication, candidate) unique index serves lookups by publication.
    publication = models.ForeignKey(
        Publication,
        on_delete=models.CASCADE,
        related_name="rows",
        db_constraint=False,
        db_index=False,
    )
    candidate = models.ForeignKey(
        "candidates.Candidate",
        on_delete=models.PROTECT,
        related_name="published_results",
        db_constraint=False,
    )
    massar_code = models.CharField(max_length=10)
    cnie_number = models.CharField(max_length=8, blank=True)
    birth_date = models.DateField()
    continuous_average = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    regional_average = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    national_average = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    general_average = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    mention = models.CharField(max_length=10, choices=Mention.choices, blank=True)
    payload = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["publication", "candidate"], name="one_published_result_per_candidate"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.massar_code}: {self.general_average} {self.decision} (pub {self.publication_id})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("a published result is immutable: publish a new version instead")
        super().save(*args, **kwargs)
