"""The candidate's application pages and the commission's pages. Thin: who asks, what is in
their scope, the form, then scholarships.services where the rules live."""

from __future__ import annotations

import json
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from candidates.models import Candidate
from exams.models import ExamSession
from identity.access import candidate_required, role_required, staff_required
from identity.models import Role

from . import charts, services
from .forms import (
    AppealDecisionForm,
    AppealForm,
    DecisionForm,
    DocumentForm,
    FilterForm,
    IdentityForm,
    IncomesForm,
    MemberForm,
    RegisterImportForm,
    RegistersForm,
    StudiesForm,
    VersionForm,
)
from .models import Application, ApplicationDocument, DocumentKind, Status

STEP_FORMS = {
    "identity": IdentityForm,
    "incomes": IncomesForm,
    "registers": RegistersForm,
    "studies": StudiesForm,
}


def _my_file(request: HttpRequest) -> Candidate:
    candidate = (
        Candidate.objects.filter(user=request.user)
        .select_related("session", "school__directorate__academy", "track")
        .order_by("-session__is_current", "-session__year")
        .first()
    )
    if candidate is None:
        raise Http404
    return candidate


def _my_application(request: HttpRequest) -> tuple[Candidate, Application]:
    candidate = _my_file(request)
    application = services.application_of(candidate)
    if application is None:
        raise Http404
    return candidate, application


def _steps(application: Application, current: str = "") -> list[dict]:
    return [
        {
            "name": name,
            "label": services.step_label(name),
            "done": name in application.steps_done,
            "current": name == current,
            "number": index,
        }
        for index, name in enumerate(services.STEPS, start=1)
    ]


@candidate_required
def mine(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    programme = services.programme_for(candidate)
    version = programme.current_version() if programme else None
    application = services.application_of(candidate)
    context = {
        "candidate": candidate,
        "window": services.window_of(version),
        "version": version,
        "application": application,
        "has_cnie": bool(candidate.cnie_number),
    }
    if application is not None:
        context.update(
            {
                "steps": _steps(application),
                "events": application.events.all(),
                "can_appeal": services.can_appeal(application),
                "appeal_deadline": services.appeal_deadline(application),
                "appeal_form": AppealForm(),
                "void_reasons": [
                    services.reason_message(r, version) for r in application.void_reasons
                ],
            }
        )
    return render(request, "scholarships/mine.html", context)


@candidate_required
@require_POST
def start(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    try:
        services.start_application(candidate, request.user)
    except services.ScholarshipRefused as refusal:
        messages.error(request, refusal.message)
        return redirect("scholarships:mine")
    return redirect("scholarships:step", step="identity")


def _next_step(step: str) -> str | None:
    index = services.STEPS.index(step)
    return services.STEPS[index + 1] if index + 1 < len(services.STEPS) else None


def _initial(application: Application, step: str) -> dict:
    form_class = STEP_FORMS.get(step)
    if form_class is None:
        return {}
    initial = {
        name: getattr(application, name)
        for name in form_class.base_fields
        if hasattr(application, name)
    }
    if step == "identity" and "identity" in application.steps_done:
        initial["confirm"] = True
    return initial


@candidate_required
@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, step: str) -> HttpResponse:
    if step not in services.STEPS:
        raise Http404
    candidate, application = _my_application(request)
    if application.status != Status.DRAFT:
        return redirect("scholarships:mine")
    status = 200
    form_class = STEP_FORMS.get(step)
    form = form_class(initial=_initial(application, step)) if form_class else None
    member_form = MemberForm() if step == "household" else None
    document_form = DocumentForm() if step == "documents" else None
    if request.method == "POST":
        try:
            done = _post_step(request, application, step)
        except services.ScholarshipRefused as refusal:
            messages.error(request, refusal.message)
            done = None
        if isinstance(done, HttpResponse):
            return done
        form, member_form, document_form = done or (form, member_form, document_form)
        status = 400
    version = application.programme.current_version()
    return render(
        request,
        "scholarships/step.html",
        {
            "candidate": candidate,
            "application": application,
            "step": step,
            "step_label": services.step_label(step),
            "steps": _steps(application, step),
            "next_step": _next_step(step),
            "form": form,
            "member_form": member_form,
            "members": application.members.all() if step == "household" else (),
            "document_form": document_form,
            "document_rows": _document_rows(application, version) if step == "documents" else (),
            "max_mb": f"{version.max_document_bytes / (1024 * 1024):g}",
        },
        status=status,
    )


def _document_rows(application: Application, version) -> list[dict]:
    current = services.current_documents(application)
    return [
        {
            "kind": kind,
            "label": label,
            "required": kind in version.required_documents,
            "document": current.get(kind),
        }
        for kind, label in DocumentKind.choices
        if kind in version.required_documents or kind in current
    ]


def _post_step(request: HttpRequest, application: Application, step: str):
    """Returns a redirect when done, or the bound forms to show again with their errors."""
    user = request.user
    following = _next_step(step)
    after = (
        redirect("scholarships:step", step=following)
        if following
        else redirect("scholarships:review")
    )
    if step == "household":
        if "delete" in request.POST:
            member_id = request.POST.get("delete", "")
            if not member_id.isdigit():
                raise Http404
            services.remove_member(application, user, int(member_id))
            return redirect("scholarships:step", step="household")
        if "continue" in request.POST:
            services.save_step(application, user, "household", {})
            return after
        member_form = MemberForm(request.POST)
        if member_form.is_valid():
            services.add_member(application, user, member_form.cleaned_data)
            messages.success(request, _("The household member was added."))
            return redirect("scholarships:step", step="household")
        return None, member_form, None
    if step == "documents":
        if "continue" in request.POST:
            services.save_step(application, user, "documents", {})
            return after
        document_form = DocumentForm(request.POST, request.FILES)
        if document_form.is_valid():
            try:
                services.upload_document(
                    application,
                    user,
                    document_form.cleaned_data["kind"],
                    document_form.cleaned_data["file"],
                )
            except services.ScholarshipRefused as refusal:
                document_form.add_error(
                    "file" if refusal.field == "file" else None, refusal.message
                )
                return None, None, document_form
            messages.success(request, _("The document was saved."))
            return redirect("scholarships:step", step="documents")
        return None, None, document_form
    form = STEP_FORMS[step](request.POST)
    if form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if k != "confirm"}
        services.save_step(application, user, step, values)
        messages.success(request, _("Saved. You can continue now or later, on any device."))
        return after
    return form, None, None


