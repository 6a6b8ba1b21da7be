"""Delivery status of pushed notifications, for academy and ministry staff.

Views are thin: they check the role, read the filters and call notifications.reports, which
scopes every query to the user's candidates.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from identity.access import role_required
from identity.models import Role

from . import reports
from .forms import DeliveryFilterForm
from .messages import KIND_RE

PAGE_SIZE = 50

delivery_staff_required = role_required(Role.ACADEMY, Role.MINISTRY)


@delivery_staff_required
def overview(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "notifications/overview.html",
        {"batches": reports.batch_summaries(request.user)},
    )


@delivery_staff_required
def batch(request: HttpRequest, kind: str, reference: str) -> HttpResponse:
    if not KIND_RE.fullmatch(kind):
        raise Http404
    counts = reports.batch_counts(request.user, kind, reference)
    if not counts.all.total:
        # Nothing of this batch in the user's scope (or no such batch): say nothing more.
        raise Http404
    form = DeliveryFilterForm(request.GET)
    rows = reports.batch_rows(request.user, kind, reference, **form.filters())
    paginator = Paginator(rows, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "notifications/batch.html",
        {
            "kind": kind,
            "reference": reference,
            "counts": counts,
            "form": form,
            "page": page,
            "paginator": paginator,
            "query_string": query.urlencode(),
            "now": timezone.now(),
        },
    )
