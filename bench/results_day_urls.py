"""The production URLs plus (b): a straightforward ORM-backed lookup, for comparison only."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from candidates.models import Candidate
from results.models import Publication, PublishedResult


@csrf_exempt
def orm_lookup(request: HttpRequest) -> JsonResponse:
    """What a first version would do: find the candidate, then their current published row."""
    try:
        data = json.loads(request.body)
        code, birth = data["massar_code"], data["birth_date"]
    except (ValueError, KeyError):
        return JsonResponse({"status": "invalid"}, status=400)
    candidate = (
        Candidate.objects.select_related("track", "session")
        .filter(massar_code=code, birth_date=birth)
        .first()
    )
    if candidate is None:
        return JsonResponse({"status": "not_found"}, status=404)
    row = (
        PublishedResult.objects.filter(
            candidate=candidate,
            publication__kind=Publication.Kind.FULL,
            publication__status=Publication.Status.READY,
            publication__publish_at__lte=timezone.now(),
        )
        .select_related("publication")
        .order_by("-publication__version")
        .first()
    )
    if row is None:
        return JsonResponse({"status": "not_found"}, status=404)
    return JsonResponse(
        {
            "status": "found",
            "massar_code": candidate.massar_code,
            "name": f"{candidate.first_name_latin} {candidate.last_name_latin}",
            "track": candidate.track.name_fr,
            "session": candidate.session.name,
            "version": row.publication.version,
            "general_average": str(row.general_average),
            "decision": row.get_decision_display(),
            "mention": row.get_mention_display(),
        }
    )


urlpatterns = [
    path("bench/orm-lookup", orm_lookup),
    path("", include("bac.urls")),
]
