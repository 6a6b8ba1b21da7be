"""Verifying any face of a diploma: the Verifiable Credential, the SD-JWT VC, the QR code, the PDF.

The checks themselves need only the published keys and status lists (`KeySet`, `StatusLists`):
`manage.py verify_diploma --keys DIR` runs them offline on the files written by
`export_diploma`. `verify_any` recognises the face and checks it online, against our current
keys, the status list and (for a replaced diploma) the number of its replacement.

A verdict says one of: valid, revoked, replaced, invalid; with a short reason for people that
reveals nothing the face does not already show (never why a diploma was revoked).
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.utils.translation import gettext_lazy as _

from . import credential as cred
from . import dataintegrity as di
from . import sdjwt
from .codec import b64url, b64url_decode, bit_at, decode_bitstring, raw_from_multikey

VALID, REVOKED, REPLACED, INVALID = "valid", "revoked", "replaced", "invalid"
FACES = ("credential", "sd-jwt", "qr", "pdf")
QR_PREFIX = "BACD1:"
MAX_INPUT = 5 * 1024 * 1024

REASONS = {
    "valid": _("This diploma is authentic and valid."),
    "revoked": _("This diploma was issued by us but has been revoked: it is no longer valid."),
    "replaced": _("This diploma has been replaced by a newer one: it is no longer valid."),
    "malformed": _("This is not a diploma we can read: it is damaged or incomplete."),
    "unknown-key": _("This diploma is signed with a key that is not ours."),
    "bad-signature": _("This diploma has been altered: its signature does not match."),
    "bad-disclosure": _("This diploma has been altered: a disclosed claim does not match."),
    "status-unavailable": _("The revocation status of this diploma could not be checked."),
    "unknown-face": _("This is not a diploma: no credential, QR code or PDF was recognised."),
    "pdf-invalid": _("This PDF is not an authentic, unaltered diploma."),
}


@dataclass
class Verdict:
    state: str
    reason: Any
    code: str
    face: str = ""
    number: str = ""
    current_number: str = ""
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == VALID

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": str(self.reason),
            "code": self.code,
            "face": self.face,
            "number": self.number,
            "current_number": self.current_number,
            "claims": self.claims,
        }


def _invalid(code: str, face: str = "") -> Verdict:
    return Verdict(INVALID, REASONS.get(code, REASONS["malformed"]), code, face)


# --- keys and status lists --------------------------------------------------------------------


@dataclass
class KeySet:
    """The published keys: Ed25519 verification methods of the DID, P-256 issuing certificates."""

    did: str
    ed25519: dict[str, Ed25519PublicKey]  # verification method id -> key
    certificates: dict[str, x509.Certificate]  # kid -> issuing certificate (ES256)
    roots: list[x509.Certificate] = field(default_factory=list)

    def ed25519_for(self, verification_method: str) -> Ed25519PublicKey | None:
        return self.ed25519.get(verification_method)

    def es256_for(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        certificate = self.certificates.get(kid)
        key = certificate.public_key() if certificate is not None else None
        return key if isinstance(key, ec.EllipticCurvePublicKey) else None

    @classmethod
    def from_documents(
        cls,
        did_document: Mapping[str, Any],
        jwks: Mapping[str, Any],
        roots: list[x509.Certificate] | None = None,
    ) -> KeySet:
        """From did.json and jwks.json as published (P-256 certificates from each JWK's x5c)."""
        did = str(did_document.get("id", ""))
        assertion = set(did_document.get("assertionMethod", []))
        ed25519 = {}
        for method in did_document.get("verificationMethod", []):
            if (
                method.get("type") == "Multikey"
                and method.get("controller") == did
                and method.get("id") in assertion
            ):
                raw = raw_from_multikey(method["publicKeyMultibase"])
                ed25519[method["id"]] = Ed25519PublicKey.from_public_bytes(raw)
        certificates = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "EC" and jwk.get("x5c"):
                certificate = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0]))
                # With a trust anchor, only the certificates it issued count.
                if roots and not any(_issued_by(certificate, root) for root in roots):
                    continue
                certificates[jwk["kid"]] = certificate
        return cls(did, ed25519, certificates, list(roots or []))

    @classmethod
    def from_directory(cls, directory: Path) -> KeySet:
        directory = Path(directory)
        roots = []
        if (directory / "ca.pem").exists():
            roots = x509.load_pem_x509_certificates((directory / "ca.pem").read_bytes())
        return cls.from_documents(
            json.loads((directory / "did.json").read_text(encoding="utf-8")),
            json.loads((directory / "jwks.json").read_text(encoding="utf-8")),
            roots,
        )


