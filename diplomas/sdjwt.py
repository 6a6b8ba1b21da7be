"""The diploma as an SD-JWT VC (IETF SD-JWT, RFC 9901; SD-JWT-based Verifiable Credentials).
Pure module (no Django).

    <issuer-signed JWT>~<disclosure>~<disclosure>~...~
    JWT header  {"alg": "ES256", "typ": "dc+sd-jwt", "kid": ..., "x5c": [issuing certificate]}
    JWT payload {"iss", "iat", "vct", "number", "credential_status", "_sd_alg": "sha-256",
                 "_sd": [base64url(SHA-256(disclosure)), ...]}
    disclosure  base64url(UTF-8 JSON [salt, claim name, value])

Every personal claim is a disclosure: the holder removes those they do not want to show, and
what remains still verifies. The number and the status entry stay in clear, so that any
presentation can be checked for revocation. No holder binding (`cnf`): not required here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .codec import b64url, b64url_decode, b64url_many

TYP = "dc+sd-jwt"
MAX_LENGTH = 64_000
# Claims of the diploma as SD-JWT VC claim names (SD-JWT VC / OpenID names where they exist).
DISCLOSABLE = (
    ("cnie_number", "national_id_number"),
    ("last_name_latin", "family_name"),
    ("first_name_latin", "given_name"),
    ("last_name_ar", "family_name_ar"),
    ("first_name_ar", "given_name_ar"),
    ("birth_date", "birthdate"),
    ("birth_place_latin", "place_of_birth"),
    ("birth_place_ar", "place_of_birth_ar"),
    ("track", "track"),
    ("track_fr", "track_name"),
    ("track_ar", "track_name_ar"),
    ("session_year", "session_year"),
    ("academy_fr", "academy"),
    ("academy_ar", "academy_ar"),
    ("general_average", "general_average"),
    ("national_average", "national_average"),
    ("regional_average", "regional_average"),
    ("continuous_average", "continuous_average"),
    ("mention", "mention"),
    ("grades", "grades"),
)
RESERVED = {"iss", "iat", "nbf", "exp", "vct", "cnf", "status", "_sd", "_sd_alg", "..."}


class SdJwtError(ValueError):
    """code: malformed, unknown-key, bad-signature, bad-disclosure."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# What JSONEncoder.encode itself calls for a string (the C function): most claims are strings.
_encode_string = json.encoder.encode_basestring


def _json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


def _json_value(value: Any) -> str:
    return _encode_string(value) if type(value) is str else _ENCODER.encode(value)


def disclosure_digest(disclosure: str) -> str:
    return b64url(hashlib.sha256(disclosure.encode("ascii")).digest())


def _disclosure(salt: str, name: str, value: Any) -> str:
    # The bytes of _json([salt, name, value]), written around the value: the salt is base64url
    # and the names are ours (plain ASCII, nothing to escape), so only the value is encoded.
    return b64url(f'["{salt}","{name}",{_json_value(value)}]'.encode())


def make_disclosure(name: str, value: Any, salt: str | None = None) -> str:
    return b64url(_json([salt or b64url(secrets.token_bytes(16)), name, value]))


_ES256 = ec.ECDSA(hashes.SHA256())


@functools.lru_cache(maxsize=16)
def _header_b64(kid: str, x5c: tuple[str, ...]) -> str:
    """The JWT header of a signer, encoded once per signer, not once per diploma."""
    header: dict[str, Any] = {"alg": "ES256", "typ": TYP, "kid": kid}
    if x5c:
        header["x5c"] = list(x5c)
    return b64url(_json(header))


def issue(
    claims: Mapping[str, Any],
    *,
    number: str,
    issuer: str,
    vct: str,
    issued_at: int,
    status: Mapping[str, Any],
    private_key: ec.EllipticCurvePrivateKey,
    kid: str,
    x5c: list[str] | None = None,
) -> str:
    disclosures = []
    random = secrets.token_bytes(16 * len(DISCLOSABLE))  # one system call, not twenty
    salts = b64url_many([random[start : start + 16] for start in range(0, len(random), 16)], 16)
    for (key, name), salt in zip(DISCLOSABLE, salts, strict=True):
        value = claims.get(key)
        if value is None or value == "":
            continue
        disclosures.append(_disclosure(salt, name, value))
    digests = [hashlib.sha256(d.encode("ascii")).digest() for d in disclosures]
    payload = {
        "iss": issuer,
        "iat": issued_at,
        "vct": vct,
        "number": number,
        "credential_status": dict(status),
        "_sd_alg": "sha-256",
        # Sorted digests: their order says nothing about which claim is which.
        "_sd": sorted(b64url_many(digests, 32)),  # disclosure_digest() of each
    }
    signing_input = _header_b64(kid, tuple(x5c or ())) + "." + b64url(_json(payload))
    der = private_key.sign(signing_input.encode("ascii"), _ES256)
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input + "." + b64url(signature) + "~" + "".join(d + "~" for d in disclosures)


def present(sd_jwt: str, keep: set[str] | frozenset[str]) -> str:
    """The same SD-JWT with only the disclosures of the claims named in `keep`."""
    parts = sd_jwt.split("~")
    kept = []
    for disclosure in parts[1:-1]:
        try:
            name = json.loads(b64url_decode(disclosure))[1]
        except (ValueError, IndexError, TypeError):
            continue
        if name in keep:
            kept.append(disclosure)
    return parts[0] + "~" + "".join(d + "~" for d in kept)


@dataclass
class Decoded:
    header: dict[str, Any]
    payload: dict[str, Any]
    claims: dict[str, Any] = field(default_factory=dict)  # disclosed claims only


def verify(text: str, resolve_key: Callable[[str], ec.EllipticCurvePublicKey | None]) -> Decoded:
    """Check the signature and every disclosure; returns what is disclosed. Raises SdJwtError."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH or "~" not in text:
        raise SdJwtError("malformed")
    parts = text.strip().split("~")
    if parts[-1] != "":
        # A key binding JWT after the last "~": we issue none, so we accept none.
        raise SdJwtError("malformed")
    jwt, disclosures = parts[0], parts[1:-1]
    try:
        header_b64, payload_b64, signature_b64 = jwt.split(".")
        header = json.loads(b64url_decode(header_b64))
        payload = json.loads(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, TypeError) as exc:
        raise SdJwtError("malformed") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise SdJwtError("malformed")
    if header.get("alg") != "ES256" or header.get("typ") != TYP or len(signature) != 64:
        raise SdJwtError("malformed")
    key = resolve_key(str(header.get("kid", "")))
    if key is None:
        raise SdJwtError("unknown-key")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, f"{header_b64}.{payload_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SdJwtError("bad-signature") from None
    if payload.get("_sd_alg") != "sha-256" or not isinstance(payload.get("_sd", []), list):
        raise SdJwtError("malformed")
    digests = set(payload.get("_sd", []))
    claims: dict[str, Any] = {}
    seen: set[str] = set()
    for disclosure in disclosures:
        digest = disclosure_digest(disclosure)
        if digest not in digests or digest in seen:
            raise SdJwtError("bad-disclosure")
        seen.add(digest)
        try:
            item = json.loads(b64url_decode(disclosure))
        except (ValueError, TypeError) as exc:
            raise SdJwtError("bad-disclosure") from exc
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[1], str):
            raise SdJwtError("bad-disclosure")
        if item[1] in RESERVED or item[1] in claims or item[1] in payload:
            raise SdJwtError("bad-disclosure")
        claims[item[1]] = item[2]
    return Decoded(header, payload, claims)
