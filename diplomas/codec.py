"""Encodings shared by every face of the diploma. Pure module (no Django): the offline verifier
and the benchmark use it as it is.

- base64url without padding (JOSE, SD-JWT), base58btc multibase `z...` (Data Integrity proof
  values, Multikey public keys), base64url multibase `u...` (the status list bitstring);
- Multikey encoding of an Ed25519 public key: multicodec 0xed01 + 32 raw bytes, base58btc,
  which is why every such key starts with `z6Mk`;
- the Bitstring Status List (W3C): a big-endian bitstring, GZIP-compressed then multibase;
- the diploma number: `MA-<year>-XXXX-XXXX`, 7 random Crockford base32 characters and a
  Luhn mod 32 check character (catches every single-character typo and most transpositions);
  random, so a number tells nothing about the diplomas issued before or after it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import secrets
import struct
import zlib

# --- base64url --------------------------------------------------------------------------------

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> str:
    # binascii directly: base64.urlsafe_b64encode adds two Python calls and a copy, and a
    # diploma makes some sixty of these.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def b64url_many(chunks: list[bytes], size: int) -> list[str]:
    """[b64url(chunk) for chunk in chunks], every chunk `size` bytes long, in one encoding:
    a chunk followed by zero bytes up to a multiple of 3 encodes to its own unpadded base64
    (base64 fills a short last group with zero bits), then whole groups of "A"s, dropped."""
    if size == 0:
        return [""] * len(chunks)
    pad = b"\0" * (-size % 3)
    blob = pad.join(chunks) + pad if chunks else b""
    step = (size + len(pad)) // 3 * 4
    if len(blob) != len(chunks) * (size + len(pad)):
        raise ValueError(f"every chunk must be {size} bytes long")
    text = binascii.b2a_base64(blob, newline=False).translate(_URLSAFE).decode()
    keep = (4 * size + 2) // 3
    return [text[start : start + keep] for start in range(0, len(text), step)]


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- base58btc and multibase ------------------------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58)}


# Two digits at a time (58² = 3364): half the big-number divisions of one digit at a time.
_B58_PAIRS = [B58[n // 58] + B58[n % 58] for n in range(58 * 58)]


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rest = divmod(number, 3364)
        out.append(_B58_PAIRS[rest])
    digits = "".join(reversed(out)).lstrip("1")  # a leading pair may start with a zero digit
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + digits


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        try:
            number = number * 58 + _B58_INDEX[char]
        except KeyError:
            raise ValueError("not base58btc") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def multibase_b58(data: bytes) -> str:
    return "z" + b58encode(data)


def multibase_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise ValueError("empty multibase value")
    if text[0] == "z":
        return b58decode(text[1:])
    if text[0] == "u":
        return b64url_decode(text[1:])
    raise ValueError("unsupported multibase prefix")


ED25519_MULTICODEC = b"\xed\x01"


def multikey_ed25519(raw_public_key: bytes) -> str:
    """publicKeyMultibase of an Ed25519 key (`z6Mk...`)."""
    if len(raw_public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return multibase_b58(ED25519_MULTICODEC + raw_public_key)


def raw_from_multikey(multikey: str) -> bytes:
    data = multibase_decode(multikey)
    if not data.startswith(ED25519_MULTICODEC) or len(data) != 34:
        raise ValueError("not an Ed25519 Multikey")
    return data[2:]


# --- base45 (RFC 9285) and CBOR (RFC 8949) heads, for the QR face ---------------------------
#
# The same encodings as convocations.codec (which decodes them), written for speed: a diploma's
# QR code is ~270 bytes of base45, and these ran in pure Python per pair and per CBOR item.

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@functools.cache
def _b45_triples() -> list[str]:
    """The three characters of every 16-bit value (least significant digit first): ~4 MB,
    built on first use, so one list lookup per byte pair."""
    return [BASE45[n % 45] + BASE45[n // 45 % 45] + BASE45[n // 2025] for n in range(65536)]


def b45encode(data: bytes) -> str:
    pairs = len(data) >> 1
    triples = _b45_triples()
    text = "".join([triples[n] for n in struct.unpack(f">{pairs}H", data[: 2 * pairs])])
    if len(data) & 1:
        last = data[-1]
        text += BASE45[last % 45] + BASE45[last // 45]
    return text


_SMALL_HEADS = [[bytes([major << 5 | n]) for n in range(24)] for major in range(8)]


def cbor_head(major: int, value: int) -> bytes:
    """A CBOR item's head in its shortest form (deterministic encoding, RFC 8949 §4.2.1)."""
    if value < 24:
        return _SMALL_HEADS[major][value]
    if value < 0x100:
        return bytes((major << 5 | 24, value))
    if value < 0x10000:
        return bytes((major << 5 | 25, value >> 8, value & 0xFF))
    if value < 0x100000000:
        return bytes((major << 5 | 26,)) + value.to_bytes(4, "big")
    return bytes((major << 5 | 27,)) + value.to_bytes(8, "big")


