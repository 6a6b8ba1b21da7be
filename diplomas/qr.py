"""The diploma's QR face: a compact signed record a phone verifies offline, as the EU digital
COVID certificate does (CBOR → COSE_Sign1 → zlib → base45), signed ES256 by the issuing
certificate of diplomas.pki.

    text    = "BACD1:" + base45(zlib(COSE_Sign1))
    COSE    = tag 18 [protected: bstr .cbor {1: -7 (ES256), 4: kid (8 bytes)},
                      unprotected: {}, payload: bstr .cbor claims,
                      signature: bstr (64 bytes: r || s, RFC 9053 §2.1)]
    signed  = CBOR ["Signature1", protected, h'', payload]   (RFC 9052 §4.4)

The kid is the first 8 bytes of the SHA-256 of the issuing certificate's DER (pki.kid_bytes);
verifiers look the certificate up in the published set (pki.issuing_certificates(), or the
certificates an offline verifier was given).

Claims (CBOR map with small integer keys; a change of meaning is a new prefix version):

     1 number             text   the diploma number
     2 last_name_latin    text
     3 first_name_latin   text
     4 last_name_ar       text
     5 first_name_ar      text
     6 birth_date         text   ISO 8601 date
     7 track              text   the track's code
     8 session_year       uint
     9 mention            text   "", "passable", "assez_bien", "bien", "tres_bien"
    10 status_list_index  uint   position in the issuer's Bitstring Status List
    11 issued_on          text   ISO 8601 date
    12 average            uint   optional: the general average in hundredths (1537 = 15.37)
    13 academy            text   optional: the issuing academy's code

The CNIE number is never in the code: a printed or shown QR code leaks what it carries.
CBOR and base45 are those of convocations.codec (a pure module, shared), which decodes them;
the encoding side is written for speed in diplomas.codec (tests/diplomas/test_codec.py checks
the two agree).
"""

from __future__ import annotations

import functools
import re
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

import segno
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from django.utils.translation import gettext_lazy as _

from convocations.codec import (
    MalformedError,
    Tag,
    b45decode,
    b64url,
    cbor_decode,
    cbor_encode,
)

from . import pki
from .codec import b45encode, cbor_bytes, cbor_head, cbor_text

PREFIX = "BACD1:"
COSE_SIGN1_TAG = 18
ALG_ES256 = -7
MAX_TEXT_LENGTH = 1500  # a real diploma code is ~350 characters; refuse anything absurd early
MAX_COSE_BYTES = 2048  # zlib output bound: a decompression bomb stops here
MAX_TEXT_CLAIM = 100

CLAIM_KEYS: dict[str, int] = {
    "number": 1,
    "last_name_latin": 2,
    "first_name_latin": 3,
    "last_name_ar": 4,
    "first_name_ar": 5,
    "birth_date": 6,
    "track": 7,
    "session_year": 8,
    "mention": 9,
    "status_list_index": 10,
    "issued_on": 11,
    "average": 12,
    "academy": 13,
}
_NAMES = {key: name for name, key in CLAIM_KEYS.items()}
OPTIONAL = frozenset({"average", "academy"})
_INTEGERS = frozenset({"session_year", "status_list_index", "average"})
_DATES = frozenset({"birth_date", "issued_on"})


class Reason:
    """Stable codes of a verdict (the API and scripts read these; people read `reason`)."""

    VALID = "valid"
    BAD_PREFIX = "bad_prefix"
    NOT_BASE45 = "not_base45"
    NOT_ZLIB = "not_zlib"
    BAD_COSE = "bad_cose"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"


REASONS = {
    Reason.VALID: _("The diploma's signature is valid."),
    Reason.BAD_PREFIX: _("This is not a diploma QR code."),
    Reason.NOT_BASE45: _("The code is damaged: it is not valid base45 text."),
    Reason.NOT_ZLIB: _("The code is damaged: its content cannot be decompressed."),
    Reason.BAD_COSE: _("The code is damaged: it is not a signed diploma record."),
    Reason.UNKNOWN_KID: _("The code was signed with a key the ministry does not know."),
    Reason.BAD_SIGNATURE: _("The signature does not match: the code was altered or forged."),
}


