"""The convocation QR code: CBOR claims in a COSE_Sign1 envelope (Ed25519), base45 text.

Pure module (no Django): the same code signs on the server, verifies in the API and in
`bench/convocations.py`, and is mirrored by `static/convocations/check.js` for the offline
check in the invigilator's browser.

    text   = "BACV1:" + base45(COSE_Sign1)
    COSE   = tag 18 [protected: bstr .cbor {1: -8 (EdDSA), 4: kid}, unprotected: {},
                     payload: bstr .cbor claims, signature: bstr (64 bytes)]
    signed = CBOR ["Signature1", protected, h'', payload]   (RFC 9052 §4.4)

base45 (RFC 9285) uses exactly the QR code's alphanumeric character set, so the text packs
into 5.5 bits a character instead of 8. The kid is the first 8 bytes of the SHA-256 of the
raw public key; the published JWKS carries it base64url-encoded.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "BACV1:"
COSE_SIGN1_TAG = 18
ALG_EDDSA = -8
MAX_TEXT_LENGTH = 2000  # a real convocation is ~330 characters; refuse anything absurd early


class MalformedError(ValueError):
    """The text is not a convocation code: wrong prefix, bad base45, bad CBOR or structure."""


# --- CBOR (RFC 8949), the subset we need: ints, strings, bytes, arrays, maps, tags ------------


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    if value < 0x100:
        return bytes([major << 5 | 24, value])
    if value < 0x10000:
        return bytes([major << 5 | 25]) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes([major << 5 | 26]) + value.to_bytes(4, "big")
    return bytes([major << 5 | 27]) + value.to_bytes(8, "big")


@dataclass(frozen=True)
class Tag:
    number: int
    value: Any


def cbor_encode(value: Any) -> bytes:
    """Deterministic CBOR: shortest heads, definite lengths, map keys in the given order."""
    if isinstance(value, bool) or value is None:
        return bytes([0xF5 if value is True else 0xF4 if value is False else 0xF6])
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(cbor_encode(item) for item in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(
            cbor_encode(k) + cbor_encode(v) for k, v in value.items()
        )
    if isinstance(value, Tag):
        return _head(6, value.number) + cbor_encode(value.value)
    raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise MalformedError("truncated CBOR")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def item(self, depth: int = 0) -> Any:
        if depth > 8:
            raise MalformedError("CBOR nested too deeply")
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            simple = {20: False, 21: True, 22: None}
            if info in simple:
                return simple[info]
            raise MalformedError("unsupported CBOR simple value or float")
        if info < 24:
            argument = info
        elif info <= 27:
            argument = int.from_bytes(self.take(1 << (info - 24)), "big")
        else:
            raise MalformedError("indefinite or reserved CBOR length")
        if major == 0:
            return argument
        if major == 1:
            return -1 - argument
        if major == 2:
            return self.take(argument)
        if major == 3:
            try:
                return self.take(argument).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedError("invalid UTF-8 in CBOR text") from None
        if major == 4:
            if argument > 64:
                raise MalformedError("CBOR array too long")
            return [self.item(depth + 1) for _ in range(argument)]
        if major == 5:
            if argument > 64:
                raise MalformedError("CBOR map too long")
            result: dict[Any, Any] = {}
            for _ in range(argument):
                key = self.item(depth + 1)
                if not isinstance(key, int | str) or key in result:
                    raise MalformedError("bad or duplicate CBOR map key")
                result[key] = self.item(depth + 1)
            return result
        return Tag(argument, self.item(depth + 1))


def cbor_decode(data: bytes) -> Any:
    reader = _Reader(data)
    value = reader.item()
    if reader.pos != len(data):
        raise MalformedError("trailing bytes after CBOR item")
    return value


# --- base45 (RFC 9285) ---------------------------------------------------------------------

BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_BASE45_VALUE = {c: i for i, c in enumerate(BASE45_ALPHABET)}


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += (BASE45_ALPHABET[c], BASE45_ALPHABET[d], BASE45_ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (BASE45_ALPHABET[c], BASE45_ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    try:
        values = [_BASE45_VALUE[c] for c in text]
    except KeyError:
        raise MalformedError("character outside the base45 alphabet") from None
    if len(values) % 3 == 1:
        raise MalformedError("base45 text has a dangling character")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 2025
            if n > 0xFFFF:
                raise MalformedError("base45 triplet out of range")
            out += n.to_bytes(2, "big")
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise MalformedError("base45 pair out of range")
            out.append(n)
    return bytes(out)


# --- keys ------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> bytes:
    """The kid: the first 8 bytes of the SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public_key(public_key)).digest()[:8]


# --- claims ------------------------------------------------------------------------------------

