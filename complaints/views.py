"""Complaints: the candidate's pages, the academy's queue and review, the statistics.

Views are thin: they check who asks and what is in their scope, read the form and call
complaints.services, where the rules live.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from candidates.file_services import client_address
from candidates.models import Candidate
from exams.models import ExamCentre, Subject
from identity.access import candidate_required, role_required
from identity.models import Role
from identity.ratelimit import RateLimit

from . import services
from .forms import AssignForm, DecisionForm, FileForm, ReturnForm, ScanForm
from .models import Complaint, Status

reviewer_staff = role_required(Role.ACADEMY, Role.MINISTRY)
ministry_only = role_required(Role.MINISTRY)
# A reference is unguessable, and a candidate only ever finds their own; the limit still keeps
# anyone from walking through references.
DETAIL_LIMIT = RateLimit("complaints-detail", limit=60, window=60)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


# -- The candidate ----------------------------------------------------------------------------


def _my_file(request: HttpRequest) -> Candidate:
    candidate = (
        Candidate.objects.filter(user=request.user)
        .select_related("session", "school", "track")
        .order_by("-session__is_current", "-session__year")
        .first()
    )
    if candidate is None:
        raise Http404
    return candidate


def _subject_label(subject: Subject) -> str:
    return services._subject_name(subject)


def _mine_page(request: HttpRequest, candidate: Candidate, form: FileForm | None, status=200):
    sitting = services.filing_sitting(candidate)
    window = services.complaint_window(candidate.session, sitting)
    lines = services.complaint_subjects(candidate, sitting)
    open_lines = [line for line in lines if line.complaint is None]
    if form is None:
        form = FileForm(subjects=_choices(open_lines))
    published = services.current_published_result(candidate, sitting) is not None
    return _no_store(
        render(
            request,
            "complaints/mine.html",
            {
                "candidate": candidate,
                "window": window,
                "published": published,
                "lines": lines,
                "can_file": window.is_open and published and bool(open_lines),
                "form": form,
                "complaints": services.candidate_complaints(candidate).order_by("-filed_at"),
            },
            status=status,
        )
    )


def _choices(lines) -> list[tuple[int, str]]:
    return [
        (line.subject.pk, f"{_subject_label(line.subject)} ({line.mark:.2f}/20)") for line in lines
    ]


@candidate_required
def mine(request: HttpRequest) -> HttpResponse:
    return _mine_page(request, _my_file(request), None)


@candidate_required
@require_POST
def file(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    sitting = services.filing_sitting(candidate)
    # Every national subject is offered to the form, so that a subject already complained
    # about gets the service's clear refusal rather than a generic "not a valid choice".
    all_subjects = [
        (s.pk, _subject_label(s))
        for s in Subject.objects.filter(
            pk__in=[line.subject.pk for line in services.complaint_subjects(candidate, sitting)]
        )
    ]
    form = FileForm(request.POST, subjects=all_subjects)
    if form.is_valid():
        subject = Subject.objects.get(pk=form.cleaned_data["subject"])
        try:
            complaint = services.file_complaint(
                candidate,
                subject,
                form.cleaned_data["kind"],
                form.cleaned_data["comment"],
                request.user,
            )
        except services.ComplaintRefused as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, refusal.message)
        else:
            messages.success(
                request,
                _("Your complaint was filed. Keep its reference: %(reference)s.")
                % {"reference": complaint.reference},
            )
            return redirect("complaints:detail", reference=complaint.reference)
    return _mine_page(request, candidate, form, status=400)


@candidate_required
def detail(request: HttpRequest, reference: str) -> HttpResponse:
    if not DETAIL_LIMIT.hit(f"user:{request.user.pk}").allowed:
        response = render(request, "complaints/limited.html", status=429)
        response["Retry-After"] = "60"
        return response
    complaint = get_object_or_404(
        Complaint.objects.select_related("subject", "candidate"),
        reference=reference,
        candidate__user=request.user,
    )
    return _no_store(
        render(
            request,
            "complaints/detail.html",
            {"complaint": complaint, "subject_name": _subject_label(complaint.subject)},
        )
    )


# -- Academy staff ----------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@reviewer_staff
def queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    filters = services.QueueFilters(
        subject=_int(request.GET.get("subject")),
        centre=_int(request.GET.get("centre")),
        status=status if status in Status.values else "",
        mine=request.GET.get("mine") == "1",
    )
    qs = services.queue(request.user, filters)
    rows = list(qs[:200])
    summary = services.queue_summary(request.user)
    return render(
        request,
        "complaints/queue.html",
        {
            "rows": [(c, services.step_deadline(c)) for c in rows],
            "total": qs.count(),
            "summary": summary,
            "filters": filters,
            "subjects": Subject.objects.filter(pk__in={s["subject_id"] for s in summary}).order_by(
                "code"
            ),
            "centres": ExamCentre.objects.filter(
                pk__in={s["exam_centre_id"] for s in summary if s["exam_centre_id"]}
            ).order_by("code"),
            "statuses": Status.choices,
            "now": timezone.now(),
        },
    )


@reviewer_staff
def overdue(request: HttpRequest) -> HttpResponse:
    qs = services.overdue(services.complaints_in_scope(request.user)).order_by("filed_at", "pk")
    rows = list(qs[:200])
    return render(
        request,
        "complaints/overdue.html",
        {
            "rows": [(c, services.step_deadline(c)) for c in rows],
            "total": qs.count(),
            "now": timezone.now(),
        },
    )


def _review_page(request: HttpRequest, complaint: Complaint, forms: dict | None = None, status=200):
    reviewers = [(u.pk, u.get_username()) for u in services.reviewers_for(complaint)]
    context = {
        "complaint": complaint,
        "candidate": complaint.candidate,
        "subject_name": _subject_label(complaint.subject),
        "current_mark": services._current_mark(complaint),
        "deadline": services.step_deadline(complaint),
        "can_decide": services.can_decide(request.user, complaint),
        "is_own_proposal": complaint.reviewer_id == request.user.pk,
        "assign_form": AssignForm(
            initial={"reviewer": complaint.assigned_to_id}, reviewers=reviewers
        ),
        "scan_form": ScanForm(),
        "decision_form": DecisionForm(),
        "return_form": ReturnForm(),
        "history": services.history(complaint),
        "accesses": complaint.accesses.all()[:50],
    }
    context.update(forms or {})
    return _no_store(render(request, "complaints/review.html", context, status=status))


def _staff_complaint(request: HttpRequest, pk: int) -> Complaint:
    return get_object_or_404(services.complaints_in_scope(request.user), pk=pk)


@reviewer_staff
def review(request: HttpRequest, pk: int) -> HttpResponse:
    return _review_page(request, _staff_complaint(request, pk))


def _refused(request, complaint, refusal, form_name: str, form) -> HttpResponse:
    # A field's problem is shown at the field; any other at the top of the page, which every
    # visitor sees (the forms are not shown to those who may not decide).
    if refusal.field and refusal.field in form.fields:
        form.add_error(refusal.field, refusal.message)
    else:
        messages.error(request, refusal.message)
    return _review_page(request, complaint, {form_name: form}, status=400)


@reviewer_staff
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    complaint = _staff_complaint(request, pk)
    reviewers = [(u.pk, u.get_username()) for u in services.reviewers_for(complaint)]
    form = AssignForm(request.POST, reviewers=reviewers)
    if not form.is_valid():
        return _review_page(request, complaint, {"assign_form": form}, status=400)
    try:
        reviewer = services.reviewers_for(complaint).get(pk=form.cleaned_data["reviewer"])
        services.assign_complaint(complaint, reviewer, request.user)
    except services.ComplaintRefused as refusal:
        return _refused(request, complaint, refusal, "assign_form", form)
    messages.success(request, _("The complaint was assigned."))
    return redirect("complaints:review", pk=complaint.pk)


@reviewer_staff
@require_POST
def upload_scan(request: HttpRequest, pk: int) -> HttpResponse:
    complaint = _staff_complaint(request, pk)
    form = ScanForm(request.POST, request.FILES)
    if not form.is_valid():
        return _review_page(request, complaint, {"scan_form": form}, status=400)
    try:
        services.attach_scan(
            complaint, form.cleaned_data["scan"], request.user, client_address(request)
        )
    except services.ComplaintRefused as refusal:
        return _refused(request, complaint, refusal, "scan_form", form)
    messages.success(request, _("The scan of the answer sheet was stored."))
    return redirect("complaints:review", pk=complaint.pk)


@role_required(Role.ACADEMY)
def scan(request: HttpRequest, pk: int) -> HttpResponse:
    complaint = _staff_complaint(request, pk)
    if not services.can_decide(request.user, complaint):
        raise Http404
    try:
        data = services.read_scan(complaint, request.user, client_address(request))
    except services.ScanUnavailable:
        raise Http404 from None
    response = HttpResponse(data, content_type=complaint.scan_content_type)
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}.get(
        complaint.scan_content_type, "bin"
    )
    response["Content-Disposition"] = (
        f'inline; filename="answer-sheet-{complaint.reference}.{extension}"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    return _no_store(response)


@reviewer_staff
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    complaint = _staff_complaint(request, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _review_page(request, complaint, {"decision_form": form}, status=400)
    accept = form.cleaned_data["decision"] == "accept"
    try:
        services.propose_decision(
            complaint,
            request.user,
            accept,
            form.cleaned_data["finding"],
            form.cleaned_data["reason"],
            form.cleaned_data["corrected_mark"],
        )
    except services.ComplaintRefused as refusal:
        return _refused(request, complaint, refusal, "decision_form", form)
    messages.success(
        request,
        _("The correction awaits the approval of a second reviewer.")
        if accept
        else _("The complaint was rejected; the candidate will read your reason."),
    )
    return redirect("complaints:review", pk=complaint.pk)


@reviewer_staff
@require_POST
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    complaint = _staff_complaint(request, pk)
    try:
        services.approve_correction(complaint, request.user)
    except services.ComplaintRefused as refusal:
        messages.error(request, refusal.message)
        return _review_page(request, complaint, status=400)
    messages.success(
        request,
        _("The correction was approved: the mark changed and the new result is published."),
    )
    return redirect("complaints:review", pk=complaint.pk)


@reviewer_staff
@require_POST
def send_back(request: HttpRequest, pk: int) -> HttpResponse:
    complaint = _staff_complaint(request, pk)
    form = ReturnForm(request.POST)
    if not form.is_valid():
        return _review_page(request, complaint, {"return_form": form}, status=400)
    try:
        services.return_correction(complaint, request.user, form.cleaned_data["note"])
    except services.ComplaintRefused as refusal:
        return _refused(request, complaint, refusal, "return_form", form)
    messages.success(request, _("The correction was sent back to review."))
    return redirect("complaints:review", pk=complaint.pk)


# -- Oversight --------------------------------------------------------------------------------


@reviewer_staff
def statistics(request: HttpRequest) -> HttpResponse:
    qs = services.complaints_in_scope(request.user)
    return render(
        request,
        "complaints/statistics.html",
        {
            "by_academy": services.statistics(qs, ("academy",)),
            "by_subject": services.statistics(qs, ("subject",)),
            "by_centre": services.statistics(qs, ("centre",)),
            "overdue_count": services.overdue(qs).count(),
        },
    )


@ministry_only
def export(request: HttpRequest) -> HttpResponse:
    content = services.export_csv(services.complaints_in_scope(request.user))
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="complaints-statistics-{stamp}.csv"'
    return _no_store(response)
