"""The published keys and status lists (public), and the staff pages: issue, follow, revoke.

Thin: each view checks who asks and what they may see, then calls diplomas.services.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from identity.access import role_required, scope_candidates, staff_required
from identity.models import Role

from . import keys as diploma_keys
from . import services
from .forms import IssueForm, RevokeForm, SearchForm
from .models import Diploma, IssuanceRun, Refusal

JSON_LD = "application/json"


def _public_json(data: dict, max_age: int, content_type: str = JSON_LD) -> JsonResponse:
    response = JsonResponse(
        data, content_type=content_type, json_dumps_params={"ensure_ascii": False}
    )
    response["Cache-Control"] = f"public, max-age={max_age}"
    response["Access-Control-Allow-Origin"] = "*"  # verifiers run in other sites' pages
    return response


@require_GET
def did_document(request: HttpRequest) -> JsonResponse:
    """/.well-known/did.json: the did:web document of the issuer."""
    return _public_json(diploma_keys.did_document(), 300, "application/did+json")


@require_GET
def jwt_vc_issuer(request: HttpRequest) -> JsonResponse:
    """/.well-known/jwt-vc-issuer: SD-JWT VC issuer metadata, where a verifier finds the keys of
    the `iss` of our SD-JWT VCs (the site URL)."""
    site = services.site()
    return _public_json({"issuer": site, "jwks_uri": f"{site}/diplomas/jwks.json"}, 300)


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    return _public_json(diploma_keys.jwks(), 300)


@require_GET
def status_list(request: HttpRequest, list_id: int) -> JsonResponse:
    document = services.status_list_document(list_id)
    if document is None:
        raise Http404
    # Briefly cacheable: a revocation shows within a minute everywhere.
    return _public_json(document, 60, "application/vc+ld+json")


@require_GET
def vct(request: HttpRequest) -> JsonResponse:
    """SD-JWT VC type metadata of our `vct`."""
    return _public_json(
        {
            "vct": services.vct_url(),
            "name": "Baccalauréat (Maroc)",
            "description": "Diplôme du baccalauréat délivré par le ministère de l'Éducation nationale.",
        },
        3600,
    )


def _scoped(request: HttpRequest):
    return Diploma.objects.filter(
        candidate__in=scope_candidates(request.user, services.Candidate.objects.all())
    )


@role_required(Role.ACADEMY, Role.MINISTRY)
@require_GET
def staff_list(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    diplomas = _scoped(request).select_related("candidate", "session")
    if form.is_valid() and form.cleaned_data["q"]:
        q = form.cleaned_data["q"].strip().upper()
        diplomas = diplomas.filter(Q(number=q) | Q(candidate__massar_code=q))
    page = Paginator(diplomas.order_by("-issued_at", "-pk"), 50).get_page(request.GET.get("page"))
    runs = IssuanceRun.objects.select_related("session", "academy")
    if request.user.role == Role.ACADEMY:
        runs = runs.filter(academy_id=request.user.academy_id)
    return render(
        request,
        "diplomas/staff_list.html",
        {"form": form, "page": page, "runs": runs[:20]},
    )


@role_required(Role.ACADEMY, Role.MINISTRY)
@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    diploma = get_object_or_404(_scoped(request).select_related("candidate"), pk=pk)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.revoke_diploma(diploma, reason=form.cleaned_data["reason"], actor=request.user)
        except services.DiplomaError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Diploma %(number)s revoked.") % {"number": diploma.number})
            return redirect("diplomas:staff_list")
    return render(request, "diplomas/revoke.html", {"diploma": diploma, "form": form})


@role_required(Role.ACADEMY, Role.MINISTRY)
@require_http_methods(["GET", "POST"])
def issue(request: HttpRequest) -> HttpResponse:
    """Launch the bulk issuance of a session: the whole nation (ministry) or one's academy."""
    form = IssueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        academy_id = request.user.academy_id if request.user.role == Role.ACADEMY else None
        runs = services.start_issuance(
            form.cleaned_data["session"], actor=request.user, academy_id=academy_id
        )
        if len(runs) == 1:
            return redirect("diplomas:run", pk=runs[0].pk)
        messages.success(
            request, _("Issuances started, one per academy: %(count)s.") % {"count": len(runs)}
        )
        return redirect("diplomas:staff_list")
    return render(request, "diplomas/issue.html", {"form": form})


@role_required(Role.ACADEMY, Role.MINISTRY)
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    runs = IssuanceRun.objects.select_related("session", "academy")
    if request.user.role == Role.ACADEMY:
        runs = runs.filter(academy_id=request.user.academy_id)
    run = get_object_or_404(runs, pk=pk)
    percent = int(100 * run.processed / run.total) if run.total else (100 if run.finished_at else 0)
    response = render(request, "diplomas/run.html", {"run": run, "percent": percent})
    if run.status in (IssuanceRun.Status.PENDING, IssuanceRun.Status.RUNNING):
        response["Refresh"] = "5"  # follows progress without JavaScript
    return response


@staff_required
@require_GET
def refusals(request: HttpRequest) -> HttpResponse:
    """The admitted candidates of one's scope who got no diploma, and why (school staff too)."""
    rows = (
        Refusal.objects.filter(
            resolved_at__isnull=True,
            candidate__in=scope_candidates(request.user, services.Candidate.objects.all()),
        )
        .select_related("candidate", "candidate__school", "session")
        .order_by("candidate__school__code", "candidate__last_name_latin")
    )
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    return render(request, "diplomas/refusals.html", {"page": page})
