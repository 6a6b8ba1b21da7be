"""The holder's diploma pages, the public share pages, and the verification page and API.

Thin: each view checks who asks, then calls sharing.services. The holder's pages never take an
identifier of a diploma; a link is addressed by its id only within the holder's own links (404
for anyone else's). Public pages take a share token, rate-limited per address.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from diplomas.models import Diploma, DiplomaStatus
from identity.access import candidate_required

from . import services
from .forms import ShareLinkForm, VerifyForm, max_upload_bytes
from .models import ShareLink, ShareView

# The token shown once after creation travels to the next page in the session, then is dropped.
_NEW_TOKEN = "sharing.new_token"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _holder(request: HttpRequest) -> tuple[Any, Diploma | None]:
    candidate = services.own_candidate(request.user)
    diploma = services.latest_diploma(candidate) if candidate is not None else None
    return candidate, diploma


def _qr_svg(text: str) -> str:
    from diplomas.qr import qr_svg

    # segno's SVG, from the diploma's own signed payload: markup we produce, not user input.
    return mark_safe(qr_svg(text))  # noqa: S308


# --- the holder -----------------------------------------------------------------------------------


@candidate_required
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    """My diploma: its data, its downloads, my share links, or why I have none."""
    candidate, diploma = _holder(request)
    context: dict[str, Any] = {"candidate": candidate, "diploma": diploma}
    if candidate is not None and diploma is None:
        context["absence"] = services.absence_message(services.absence_reason(candidate))
    if diploma is not None:
        context.update(
            shown=services.shown_claims(diploma.claims),
            current_number=services.replacement_number(diploma),
            links=services.links_of(candidate),
            form=ShareLinkForm(),
            can_share=diploma.status == DiplomaStatus.VALID,
        )
    return _no_store(render(request, "sharing/mine.html", context))


FACES = {
    "credential.json": ("application/json", "json"),
    "credential.sd-jwt": ("application/dc+sd-jwt", "sd_jwt"),
    "diploma.pdf": ("application/pdf", "pdf"),
    "qr.svg": ("image/svg+xml", "qr_svg"),
    "qr.png": ("image/png", "qr_png"),
}


def _face_bytes(diploma: Diploma, kind: str) -> bytes:
    if kind == "json":
        return services.json_text(diploma.credential).encode("utf-8")
    if kind == "sd_jwt":
        return diploma.sd_jwt.encode("ascii")
    if kind == "pdf":
        from diplomas.pdf import render_pdf

        return render_pdf(diploma)
    if kind == "qr_svg":
        from diplomas.qr import qr_svg

        return qr_svg(diploma.qr).encode("utf-8")
    import io

    import segno

    buffer = io.BytesIO()
    segno.make(diploma.qr, micro=False).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


@candidate_required
@require_GET
def download(request: HttpRequest, face: str) -> HttpResponse:
    candidate, diploma = _holder(request)
    if diploma is None or face not in FACES:
        raise Http404
    content_type, kind = FACES[face]
    body = _face_bytes(diploma, kind)
    services.record_download(request.user, diploma, face)
    response = HttpResponse(body, content_type=content_type)
    name = f"diploma-{diploma.number}-{face}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return _no_store(response)


@candidate_required
@require_POST
def create_link(request: HttpRequest) -> HttpResponse:
    candidate, diploma = _holder(request)
    if diploma is None or diploma.status != DiplomaStatus.VALID:
        raise Http404
    form = ShareLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The link could not be created. Check the form below."))
        context = {
            "candidate": candidate,
            "diploma": diploma,
            "shown": services.shown_claims(diploma.claims),
            "links": services.links_of(candidate),
            "form": form,
            "can_share": True,
        }
        return _no_store(render(request, "sharing/mine.html", context, status=400))
    link, token = services.create_link(
        request.user,
        diploma,
        revealed=form.cleaned_data["revealed"],
        expires_in_days=form.cleaned_data["expires_in"] or None,
        label=form.cleaned_data["label"],
    )
    request.session[_NEW_TOKEN] = {"link": link.pk, "token": token}
    return redirect("sharing:link", pk=link.pk)


def _own_link(request: HttpRequest, pk: int) -> ShareLink:
    # Another candidate's link is "not found", never "forbidden": ids are not a secret to keep
    # but there is nothing to learn from them either.
    return get_object_or_404(
        ShareLink.objects.select_related("diploma"), pk=pk, candidate__user=request.user
    )


@candidate_required
@require_GET
def link(request: HttpRequest, pk: int) -> HttpResponse:
    """One of my links: what it shows, its state, every view of it; its URL just after creation."""
    share = _own_link(request, pk)
    context: dict[str, Any] = {
        "link": share,
        "views": services.views_of(share),
        "shown": services.shown_claims(share.diploma.claims, share.revealed),
    }
    fresh = request.session.get(_NEW_TOKEN)
    if fresh and fresh.get("link") == share.pk:
        del request.session[_NEW_TOKEN]
        url = request.build_absolute_uri(services.share_path(fresh["token"]))
        context.update(share_url=url, share_qr=_qr_svg(url))
    return _no_store(render(request, "sharing/link.html", context))


@candidate_required
@require_POST
def revoke_link(request: HttpRequest, pk: int) -> HttpResponse:
    share = _own_link(request, pk)
    if services.revoke_link(request.user, share):
        messages.success(request, _("The link is revoked: it no longer opens your diploma."))
    return redirect("sharing:link", pk=share.pk)


# --- the offline copy (installable web app) -------------------------------------------------------


@candidate_required
@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    """The QR code of my diploma, the one page the service worker keeps for offline use."""
    candidate, diploma = _holder(request)
    if diploma is None:
        raise Http404
    context = {
        "diploma": diploma,
        "shown": services.shown_claims(
            {k: v for k, v in diploma.claims.items() if not services.disclosure.claim_group(k)}
        ),
        "qr": _qr_svg(diploma.qr) if diploma.qr else "",
    }
    return _no_store(render(request, "sharing/offline.html", context))


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest: public (browsers fetch it without cookies), no personal data."""
    from django.templatetags.static import static

    offline_url = reverse("sharing:offline")
    body = {
        "name": _("My bac diploma"),
        "short_name": _("Diploma"),
        "description": _("The QR code of your bac diploma, also without a connection."),
        "start_url": offline_url,
        "scope": offline_url,
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5a3c",
        "lang": request.LANGUAGE_CODE,
        "dir": "rtl" if request.LANGUAGE_CODE == "ar" else "ltr",
        "icons": [
            {"src": static("sharing/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("sharing/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("sharing/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), content_type="application/manifest+json"
    )
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served under /diploma/ so that it may control the offline page only."""
    from django.templatetags.static import static

    body = render_to_string(
        "sharing/sw.js",
        {
            "offline_url": reverse("sharing:offline"),
            "assets": json.dumps(
                [
                    static("css/site.css"),
                    static("sharing/sharing.css"),
                    static("sharing/offline.js"),
                ]
            ),
        },
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    # The browser re-checks the worker on each visit; it must never be stale for long.
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = reverse("sharing:offline")
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- public share pages ---------------------------------------------------------------------------


def _refused(request: HttpRequest, found: services.Lookup) -> HttpResponse | None:
    if found.state == services.RATE_LIMITED:
        response = render(
            request,
            "sharing/refused.html",
            {"title": _("Too many attempts"), "retry_minutes": max(1, found.retry_after // 60)},
            status=429,
        )
        response["Retry-After"] = str(found.retry_after)
        return _no_store(response)
    if found.state == services.UNKNOWN:
        raise Http404
    if found.state in (services.EXPIRED, services.REVOKED):
        services.record_view(request, found.link, ShareView.Kind.REFUSED)
        # Expired or revoked: one page for both, that says nothing about the diploma.
        return _no_store(
            render(
                request, "sharing/refused.html", {"title": _("Link no longer valid")}, status=410
            )
        )
    return None


def _private(response: HttpResponse) -> HttpResponse:
    _no_store(response)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"  # the token must not leak to other sites
    return response


@require_GET
def shared(request: HttpRequest, token: str) -> HttpResponse:
    """A share page: only what the holder chose to show, plus the diploma's live status."""
    found = services.lookup(request, token)
    refused = _refused(request, found)
    if refused is not None:
        return _private(refused)
    share = found.link
    services.record_view(request, share, ShareView.Kind.PAGE)
    diploma = share.diploma
    context = {
        "link": share,
        "diploma": diploma,
        "token": token,
        "shown": services.shown_claims(diploma.claims, share.revealed),
        "current_number": services.replacement_number(diploma),
        "has_sd_jwt": bool(diploma.sd_jwt),
    }
    return _private(render(request, "sharing/shared.html", context))


@require_GET
def shared_sd_jwt(request: HttpRequest, token: str) -> HttpResponse:
    found = services.lookup(request, token)
    refused = _refused(request, found)
    if refused is not None:
        return _private(refused)
    share = found.link
    if not share.diploma.sd_jwt:
        raise Http404
    services.record_view(request, share, ShareView.Kind.SD_JWT)
    response = HttpResponse(services.presentation(share), content_type="application/dc+sd-jwt")
    response["Content-Disposition"] = (
        f'attachment; filename="diploma-{share.diploma.number}.sd-jwt"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    return _private(response)


# --- verification ---------------------------------------------------------------------------------

# The verification page may use the camera (BarcodeDetector); every other page keeps it off.
VERIFY_PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=()"


def _too_big(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > max_upload_bytes() + 64 * 1024  # room for the form's other fields


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Anyone checks a diploma: paste a link or code, upload the PDF or JSON, or scan the QR."""
    status = 200
    context: dict[str, Any] = {"max_mb": max_upload_bytes() // (1024 * 1024)}
    if request.method == "POST" and _too_big(request):
        form = VerifyForm()
        context["too_big"] = True
        status = 413
    elif request.method == "POST":
        form = VerifyForm(request.POST, request.FILES)
        if form.is_valid():
            wait = services.verify_throttled(request)
            if wait:
                context["retry_minutes"] = max(1, wait // 60)
                status = 429
            else:
                answer = services.verify(request, form.payload())
                claims = {k: v for k, v in answer.claims.items() if k != "number"}
                context.update(answer=answer, shown=services.shown_claims(claims))
        else:
            status = 400
    else:
        form = VerifyForm()
    context["form"] = form
    context["api_url"] = request.build_absolute_uri(reverse("sharing:api_verify"))
    response = render(request, "sharing/verify.html", context, status=status)
    response["Permissions-Policy"] = VERIFY_PERMISSIONS_POLICY
    return _no_store(response)


def _api_error(reason: str, message: str, status: int, **extra: Any) -> HttpResponse:
    body = {"state": "error", "valid": False, "reason": reason, "message": message, **extra}
    return _no_store(JsonResponse(body, status=status))


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    from .api import OPENAPI

    response = JsonResponse(OPENAPI)
    response["Cache-Control"] = "public, max-age=3600"
    return response


@csrf_exempt  # a public API without cookies-based state; rate-limited per address
@require_POST
def api_verify(request: HttpRequest) -> HttpResponse:
    """POST JSON {"data": "<link, QR text, SD-JWT or credential JSON>"} or {"credential": {...}},
    or a PDF as the body (Content-Type application/pdf); answers the same verdict as the page."""
    wait = services.verify_throttled(request)
    if wait:
        response = _api_error(
            "rate_limited",
            _("Too many checks from your network. Try again in a minute."),
            429,
            retry_after=wait,
        )
        response["Retry-After"] = str(wait)
        return response
    limit = max_upload_bytes()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # Read the stream ourselves: Django's body limit (2.5 MB) is for forms, not for a PDF.
    raw = request.read(limit + 1) if length <= limit else b"x" * (limit + 1)
    if len(raw) > limit:
        return _api_error(
            "too_large",
            _("The request is larger than the limit of %(size)d MB.")
            % {"size": limit // (1024 * 1024)},
            413,
        )
    content_type = request.content_type or ""
    if content_type == "application/pdf":
        payload: bytes | str = raw
    else:
        try:
            body = json.loads(raw)
            if "credential" in body and isinstance(body["credential"], dict):
                payload = json.dumps(body["credential"], ensure_ascii=False)
            else:
                payload = body["data"]
                if not isinstance(payload, str) or not payload.strip():
                    raise TypeError
        except (ValueError, KeyError, TypeError):
            return _api_error(
                "bad_request",
                _(
                    'Send a JSON object {"data": "..."} with a share link, the text of the QR '
                    'code, an SD-JWT or a credential, or {"credential": {...}}, or a PDF.'
                ),
                400,
            )
    answer = services.verify(request, payload)
    if answer.reason == services.RATE_LIMITED:
        response = _api_error("rate_limited", answer.message, 429, retry_after=answer.retry_after)
        response["Retry-After"] = str(answer.retry_after)
        return response
    return _no_store(JsonResponse(answer.as_json(), json_dumps_params={"ensure_ascii": False}))
