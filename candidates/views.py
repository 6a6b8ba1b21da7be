"""The staff back office for candidate files, and the candidate's own view of their CNIE copy.

Views are thin: they check the scope, read the form and call candidates.file_services.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from exams.models import ExamSession
from identity.access import candidate_required, staff_required

from . import file_services
from .documents import DocumentRejected
from .file_services import CappedPaginator, candidate_in_scope, client_address
from .forms import CandidateFileForm, CandidateFilterForm, CnieUploadForm
from .models import Candidate, CnieDocument

PAGE_SIZE = 50


@staff_required
def candidate_list(request: HttpRequest) -> HttpResponse:
    form = CandidateFilterForm(request.GET, request.user, ExamSession.current())
    queryset = file_services.candidate_list_queryset(request.user, form.filters())
    paginator = CappedPaginator(queryset, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "candidates/list.html",
        {
            "form": form,
            "page": page,
            "paginator": paginator,
            "query_string": query.urlencode(),
        },
    )


@staff_required
def candidate_detail(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = candidate_in_scope(
        request.user,
        pk,
        Candidate.objects.select_related(
            "session", "school__directorate__academy", "track", "user"
        ),
    )
    copies = list(
        CnieDocument.objects.filter(candidate=candidate).select_related("uploaded_by")[:20]
    )
    return render(
        request,
        "candidates/detail.html",
        {
            "candidate": candidate,
            "current_copy": next((c for c in copies if c.is_current), None),
            "copies": copies,
            "sources": file_services.identity_sources(candidate),
            "history": file_services.audit_history(candidate),
            "accesses": file_services.document_accesses(candidate),
            "upload_form": CnieUploadForm(),
            "mrz_form": _mrz_form(request, candidate),
            "mrz_message": request.session.get(_mrz_key(candidate.pk), {}).get("message", ""),
        },
    )


def _mrz_key(pk: int) -> str:
    return f"mrz-ocr-{pk}"


def _mrz_form(request: HttpRequest, candidate: Candidate, data=None):
    from verification.forms import MrzForm

    lines = request.session.get(_mrz_key(candidate.pk), {}).get("lines", [])
    initial = {f"line{i}": line for i, line in enumerate(lines, start=1)}
    return MrzForm(data, initial=initial)


def _read_mrz_after_upload(request: HttpRequest, candidate: Candidate, document) -> None:
    """Run OCR on the uploaded card image and keep its reading for the clerk to confirm."""
    from verification.services import read_card_mrz

    if document.content_type not in ("image/jpeg", "image/png"):
        lines, message = [], _("The copy is a PDF: type the machine-readable zone of the card.")
    else:
        upload = request.FILES["document"]
        upload.seek(0)
        lines, message = read_card_mrz(upload.read())
    request.session[_mrz_key(candidate.pk)] = {"lines": lines, "message": str(message)}


@staff_required
@require_http_methods(["GET", "POST"])
def mrz_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """The clerk confirms the zone read by OCR, or types it; the check digits decide."""
    from verification.services import VerificationRefused, confirm_mrz

    candidate = candidate_in_scope(request.user, pk)
    form = _mrz_form(request, candidate, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            confirm_mrz(candidate, form.zone(), request.user)
        except VerificationRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            request.session.pop(_mrz_key(candidate.pk), None)
            messages.success(
                request, _("The machine-readable zone was kept and the file re-checked.")
            )
            return redirect("candidates:detail", pk=candidate.pk)
    return render(
        request,
        "candidates/mrz.html",
        {
            "candidate": candidate,
            "form": form,
            "mrz_message": request.session.get(_mrz_key(candidate.pk), {}).get("message", ""),
        },
        status=400 if request.method == "POST" else 200,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def candidate_edit(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = candidate_in_scope(request.user, pk, Candidate.objects.select_related("session"))
    form = CandidateFileForm(request.POST or None, instance=candidate)
    if request.method == "POST" and form.is_valid():
        before = candidate.updated_at
        saved = file_services.update_candidate_file(
            candidate, form.file_values(), request.user, form.cleaned_data["reason"]
        )
        if saved.updated_at == before:
            messages.info(request, _("Nothing was changed, so nothing was recorded."))
        else:
            messages.success(request, _("The file was updated and the change recorded."))
        return redirect("candidates:detail", pk=candidate.pk)
    return render(request, "candidates/edit.html", {"candidate": candidate, "form": form})


@staff_required
@require_http_methods(["GET", "POST"])
def cnie_upload(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = candidate_in_scope(request.user, pk)
    form = CnieUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            document = file_services.upload_cnie_copy(
                candidate, form.cleaned_data["document"], request.user, client_address(request)
            )
        except DocumentRejected as error:
            form.add_error("document", file_services.rejection_message(error))
        else:
            messages.success(request, _("The copy of the CNIE was stored, encrypted."))
            _read_mrz_after_upload(request, candidate, document)
            return redirect("candidates:detail", pk=candidate.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "candidates/cnie_upload.html",
        {"candidate": candidate, "form": form},
        status=status,
    )


def _document_response(candidate: Candidate, viewer, request: HttpRequest) -> HttpResponse:
    try:
        document, data = file_services.read_cnie_copy(candidate, viewer, client_address(request))
    except file_services.DocumentUnavailable:
        raise Http404 from None
    response = HttpResponse(data, content_type=document.content_type)
    filename = file_services.download_name(candidate, document)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Length"] = str(len(data))
    return response


@staff_required
def cnie_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The candidate's current CNIE copy, decrypted, for staff whose scope includes the file."""
    return _document_response(candidate_in_scope(request.user, pk), request.user, request)


@candidate_required
def my_cnie_copy(request: HttpRequest) -> HttpResponse:
    """The signed-in candidate's own CNIE copy (mounted by the project at /my-file/cnie/)."""
    candidate = get_object_or_404(Candidate, user=request.user)
    return _document_response(candidate, request.user, request)
