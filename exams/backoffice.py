"""Back-office services for the exam structure: what the overview pages show, and the audited
creation and editing of sessions, calendar windows, tracks, schools and exam centres.

Scope: ministry staff manage sessions, windows and tracks; academy staff (and the ministry)
manage schools and centres in the directorates of their academy. Every create or edit writes
an audit entry (no candidate) in the same transaction as the change.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.utils import timezone

from audit.services import Change, record_changes
from candidates.models import Candidate
from identity.access import scope_directorates
from identity.models import Role

from .models import (
    Academy,
    Directorate,
    ExamCentre,
    ExamSession,
    School,
    SessionWindow,
    Track,
    TrackSubject,
    WindowState,
)

COUNTRY_TIME_ZONE = "Africa/Casablanca"


# -- Scope ------------------------------------------------------------------------------------


def scope_academies(user, queryset: QuerySet | None = None) -> QuerySet:
    queryset = queryset if queryset is not None else Academy.objects.all()
    if not user.is_authenticated:
        return queryset.none()
    if user.role == Role.MINISTRY:
        return queryset
    if user.role == Role.ACADEMY:
        return queryset.filter(pk=user.academy_id)
    return queryset.none()


def scope_centres(user, queryset: QuerySet | None = None) -> QuerySet:
    queryset = queryset if queryset is not None else ExamCentre.objects.all()
    if not user.is_authenticated:
        return queryset.none()
    if user.role == Role.MINISTRY:
        return queryset
    if user.role == Role.ACADEMY:
        return queryset.filter(directorate__academy_id=user.academy_id)
    return queryset.none()


def _require_directorate_in_scope(user, directorate: Directorate) -> None:
    if not scope_directorates(user, Directorate.objects.filter(pk=directorate.pk)).exists():
        raise PermissionDenied("this directorate is outside your academy")


# -- What the pages show ----------------------------------------------------------------------


@dataclass
class AcademyRow:
    academy: Academy
    directorates: int
    schools: int
    centres: int
    candidates: int


def _counts(rows: Iterable[dict[str, Any]], key: str) -> dict[int, int]:
    return {row[key]: row["n"] for row in rows}


def academy_rows(user, session: ExamSession | None) -> list[AcademyRow]:
    """The academies in the user's scope with their counts: five queries whatever the size."""
    academies = list(scope_academies(user))
    ids = [a.pk for a in academies]
    directorates = _counts(
        Directorate.objects.filter(academy_id__in=ids).values("academy_id").annotate(n=Count("pk")),
        "academy_id",
    )
    schools = _counts(
        School.objects.filter(directorate__academy_id__in=ids)
        .values("directorate__academy_id")
        .annotate(n=Count("pk")),
        "directorate__academy_id",
    )
    centres = _counts(
        ExamCentre.objects.filter(directorate__academy_id__in=ids)
        .values("directorate__academy_id")
        .annotate(n=Count("pk")),
        "directorate__academy_id",
    )
    candidates: dict[int, int] = {}
    if session is not None:
        candidates = _counts(
            Candidate.objects.filter(session=session, school__directorate__academy_id__in=ids)
            .values("school__directorate__academy_id")
            .annotate(n=Count("pk")),
            "school__directorate__academy_id",
        )
    return [
        AcademyRow(
            a,
            directorates.get(a.pk, 0),
            schools.get(a.pk, 0),
            centres.get(a.pk, 0),
            candidates.get(a.pk, 0),
        )
        for a in academies
    ]


def academy_structure(academy: Academy, session: ExamSession | None) -> list[Directorate]:
    """The directorates of an academy, each with its schools (and their candidate count in the
    session) and its exam centres, in three queries."""
    in_session = Q(candidates__session=session) if session else Q(pk__in=[])
    schools = School.objects.annotate(candidate_count=Count("candidates", filter=in_session))
    return list(
        Directorate.objects.filter(academy=academy).prefetch_related(
            Prefetch("schools", queryset=schools.order_by("code")),
            Prefetch("centres", queryset=ExamCentre.objects.order_by("code")),
        )
    )


@dataclass
class WindowRow:
    window: SessionWindow
    state: str
    state_label: str


def window_rows(
    session: ExamSession | None, now: datetime.datetime | None = None
) -> list[WindowRow]:
    """The calendar windows of a session, in order, with their state now."""
    if session is None:
        return []
    now = now or timezone.now()
    rows = []
    for window in session.windows.order_by("opens_at"):
        state = window.state(now)
        rows.append(WindowRow(window, str(state), str(WindowState(state).label)))
    return rows


def tracks_with_subjects() -> list[Track]:
    return list(
        Track.objects.prefetch_related(
            Prefetch(
                "subjects",
                queryset=TrackSubject.objects.select_related("subject").order_by(
                    "component", "subject__code"
                ),
            )
        )
    )


