"""Data verification: the candidate's page, their reports, and the school's queue and dashboards.

Views are thin: they check who asks and what is in their scope, read the form and call
verification.services, where the rules live.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from candidates.file_services import client_address
from candidates.models import Candidate
from exams.models import ExamSession
from identity.access import candidate_required, staff_required
from identity.models import Role

from . import services
from .forms import BulkDecisionForm, DecisionForm, ReportForm
from .models import CorrectionRequest, FileCheck

SEGMENTS = (
    ("verified", "#1b6b3a", gettext_lazy("Verified")),
    ("pending", "#6b7580", gettext_lazy("Not verified yet")),
    ("reported", "#a3600f", gettext_lazy("Errors reported")),
)


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


def _page(request: HttpRequest, candidate: Candidate, form: ReportForm, status: int = 200):
    check = FileCheck.objects.filter(candidate=candidate).first()
    allowed, why = services.can_confirm(candidate)
    return render(
        request,
        "verification/mine.html",
        {
            "candidate": candidate,
            "window": services.verification_window(candidate.session_id),
            "rows": services.file_rows(candidate, check),
            "check": check,
            "can_confirm": allowed,
            "confirm_refusal": why,
            "reports": candidate.correction_requests.order_by("-submitted_at", "-pk"),
            "form": form,
        },
        status=status,
    )


@candidate_required
def mine(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    initial = {"field": request.GET.get("field", "")}
    return _page(request, candidate, ReportForm(initial=initial))


@candidate_required
@require_POST
def confirm(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    try:
        services.confirm_file(candidate, request.user)
    except services.VerificationRefused as refusal:
        messages.error(request, refusal.message)
        return _page(request, candidate, ReportForm(), status=400)
    messages.success(request, _("Thank you: your data is confirmed."))
    return redirect("verification:mine")


@candidate_required
@require_POST
def report(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    form = ReportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.report_error(
                candidate,
                request.user,
                form.cleaned_data["field"],
                form.cleaned_data["proposed_value"],
                form.cleaned_data["evidence"],
                form.cleaned_data["comment"],
            )
        except services.VerificationRefused as refusal:
            if refusal.field in form.fields:
                form.add_error(refusal.field, refusal.message)
            else:
                form.add_error(None, refusal.message)
        else:
            messages.success(
                request, _("Your report was sent to your school. You will be told its decision.")
            )
            return redirect("verification:mine")
    messages.error(request, _("Your report was not sent: see the errors below."))
    return _page(request, candidate, form, status=400)


def _evidence_response(report: CorrectionRequest, request: HttpRequest) -> HttpResponse:
    try:
        data = services.read_evidence(report, request.user, client_address(request))
    except services.EvidenceUnavailable:
        raise Http404 from None
    response = HttpResponse(data, content_type=report.evidence_content_type)
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}.get(
        report.evidence_content_type, "bin"
    )
    response["Content-Disposition"] = f'inline; filename="evidence-{report.pk}.{extension}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@candidate_required
def my_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(CorrectionRequest, pk=pk, candidate__user=request.user)
    return _evidence_response(report, request)


# -- Staff ------------------------------------------------------------------------------------


@staff_required
def queue(request: HttpRequest) -> HttpResponse:
    reports = list(services.pending_queue(request.user).order_by("submitted_at", "pk")[:200])
    rows = [
        (
            r,
            services.field_label(r.field),
            services.is_safe_to_accept(r),
            services.report_findings(r),
        )
        for r in reports
    ]
    return render(request, "verification/queue.html", {"rows": rows})


@staff_required
@require_http_methods(["GET", "POST"])
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(services.reports_in_scope(request.user), pk=pk)
    form = DecisionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            accept = form.cleaned_data["decision"] == "accept"
            try:
                services.resolve_correction(
                    report, request.user, accept, form.cleaned_data["reason"]
                )
            except services.VerificationRefused as refusal:
                form.add_error("reason" if refusal.field == "reason" else None, refusal.message)
            else:
                messages.success(
                    request,
                    _("The correction was accepted and the file changed.")
                    if accept
                    else _("The report was rejected; the candidate will read your reason."),
                )
                return redirect("verification:queue")
        status = 400
    return render(
        request,
        "verification/decide.html",
        {
            "report": report,
            "candidate": report.candidate,
            "field_label": services.field_label(report.field),
            "findings": services.report_findings(report),
            "safe": services.is_safe_to_accept(report),
            "form": form,
        },
        status=status,
    )


@staff_required
def staff_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(services.reports_in_scope(request.user), pk=pk)
    return _evidence_response(report, request)


@staff_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("reports") if v.isdigit()]
    selected = list(services.pending_queue(request.user).filter(pk__in=ids))
    if not selected:
        messages.error(request, _("Select at least one report."))
        return redirect("verification:queue")
    form = BulkDecisionForm(request.POST if "confirmed" in request.POST else None)
    if form.is_bound and form.is_valid():
        accept = form.cleaned_data["decision"] == "accept"
        reason = form.cleaned_data["reason"]
        if not accept and not reason.strip():
            form.add_error(
                "reason", _("Give the reason of the rejection: the candidate will read it.")
            )
        else:
            done, skipped = services.resolve_in_bulk(selected, request.user, accept, reason)
            messages.success(request, _("%(n)s reports decided.") % {"n": done})
            if skipped:
                messages.warning(
                    request,
                    _(
                        "%(n)s reports were not accepted in bulk because no identity source "
                        "confirms the proposed value: decide them one by one."
                    )
                    % {"n": len(skipped)},
                )
            return redirect("verification:queue")
    if not form.is_bound:
        form = BulkDecisionForm(initial={"decision": request.POST.get("decision", "reject")})
    return render(
        request,
        "verification/bulk_confirm.html",
        {
            "selected": [
                (r, services.field_label(r.field), services.is_safe_to_accept(r)) for r in selected
            ],
            "form": form,
        },
        status=400 if form.is_bound else 200,
    )


def _chart(rows: list[services.ProgressRow]) -> dict:
    """Geometry of a horizontal stacked bar per row, in SVG units (server-rendered, no
    script): verified, not verified yet and reported; a thin line under it for blocking."""
    height, step, width = 22, 46, 600
    bars = []
    for index, row in enumerate(rows):
        y = index * step + 18
        x = 0.0
        segments = []
        for name, colour, label in SEGMENTS:
            value = getattr(row, name)
            share = (value / row.total * width) if row.total else 0
            segments.append(
                {
                    "label": label,
                    "x": round(x, 1),
                    "w": round(share, 1),
                    "fill": colour,
                    "value": value,
                }
            )
            x += share
        blocking_w = (row.blocking / row.total * width) if row.total else 0
        bars.append(
            {
                "row": row,
                "y": y,
                "label_y": y - 4,
                "segments": segments,
                "blocking_w": round(blocking_w, 1),
                "blocking_y": y + height + 2,
            }
        )
    return {"bars": bars, "width": width, "height": len(rows) * step + 12, "bar_height": height}


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    levels = {
        Role.SCHOOL: ["school"],
        Role.ACADEMY: ["directorate", "school"],
        Role.MINISTRY: ["nation", "academy", "directorate", "school"],
    }[request.user.role]
    if request.user.role == Role.ACADEMY:
        levels = ["academy", *levels]
    level = request.GET.get("level", levels[0])
    if level not in levels:
        level = levels[0]
    session = ExamSession.current()
    rows = services.progress(request.user, session, level)
    return render(
        request,
        "verification/dashboard.html",
        {
            "session": session,
            "rows": rows,
            "chart": _chart(rows[:60]),
            "level": level,
            "levels": [(name, services.LEVEL_LABELS[name]) for name in levels],
        },
    )
