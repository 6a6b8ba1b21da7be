"""Staff pages for grades and computations: import, single corrections, computing a session and
reviewing its statistics. Academy staff work within their academy, the ministry nationally.

Views are thin: they check access, then call results.services. Charts are inline SVG drawn
here from the stored statistics (no script: the CSP forbids it), each followed by a table of
the same figures.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from candidates.identifiers import is_valid_massar, normalize_massar
from candidates.models import Candidate, Sex
from exams.models import Academy, CandidateType, Component, Directorate, ExamSession, Track
from identity.access import role_required, scope_candidates
from identity.models import Role

from . import services
from .grades import COLUMNS, OPTIONAL_COLUMNS, TEMPLATE_ROWS, Code, check_mark, grades_csv
from .models import Computation, ComputedResult, Decision, Mention, Sitting

results_staff_required = role_required(Role.ACADEMY, Role.MINISTRY)
MULTIPART_ALLOWANCE = 64 * 1024
MAX_SHOWN_ERRORS = 1000
REFRESH_SECONDS = 2
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


def _session() -> ExamSession | None:
    return ExamSession.current()


def _name(obj: Any) -> str:
    """An academy's, directorate's or track's name in the reader's script."""
    if obj is None:
        return ""
    return obj.name_ar if translation.get_language() == "ar" else obj.name_fr


# -- Overview ---------------------------------------------------------------------------------


@results_staff_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    session = _session()
    computations = (
        services.visible_computations(request.user, session)[:5] if session is not None else []
    )
    return render(
        request,
        "results/staff/index.html",
        {"session": session, "computations": computations, "section": "index"},
    )


# -- Importing grades -------------------------------------------------------------------------


class GradeUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Grade file (CSV or XLSX)"),
        help_text=_("One row per candidate, subject and component, with a header row."),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPTED_TYPES}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                services.error_message(
                    Code.FILE_TOO_LARGE, {"max_bytes": settings.IMPORT_UPLOAD_MAX_BYTES}
                )
            )
        if upload.size == 0:
            raise forms.ValidationError(services.error_message(Code.FILE_EMPTY))
        return upload


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _import_page(
    request: HttpRequest,
    form: GradeUploadForm,
    status: int = 200,
    upload_error: str = "",
    outcome: services.GradeImportOutcome | None = None,
    filename: str = "",
) -> HttpResponse:
    errors = [services.describe(e) for e in outcome.errors[:MAX_SHOWN_ERRORS]] if outcome else []
    return render(
        request,
        "results/staff/import.html",
        {
            "form": form,
            "session": _session(),
            "upload_error": upload_error,
            "outcome": outcome,
            "filename": filename,
            "errors": errors,
            "errors_truncated": bool(outcome) and outcome.error_count > len(errors),
            "required_columns": [c for c in COLUMNS if c not in OPTIONAL_COLUMNS],
            "optional_columns": [c for c in COLUMNS if c in OPTIONAL_COLUMNS],
            "max_megabytes": settings.IMPORT_UPLOAD_MAX_BYTES // (1024 * 1024),
            "section": "import",
        },
        status=status,
    )


@csrf_exempt
@results_staff_required
@require_http_methods(["GET", "POST"])
def grades_import(request: HttpRequest) -> HttpResponse:
    """Upload a grade file and see what happened. CSRF is checked in `_grades_upload`, after
    the size check, so that an oversized body is refused before it is parsed."""
    limit = settings.IMPORT_UPLOAD_MAX_BYTES
    if request.method == "POST" and _declared_length(request) > limit + MULTIPART_ALLOWANCE:
        message = services.error_message(Code.FILE_TOO_LARGE, {"max_bytes": limit})
        return _import_page(request, GradeUploadForm(), status=413, upload_error=message)
    return _grades_upload(request)


@csrf_protect
def _grades_upload(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _import_page(request, GradeUploadForm())
    session = _session()
    form = GradeUploadForm(request.POST, request.FILES)
    if session is None:
        return _import_page(
            request,
            form,
            status=409,
            upload_error=str(_("There is no current exam session to import into.")),
        )
    if not form.is_valid():
        return _import_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    try:
        outcome = services.import_grades(session, upload.read(), upload.name or "", request.user)
    except services.GradeConflict:
        return _import_page(
            request,
            GradeUploadForm(),
            status=409,
            upload_error=services.error_message(services.GRADE_CONFLICT),
        )
    return _import_page(
        request, GradeUploadForm(), outcome=outcome, filename=(upload.name or "")[:255]
    )


@results_staff_required
@require_GET
def grades_template(request: HttpRequest) -> HttpResponse:
    """A CSV with the header row and example rows (UTF-8 with a byte-order mark, for Excel)."""
    content = "\ufeff" + grades_csv(TEMPLATE_ROWS)
    response = HttpResponse(content.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="grades-template.csv"'
    return response


# -- Single corrections -----------------------------------------------------------------------


class FindCandidateForm(forms.Form):
    massar_code = forms.CharField(
        label=_("Massar code"),
        max_length=20,
        help_text=_("One letter and nine digits, for example R130046852."),
    )

    def clean_massar_code(self) -> str:
        value = normalize_massar(self.cleaned_data["massar_code"])
        if not is_valid_massar(value):
            raise forms.ValidationError(_("This is not a Massar code."))
        return value


@results_staff_required
@require_GET
def grade_entry(request: HttpRequest) -> HttpResponse:
    """Find a candidate by Massar code, then go to their grade sheet."""
    form = FindCandidateForm(request.GET or None)
    not_found = False
    if form.is_bound and form.is_valid():
        code = form.cleaned_data["massar_code"]
        if _scoped_candidates(request.user).filter(massar_code=code).exists():
            return redirect("results_staff:candidate_grades", massar_code=code)
        not_found = True
    return render(
        request,
        "results/staff/grade_entry.html",
        {"form": form, "not_found": not_found, "section": "grades"},
        status=404 if not_found else 200,
    )


def _scoped_candidates(user):
    session = _session()
    if session is None:
        return Candidate.objects.none()
    return scope_candidates(user, Candidate.objects.filter(session=session))


class GradeChangeForm(forms.Form):
    line = forms.ChoiceField(label=_("Mark to set"))
    mark = forms.CharField(
        label=_("New mark (/20)"),
        max_length=10,
        help_text=_("A number from 0 to 20 with at most two decimals, e.g. 12.5 or 12,5."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=500,
        help_text=_("Say why, and on what evidence (e.g. the answer sheet, the marking report)."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, choices: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["line"].choices = choices

    def clean_mark(self) -> int:
        result = check_mark(self.cleaned_data["mark"])
        if not isinstance(result, int):
            raise forms.ValidationError(services.error_message(result.code, result.params))
        return result

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(services.error_message(services.REASON_REQUIRED))
        return reason


COMPONENT_LABELS = dict(Component.choices)
SITTING_LABELS = dict(Sitting.choices)


def _line_choices(sheet: list[services.SheetLine], catch_up: bool) -> list[tuple[str, str]]:
    choices = []
    for line in sheet:
        label = f"{line.subject.code} · {_name(line.subject)} · {COMPONENT_LABELS[line.component]}"
        choices.append((f"{line.subject.pk}:{line.component}:normal", label))
        if catch_up and line.component == Component.NATIONAL:
            choices.append(
                (
                    f"{line.subject.pk}:{line.component}:catch_up",
                    f"{label} · {SITTING_LABELS[Sitting.CATCH_UP]}",
                )
            )
    return choices


@results_staff_required
@require_http_methods(["GET", "POST"])
def candidate_grades(request: HttpRequest, massar_code: str) -> HttpResponse:
    """A candidate's marks by component, and a form to set one of them with a reason. A
    candidate outside the viewer's academy does not exist for them (404)."""
    candidate = get_object_or_404(
        _scoped_candidates(request.user).select_related(
            "track", "school__directorate__academy", "session"
        ),
        massar_code=normalize_massar(massar_code),
    )
    sheet = services.grade_sheet(candidate)
    catch_up = services.is_convened_to_catch_up(candidate)
    choices = _line_choices(sheet, catch_up)
    form = GradeChangeForm(request.POST or None, choices=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            subject_id, component, sitting = form.cleaned_data["line"].split(":")
            line = next(x for x in sheet if str(x.subject.pk) == subject_id)
            try:
                changed = services.set_grade(
                    candidate,
                    line.subject,
                    component,
                    Decimal(form.cleaned_data["mark"]).scaleb(-2),
                    form.cleaned_data["reason"],
                    request.user,
                    sitting=sitting,
                )
            except services.GradeError as error:
                form.add_error(None, error.message)
                status = 400
            else:
                if changed:
                    messages.success(request, _("The mark was saved and the change recorded."))
                else:
                    messages.info(request, _("The mark already had this value: nothing changed."))
                return redirect("results_staff:candidate_grades", massar_code=candidate.massar_code)
        else:
            status = 400
    latest = (
        ComputedResult.objects.filter(
            candidate=candidate, computation__status=Computation.Status.DONE
        )
        .select_related("computation")
        .order_by("-computation__finished_at", "-computation_id")
        .first()
    )
    components = []
    for component, label in Component.choices:
        lines = [line for line in sheet if line.component == component]
        if lines:
            components.append({"key": component, "label": label, "lines": lines})
    return render(
        request,
        "results/staff/candidate_grades.html",
        {
            "candidate": candidate,
            "components": components,
            "catch_up": catch_up,
            "form": form,
            "latest": latest,
            "latest_reason": services.explain_reason(latest.reason) if latest else "",
            "academy_name": _name(candidate.school.directorate.academy),
            "track_name": _name(candidate.track),
            "section": "grades",
        },
        status=status,
    )


# -- Computations -----------------------------------------------------------------------------


class ComputationForm(forms.Form):
    sitting = forms.ChoiceField(label=_("Sitting"), choices=Sitting.choices)
    academy = forms.ModelChoiceField(
        label=_("Candidates"),
        queryset=Academy.objects.all(),
        required=False,
        empty_label=_("The whole session (all academies)"),
        help_text=_(
            "Only a computation of the whole session can be published; one academy is a preview."
        ),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user.role != Role.MINISTRY:
            del self.fields["academy"]
        else:
            self.fields["academy"].label_from_instance = _name


@results_staff_required
@require_http_methods(["GET", "POST"])
def computations(request: HttpRequest) -> HttpResponse:
    session = _session()
    form = ComputationForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        if session is None:
            form.add_error(None, _("There is no current exam session."))
            status = 409
        elif form.is_valid():
            try:
                computation = services.start_computation(
                    session,
                    request.user,
                    sitting=form.cleaned_data["sitting"],
                    academy=form.cleaned_data.get("academy"),
                )
            except services.ComputationBusy:
                form.add_error(
                    None,
                    _("A computation of the same candidates is already running: wait for it."),
                )
                status = 409
            except services.NoReference:
                form.add_error(
                    "sitting",
                    _(
                        "The catch-up sitting needs a finished computation of the normal sitting "
                        "of the whole session."
                    ),
                )
                status = 409
            else:
                return redirect("results_staff:computation", pk=computation.pk)
        else:
            status = 400
    listed = services.visible_computations(request.user, session)[:50] if session else []
    return render(
        request,
        "results/staff/computations.html",
        {"session": session, "form": form, "computations": listed, "section": "computations"},
        status=status,
    )


@results_staff_required
@require_GET
def computation(request: HttpRequest, pk: int) -> HttpResponse:
    """A computation's progress, then its statistics (for academy staff: their academy's)."""
    found = get_object_or_404(services.visible_computations(request.user), pk=pk)
    running = found.status in (Computation.Status.PENDING, Computation.Status.RUNNING)
    context: dict[str, Any] = {
        "computation": found,
        "running": running,
        "refresh": REFRESH_SECONDS,
        "percent": min(100, round(100 * found.processed / found.total)) if found.total else 0,
        "section": "computations",
    }
    if found.status == Computation.Status.DONE:
        stats = services.statistics_for(found, request.user)
        if stats is None and request.user.role != Role.MINISTRY:
            stats = {}  # their academy has no candidate in this computation
        context.update(_review(found, stats or {}, request.user))
    return render(request, "results/staff/computation.html", context)


# -- Statistics for people: tables and charts -------------------------------------------------

OUTCOME_LABELS = {
    Decision.ADMITTED: _("Admitted"),
    Decision.CATCH_UP: _("Catch-up"),
    Decision.FAILED: _("Not admitted"),
    Decision.INCOMPLETE: _("Incomplete"),
}
MENTION_LABELS = {
    Mention.PASSABLE: Mention.PASSABLE.label,
    Mention.ASSEZ_BIEN: Mention.ASSEZ_BIEN.label,
    Mention.BIEN: Mention.BIEN.label,
    Mention.TRES_BIEN: Mention.TRES_BIEN.label,
}
ANOMALY_LABELS = {
    "missing_grades": _("Candidates with missing grades"),
    "no_grades": _("Candidates without any grade"),
    "extra_grades": _("Candidates with grades outside their track's subjects"),
    "no_subjects": _("Candidates whose track has no subjects configured"),
    "without_result": _("Candidates without a result (registered during the computation)"),
}


def _labels(dimension: str) -> dict[str, str]:
    if dimension == "by_academy":
        return {a.code: _name(a) for a in Academy.objects.all()}
    if dimension == "by_directorate":
        return {d.code: _name(d) for d in Directorate.objects.all()}
    if dimension == "by_track":
        return {t.code: _name(t) for t in Track.objects.all()}
    if dimension == "by_sex":
        return {str(k): str(v) for k, v in Sex.choices}
    return {str(k): str(v) for k, v in CandidateType.choices}


BREAKDOWNS = (
    ("by_academy", _("By academy")),
    ("by_directorate", _("By provincial directorate")),
    ("by_track", _("By track")),
    ("by_sex", _("By sex")),
    ("by_candidate_type", _("By candidate type")),
)


def _review(found: Computation, stats: dict[str, Any], user) -> dict[str, Any]:
    breakdowns = []
    for dimension, title in BREAKDOWNS:
        rows = stats.get(dimension) or []
        if not rows or (dimension == "by_academy" and user.role != Role.MINISTRY):
            continue
        labels = _labels(dimension)
        breakdowns.append(
            {
                "key": dimension,
                "title": title,
                "rows": [
                    {**row, "label": labels.get(row["key"], row["key"])}
                    for row in services.iter_breakdown(rows)
                ],
            }
        )
    totals = next(services.iter_breakdown([stats["totals"]])) if stats.get("totals") else None
    rules = found.statistics.get("rules", {})
    chart_dimension = next(
        (b for b in breakdowns if b["key"] in ("by_academy", "by_directorate")), None
    )
    anomalies = stats.get("anomalies", {})
    return {
        "stats": stats,
        "totals": totals,
        "breakdowns": breakdowns,
        "histogram": histogram_chart(
            stats.get("histogram") or [],
            Decimal(found.statistics.get("bin_width", "0.5")),
            [
                Decimal(rules.get("catch_up_threshold", "7")),
                Decimal(rules.get("admission_threshold", "10")),
            ],
        ),
        "outcome_chart": outcome_chart(chart_dimension["rows"]) if chart_dimension else None,
        "outcome_chart_title": chart_dimension["title"] if chart_dimension else "",
        "mention_chart": mention_chart(chart_dimension["rows"]) if chart_dimension else None,
        "anomalies": [
            {"key": key, "label": label, "count": anomalies.get(key, 0)}
            for key, label in ANOMALY_LABELS.items()
        ],
        "examples": [
            {
                **example,
                "explained": services.explain_reason(example["reason"])
                if example["kind"] != "extra_grades"
                else example["reason"],
            }
            for example in stats.get("examples", [])
        ],
        "outcome_labels": OUTCOME_LABELS,
        "mention_labels": MENTION_LABELS,
    }


# Chart geometry, in SVG user units (the SVG scales to the width of its container).
CHART_WIDTH = 640
BAR_HEIGHT = 18
BAR_GAP = 8
LABEL_WIDTH = 150


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^n at or above `value` (at least 1)."""
    value = max(value, 1)
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def histogram_chart(
    counts: list[int], bin_width: Decimal, thresholds: list[Decimal]
) -> dict[str, Any] | None:
    """Bars of the distribution of general averages, with the catch-up and admission
    thresholds marked; also the rows of the table that says the same."""
    if not counts or not any(counts):
        return None
    left, right, top, bottom = 44, 8, 8, 28
    height = 220
    plot_width = CHART_WIDTH - left - right
    plot_height = height - top - bottom
    ceiling = _nice_ceiling(max(counts))
    slot = plot_width / len(counts)
    bars, rows = [], []
    for index, count in enumerate(counts):
        low = bin_width * index
        high = low + bin_width
        bar_height = plot_height * count / ceiling
        bars.append(
            {
                "x": round(left + index * slot + 0.5, 2),
                "y": round(top + plot_height - bar_height, 2),
                "width": round(max(slot - 1, 0.5), 2),
                "height": round(bar_height, 2),
                "low": low,
                "high": high,
                "count": count,
                "admitted": thresholds and low >= thresholds[-1],
            }
        )
        rows.append({"low": low, "high": high, "count": count})
    scale = plot_width / 20
    ticks = [{"x": round(left + point * scale, 2), "label": point} for point in range(0, 21, 2)]
    y_ticks = [
        {"y": round(top + plot_height - plot_height * f, 2), "label": int(ceiling * f)}
        for f in (0, 0.5, 1)
    ]
    lines = [{"x": round(left + float(t) * scale, 2), "label": t} for t in thresholds]
    return {
        "width": CHART_WIDTH,
        "height": height,
        "bars": bars,
        "rows": rows,
        "ticks": ticks,
        "y_ticks": y_ticks,
        "lines": lines,
        "axis_y": top + plot_height,
        "left": left,
        "right": CHART_WIDTH - right,
        "top": top,
        "tick_label_y": top + plot_height + 18,
    }


def _stacked(
    rows: list[dict[str, Any]], parts: list[tuple[str, Any, Any]], total_of
) -> dict[str, Any]:
    plot_left = LABEL_WIDTH
    plot_width = CHART_WIDTH - LABEL_WIDTH - 8
    lines = []
    for index, row in enumerate(rows):
        y = index * (BAR_HEIGHT + BAR_GAP)
        total = total_of(row)
        x = float(plot_left)
        segments = []
        for key, label, value_of in parts:
            value = value_of(row)
            width = plot_width * value / total if total else 0
            if width > 0:
                segments.append(
                    {
                        "key": key,
                        "label": label,
                        "x": round(x, 2),
                        "width": round(width, 2),
                        "value": value,
                        "percent": services.rate(value, total),
                    }
                )
            x += width
        lines.append(
            {
                "label": row["label"][:28],
                "full_label": row["label"],
                "y": y,
                "text_y": y + BAR_HEIGHT - 5,
                "segments": segments,
            }
        )
    return {
        "width": CHART_WIDTH,
        "height": max(1, len(rows)) * (BAR_HEIGHT + BAR_GAP),
        "label_x": LABEL_WIDTH - 6,
        "bar_height": BAR_HEIGHT,
        "lines": lines,
        "legend": [{"key": key, "label": label} for key, label, _value in parts],
    }


def _getter(key: str, nested: str = ""):
    if nested:
        return lambda row: row[nested].get(key, 0)
    return lambda row: row.get(key, 0)


def outcome_chart(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """100 % bars: admitted, catch-up, not admitted, incomplete, per academy or directorate."""
    if not rows:
        return None
    parts = [(str(d), OUTCOME_LABELS[d], _getter(str(d))) for d in services.OUTCOMES]
    return _stacked(rows, parts, lambda row: row["total"])


def mention_chart(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """100 % bars of the mentions among admitted candidates, per academy or directorate."""
    if not rows or not any(row.get(Decision.ADMITTED, 0) for row in rows):
        return None
    parts = [(str(m), MENTION_LABELS[m], _getter(str(m), "mentions")) for m in services.MENTIONS]
    return _stacked(rows, parts, lambda row: row.get(Decision.ADMITTED, 0))