# -- Audited changes --------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(instance: models.Model | None, fields: Iterable[str]) -> dict[str, Any]:
    """The audited state of an object: attribute -> JSON-safe value (foreign keys as ids)."""
    if instance is None:
        return {}
    state = {}
    for name in fields:
        field = instance._meta.get_field(name)
        state[field.attname] = _json_value(getattr(instance, field.attname))
    return state


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after[k]] + [k for k in before if k not in after]
    return {k: before[k] for k in keys if k in before}, {k: after[k] for k in keys if k in after}


def _locked_copy(instance: models.Model) -> models.Model | None:
    """What the database holds now (a bound ModelForm has already changed `instance`)."""
    if instance.pk is None:
        return None
    return type(instance).objects.select_for_update().get(pk=instance.pk)


def _save_form(form: ModelForm, actor, object_type: str, reason: str = "") -> models.Model:
    fields = list(form._meta.fields)
    before = snapshot(_locked_copy(form.instance), fields)
    created = form.instance.pk is None
    instance = form.save()
    after = snapshot(instance, fields)
    old, new = _diff(before, after)
    if created or new:
        record_changes(
            actor,
            [
                Change(
                    action=f"{object_type}.{'create' if created else 'update'}",
                    object_type=object_type,
                    object_id=str(instance.pk),
                    before=old,
                    after=after if created else new,
                    reason=reason,
                )
            ],
        )
    return instance


@transaction.atomic
def save_school(form: ModelForm, actor) -> School:
    """Create or edit a school in a directorate of the actor's academy."""
    _require_directorate_in_scope(actor, form.cleaned_data["directorate"])
    if form.instance.pk is not None:
        _require_directorate_in_scope(actor, Directorate(pk=form.initial["directorate"]))
    return _save_form(form, actor, "school")


@transaction.atomic
def save_exam_centre(form: ModelForm, actor) -> ExamCentre:
    """Create or edit an exam centre in a directorate of the actor's academy."""
    _require_directorate_in_scope(actor, form.cleaned_data["directorate"])
    if form.instance.pk is not None:
        _require_directorate_in_scope(actor, Directorate(pk=form.initial["directorate"]))
    return _save_form(form, actor, "exam_centre")


def _require_ministry(actor) -> None:
    if actor.role != Role.MINISTRY:
        raise PermissionDenied("only ministry staff manage sessions, calendars and tracks")


@transaction.atomic
def save_exam_session(form: ModelForm, actor, make_current: bool) -> ExamSession:
    """Create or edit a session; making it current ends the current status of any other."""
    _require_ministry(actor)
    changes: list[Change] = []
    if make_current:
        others = ExamSession.objects.select_for_update().filter(is_current=True)
        if form.instance.pk is not None:
            others = others.exclude(pk=form.instance.pk)
        for other in others:
            ExamSession.objects.filter(pk=other.pk).update(is_current=False)
            changes.append(
                Change(
                    action="exam_session.update",
                    object_type="exam_session",
                    object_id=str(other.pk),
                    before={"is_current": True},
                    after={"is_current": False},
                    reason="another session was made current",
                )
            )
    fields = [*form._meta.fields, "is_current"]
    before = snapshot(_locked_copy(form.instance), fields)
    created = form.instance.pk is None
    session = form.save(commit=False)
    session.is_current = make_current
    session.save()
    after = snapshot(session, fields)
    old, new = _diff(before, after)
    if created or new:
        changes.append(
            Change(
                action=f"exam_session.{'create' if created else 'update'}",
                object_type="exam_session",
                object_id=str(session.pk),
                before=old,
                after=after if created else new,
            )
        )
    record_changes(actor, changes)
    return session


@transaction.atomic
def save_session_window(form: ModelForm, actor) -> SessionWindow:
    """Create or edit a calendar window of a session (closing after it opens)."""
    _require_ministry(actor)
    return _save_form(form, actor, "session_window")


def _track_subjects(track: Track) -> list[str]:
    return sorted(
        f"{ts.subject.code}/{ts.component}/{ts.coefficient}"
        for ts in TrackSubject.objects.filter(track=track).select_related("subject")
    )


@transaction.atomic
def save_track(form: ModelForm, formset: BaseInlineFormSet, actor) -> Track:
    """Create or edit a track and its subjects with their coefficients, as one audit entry."""
    _require_ministry(actor)
    fields = list(form._meta.fields)
    current = _locked_copy(form.instance)
    before = snapshot(current, fields)
    if current is not None:
        before["subjects"] = _track_subjects(current)
    created = form.instance.pk is None
    track = form.save()
    formset.instance = track
    formset.save()
    after = snapshot(track, fields)
    after["subjects"] = _track_subjects(track)
    old, new = _diff(before, after)
    if created or new:
        record_changes(
            actor,
            [
                Change(
                    action=f"track.{'create' if created else 'update'}",
                    object_type="track",
                    object_id=str(track.pk),
                    before=old,
                    after=after if created else new,
                )
            ],
        )
    return track