def _issued_by(certificate: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(root)
    except Exception:  # InvalidSignature, another issuer name, a key of another type
        return False
    return True


# list id -> decoded bitstring, or None when the list cannot be had
StatusLists = Callable[[str], bytes | None]
# diploma number -> (state, number of the current replacement) from the issuer's records
Lookup = Callable[[str], tuple[str, str] | None]


def status_lists_from_credentials(documents: list[Mapping[str, Any]], keys: KeySet) -> StatusLists:
    """Status lists from signed BitstringStatusListCredentials (each checked with `keys`)."""
    lists: dict[str, bytes] = {}
    for document in documents:
        try:
            proof = di.verify(document, keys.ed25519_for, cred.STATUS_CONTEXT)
        except di.ProofError:
            continue
        if proof["verificationMethod"].split("#")[0] != document.get("issuer"):
            continue
        subject = document.get("credentialSubject", {})
        if subject.get("statusPurpose") != "revocation":
            continue
        list_id = _list_id(str(document.get("id", "")))
        try:
            lists[list_id] = decode_bitstring(subject.get("encodedList", ""))
        except ValueError:
            continue
    return lists.get


# --- replacements, offline ---------------------------------------------------------------------
#
# The status list has one bit a diploma: a replaced diploma is revoked in it, like any other.
# What it was replaced by is the issuer's record; export_diploma writes it for an offline
# verifier as `replacements.jws`, a compact JWS (RFC 7515, EdDSA) signed with the Ed25519 key
# that signs the credentials, so that anyone holding did.json can check it. Payload:
# {"iss": <DID>, "iat": <seconds>, "replacements": {<replaced number>: <current number>}}.
# It only ever turns a "revoked" answer into "replaced": a diploma whose bit is clear stays valid
# whatever the file says, and a file that does not verify is ignored (the answer stays revoked).

REPLACEMENTS_FILE = "replacements.jws"
REPLACEMENTS_TYP = "bac-diploma-replacements+jws"


class ReplacementsError(ValueError):
    """A replacements file that cannot be trusted; the message says why."""


def sign_replacements(
    replacements: Mapping[str, str],
    *,
    did: str,
    verification_method: str,
    signing_key: Ed25519PrivateKey,
    issued_at: int,
) -> str:
    """The compact JWS of `replacements` (replaced number -> current number)."""
    header = {"alg": "EdDSA", "typ": REPLACEMENTS_TYP, "kid": verification_method}
    payload = {"iss": did, "iat": int(issued_at), "replacements": dict(replacements)}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        for part in (header, payload)
    )
    signature = signing_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