@candidate_required
def review(request: HttpRequest) -> HttpResponse:
    candidate, application = _my_application(request)
    version = application.programme.current_version()
    reasons = [
        services.reason_message(r, version) for r in services.eligibility_reasons(application)
    ]
    return render(
        request,
        "scholarships/review.html",
        {
            "candidate": candidate,
            "application": application,
            "steps": _steps(application, "review"),
            "missing": [services.step_label(s) for s in services.missing_steps(application)],
            "reasons": reasons,
            "members": application.members.all(),
            "documents": services.current_documents(application).values(),
            "window": services.window_of(version),
        },
    )


@candidate_required
@require_POST
def submit(request: HttpRequest) -> HttpResponse:
    candidate, application = _my_application(request)
    try:
        services.submit(application, request.user)
    except services.ScholarshipRefused as refusal:
        messages.error(request, refusal.message)
        for reason in refusal.reasons:
            messages.error(request, reason)
        if application.status == Status.DRAFT:
            return redirect("scholarships:review")
        return redirect("scholarships:mine")
    messages.success(request, _("Your application is submitted. Keep its reference."))
    return redirect("scholarships:receipt")


@candidate_required
def receipt(request: HttpRequest) -> HttpResponse:
    candidate, application = _my_application(request)
    if application.status == Status.DRAFT:
        return redirect("scholarships:review")
    return render(
        request,
        "scholarships/receipt.html",
        {"candidate": candidate, "application": application},
    )


@candidate_required
@require_POST
def appeal(request: HttpRequest) -> HttpResponse:
    _candidate, application = _my_application(request)
    form = AppealForm(request.POST)
    if form.is_valid():
        try:
            services.file_appeal(application, request.user, form.cleaned_data["text"])
        except services.ScholarshipRefused as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, _("Your appeal was sent to the commission."))
    else:
        messages.error(request, _("Explain why you appeal."))
    return redirect("scholarships:mine")


def _document_response(document: ApplicationDocument, viewer) -> HttpResponse:
    try:
        data = services.read_document(document, viewer)
    except services.DocumentUnavailable:
        raise Http404 from None
    response = HttpResponse(data, content_type=document.content_type)
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}.get(
        document.content_type, "bin"
    )
    response["Content-Disposition"] = f'inline; filename="{document.kind}.{extension}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@candidate_required
def my_document(request: HttpRequest, pk: int) -> HttpResponse:
    document = get_object_or_404(
        ApplicationDocument.objects.select_related("application"),
        pk=pk,
        application__candidate__user=request.user,
    )
    return _document_response(document, request.user)


# -- The commission ---------------------------------------------------------------------------


