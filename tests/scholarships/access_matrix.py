"""Who may reach the scholarship pages (format: tests/privacy/matrix.py).

The world holds an open programme for the current session and candidate A's application,
filled and submitted through the services (so it is in the commission's scope), with its
supporting documents. Candidate B has no application: B's pages about an application answer
404, never a hint of A's. The commission: academy staff of A's academy and of the other
academy sit for their academy, the ministry persona for the nation; the school clerks are not
(and cannot be) members, so every commission page refuses them (403).

Ranking and the import of the social register are for national members only: an academy
member's POST is refused by the service (a message and a redirect, nothing changed), which
the status alone cannot tell apart; tests/scholarships/test_commission.py covers it.
"""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

from django.utils import timezone

from tests.privacy.matrix import (
    ACADEMY_AND_MINISTRY,
    ACADEMY_OBJECT,
    CANDIDATE,
    LOGIN,
    MINISTRY,
    OK,
    OWNER,
    Entry,
    profile,
)

# Candidate pages that need an application: A (who has one) as given, B (none) 404.
HAS_APPLICATION = profile(403, anonymous=LOGIN, candidate_a=200, candidate_b=404)
# POST-only candidate actions: GET is 405 once the candidate check passed, for A and B.
CANDIDATE_POST_ONLY = profile(403, anonymous=LOGIN, candidate_a=405, candidate_b=405)
# Their POST: A's application is acted upon (a redirect), B has none (404).
CANDIDATE_POST_ON_APPLICATION = profile(403, anonymous=LOGIN, candidate_a=OK, candidate_b=404)
# POST-only commission actions: GET is 405 for every member, 403 for anyone else.
COMMISSION_POST_ONLY = profile(403, anonymous=LOGIN, academy=405, academy_other=405, ministry=405)
# Their POST: every member passes the checks (a redirect back to the list).
COMMISSION_POST = profile(403, anonymous=LOGIN, academy=OK, academy_other=OK, ministry=OK)

ENTRIES = {
    # The candidate's file page: for every candidate, with or without an application.
    "scholarships:mine": Entry(CANDIDATE),
    # Starting: A already has one (refused, redirect), B may start one (or is refused): both OK.
    "scholarships:start": Entry(
        CANDIDATE_POST_ONLY, post=profile(403, anonymous=LOGIN, candidate_a=OK, candidate_b=OK)
    ),
    # A's application is submitted: its steps are closed (redirect to the file page).
    "scholarships:step": Entry(
        profile(403, anonymous=LOGIN, candidate_a=302, candidate_b=404),
        kwargs={"step": "=identity"},
        post=profile(403, anonymous=LOGIN, candidate_a=302, candidate_b=404),
    ),
    "scholarships:review": Entry(HAS_APPLICATION),
    "scholarships:submit": Entry(CANDIDATE_POST_ONLY, post=CANDIDATE_POST_ON_APPLICATION),
    "scholarships:receipt": Entry(OWNER),
    "scholarships:appeal": Entry(CANDIDATE_POST_ONLY, post=CANDIDATE_POST_ON_APPLICATION),
    # A supporting document: its owner only; another candidate gets 404, staff 403.
    "scholarships:my_document": Entry(OWNER, kwargs={"pk": "scholarship_document_a.pk"}),
    # The commission: members only (academy members of both academies, the national member).
    "scholarships:commission_list": Entry(ACADEMY_AND_MINISTRY),
    "scholarships:commission_statistics": Entry(ACADEMY_AND_MINISTRY),
    "scholarships:commission_export": Entry(ACADEMY_AND_MINISTRY, kwargs={"fmt": "=csv"}),
    # The empty form is answered 400 to members: OK.
    "scholarships:commission_register": Entry(ACADEMY_AND_MINISTRY, post=True),
    "scholarships:commission_bulk": Entry(COMMISSION_POST_ONLY, post=COMMISSION_POST),
    "scholarships:commission_rank": Entry(COMMISSION_POST_ONLY, post=COMMISSION_POST),
    # A's application and document: outside the other academy's scope (404).
    "scholarships:commission_detail": Entry(
        ACADEMY_OBJECT, kwargs={"pk": "scholarship_application_a.pk"}, post=True
    ),
    "scholarships:commission_appeal": Entry(
        profile(403, anonymous=LOGIN, academy=405, academy_other=405, ministry=405),
        kwargs={"pk": "scholarship_application_a.pk"},
        post=profile(403, anonymous=LOGIN, academy=OK, academy_other=404, ministry=OK),
    ),
    "scholarships:commission_document": Entry(
        ACADEMY_OBJECT, kwargs={"pk": "scholarship_document_a.pk"}
    ),
    # The programme's configuration: ministry staff (the empty form is answered 400: OK).
    "scholarships:programme": Entry(MINISTRY, post=True),
}


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 220, 210)).save(buffer, "PNG")
    return buffer.getvalue()


def seed_application(candidate, *, programme=None):
    """An open programme of the candidate's session (unless given) and the candidate's
    application, filled through the services as the form does (a household member, incomes,
    registers, studies, two documents) and submitted. Returns (programme, application, the
    last document uploaded)."""
    from scholarships import services

    if programme is None:
        values = services.default_values(candidate.session)
        values["opens_at"] = timezone.now() - datetime.timedelta(days=1)
        values["closes_at"] = timezone.now() + datetime.timedelta(days=20)
        programme = services.create_programme(candidate.session, None, values)
    actor = candidate.user
    application = services.start_application(candidate, actor)
    services.save_step(application, actor, "identity", {"address": "12 rue Atlas, Rabat"})
    services.add_member(application, actor, {"relation": "mother", "age": 45, "situation": "other"})
    services.save_step(application, actor, "household", {})
    services.save_step(
        application,
        actor,
        "incomes",
        {"household_income": Decimal("24000"), "other_income": Decimal("0"), "employed": False},
    )
    services.save_step(
        application,
        actor,
        "registers",
        {"rnp_number": "RNP0001", "rsu_number": "RSU0001", "rsu_index": Decimal("7.5")},
    )
    services.save_step(
        application,
        actor,
        "studies",
        {
            "institution": "Université Mohammed V",
            "institution_city": "Rabat",
            "field_of_study": "Physique",
            "public_institution": True,
        },
    )
    document = None
    for kind in ("income_certificate", "rsu_certificate"):
        document = services.upload_document(application, actor, kind, io.BytesIO(_png()))
    services.save_step(application, actor, "documents", {})
    return programme, services.submit(application, actor), document


def world_objects(objects: dict, users: dict) -> dict:
    """An open programme, candidate A's submitted application with its documents, and the
    commission: both academy personas for their academy, the ministry persona for the nation."""
    from scholarships.models import CommissionMember

    CommissionMember.objects.create(user=users["academy"], academy=objects["academy"])
    CommissionMember.objects.create(user=users["academy_other"], academy=objects["other_academy"])
    CommissionMember.objects.create(user=users["ministry"])
    programme, application, document = seed_application(objects["candidate_a"])
    return {
        "scholarship_programme": programme,
        "scholarship_application_a": application,
        "scholarship_document_a": document,
    }
