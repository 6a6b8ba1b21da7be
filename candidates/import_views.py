"""Staff pages for importing candidate lists: upload, follow a job, download the template.

Views are thin: they check access and the upload's size, then call candidates.services.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from exams.models import ExamSession
from identity.access import staff_required
from identity.models import Role

from .importing import COLUMNS, OPTIONAL_COLUMNS, TEMPLATE_ROWS, Code, write_csv
from .models import ImportJob
from .services import describe, error_message, start_import_job

RECENT_JOBS = 10
# Room for the multipart framing and the other fields around the file itself.
MULTIPART_ALLOWANCE = 64 * 1024
ACCEPTED_TYPES = ",".join(
    (
        ".csv",
        ".txt",
        ".tsv",
        ".xlsx",
        "text/csv",
        "text/plain",
        "text/tab-separated-values",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
)


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Candidate list (CSV or XLSX)"),
        help_text=_("One candidate per row, with a header row naming the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPTED_TYPES}),
    )
    keep_valid_rows = forms.BooleanField(
        label=_("Keep only the valid rows"),
        required=False,
        initial=False,
        help_text=_(
            "Unchecked (recommended): if any row has an error, nothing is imported and every error "
            "is listed. Checked: the valid rows are imported and the others are listed."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        # UploadedFile.size is known before the content is read.
        if upload.size > settings.IMPORT_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                error_message(Code.FILE_TOO_LARGE, {"max_bytes": settings.IMPORT_UPLOAD_MAX_BYTES})
            )
        if upload.size == 0:
            raise forms.ValidationError(error_message(Code.FILE_EMPTY))
        return upload


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _visible_jobs(user):
    jobs = ImportJob.objects.select_related("session", "uploaded_by")
    if user.role == Role.MINISTRY:
        return jobs
    return jobs.filter(uploaded_by=user)


def _upload_page(
    request: HttpRequest, form: ImportUploadForm, status: int = 200, upload_error: str = ""
) -> HttpResponse:
    required = [c for c in COLUMNS if c not in OPTIONAL_COLUMNS]
    optional = [c for c in COLUMNS if c in OPTIONAL_COLUMNS]
    return render(
        request,
        "candidates/import_upload.html",
        {
            "form": form,
            "session": ExamSession.current(),
            "upload_error": upload_error,
            "required_columns": required,
            "optional_columns": optional,
            "max_megabytes": settings.IMPORT_UPLOAD_MAX_BYTES // (1024 * 1024),
            "jobs": ImportJob.objects.filter(uploaded_by=request.user).select_related("session")[
                :RECENT_JOBS
            ],
        },
        status=status,
    )


@csrf_exempt
@staff_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """The upload page. CSRF is checked in `_upload`, after the size check: the CSRF middleware
    would otherwise parse (and spool to disk) the whole multipart body of an oversized upload."""
    limit = settings.IMPORT_UPLOAD_MAX_BYTES
    if request.method == "POST" and _declared_length(request) > limit + MULTIPART_ALLOWANCE:
        message = error_message(Code.FILE_TOO_LARGE, {"max_bytes": limit})
        return _upload_page(request, ImportUploadForm(), status=413, upload_error=message)
    return _upload(request)


@csrf_protect
def _upload(request: HttpRequest) -> HttpResponse:
    session = ExamSession.current()
    if request.method != "POST":
        return _upload_page(request, ImportUploadForm())
    form = ImportUploadForm(request.POST, request.FILES)
    if session is None:
        return _upload_page(
            request,
            form,
            status=409,
            upload_error=str(_("There is no current exam session to import into.")),
        )
    if not form.is_valid():
        return _upload_page(request, form, status=400)
    job = start_import_job(
        session, form.cleaned_data["file"], request.user, form.cleaned_data["keep_valid_rows"]
    )
    return redirect("candidates:import_job", pk=job.pk)


@staff_required
@require_GET
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A job's progress and, once finished, its counts and errors. Another user's job is a 404:
    its existence is none of the viewer's business."""
    job = get_object_or_404(_visible_jobs(request.user), pk=pk)
    running = job.status in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING)
    return render(
        request,
        "candidates/import_job.html",
        {
            "job": job,
            "running": running,
            "errors": [] if running else [describe(error) for error in job.errors],
            "errors_truncated": job.error_count > len(job.errors),
        },
    )


@staff_required
@require_GET
def import_template(request: HttpRequest) -> HttpResponse:
    """A CSV with the header row and two example rows. UTF-8 with a byte-order mark, so that
    Excel shows the Arabic columns correctly when the file is opened with a double click."""
    content = "\ufeff" + write_csv(TEMPLATE_ROWS)
    response = HttpResponse(content.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="candidates-template.csv"'
    return response