@dataclass(frozen=True)
class QrVerdict:
    ok: bool
    reason: str  # translatable text for people (a lazy string)
    claims: dict[str, Any] = field(default_factory=dict)  # empty unless ok
    kid: str | None = None  # base64url, once the header could be read
    code: str = Reason.VALID  # stable machine-readable reason


def _verdict(code: str, claims: dict | None = None, kid: str | None = None) -> QrVerdict:
    return QrVerdict(code == Reason.VALID, REASONS[code], claims or {}, kid, code)


# --- claims ------------------------------------------------------------------------------------


def _iso_date(value: Any, name: str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        date.fromisoformat(value)  # ValueError if not a date
        return value
    raise ValueError(f"claim {name} must be a date")


def _hundredths(value: Any) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("claim average must be a number") from None
    return int((amount * 100).to_integral_value())


def claims_to_cbor(claims: Mapping[str, Any]) -> bytes:
    """The payload: the claims under their integer keys, in key order (deterministic). The CBOR
    map is written directly (keys 1..13 are one-byte heads; values are text or unsigned
    integers): the same bytes as convocations.codec.cbor_encode of the map, faster."""
    unknown = claims.keys() - CLAIM_KEYS.keys()
    if unknown:
        raise ValueError(f"unknown QR claims: {', '.join(sorted(unknown))}")
    items: list[bytes] = []
    for name, key in CLAIM_KEYS.items():
        value = claims.get(name)
        if value is None or (name in OPTIONAL and value == ""):
            if name in OPTIONAL:
                continue
            raise ValueError(f"QR claim {name} is missing")
        if name == "average":
            value = _hundredths(value)
        elif name in _INTEGERS:
            value = int(value)
        elif name in _DATES:
            value = _iso_date(value, name)
        else:
            value = str(value)
            if len(value) > MAX_TEXT_CLAIM:
                raise ValueError(f"QR claim {name} is too long")
        if isinstance(value, int):
            if value < 0:
                raise ValueError(f"QR claim {name} is negative")
            items.append(_KEY_HEADS[key] + cbor_head(0, value))
        else:
            items.append(_KEY_HEADS[key] + cbor_text(value))
    return cbor_head(5, len(items)) + b"".join(items)


_KEY_HEADS = {key: cbor_head(0, key) for key in CLAIM_KEYS.values()}


def claims_from_cbor(payload: bytes) -> dict[str, Any]:
    raw = cbor_decode(payload)
    if not isinstance(raw, dict):
        raise MalformedError("claims are not a map")
    claims: dict[str, Any] = {}
    for key, value in raw.items():
        name = _NAMES.get(key)
        if name is None:
            raise MalformedError("unknown claim key")
        if name in _INTEGERS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise MalformedError(f"claim {name} is not a whole number")
        elif not isinstance(value, str):
            raise MalformedError(f"claim {name} is not text")
        claims[name] = value
    missing = set(CLAIM_KEYS) - OPTIONAL - set(claims)
    if missing:
        raise MalformedError("claims missing")
    try:
        for name in _DATES:
            date.fromisoformat(claims[name])
    except ValueError:
        raise MalformedError("a date claim is not a date") from None
    if "average" in claims:
        claims["average"] = f"{Decimal(claims['average']) / 100:.2f}"
    return claims


# --- COSE --------------------------------------------------------------------------------------


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor_encode(["Signature1", protected, b"", payload])


_ES256 = ec.ECDSA(hashes.SHA256())


@functools.lru_cache(maxsize=16)
def _cose_parts(certificate: x509.Certificate) -> tuple[bytes, bytes]:
    """What every code of one issuing certificate starts with: the start of the Sig_structure
    (up to its payload) and of the tagged COSE_Sign1 (up to its payload). The kid hashes the
    certificate's DER: once per certificate, not once per diploma."""
    protected = cbor_encode({1: ALG_ES256, 4: pki.kid_bytes(certificate)})
    to_sign = cbor_head(4, 4) + cbor_text("Signature1") + cbor_bytes(protected) + cbor_bytes(b"")
    cose = cbor_head(6, COSE_SIGN1_TAG) + cbor_head(4, 4) + cbor_bytes(protected) + cbor_head(5, 0)
    return to_sign, cose


_SIGNATURE_HEAD = cbor_head(2, 64)


def encode_qr(claims: Mapping[str, Any], identity: pki.SigningIdentity | None = None) -> str:
    """The QR text for a diploma's claims (names in CLAIM_KEYS), signed by the current issuing
    identity (or `identity`). The CBOR around the payload is assembled from _cose_parts: the
    same bytes as cbor_encode of the Sig_structure and of Tag(18, [protected, {}, payload,
    signature]) (tests/diplomas/test_qr.py checks it)."""
    identity = identity or pki.signing_identity()
    to_sign, cose_start = _cose_parts(identity.certificate)
    payload = cbor_bytes(claims_to_cbor(claims))
    der = identity.private_key.sign(to_sign + payload, _ES256)
    r, s = decode_dss_signature(der)
    cose = cose_start + payload + _SIGNATURE_HEAD + r.to_bytes(32, "big") + s.to_bytes(32, "big")
    compressed = zlib.compress(cose, 9)
    _inflate(compressed)  # our own output must pass our own canonical check
    return PREFIX + b45encode(compressed)


@functools.lru_cache(maxsize=256)
def _public_key(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey | None:
    key = certificate.public_key()
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _certificate_lookup(
    certificates: Mapping[str, x509.Certificate] | Iterable[x509.Certificate] | None,
):
    if certificates is None:
        return pki.certificate_for
    if isinstance(certificates, Mapping):
        return certificates.get
    by_kid = {pki.kid_of(certificate): certificate for certificate in certificates}
    return by_kid.get


ZLIB_HEADER = b"\x78\xda"  # deflate, 32 KB window, maximum compression: what we write


def _inflate(data: bytes) -> bytes:
    """Decompress, accepting only the canonical form encode_qr writes, so that no byte of the
    code can change without the verdict changing: zlib's header carries a free "level" field
    and the last byte of a deflate stream up to seven padding bits that decompression
    ignores. The header must be ours and the padding bits zero (zlib pads with zeros)."""
    if data[:2] != ZLIB_HEADER:
        raise zlib.error("not our zlib header")
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_COSE_BYTES)
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise zlib.error("oversized, truncated or trailing zlib data")
    last = len(data) - 5  # the final byte of the deflate stream, before the Adler-32
    for bit in range(8):
        if data[last] >> bit & 1:
            trial = bytearray(data)
            trial[last] ^= 1 << bit
            try:
                same = zlib.decompress(trial) == out
            except zlib.error:
                continue
            if same:
                raise zlib.error("padding bits set: not the canonical encoding")
    return out


def decode_qr(
    text: str,
    certificates: Mapping[str, x509.Certificate] | Iterable[x509.Certificate] | None = None,
) -> QrVerdict:
    """Verify a QR text offline. Keys: the published issuing certificates (default), or
    `certificates` (kid -> certificate, or just certificates) for a stand-alone verifier.
    Never raises on bad input."""
    text = text.lstrip().rstrip("\r\n\t")  # a space is base45: only line ends are trimmed
    if not text.startswith(PREFIX) or len(text) > MAX_TEXT_LENGTH:
        return _verdict(Reason.BAD_PREFIX)
    try:
        compressed = b45decode(text[len(PREFIX) :])
    except MalformedError:
        return _verdict(Reason.NOT_BASE45)
    try:
        raw = _inflate(compressed)
    except zlib.error:
        return _verdict(Reason.NOT_ZLIB)
    try:
        cose = cbor_decode(raw)
        if not isinstance(cose, Tag) or cose.number != COSE_SIGN1_TAG:
            raise MalformedError("not a tagged COSE_Sign1")
        cose = cose.value
        if not (isinstance(cose, list) and len(cose) == 4):
            raise MalformedError("not a COSE_Sign1 array")
        protected, unprotected, payload, signature = cose
        if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
            raise MalformedError("COSE_Sign1 parts of the wrong type")
        if unprotected != {} or len(signature) != 64:
            raise MalformedError("unexpected unprotected header or signature size")
        header = cbor_decode(protected)
        if not isinstance(header, dict) or header.get(1) != ALG_ES256 or len(header) != 2:
            raise MalformedError("algorithm is not ES256")
        kid_bytes = header.get(4)
        if not isinstance(kid_bytes, bytes) or len(kid_bytes) != 8:
            raise MalformedError("no key id")
        claims = claims_from_cbor(payload)
    except MalformedError:
        return _verdict(Reason.BAD_COSE)
    kid = b64url(kid_bytes)
    certificate = _certificate_lookup(certificates)(kid)
    key = _public_key(certificate) if certificate is not None else None
    if key is None:
        return _verdict(Reason.UNKNOWN_KID, kid=kid)
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, _sig_structure(protected, payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return _verdict(Reason.BAD_SIGNATURE, kid=kid)
    return _verdict(Reason.VALID, claims, kid)


def bench_qr(claims: Mapping[str, Any], rounds: int = 2000) -> dict[str, float]:
    """Sizes and CPU costs (time.process_time) of signing and verifying one diploma's code,
    for bench/diplomas.py."""
    text = encode_qr(claims)
    decode_qr(text)  # warm: keys loaded, public key parsed
    started = time.process_time()
    for _round in range(rounds):
        encode_qr(claims)
    signed = time.process_time() - started
    started = time.process_time()
    for _round in range(rounds):
        if not decode_qr(text).ok:
            raise AssertionError("the benchmark's own code does not verify")
    verified = time.process_time() - started
    symbol = qr_symbol(text)
    return {
        "characters": len(text),
        "bytes": len(b45decode(text[len(PREFIX) :])),
        "qr_version": symbol.version,
        "qr_modules": symbol.symbol_size(scale=1, border=0)[0],
        "sign_ms_cpu": signed / rounds * 1e3,
        "verify_ms_cpu": verified / rounds * 1e3,
    }


# --- the printed symbol ------------------------------------------------------------------------
#
# segno picks the data mask the standard's way (ISO/IEC 18004 §7.8.3: the lowest penalty of the
# eight) in pure Python, ~10 ms a diploma code: a quarter of a PDF's cost. qr_matrix() makes the
# same choice from one symbol segno builds with mask 0: the other seven masks are XORs on rows
# held as integers, scored with the same penalty rules (segno's own reading of them, N3 quirks
# included). tests/diplomas/test_qr.py checks the result equals segno's own symbol.

_RUN = re.compile(r"0{5,}|1{5,}")
_FINDER = "1011101"


@functools.lru_cache(maxsize=48)
def _layout(version: int) -> tuple[int, list[int], list[int], list[list[int]]]:
    """Per version, rows as integers (column 0 = most significant bit): the function modules
    that are dark while masks are evaluated (finders, separators, timing, alignment; format and
    version areas still blank), the encoding region, and each mask pattern within it."""
    from segno import encoder

    width = encoder.calc_matrix_size(version)
    base = encoder.make_matrix(width, width)
    encoder.add_finder_patterns(base, width, width)
    encoder.add_alignment_patterns(base, width, width)
    base[-8][8] = 0x1  # the dark module is not part of the encoding region

    def row_bits(i: int, keep) -> int:
        return sum(1 << (width - 1 - j) for j in range(width) if keep(i, j))

    dark = [
        row_bits(i, lambda i, j: base[i][j] == 1 and (i, j) != (width - 8, 8)) for i in range(width)
    ]
    region = [row_bits(i, lambda i, j: base[i][j] > 1) for i in range(width)]
    patterns = [
        [row_bits(i, lambda i, j, f=function: base[i][j] > 1 and f(i, j)) for i in range(width)]
        for function in encoder.get_data_mask_functions(False)
    ]
    return width, dark, region, patterns


def _finder_penalty(line: str, size: int) -> int:
    """N3 of one row or column, as segno counts it."""
    score = 0
    index = line.find(_FINDER)
    while index != -1:
        offset = index + 7
        if (
            index in (0, size - 7)
            or "1" not in line[max(index - 4, 0) : index]
            or "1" not in line[offset : offset + 4]
        ):
            score += 40
        else:
            offset = index + 4
        index = line.find(_FINDER, offset)
    return score


def _penalty(rows: list[int], width: int) -> int:
    lines = [format(row, f"0{width}b") for row in rows]
    columns = ["".join(column) for column in zip(*lines, strict=True)]
    runs = _RUN.findall("|".join(lines + columns))  # the separator ends every run
    n1 = sum(map(len, runs)) - 2 * len(runs)
    edge = (1 << (width - 1)) - 1
    n2 = 0
    for upper, lower in zip(rows, rows[1:], strict=False):
        same = ~(upper ^ (upper >> 1)) & ~(lower ^ (lower >> 1)) & ~(upper ^ lower) & edge
        n2 += 3 * same.bit_count()
    n3 = sum(_finder_penalty(line, width) for line in lines + columns)
    dark = sum(row.bit_count() for row in rows)
    n4 = 10 * int(abs(float(dark) / (width**2) * 100 - 50) / 5)
    return n1 + n2 + n3 + n4


_BITS = bytes.maketrans(b"\x00\x01", b"01")
_MODULES = bytes.maketrans(b"01", b"\x00\x01")


def qr_matrix(text: str) -> tuple[bytes, ...]:
    """The modules of the code's symbol (error correction M, rows of 0/1 bytes), the one
    segno.make(text, error="m", micro=False) builds, in a third of its time."""
    return _choose(text)[1]


@functools.lru_cache(maxsize=512)
def _choose(text: str) -> tuple[int, tuple[bytes, ...]]:
    """(the mask segno would choose, the symbol's modules with it)."""
    from segno import encoder

    probe = segno.make(text, error="m", micro=False, mask=0)
    width, dark, region, patterns = _layout(probe.version)
    rows = [int(bytes(row).translate(_BITS), 2) for row in probe.matrix]
    data = [(row & area) ^ mask for row, area, mask in zip(rows, region, patterns[0], strict=True)]
    best, best_score = 0, None
    for number, pattern in enumerate(patterns):
        masked = [f | (d ^ p) for f, d, p in zip(dark, data, pattern, strict=True)]
        score = _penalty(masked, width)
        if best_score is None or score < best_score:
            best, best_score = number, score
    if best == 0:
        return best, tuple(bytes(row) for row in probe.matrix)
    matrix = tuple(
        bytearray(
            format((row & ~area) | ((unmasked ^ pattern) & area), f"0{width}b").encode()
        ).translate(_MODULES)
        for row, area, unmasked, pattern in zip(rows, region, data, patterns[best], strict=True)
    )
    encoder.add_format_info(matrix, probe.version, encoder.normalize_errorlevel(probe.error), best)
    return best, tuple(bytes(row) for row in matrix)


@functools.lru_cache(maxsize=512)
def qr_symbol(text: str) -> segno.QRCode:
    """The QR symbol: error correction M, alphanumeric mode (base45 is its character set),
    the mask chosen by _choose (segno's own choice, found faster)."""
    return segno.make(text, error="m", micro=False, mask=_choose(text)[0])


@functools.lru_cache(maxsize=512)
def qr_svg(text: str, title: str = "QR code", scale: int = 4) -> str:
    """An inline SVG of the code, drawn from qr_matrix(): one path of horizontal strokes, one
    per run of dark modules, with the four-module quiet zone. No XML declaration and no size
    (CSS sizes it: `scale` only sets the viewBox's unit), no style attribute (strict CSP).
    Cached: a holder's page shows the same code again and again."""
    matrix = qr_matrix(text)
    size = (len(matrix) + 8) * scale
    strokes = []
    for row, line in enumerate(matrix):
        for run in re.finditer(rb"\x01+", line):
            strokes.append(f"M{run.start() + 4} {row + 4.5}h{run.end() - run.start()}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" class="qr-code" '
        f'role="img"><title>{escape(title)}</title>'
        f'<path transform="scale({scale})" stroke="#000" d="{"".join(strokes)}"/></svg>'
    )
