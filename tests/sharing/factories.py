"""Diplomas built directly from claims (no published results needed), with their faces signed
by the issuer's real keys; and, for the pure tests, an SD-JWT with nested disclosures whose
signature is not the issuer's (they are about which disclosures a presentation keeps).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import json
import secrets
from typing import Any

from django.utils import timezone

from candidates.models import CnieDocument
from diplomas.models import Diploma

_numbers = itertools.count(1)

# Always shown; every other claim is selectively disclosable.
_PLAIN = ("number", "session_year", "track", "track_fr")


def claims_for(candidate) -> dict[str, Any]:
    """Claims shaped as diplomas.services.build_claims makes them."""
    return {
        "cnie_number": candidate.cnie_number,
        "last_name_latin": candidate.last_name_latin,
        "first_name_latin": candidate.first_name_latin,
        "last_name_ar": candidate.last_name_ar,
        "first_name_ar": candidate.first_name_ar,
        "birth_date": candidate.birth_date.isoformat(),
        "birth_place_latin": candidate.birth_place_latin,
        "birth_place_ar": candidate.birth_place_ar,
        "track": "SP",
        "track_fr": "Sciences Physiques",
        "track_ar": "العلوم الفيزيائية",
        "session": candidate.session.code,
        "session_name": candidate.session.name,
        "session_year": candidate.session.year,
        "academy": "RSK",
        "academy_fr": "Rabat-Salé-Kénitra",
        "academy_ar": "الرباط سلا القنيطرة",
        "school_fr": candidate.school.name_fr,
        "school_ar": candidate.school.name_ar,
        "decision": "admitted",
        "mention": "bien",
        "mention_fr": "Bien",
        "mention_ar": "حسن",
        "general_average": "15.37",
        "continuous_average": "15.00",
        "regional_average": "14.25",
        "national_average": "16.10",
        "grades": [
            {
                "subject": "MATH",
                "name_fr": "Mathématiques",
                "name_ar": "الرياضيات",
                "component": "national",
                "mark": "17.75",
            },
            {
                "subject": "FR",
                "name_fr": "Français",
                "name_ar": "الفرنسية",
                "component": "regional",
                "mark": "12.50",
            },
        ],
        "issued_on": timezone.localdate().isoformat(),
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def disclosure(name: str | None, value: Any) -> str:
    array = (
        [_b64(secrets.token_bytes(16)), value]
        if name is None
        else [_b64(secrets.token_bytes(16)), name, value]
    )
    return _b64(json.dumps(array, ensure_ascii=False).encode("utf-8"))


def digest(encoded: str) -> str:
    return _b64(hashlib.sha256(encoded.encode("ascii")).digest())


def make_sd_jwt(claims: dict[str, Any]) -> str:
    """Every claim but the plain ones as a disclosure; grades' elements nested one level down."""
    payload: dict[str, Any] = {
        "iss": "did:web:bac.example.ma",
        "vct": "urn:bac:diploma",
        "_sd_alg": "sha-256",
    }
    digests: list[str] = []
    disclosures: list[str] = []
    for name, value in claims.items():
        if name in _PLAIN:
            payload[name] = value
            continue
        if name == "grades":
            elements = [disclosure(None, item) for item in value]
            disclosures.extend(elements)
            value = [{"...": digest(e)} for e in elements]
        encoded = disclosure(name, value)
        disclosures.append(encoded)
        digests.append(digest(encoded))
    payload["_sd"] = sorted(digests)
    header = {"alg": "EdDSA", "typ": "dc+sd-jwt"}
    jwt = ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(b"\0" * 64)]
    )
    return "~".join([jwt, *disclosures]) + "~"


def give_cnie(candidate) -> None:
    CnieDocument.objects.create(
        candidate=candidate,
        content_type="image/jpeg",
        size=1,
        sha256="0" * 64,
        encrypted_file="x",
        is_current=True,
    )


def make_diploma(candidate, **fields) -> Diploma:
    n = next(_numbers)
    number = fields.pop("number", f"BAC-2026-{n:06d}")
    claims = claims_for(candidate)
    claims.update(fields.pop("claims", {}))
    index = fields.pop("status_list_index", 10_000 + n)
    # The real faces, signed with the issuer's keys (diplomas.services.sign_faces).
    from diplomas.services import sign_faces, signer

    credential, sd_jwt, qr = sign_faces(signer(), claims, number, index)
    values = {
        "number": number,
        "candidate": candidate,
        "session": candidate.session,
        "claims": claims,
        "issued_at": timezone.now() - datetime.timedelta(days=1),
        "status_list_index": index,
        "credential": credential,
        "sd_jwt": sd_jwt,
        "qr": qr,
    }
    values.update(fields)
    return Diploma.objects.create(**values)