def read_replacements(token: str, keys: KeySet) -> dict[str, str]:
    """The replacements a JWS from sign_replacements states, checked with `keys` (the DID's
    Ed25519 keys); ReplacementsError with the reason when it cannot be trusted."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ReplacementsError("not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError as error:
        raise ReplacementsError("not a compact JWS") from error
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise ReplacementsError("not signed with EdDSA")
    if header.get("typ") != REPLACEMENTS_TYP:
        raise ReplacementsError("not a replacements file")
    kid = header.get("kid")
    key = keys.ed25519_for(kid) if isinstance(kid, str) else None
    if key is None or kid.split("#")[0] != keys.did:
        raise ReplacementsError("signed with a key that is not in did.json")
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature as error:
        raise ReplacementsError("bad signature: the file was altered") from error
    if not isinstance(payload, dict) or payload.get("iss") != keys.did:
        raise ReplacementsError("issued by another DID")
    replacements = payload.get("replacements")
    if not isinstance(replacements, dict) or not all(
        isinstance(old, str) and isinstance(new, str) for old, new in replacements.items()
    ):
        raise ReplacementsError("malformed payload")
    return dict(replacements)


def replacements_lookup(replacements: Mapping[str, str]) -> Lookup:
    """A Lookup (for _status) from a verified replacements mapping."""

    def lookup(number: str) -> tuple[str, str] | None:
        current = replacements.get(number)
        return (REPLACED, current) if current else None

    return lookup


def _list_id(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return name[: -len(".json")] if name.endswith(".json") else name


def _status(
    number: str,
    list_id: str,
    index: int,
    status_lists: StatusLists,
    lookup: Lookup | None,
    face: str,
    claims: dict[str, Any],
) -> Verdict:
    bits = status_lists(list_id)
    if bits is None:
        return Verdict(
            INVALID, REASONS["status-unavailable"], "status-unavailable", face, number, "", claims
        )
    try:
        revoked = bit_at(bits, index)
    except ValueError:
        return Verdict(INVALID, REASONS["malformed"], "malformed", face, number, "", {})
    if not revoked:
        return Verdict(VALID, REASONS["valid"], "valid", face, number, "", claims)
    state, current = REVOKED, ""
    if lookup is not None:
        found = lookup(number)
        if found is not None and found[0] == REPLACED:
            state, current = REPLACED, found[1]
    return Verdict(state, REASONS[state], state, face, number, current, claims)


# --- the faces --------------------------------------------------------------------------------


def credential_claims(vc: Mapping[str, Any]) -> dict[str, Any]:
    """What the credential states, read only from signed, pinned-context fields."""
    subject = vc.get("credentialSubject", {})
    claims: dict[str, Any] = {"number": subject.get("licenseNumber", "")}
    types = {t: k for k, t in cred.IDENTITIES}
    for identity in subject.get("identifier", []):
        kind = identity.get("identityType")
        if identity.get("hashed") is True:
            # Only that a CNIE number is bound; `cnie_matches` checks a number shown to you.
            claims["cnie_bound"] = kind == "nationalIdentityNumber"
        elif kind in types and types[kind] != "name_latin":
            claims[types[kind]] = identity.get("identityHash")
    achievement = subject.get("achievement", {})
    claims["track_fr"] = achievement.get("fieldOfStudy", "")
    claims["track"] = achievement.get("humanCode", "")
    averages = {iri: key for key, iri, _label in cred.AVERAGES}
    for result in subject.get("result", []):
        target = result.get("resultDescription")
        if target in averages:
            claims[averages[target]] = result.get("value")
        elif target == cred.MENTION_RESULT:
            claims["mention_fr"] = result.get("value")
    claims["academy_fr"] = subject.get("source", {}).get("name", "")
    claims["issued"] = vc.get("validFrom", "")
    return claims


def cnie_matches(vc: Mapping[str, Any], cnie_number: str) -> bool:
    """Whether the (verified) credential was issued to the holder of this CNIE number."""
    for identity in vc.get("credentialSubject", {}).get("identifier", []):
        if identity.get("identityType") == "nationalIdentityNumber" and identity.get("hashed"):
            expected = cred.identity_hash(cnie_number.strip().upper(), identity.get("salt", ""))
            return hmac.compare_digest(expected, str(identity.get("identityHash", "")))
    return False


def verify_credential(
    vc: Mapping[str, Any] | Any,
    *,
    keys: KeySet,
    status_list: StatusLists,
    lookup: Lookup | None = None,
    face: str = "credential",
) -> Verdict:
    if not isinstance(vc, Mapping):
        return _invalid("malformed", face)
    try:
        proof = di.verify(vc, keys.ed25519_for, cred.CONTEXT)
    except di.ProofError as error:
        return _invalid(str(error), face)
    try:
        issuer = vc["issuer"]["id"] if isinstance(vc["issuer"], Mapping) else vc["issuer"]
        if issuer != keys.did or proof["verificationMethod"].split("#")[0] != issuer:
            return _invalid("unknown-key", face)
        if "OpenBadgeCredential" not in vc["type"]:
            return _invalid("malformed", face)
        status = vc["credentialStatus"]
        if status.get("statusPurpose") != "revocation":
            return _invalid("malformed", face)
        index = int(status["statusListIndex"])
        list_id = _list_id(status["statusListCredential"])
        claims = credential_claims(vc)
    except (KeyError, TypeError, ValueError, AttributeError):
        return _invalid("malformed", face)
    return _status(claims["number"], list_id, index, status_list, lookup, face, claims)


def sd_jwt_claims(decoded: sdjwt.Decoded) -> dict[str, Any]:
    names = {name: key for key, name in sdjwt.DISCLOSABLE}
    claims = {names[name]: value for name, value in decoded.claims.items() if name in names}
    claims["number"] = decoded.payload.get("number", "")
    return claims


def verify_sd_jwt(
    text: str, *, keys: KeySet, status_list: StatusLists, lookup: Lookup | None = None
) -> Verdict:
    try:
        decoded = sdjwt.verify(text, keys.es256_for)
    except sdjwt.SdJwtError as error:
        return _invalid(error.code, "sd-jwt")
    try:
        status = decoded.payload["credential_status"]
        if status.get("statusPurpose") != "revocation":
            return _invalid("malformed", "sd-jwt")
        index = int(status["statusListIndex"])
        list_id = _list_id(status["statusListCredential"])
        if not str(decoded.payload.get("vct", "")).endswith("/diplomas/vct/baccalaureate.json"):
            return _invalid("malformed", "sd-jwt")
    except (KeyError, TypeError, ValueError, AttributeError):
        return _invalid("malformed", "sd-jwt")
    claims = sd_jwt_claims(decoded)
    return _status(claims["number"], list_id, index, status_list, lookup, "sd-jwt", claims)


def verify_qr(
    text: str, *, keys: KeySet, status_list: StatusLists, lookup: Lookup | None = None
) -> Verdict:
    from .qr import decode_qr

    verdict = decode_qr(text, keys.certificates)
    if not verdict.ok:
        code = {"unknown_kid": "unknown-key", "bad_signature": "bad-signature"}.get(
            verdict.code, "malformed"
        )
        return _invalid(code, "qr")
    claims = dict(verdict.claims)
    index = int(claims.get("status_list_index", -1))
    if index < 0:
        return _invalid("malformed", "qr")
    list_id = str(index // cred.STATUS_LIST_BITS)
    return _status(
        str(claims.get("number", "")),
        list_id,
        index % cred.STATUS_LIST_BITS,
        status_list,
        lookup,
        "qr",
        claims,
    )


def verify_pdf_file(
    data: bytes, *, keys: KeySet, status_list: StatusLists, lookup: Lookup | None = None
) -> Verdict:
    from .pdf import verify_pdf
    from .services import off_event_loop

    verdict = off_event_loop(verify_pdf, data, keys.roots or None)
    if not verdict.ok or not verdict.credential:
        return Verdict(INVALID, REASONS["pdf-invalid"], verdict.code or "pdf-invalid", "pdf")
    return verify_credential(
        verdict.credential, keys=keys, status_list=status_list, lookup=lookup, face="pdf"
    )


def recognise(data: bytes | str) -> tuple[str, Any]:
    """(face, parsed input) of what a verifier was given; face "" if none."""
    if isinstance(data, bytes | bytearray):
        if bytes(data[:5]) == b"%PDF-":
            return "pdf", bytes(data)
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return "", None
    text = data.strip().lstrip("\ufeff")
    if text.startswith(QR_PREFIX):
        return "qr", text
    if text.startswith("{"):
        try:
            return "credential", json.loads(text)
        except ValueError:
            return "", None
    if text.startswith("eyJ") and "~" in text:
        return "sd-jwt", text
    return "", None


def verify_with(
    data: bytes | str, *, keys: KeySet, status_list: StatusLists, lookup: Lookup | None = None
) -> Verdict:
    if len(data) > MAX_INPUT:
        return _invalid("malformed")
    face, parsed = recognise(data)
    if face == "":
        return _invalid("unknown-face")
    check = {
        "credential": verify_credential,
        "sd-jwt": verify_sd_jwt,
        "qr": verify_qr,
        "pdf": verify_pdf_file,
    }[face]
    try:
        return check(parsed, keys=keys, status_list=status_list, lookup=lookup)
    except Exception:  # whatever the input, a verdict, never a crash
        return _invalid("malformed", face)


# --- online: our current keys and records -----------------------------------------------------


def current_keys() -> KeySet:
    from . import keys as diploma_keys
    from . import pki

    document = diploma_keys.did_document()
    keyset = KeySet.from_documents(document, {"keys": []}, [pki.root_certificate()])
    keyset.certificates = dict(pki.issuing_certificates())
    return keyset


def database_status_lists(list_id: str) -> bytes | None:
    from .codec import raw_bitstring
    from .services import revoked_indexes

    try:
        number = int(list_id)
    except ValueError:
        return None
    return raw_bitstring(revoked_indexes(number), cred.STATUS_LIST_BITS)


def database_lookup(number: str) -> tuple[str, str] | None:
    from .models import Diploma
    from .services import current_of

    diploma = Diploma.objects.filter(number=number).first()
    if diploma is None:
        return None
    current = current_of(diploma) if diploma.status == REPLACED else diploma
    return diploma.status, current.number if current.pk != diploma.pk else ""


def verify_any(data: bytes | str) -> Verdict:
    """Recognise the face and check it against our current keys and status list."""
    return verify_with(
        data, keys=current_keys(), status_list=database_status_lists, lookup=database_lookup
    )
