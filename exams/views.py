"""The structure back office (/staff/structure/): academy and ministry staff.

Academy staff see and manage their own academy (schools, exam centres); ministry staff see the
whole country and manage sessions, calendar windows and tracks. Objects outside the user's
scope are 404; actions reserved to another role are 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from identity.access import role_required, scope_schools
from identity.models import Role

from . import backoffice
from .forms import (
    ExamCentreForm,
    ExamSessionForm,
    SchoolForm,
    SessionWindowForm,
    TrackForm,
    TrackSubjectFormSet,
)
from .models import ExamSession, School, SessionWindow, Track

structure_staff = role_required(Role.ACADEMY, Role.MINISTRY)
ministry_only = role_required(Role.MINISTRY)


def in_country_time(view: Callable) -> Callable:
    """Read and show times in Morocco's time zone, whatever the server's."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        with timezone.override(ZoneInfo(backoffice.COUNTRY_TIME_ZONE)):
            return view(request, *args, **kwargs)

    return wrapper


def _form_page(request: HttpRequest, title: str, form, back_url: str, **extra) -> HttpResponse:
    status = 400 if request.method == "POST" else 200
    context = {"title": title, "form": form, "back_url": back_url, **extra}
    return render(request, "exams/form.html", context, status=status)


# -- Reading ----------------------------------------------------------------------------------


@structure_staff
@in_country_time
def overview(request: HttpRequest) -> HttpResponse:
    session = ExamSession.current()
    return render(
        request,
        "exams/overview.html",
        {
            "session": session,
            "windows": backoffice.window_rows(session),
            "rows": backoffice.academy_rows(request.user, session),
        },
    )


@structure_staff
def academy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    academy = get_object_or_404(backoffice.scope_academies(request.user), pk=pk)
    session = ExamSession.current()
    return render(
        request,
        "exams/academy.html",
        {
            "academy": academy,
            "session": session,
            "directorates": backoffice.academy_structure(academy, session),
        },
    )


@structure_staff
@in_country_time
def session_list(request: HttpRequest) -> HttpResponse:
    return render(request, "exams/sessions.html", {"sessions": ExamSession.objects.all()})


@structure_staff
@in_country_time
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(ExamSession, pk=pk)
    return render(
        request,
        "exams/session.html",
        {"session": session, "windows": backoffice.window_rows(session)},
    )


@structure_staff
def track_list(request: HttpRequest) -> HttpResponse:
    return render(request, "exams/tracks.html", {"tracks": backoffice.tracks_with_subjects()})


# -- Ministry: sessions, calendar windows, tracks ----------------------------------------------


@ministry_only
@require_http_methods(["GET", "POST"])
def session_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    session = get_object_or_404(ExamSession, pk=pk) if pk else None
    form = ExamSessionForm(request.POST or None, instance=session)
    if request.method == "POST" and form.is_valid():
        saved = backoffice.save_exam_session(form, request.user, form.cleaned_data["make_current"])
        messages.success(request, _("The session was saved."))
        return redirect("exams:session", pk=saved.pk)
    title = _("Edit the session") if session else _("New session")
    back = reverse("exams:session", args=[session.pk]) if session else reverse("exams:sessions")
    return _form_page(request, title, form, back)


@ministry_only
@require_http_methods(["GET", "POST"])
@in_country_time
def window_edit(
    request: HttpRequest, session_pk: int | None = None, pk: int | None = None
) -> HttpResponse:
    if pk is not None:
        window = get_object_or_404(SessionWindow.objects.select_related("session"), pk=pk)
        session = window.session
    else:
        window = None
        session = get_object_or_404(ExamSession, pk=session_pk)
    form = SessionWindowForm(request.POST or None, instance=window, session=session)
    if request.method == "POST" and form.is_valid():
        backoffice.save_session_window(form, request.user)
        messages.success(request, _("The calendar window was saved."))
        return redirect("exams:session", pk=session.pk)
    title = _("Edit a calendar window") if window else _("New calendar window")
    back = reverse("exams:session", args=[session.pk])
    return _form_page(request, title, form, back, subtitle=session.name)


@ministry_only
@require_http_methods(["GET", "POST"])
def track_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    track = get_object_or_404(Track, pk=pk) if pk else None
    form = TrackForm(request.POST or None, instance=track)
    formset = TrackSubjectFormSet(
        request.POST or None, instance=track or Track(), prefix="subjects"
    )
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        backoffice.save_track(form, formset, request.user)
        messages.success(request, _("The track and its coefficients were saved."))
        return redirect("exams:tracks")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "exams/track_form.html",
        {"track": track, "form": form, "formset": formset},
        status=status,
    )


# -- Academy: schools and exam centres ---------------------------------------------------------


@structure_staff
@require_http_methods(["GET", "POST"])
def school_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    school = (
        get_object_or_404(scope_schools(request.user, School.objects.all()), pk=pk) if pk else None
    )
    form = SchoolForm(request.POST or None, instance=school, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved = backoffice.save_school(form, request.user)
        messages.success(request, _("The school was saved."))
        return redirect("exams:academy", pk=saved.directorate.academy_id)
    title = _("Edit the school") if school else _("New school")
    return _form_page(request, title, form, reverse("exams:overview"))


@structure_staff
@require_http_methods(["GET", "POST"])
def centre_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    centre = get_object_or_404(backoffice.scope_centres(request.user), pk=pk) if pk else None
    form = ExamCentreForm(request.POST or None, instance=centre, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved = backoffice.save_exam_centre(form, request.user)
        messages.success(request, _("The exam centre was saved."))
        return redirect("exams:academy", pk=saved.directorate.academy_id)
    title = _("Edit the exam centre") if centre else _("New exam centre")
    return _form_page(request, title, form, reverse("exams:overview"))