# Claim keys: small integers keep the QR code small. Changing one is a new PREFIX version.
_CLAIM_KEYS = {
    "number": 1,
    "massar_code": 2,
    "last_name": 3,
    "first_name": 4,
    "birth_date": 5,
    "cnie_last4": 6,
    "centre": 7,
    "room": 8,
    "session": 9,
    "issued_at": 10,
    "file_hash": 11,
    "version": 12,
}
_CLAIM_TYPES = {name: str for name in _CLAIM_KEYS} | {
    "issued_at": int,
    "file_hash": bytes,
    "version": int,
}


@dataclass(frozen=True)
class Claims:
    """What the QR code says. `file_hash` is the first 8 bytes of the printed fields' hash."""

    number: str
    massar_code: str
    last_name: str
    first_name: str
    birth_date: str  # ISO 8601
    cnie_last4: str
    centre: str
    room: str
    session: str
    issued_at: int  # Unix time, seconds
    file_hash: bytes
    version: int

    def to_cbor(self) -> bytes:
        return cbor_encode({key: getattr(self, name) for name, key in _CLAIM_KEYS.items()})

    @classmethod
    def from_cbor(cls, data: bytes) -> Claims:
        raw = cbor_decode(data)
        if not isinstance(raw, dict):
            raise MalformedError("claims are not a map")
        values = {}
        for name, key in _CLAIM_KEYS.items():
            value = raw.get(key)
            if not isinstance(value, _CLAIM_TYPES[name]) or isinstance(value, bool):
                raise MalformedError(f"claim {name} missing or of the wrong type")
            values[name] = value
        try:
            date.fromisoformat(values["birth_date"])
        except ValueError:
            raise MalformedError("claim birth_date is not a date") from None
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _CLAIM_KEYS}
        data["file_hash"] = self.file_hash.hex()
        return data


# --- signing and verifying ----------------------------------------------------------------------


def _protected(kid: bytes) -> bytes:
    return cbor_encode({1: ALG_EDDSA, 4: kid})


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor_encode(["Signature1", protected, b"", payload])


def sign(claims: Claims, private_key: Ed25519PrivateKey) -> str:
    """The QR text for `claims`, signed by `private_key` (deterministic: Ed25519)."""
    kid = key_id(private_key.public_key())
    protected = _protected(kid)
    payload = claims.to_cbor()
    signature = private_key.sign(_sig_structure(protected, payload))
    cose = cbor_encode(Tag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    return PREFIX + b45encode(cose)


class Reason:
    """Why a code is not valid (stable strings, also used by the API and check.js)."""

    MALFORMED = "malformed"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    # Decided by the register, not by the code itself (convocations.services):
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Verification:
    valid: bool
    reason: str | None = None
    claims: Claims | None = None
    kid: str | None = None  # base64url


def normalise(text: str) -> str:
    """Strip what a scanner or a paste adds around the code. Only leading whitespace and line
    breaks go: a space is a base45 character, so a trailing one may belong to the code."""
    return text.lstrip().rstrip("\r\n\t")


def verify(text: str, public_keys: Mapping[str, Ed25519PublicKey]) -> Verification:
    """Check a QR text against the published keys (kid base64url -> key). Never raises."""
    text = normalise(text)
    if not text.startswith(PREFIX) or len(text) > MAX_TEXT_LENGTH:
        return Verification(False, Reason.MALFORMED)
    try:
        cose = cbor_decode(b45decode(text[len(PREFIX) :]))
        if isinstance(cose, Tag):
            if cose.number != COSE_SIGN1_TAG:
                raise MalformedError("not a COSE_Sign1 tag")
            cose = cose.value
        if not (isinstance(cose, list) and len(cose) == 4):
            raise MalformedError("not a COSE_Sign1 array")
        protected, _unprotected, payload, signature = cose
        if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
            raise MalformedError("COSE_Sign1 parts of the wrong type")
        header = cbor_decode(protected)
        if not isinstance(header, dict) or header.get(1) != ALG_EDDSA:
            raise MalformedError("algorithm is not EdDSA")
        kid_bytes = header.get(4)
        if not isinstance(kid_bytes, bytes) or not kid_bytes:
            raise MalformedError("no key id")
        claims = Claims.from_cbor(payload)
    except MalformedError:
        return Verification(False, Reason.MALFORMED)
    kid = b64url(kid_bytes)
    key = public_keys.get(kid)
    if key is None:
        return Verification(False, Reason.UNKNOWN_KID, kid=kid)
    try:
        key.verify(signature, _sig_structure(protected, payload))
    except InvalidSignature:
        return Verification(False, Reason.BAD_SIGNATURE, kid=kid)
    return Verification(True, None, claims, kid)