def commission_required(view):
    """Staff who sit on the commission; others get 403."""

    @staff_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        member = services.membership(request.user)
        if member is None:
            raise PermissionDenied
        request.commission_member = member
        return view(request, *args, **kwargs)

    return wrapper


def _programme_or_404():
    programme = services.current_programme()
    if programme is None:
        raise Http404
    return programme


def _filtered(request: HttpRequest, programme) -> tuple[FilterForm, object]:
    national = request.commission_member.academy_id is None
    form = FilterForm(request.GET or None, national=national)
    queryset = services.applications_in_scope(request.user).filter(programme=programme)
    if form.is_valid():
        data = form.cleaned_data
        if data.get("academy"):
            queryset = queryset.filter(candidate__school__directorate__academy=data["academy"])
        if data["status"]:
            queryset = queryset.filter(status=data["status"])
        if data["decision"]:
            queryset = queryset.filter(decision=data["decision"])
        if data["q"]:
            q = data["q"].strip().upper()
            queryset = queryset.filter(
                Q(reference=q) | Q(candidate__massar_code=q) | Q(rsu_number=q)
            )
        if data["flagged"]:
            queryset = queryset.filter(
                rsu_number__in=services.duplicate_rsu_numbers(
                    services.applications_in_scope(request.user).filter(programme=programme)
                )
            )
    return form, queryset


@commission_required
def commission_list(request: HttpRequest) -> HttpResponse:
    programme = _programme_or_404()
    form, queryset = _filtered(request, programme)
    queryset = queryset.select_related("candidate__school__directorate__academy").annotate(
        size=Count("members")
    )
    queryset = queryset.order_by("rank", "submitted_at", "pk")
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    on_page = {a.rsu_number for a in page.object_list if a.rsu_number}
    duplicates = set(
        services.duplicate_rsu_numbers(
            services.applications_in_scope(request.user).filter(
                programme=programme, rsu_number__in=on_page
            )
        ).values_list("rsu_number", flat=True)
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "scholarships/commission/list.html",
        {
            "programme": programme,
            "version": programme.current_version(),
            "form": form,
            "page": page,
            "duplicates": duplicates,
            "query": query.urlencode(),
            "is_national": request.commission_member.academy_id is None,
        },
    )


@commission_required
@require_http_methods(["GET", "POST"])
def commission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = get_object_or_404(
        services.applications_in_scope(request.user).select_related(
            "candidate__school__directorate__academy", "candidate__track", "version"
        ),
        pk=pk,
    )
    form = DecisionForm(request.POST or None, initial={"decision": application.proposal or None})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.decide(
                    application,
                    request.user,
                    form.cleaned_data["decision"],
                    form.cleaned_data["reason"],
                )
            except services.ScholarshipRefused as refusal:
                form.add_error("reason" if refusal.field == "reason" else None, refusal.message)
            else:
                messages.success(request, _("The decision was recorded; the candidate is told."))
                return redirect("scholarships:commission_list")
        status = 400
    return render(
        request,
        "scholarships/commission/detail.html",
        {
            "application": application,
            "candidate": application.candidate,
            "members": application.members.all(),
            "documents": services.current_documents(application).values(),
            "checks": services.checks(application),
            "form": form,
            "appeal_form": AppealDecisionForm(),
            "events": application.events.all(),
        },
        status=status,
    )


@commission_required
@require_POST
def commission_appeal(request: HttpRequest, pk: int) -> HttpResponse:
    application = get_object_or_404(services.applications_in_scope(request.user), pk=pk)
    form = AppealDecisionForm(request.POST)
    if form.is_valid():
        outcome = form.cleaned_data["outcome"]
        try:
            services.decide_appeal(
                application,
                request.user,
                outcome != "dismiss",
                outcome if outcome != "dismiss" else "",
                form.cleaned_data["reason"],
            )
        except services.ScholarshipRefused as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, _("The appeal was decided; the candidate is told."))
    else:
        messages.error(request, _("Choose the outcome and give the reason."))
    return redirect("scholarships:commission_detail", pk=pk)


@commission_required
def commission_document(request: HttpRequest, pk: int) -> HttpResponse:
    document = get_object_or_404(
        ApplicationDocument.objects.select_related("application").filter(
            application__in=services.applications_in_scope(request.user)
        ),
        pk=pk,
    )
    return _document_response(document, request.user)


