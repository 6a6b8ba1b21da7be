"""The candidate's convocation, the invigilator's check page, the public keys and the API.

Thin: each view checks who asks, then calls convocations.services.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from candidates.models import Candidate
from identity.access import candidate_required, staff_required
from identity.ratelimit import RateLimit, address_bucket, client_address

from . import services
from .forms import CheckForm
from .keys import key_ring


def _own_file(request: HttpRequest) -> Candidate | None:
    # No identifier in any URL: a candidate only ever reaches their own file.
    return services.candidate_for_convocation(Candidate.objects.filter(user=request.user)).first()


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@candidate_required
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    candidate = _own_file(request)
    context: dict[str, Any] = {"candidate": candidate}
    if candidate is not None:
        context.update(
            gate=services.convocation_gate(candidate),
            current=services.current_convocation(candidate),
            slots=services.timetable(candidate),
        )
    return _no_store(render(request, "convocations/mine.html", context))


@candidate_required
@require_GET
def download(request: HttpRequest) -> HttpResponse:
    candidate = _own_file(request)
    if candidate is None:
        raise Http404
    try:
        convocation = services.issue_convocation(candidate, actor=request.user)
    except services.ConvocationRefused:
        messages.error(
            request, _("Your convocation cannot be downloaded yet. The reasons are below.")
        )
        return redirect("convocations:mine")
    response = HttpResponse(services.convocation_pdf(convocation), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="convocation-{convocation.number}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    return _no_store(response)


# -- Checking at the door ---------------------------------------------------------------------------

# The check page may use the camera (BarcodeDetector); every other page keeps it off.
CHECK_PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=()"


def _shown(result: services.CheckResult) -> dict[str, Any]:
    """What the page shows of a checked code (the same fields as check.js)."""
    shown: dict[str, Any] = {"result": result}
    if result.claims is not None:
        shown["birth_date"] = datetime.date.fromisoformat(result.claims.birth_date)
        shown["issued_at"] = datetime.datetime.fromtimestamp(
            result.claims.issued_at, tz=datetime.UTC
        )
    if result.convocation is not None:
        # Only a code whose signature is genuine leads to a file, hence to a photo.
        shown["photo"] = services.photo_data_url(result.convocation.candidate)
    return shown


@staff_required
@require_http_methods(["GET", "POST"])
def check(request: HttpRequest) -> HttpResponse:
    """The invigilator's page. Staff of any scope: candidates of many schools sit in one
    centre, and a code with a genuine signature is what entitles one to see that candidate."""
    form = CheckForm(request.POST or None)
    context: dict[str, Any] = {"form": form}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            context.update(_shown(services.check_code(form.cleaned_data["qr"])))
        else:
            status = 400
    response = render(request, "convocations/check.html", context, status=status)
    response["Permissions-Policy"] = CHECK_PERMISSIONS_POLICY
    return _no_store(response)


@require_GET
def keys(request: HttpRequest) -> HttpResponse:
    """The public keys that verify convocation codes, current and retired (JWKS)."""
    response = JsonResponse(key_ring().jwks())
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _verify_limit() -> RateLimit:
    return RateLimit(
        "convocation-verify",
        getattr(settings, "CONVOCATION_VERIFY_PER_ADDRESS", 120),
        getattr(settings, "CONVOCATION_VERIFY_WINDOW_SECONDS", 60),
    )


@csrf_exempt  # no state changes; answers only what the code itself says, plus its status
@require_POST
def api_verify(request: HttpRequest) -> HttpResponse:
    """POST {"qr": "BACV1:..."} → {"valid": bool, "reason": ..., "convocation": {...}}."""
    decision = _verify_limit().hit(address_bucket(client_address(request)))
    if not decision.allowed:
        response = JsonResponse(
            {
                "valid": False,
                "status": "error",
                "reason": "rate_limited",
                "message": _("Too many checks from your network. Try again in a minute."),
                "retry_after": decision.retry_after,
            },
            status=429,
        )
        response["Retry-After"] = str(decision.retry_after)
        return _no_store(response)
    try:
        body = json.loads(request.body)
        text = body["qr"]
        if not isinstance(text, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _no_store(
            JsonResponse(
                {
                    "valid": False,
                    "status": "error",
                    "reason": "bad_request",
                    "message": _('Send a JSON object with the text of the code: {"qr": "..."}.'),
                },
                status=400,
            )
        )
    result = services.check_code(text)
    data = result.as_json()
    user = request.user
    if result.convocation is not None and user.is_authenticated and user.is_staff_member:
        # Signed-in invigilators (the check page's script) also get the photo.
        data["convocation"]["photo"] = services.photo_data_url(result.convocation.candidate)
    return _no_store(JsonResponse(data))
