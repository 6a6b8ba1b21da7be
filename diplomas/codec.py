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
import gzip
import secrets
import zlib

# --- base64url --------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- base58btc and multibase ------------------------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58)}


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rest = divmod(number, 58)
        out.append(B58[rest])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


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