@commission_required
@require_POST
def commission_bulk(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("applications") if v.isdigit()]
    selected = list(services.applications_in_scope(request.user).filter(pk__in=ids))
    decision = request.POST.get("decision", "")
    if not selected:
        messages.error(request, _("Select at least one application."))
        return redirect("scholarships:commission_list")
    if decision not in ("proposal", "full", "half", "refused"):
        messages.error(request, _("Choose a decision."))
        return redirect("scholarships:commission_list")
    reason = request.POST.get("reason", "").strip()
    if decision == "refused" and not reason:
        messages.error(request, _("Give the reason of the refusal: the candidate will read it."))
        return redirect("scholarships:commission_list")
    done, refusals = services.decide_in_bulk(selected, request.user, decision, reason)
    messages.success(request, _("%(n)s applications decided.") % {"n": done})
    for refusal in refusals[:20]:
        messages.warning(request, refusal)
    return redirect("scholarships:commission_list")


@commission_required
@require_POST
def commission_rank(request: HttpRequest) -> HttpResponse:
    programme = _programme_or_404()
    try:
        summary = services.rank_programme(programme, request.user)
    except services.ScholarshipRefused as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            _(
                "Ranking done: %(full)s full grants, %(half)s half grants and %(refused)s "
                "refusals proposed, for %(amount)s MAD."
            )
            % summary,
        )
    return redirect("scholarships:commission_list")


@commission_required
@require_http_methods(["GET", "POST"])
def commission_register(request: HttpRequest) -> HttpResponse:
    programme = _programme_or_404()
    form = RegisterImportForm(request.POST or None, request.FILES or None)
    errors: list = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > 50 * 1024 * 1024:
                form.add_error("file", _("The file is too large."))
            else:
                try:
                    count = services.import_register(programme, request.user, upload.read())
                except services.ScholarshipRefused as refusal:
                    form.add_error(None, refusal.message)
                except services.RegisterImportRejected as rejected:
                    errors = rejected.errors[:500]
                    form.add_error(
                        None,
                        _("Nothing was imported: %(n)s errors, listed below.")
                        % {"n": len(rejected.errors)},
                    )
                else:
                    messages.success(request, _("%(n)s households imported.") % {"n": count})
                    return redirect("scholarships:commission_register")
        status = 400
    return render(
        request,
        "scholarships/commission/register.html",
        {
            "form": form,
            "errors": errors,
            "count": programme.register.count(),
        },
        status=status,
    )


@commission_required
def commission_export(request: HttpRequest, fmt: str) -> HttpResponse:
    programme = _programme_or_404()
    _form, queryset = _filtered(request, programme)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "xlsx":
        data = services.export_xlsx(queryset)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        data = services.export_csv(queryset)
        content_type = "text/csv; charset=utf-8"
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="scholarships-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@commission_required
def commission_statistics(request: HttpRequest) -> HttpResponse:
    programme = _programme_or_404()
    dimension = request.GET.get("by", "academy")
    if dimension not in services.DIMENSIONS:
        dimension = "academy"
    queryset = services.applications_in_scope(request.user).filter(programme=programme)
    rows = services.statistics(queryset, dimension)
    return render(
        request,
        "scholarships/commission/statistics.html",
        {
            "rows": rows,
            "dimension": dimension,
            "dimensions": [
                ("academy", _("Academy")),
                ("directorate", _("Directorate")),
                ("sex", _("Sex")),
            ],
            "chart": charts.grants_chart(rows),
            "amount_chart": charts.amount_chart(rows),
        },
    )


@role_required(Role.MINISTRY)
@require_http_methods(["GET", "POST"])
def programme_edit(request: HttpRequest) -> HttpResponse:
    """Ministry staff edit the programme of the current session (each save a new version);
    the first save creates the programme."""
    session = ExamSession.current()
    if session is None:
        raise Http404
    programme = services.current_programme(session)
    version = programme.current_version() if programme else None
    initial = services.version_values(version) if version else services.default_values(session)
    initial["opens_at"] = timezone.localtime(initial["opens_at"]).strftime("%Y-%m-%dT%H:%M")
    initial["closes_at"] = timezone.localtime(initial["closes_at"]).strftime("%Y-%m-%dT%H:%M")
    initial["weights"] = json.dumps(initial["weights"])
    form = VersionForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            values = dict(form.cleaned_data)
            reason = values.pop("reason")
            try:
                services.save_programme(session, request.user, values, reason)
            except services.ScholarshipRefused as refusal:
                field = refusal.field if refusal.field in form.fields else None
                form.add_error(field, refusal.message)
            else:
                messages.success(request, _("A new version of the programme was saved."))
                return redirect("scholarships:programme")
        status = 400
    return render(
        request,
        "scholarships/commission/programme.html",
        {
            "form": form,
            "version": version,
            "versions": programme.versions.all() if programme else (),
        },
        status=status,
    )