def cbor_text(text: str) -> bytes:
    raw = text.encode("utf-8")
    return cbor_head(3, len(raw)) + raw


def cbor_bytes(data: bytes) -> bytes:
    return cbor_head(2, len(data)) + data


# --- Bitstring Status List --------------------------------------------------------------------

MIN_STATUS_LIST_BITS = 131_072  # the spec's minimum: herd privacy for the holders


def raw_bitstring(set_bits: set[int] | list[int], length: int) -> bytes:
    """The bitstring itself: bit 0 is the left-most bit of byte 0."""
    if length < MIN_STATUS_LIST_BITS or length % 8:
        raise ValueError("a status list holds at least 131,072 bits, a whole number of bytes")
    raw = bytearray(length // 8)
    for index in set_bits:
        if not 0 <= index < length:
            raise ValueError("status index out of the list")
        raw[index >> 3] |= 0x80 >> (index & 7)
    return bytes(raw)


def encode_bitstring(set_bits: set[int] | list[int], length: int) -> str:
    """The `encodedList` of a Bitstring Status List: GZIP, then base64url multibase."""
    # mtime=0: the same bits always give the same bytes (stable ETag, reproducible tests).
    return "u" + b64url(gzip.compress(raw_bitstring(set_bits, length), mtime=0))


def decode_bitstring(encoded: str, max_bytes: int = 16 * 1024 * 1024) -> bytes:
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise ValueError("the encoded list is not base64url multibase")
    compressed = b64url_decode(encoded[1:])
    decompressor = zlib.decompressobj(16 + 15)  # gzip wrapper
    raw = decompressor.decompress(compressed, max_bytes)
    if decompressor.unconsumed_tail:
        raise ValueError("status list too large")
    return raw


def bit_at(bitstring: bytes, index: int) -> bool:
    if not 0 <= index < len(bitstring) * 8:
        raise ValueError("status index out of the list")
    return bool(bitstring[index >> 3] & (0x80 >> (index & 7)))


# --- diploma numbers --------------------------------------------------------------------------

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_INDEX = {c: i for i, c in enumerate(CROCKFORD)}


def luhn32_check(body: str) -> str:
    """Luhn mod N (N = 32) check character of a Crockford base32 string."""
    factor, total = 2, 0
    for char in reversed(body):
        addend = factor * _CROCKFORD_INDEX[char]
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return CROCKFORD[(32 - total % 32) % 32]


def new_diploma_number(year: int, country: str = "MA") -> str:
    body = "".join(secrets.choice(CROCKFORD) for _ in range(7))
    full = body + luhn32_check(body)
    return f"{country}-{year}-{full[:4]}-{full[4:]}"


def normalise_diploma_number(text: str) -> str | None:
    """The canonical form of a typed number (case, spaces, O/I/L typed for 0/1/1), or None if
    it is not a well-formed number with a right check character."""
    if not isinstance(text, str):
        return None
    cleaned = text.strip().upper().replace(" ", "").replace("_", "-")
    parts = cleaned.split("-")
    if len(parts) != 4 or len(parts[0]) != 2 or not parts[0].isalpha():
        return None
    if len(parts[1]) != 4 or not parts[1].isdigit():
        return None
    body = (parts[2] + parts[3]).translate(str.maketrans("OIL", "011"))
    if len(body) != 8 or any(c not in _CROCKFORD_INDEX for c in body):
        return None
    if luhn32_check(body[:7]) != body[7]:
        return None
    return f"{parts[0]}-{parts[1]}-{body[:4]}-{body[4:]}"
