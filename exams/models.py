"""The structure of a national exam: sessions and their calendar, the territory, tracks."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Academy(models.Model):
    """A regional academy (AREF)."""

    code = models.CharField(_("code"), max_length=8, unique=True)
    name_fr = models.CharField(_("name (French)"), max_length=120)
    name_ar = models.CharField(_("name (Arabic)"), max_length=120)

    class Meta:
        ordering = ["code"]
        verbose_name = _("academy")
        verbose_name_plural = _("academies")

    def __str__(self) -> str:
        return self.name_fr


class Directorate(models.Model):
    """A provincial directorate of an academy."""

    academy = models.ForeignKey(Academy, on_delete=models.PROTECT, related_name="directorates")
    code = models.CharField(_("code"), max_length=16, unique=True)
    name_fr = models.CharField(_("name (French)"), max_length=120)
    name_ar = models.CharField(_("name (Arabic)"), max_length=120)

    class Meta:
        ordering = ["academy__code", "name_fr"]
        verbose_name = _("provincial directorate")
        verbose_name_plural = _("provincial directorates")

    def __str__(self) -> str:
        return self.name_fr


class School(models.Model):
    directorate = models.ForeignKey(Directorate, on_delete=models.PROTECT, related_name="schools")
    code = models.CharField(_("code"), max_length=16, unique=True)
    name_fr = models.CharField(_("name (French)"), max_length=160)
    name_ar = models.CharField(_("name (Arabic)"), max_length=160)
    is_public = models.BooleanField(_("public school"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("school")
        verbose_name_plural = _("schools")

    def __str__(self) -> str:
        return f"{self.code} {self.name_fr}"

    @property
    def academy_id(self) -> int:
        return self.directorate.academy_id


class ExamCentre(models.Model):
    directorate = models.ForeignKey(Directorate, on_delete=models.PROTECT, related_name="centres")
    code = models.CharField(_("code"), max_length=16, unique=True)
    name_fr = models.CharField(_("name (French)"), max_length=160)
    name_ar = models.CharField(_("name (Arabic)"), max_length=160)
    address = models.CharField(_("address"), max_length=240, blank=True)
    capacity = models.PositiveIntegerField(_("capacity"), default=300)

    class Meta:
        ordering = ["code"]
        verbose_name = _("exam centre")
        verbose_name_plural = _("exam centres")

    def __str__(self) -> str:
        return f"{self.code} {self.name_fr}"


class Track(models.Model):
    """A bac track (filière) with its subjects and coefficients."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    name_fr = models.CharField(_("name (French)"), max_length=160)
    name_ar = models.CharField(_("name (Arabic)"), max_length=160)

    class Meta:
        ordering = ["code"]
        verbose_name = _("track")
        verbose_name_plural = _("tracks")

    def __str__(self) -> str:
        return self.name_fr


class Subject(models.Model):
    code = models.CharField(_("code"), max_length=16, unique=True)
    name_fr = models.CharField(_("name (French)"), max_length=120)
    name_ar = models.CharField(_("name (Arabic)"), max_length=120)

    class Meta:
        ordering = ["code"]
        verbose_name = _("subject")
        verbose_name_plural = _("subjects")

    def __str__(self) -> str:
        return self.name_fr


class Component(models.TextChoices):
    CONTINUOUS = "continuous", _("Continuous assessment")
    REGIONAL = "regional", _("Regional exam")
    NATIONAL = "national", _("National exam")


class TrackSubject(models.Model):
    """One subject of a track in one component, with its coefficient."""

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="subjects")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="+")
    component = models.CharField(_("component"), max_length=12, choices=Component.choices)
    coefficient = models.DecimalField(
        _("coefficient"),
        max_digits=4,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.5"))],
    )

    class Meta:
        ordering = ["track", "component", "subject__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["track", "subject", "component"], name="track_subject_component_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(coefficient__gt=0), name="coefficient_positive"
            ),
        ]
        verbose_name = _("subject of a track")
        verbose_name_plural = _("subjects of a track")

    def __str__(self) -> str:
        return f"{self.track.code} {self.subject.code} {self.component} ×{self.coefficient}"


class CandidateType(models.TextChoices):
    SCHOOL = "school", _("School candidate")
    FREE = "free", _("Free candidate")


class ExamSession(models.Model):
    """One session of the national exam (e.g. June 2026) and its calendar."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=120)
    year = models.PositiveIntegerField(_("year"))
    is_current = models.BooleanField(_("current session"), default=False)

    class Meta:
        ordering = ["-year", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_current"],
                condition=models.Q(is_current=True),
                name="one_current_session",
            )
        ]
        verbose_name = _("exam session")
        verbose_name_plural = _("exam sessions")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> ExamSession | None:
        return cls.objects.filter(is_current=True).first()


class WindowKind(models.TextChoices):
    REGISTRATION = "registration", _("Registration")
    VERIFICATION = "verification", _("Data verification")
    CONVOCATION = "convocation", _("Convocation")
    EXAMS = "exams", _("Exams")
    RESULTS = "results", _("Results")
    COMPLAINTS = "complaints", _("Complaints")
    CATCH_UP = "catch_up", _("Catch-up session")
    SCHOLARSHIP = "scholarship", _("Scholarship applications")
    DIPLOMA = "diploma", _("Digital diploma")


class WindowState(models.TextChoices):
    NOT_SET = "not_set", _("Not scheduled")
    UPCOMING = "upcoming", _("Not open yet")
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class SessionWindow(models.Model):
    """A period during which one service of a session is open (times in Africa/Casablanca)."""

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="windows")
    kind = models.CharField(_("service"), max_length=16, choices=WindowKind.choices)
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"), null=True, blank=True)

    class Meta:
        ordering = ["session", "opens_at"]
        constraints = [
            models.UniqueConstraint(fields=["session", "kind"], name="one_window_per_kind"),
        ]
        verbose_name = _("calendar window")
        verbose_name_plural = _("calendar windows")

    def __str__(self) -> str:
        return f"{self.session.code} {self.get_kind_display()}"

    def clean(self) -> None:
        if self.closes_at and self.opens_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": _("A window must close after it opens.")})

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if now < self.opens_at:
            return WindowState.UPCOMING
        if self.closes_at is not None and now >= self.closes_at:
            return WindowState.CLOSED
        return WindowState.OPEN
