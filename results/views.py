"""Public and candidate pages of the results: thin, over results.snapshot (no ORM per lookup)."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from candidates.models import Candidate
from identity.access import candidate_required
from identity.ratelimit import client_address

from . import api
from .lookup import Query, parse_query, present
from .snapshot import FOUND, LIMITED, NOT_PUBLISHED, Outcome, lookup_public, result_for_candidate


class LookupForm(forms.Form):
    massar_code = forms.CharField(
        label=_("Massar code"),
        required=False,
        max_length=20,
        help_text=_("One letter and nine digits, as on your convocation."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    cnie_number = forms.CharField(
        label=_("or CNIE number"),
        required=False,
        max_length=20,
        help_text=_("Only if you do not have your Massar code."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    birth_date = forms.CharField(
        label=_("Birth date"),
        required=False,
        max_length=20,
        help_text=_("As on your candidate file (day/month/year)."),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
    )

    query: Query | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        query, errors = parse_query(
            data.get("massar_code", ""), data.get("cnie_number", ""), data.get("birth_date", "")
        )
        for field, code in errors.items():
            target = "massar_code" if field == "identifier" else field
            self.add_error(target, api.error_message(field, code))
        self.query = query
        return data


def shown(outcome: Outcome | None) -> dict[str, Any] | None:
    """What the templates show of a found result, in the active language."""
    if outcome is None or outcome.status != FOUND or outcome.entry is None:
        return None
    language = translation.get_language() or "fr"
    published_at = None
    if outcome.publish_at is not None:
        published_at = datetime.datetime.fromtimestamp(outcome.publish_at, tz=datetime.UTC)
    result = present(outcome.entry, outcome.names, api.labels(language), language, None)
    result["published_at"] = published_at
    if result.get("corrected_at"):
        result["corrected_at"] = datetime.datetime.fromtimestamp(
            result["corrected_at"], tz=datetime.UTC
        )
    return result


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def lookup(request: HttpRequest) -> HttpResponse:
    """Anyone: a result by Massar code (or CNIE number) and birth date."""
    form = LookupForm(request.POST if request.method == "POST" else None)
    outcome: Outcome | None = None
    message = ""
    status = 200
    if request.method == "POST" and form.is_valid() and form.query is not None:
        try:
            outcome = lookup_public(form.query, client_address(request))
        except Exception:
            api.logger.exception("results lookup failed")
            message, status = str(api.UNAVAILABLE_MESSAGE), 503
        else:
            if outcome.status == LIMITED:
                message, status = api.wait_message(outcome.retry_after), 429
            elif outcome.status == NOT_PUBLISHED:
                message = str(api.NOT_PUBLISHED_MESSAGE)
            elif outcome.status != FOUND:
                message = str(api.NOT_FOUND_MESSAGE)
    response = render(
        request,
        "results/lookup.html",
        {"form": form, "result": shown(outcome), "message": message},
        status=status,
    )
    if status == 429 and outcome is not None:
        response["Retry-After"] = str(outcome.retry_after)
    return _no_store(response)


def _candidate_of(user) -> Candidate | None:
    return (
        Candidate.objects.filter(user=user)
        .select_related("session")
        .order_by("-session__year")
        .first()
    )


@candidate_required
def mine(request: HttpRequest) -> HttpResponse:
    """The signed-in candidate's result."""
    candidate = _candidate_of(request.user)
    outcome = result_for_candidate(candidate) if candidate is not None else None
    return _no_store(
        render(
            request,
            "results/mine.html",
            {"candidate": candidate, "result": shown(outcome), "outcome": outcome},
        )
    )


def export_key(request: HttpRequest) -> HttpResponse:
    """The public key that verifies the static export's documents (JWKS)."""
    from .export import public_jwks

    response = JsonResponse(public_jwks())
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def openapi(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(api.OPENAPI)
    response["Cache-Control"] = "public, max-age=3600"
    return response
