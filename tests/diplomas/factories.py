"""A realistic diploma without going through a publication: the claims a published result would
give, every face signed with the issuer's real keys (diplomas.services.sign_faces)."""

from __future__ import annotations

import datetime
import itertools

from django.utils import timezone

from diplomas.codec import new_diploma_number
from diplomas.models import Diploma
from diplomas.services import _allocate_indexes, sign_faces, signer

_serial = itertools.count(1)


def claims_for(candidate) -> dict:
    academy = candidate.school.directorate.academy
    return {
        "cnie_number": candidate.cnie_number,
        "last_name_latin": candidate.last_name_latin,
        "first_name_latin": candidate.first_name_latin,
        "last_name_ar": candidate.last_name_ar,
        "first_name_ar": candidate.first_name_ar,
        "birth_date": candidate.birth_date.isoformat(),
        "birth_place_latin": candidate.birth_place_latin,
        "birth_place_ar": candidate.birth_place_ar,
        "track": candidate.track.code,
        "track_fr": candidate.track.name_fr,
        "track_ar": candidate.track.name_ar,
        "session": candidate.session.code,
        "session_name": candidate.session.name,
        "session_year": candidate.session.year,
        "academy": academy.code,
        "academy_fr": academy.name_fr,
        "academy_ar": academy.name_ar,
        "school_fr": candidate.school.name_fr,
        "school_ar": candidate.school.name_ar,
        "decision": "admitted",
        "mention": "bien",
        "mention_fr": "Bien",
        "mention_ar": "حسن",
        "general_average": "14.80",
        "continuous_average": "15.00",
        "regional_average": "13.25",
        "national_average": "15.10",
        "grades": [],
        "issued_on": timezone.localdate().isoformat(),
    }


def make_diploma(candidate) -> Diploma:
    claims = claims_for(candidate)
    number = new_diploma_number(candidate.session.year)
    index = _allocate_indexes(1)
    credential, sd_jwt, qr = sign_faces(signer(), claims, number, index)
    return Diploma.objects.create(
        number=number,
        candidate=candidate,
        session=candidate.session,
        claims=claims,
        issued_at=timezone.now() - datetime.timedelta(hours=next(_serial)),
        status_list_index=index,
        credential=credential,
        sd_jwt=sd_jwt,
        qr=qr,
    )
