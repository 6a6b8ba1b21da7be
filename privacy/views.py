"""The public privacy notice and the candidate's privacy page: export, document views, consent.

Thin views: the rules live in privacy.services and privacy.register.
"""

from __future__ import annotations

from itertools import groupby

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from candidates.file_services import client_address
from candidates.models import Candidate
from identity.access import candidate_required
from identity.ratelimit import RateLimit

from . import register, services

# Building an export decrypts every document and reads every table: a handful an hour is plenty.
EXPORT_LIMIT = RateLimit(
    "privacy-export",
    getattr(settings, "PRIVACY_EXPORTS_PER_HOUR", 5),
    3600,
)


def _my_file(request: HttpRequest) -> Candidate:
    candidate = (
        Candidate.objects.filter(user=request.user)
        .select_related("session")
        .order_by("-session__is_current", "-session__year")
        .first()
    )
    if candidate is None:
        raise Http404
    return candidate


@require_GET
def notice(request: HttpRequest) -> HttpResponse:
    """What is held, why, on what basis, who sees it and for how long (public)."""
    groups = [(app, list(kinds)) for app, kinds in groupby(register.kinds(), key=lambda k: k.app)]
    return render(request, "privacy/notice.html", {"groups": groups, "topics": register.topics()})


@candidate_required
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    return render(
        request,
        "privacy/mine.html",
        {
            "candidate": candidate,
            "choices": services.consent_choices(candidate),
            "views": services.document_views(candidate),
        },
    )


@candidate_required
@require_POST
def export(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    decision = EXPORT_LIMIT.hit(str(request.user.pk))
    if not decision.allowed:
        messages.error(
            request,
            _("You have asked for many exports. Try again later (in %(minutes)s min).")
            % {"minutes": decision.retry_after_minutes},
        )
        response = redirect("privacy:mine")
        response["Retry-After"] = str(decision.retry_after)
        return response
    data = services.export_zip(candidate, request.user, client_address(request) or None)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="my-data-{candidate.massar_code}.zip"'
    response["Cache-Control"] = "no-store"
    return response


@candidate_required
@require_POST
def consent(request: HttpRequest) -> HttpResponse:
    candidate = _my_file(request)
    topic = request.POST.get("topic", "")
    granted = request.POST.get("granted")
    if granted not in ("yes", "no"):
        messages.error(request, _("Choose yes or no."))
        return redirect("privacy:mine")
    try:
        changed = services.set_consent(candidate, topic, granted == "yes", request.user)
    except services.ConsentRefused:
        messages.error(request, _("This choice cannot be changed."))
        return redirect("privacy:mine")
    if changed:
        messages.success(request, _("Your choice is saved."))
    return redirect("privacy:mine")
