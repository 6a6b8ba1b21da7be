"""Diplomas built directly (independent of issuance) and an SD-JWT in the standard format.

The SD-JWT here is structurally exact (issuer JWT whose `_sd` digests match the disclosures)
but its signature is not the issuer's: these tests are about which disclosures a link keeps,
not about signatures, which diplomas' own tests cover.
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
    return {
        "number": "",
        "last_name_latin": candidate.last_name_latin,
        "first_name_latin": candidate.first_name_latin,
        "last_name_ar": candidate.last_name_ar,
        "first_name_ar": candidate.first_name_ar,
        "birth_date": candidate.birth_date.isoformat(),
        "birth_place_latin": candidate.birth_place_latin,
        "birth_place_ar": candidate.birth_place_ar,
        "cnie_number": candidate.cnie_number,
        "track": "SP",
        "track_fr": "Sciences Physiques",
        "track_ar": "العلوم الفيزيائية",
        "session_year": 2026,
        "academy_fr": "Rabat-Salé-Kénitra",
        "academy_ar": "الرباط سلا القنيطرة",
        "general_average": "15.37",
        "mention": "bien",
        "national_average": "16.10",
        "regional_average": "14.25",
        "continuous_average": "15.00",
        "grades": [
            {"subject": "MATH", "subject_fr": "Mathématiques", "component": "national", "mark": "17.75"},
            {"subject": "FR", "subject_fr": "Français", "component": "regional", "mark": "12.50"},
        ],
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def disclosure(name: str | None, value: Any) -> str:
    array = [_b64(secrets.token_bytes(16)), value] if name is None else [
        _b64(secrets.token_bytes(16)), name, value
    ]
    return _b64(json.dumps(array, ensure_ascii=False).encode("utf-8"))


def digest(encoded: str) -> str:
    return _b64(hashlib.sha256(encoded.encode("ascii")).digest())


def make_sd_jwt(claims: dict[str, Any]) -> str:
    """Every claim but the plain ones as a disclosure; grades' elements nested one level down."""
    payload: dict[str, Any] = {"iss": "did:web:bac.example.ma", "vct": "urn:bac:diploma", "_sd_alg": "sha-256"}
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
    claims["number"] = number
    claims.update(fields.pop("claims", {}))
    values = {
        "number": number,
        "candidate": candidate,
        "session": candidate.session,
        "claims": claims,
        "issued_at": timezone.now() - datetime.timedelta(days=1),
        "status_list_index": 10_000 + n,
        "credential": {"type": ["VerifiableCredential", "OpenBadgeCredential"], "id": number},
        "sd_jwt": make_sd_jwt(claims),
        "qr": f"BACD1:TEST{n}",
    }
    values.update(fields)
    return Diploma.objects.create(**values)
