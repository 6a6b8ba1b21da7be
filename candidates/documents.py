"""Identity-document copies: what a file is (from its bytes), whether it is safe, how it is
encrypted at rest. No Django import: the callers pass the limits and the keys.

A copy is accepted only if its content, not its name or the browser's claim, is a JPEG, a PNG
or a PDF; images must decode within a pixel budget (no decompression bombs); PDFs must not
carry script, launch, automatic (/AA) or embedded-file actions; no file may also be another
format (a polyglot: HTML, a ZIP or a PDF hidden in an image, data after the end of a PNG or
PDF). Any app that accepts an uploaded document calls `validate_document` (after reading at
most max_bytes + 1 bytes, e.g. with candidates.file_services.read_upload). Copies are
encrypted with Fernet under a MultiFernet: the first key encrypts, every key decrypts, so keys
can be rotated without re-encrypting at once.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from PIL import Image, UnidentifiedImageError

JPEG = "image/jpeg"
PNG = "image/png"
PDF = "application/pdf"
ACCEPTED_TYPES = (JPEG, PNG, PDF)
EXTENSIONS = {JPEG: "jpg", PNG: "png", PDF: "pdf"}

# A phone photo of a card is ~12 Mpx; 40 Mpx leaves room for good scanners.
DEFAULT_MAX_PIXELS = 40_000_000
# Bound the work spent inflating PDF streams while looking for hidden actions.
MAX_PDF_INFLATED_BYTES = 64 * 1024 * 1024

_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# Script, launch and embedded-file names anywhere; /JS and /AA (additional actions: run on
# open, close, focus...) only where they introduce a value, since three bytes followed by a
# delimiter turn up by chance in compressed data.
_PDF_LONG_NAMES = rb"/(?:JavaScript|Launch|EmbeddedFiles?|RichMedia|GoToE)(?=[\s/<>\[\]()%{}]|$)"
_PDF_FORBIDDEN = re.compile(
    _PDF_LONG_NAMES + rb"|/JS(?:\s|%[^\r\n]*[\r\n])*(?:[(<]|\d+\s+\d+\s+R)"
    rb"|/AA(?:\s|%[^\r\n]*[\r\n])*(?:<<|\d+\s+\d+\s+R)"
)
_PDF_FORBIDDEN_ACTIONS = re.compile(_PDF_LONG_NAMES)
_PDF_ENCRYPT = re.compile(rb"/Encrypt(?=[\s/<>\[\]()%{}]|$)")
_PDF_STREAM = re.compile(rb"(?<!end)stream\r?\n")


@dataclass
class DocumentRejected(ValueError):
    """The upload is not an acceptable copy. `code` says why; `params` fill the message."""

    code: str
    params: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.params}" if self.params else self.code


def sniff_content_type(head: bytes) -> str | None:
    """The content type that the first bytes announce, or None if not an accepted type."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def check_image(data: bytes, expected_format: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Open, verify and fully decode an image, refusing bombs before decoding any pixel."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != expected_format:
                    raise DocumentRejected("unsupported_type")
                width, height = image.size
                if width * height > max_pixels:
                    raise DocumentRejected("too_many_pixels", {"max_pixels": max_pixels})
                image.verify()
            # verify() leaves the image unusable; decode it for real to catch broken data.
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DocumentRejected("too_many_pixels", {"max_pixels": max_pixels}) from None
    except DocumentRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise DocumentRejected("damaged_image") from None


def _unescape_names(data: bytes) -> bytes:
    # In PDF names, #xx stands for a byte: /J#61vaScript is /JavaScript.
    return _PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def _inflated_streams(data: bytes, budget: int) -> list[tuple[bytes, bool]]:
    """Every stream that inflates with zlib, with whether it says it is an object stream
    (where whole dictionaries can hide). The inflated total is bounded by `budget`."""
    found: list[tuple[bytes, bool]] = []
    for match in _PDF_STREAM.finditer(data):
        header = data[max(0, match.start() - 4096) : match.start()]
        is_object_stream = b"/ObjStm" in _unescape_names(header[max(0, header.rfind(b"obj")) :])
        end = data.find(b"endstream", match.end())
        body = data[match.end() : end if end >= 0 else len(data)]
        try:
            chunk = zlib.decompressobj().decompress(body, budget + 1)
        except zlib.error:
            if is_object_stream:
                # An object stream we cannot read could hide anything.
                raise DocumentRejected("pdf_damaged") from None
            continue
        if len(chunk) > budget:
            raise DocumentRejected("pdf_too_complex")
        budget -= len(chunk)
        found.append((chunk, is_object_stream))
    return found


def check_pdf(data: bytes, max_inflated: int = MAX_PDF_INFLATED_BYTES) -> None:
    """Refuse a PDF that is not one, is encrypted, or carries JavaScript or a launch action,
    whether in plain objects or inside compressed streams.

    The whole file is scanned, stream bodies included: a parser that skipped "streams" could
    be fooled into skipping objects. Then every compressed stream is inflated and scanned:
    object streams for all the patterns, other streams (e.g. image pixels, where short
    patterns could match by chance) for /JavaScript and /Launch, which every script or launch
    action must name.
    """
    if not data.startswith(b"%PDF-"):
        raise DocumentRejected("unsupported_type")
    names = _unescape_names(data)
    if _PDF_ENCRYPT.search(names):
        raise DocumentRejected("pdf_encrypted")
    if _PDF_FORBIDDEN.search(names):
        raise DocumentRejected("pdf_active_content")
    for chunk, is_object_stream in _inflated_streams(data, max_inflated):
        pattern = _PDF_FORBIDDEN if is_object_stream else _PDF_FORBIDDEN_ACTIONS
        if pattern.search(_unescape_names(chunk)):
            raise DocumentRejected("pdf_active_content")


# Markers of another format hidden in an accepted one (a "polyglot": a JPEG that is also an
# HTML page or a ZIP, a PNG carrying a PDF...). Long enough not to occur by chance in
# compressed data; searched case-insensitively.
_FOREIGN_MARKERS = re.compile(
    rb"<script|<html|<svg|<iframe|<\?php|<!doctype|<body|javascript:",
    re.IGNORECASE,
)
_ZIP_END_OF_DIRECTORY = b"PK\x05\x06"
# A ZIP reader looks for its directory in the last 64 KiB (+ 22 bytes of the record itself).
_ZIP_TAIL = 65_557
_PNG_END = b"IEND\xaeB`\x82"


def check_polyglot(data: bytes, content_type: str) -> None:
    """Refuse a file that is also another kind of file: whatever opens it (a browser sniffing
    the content, an unzip tool, a PDF reader) must see only the accepted type."""
    if _FOREIGN_MARKERS.search(data):
        raise DocumentRejected("unsupported_type")
    if _ZIP_END_OF_DIRECTORY in data[-_ZIP_TAIL:]:
        raise DocumentRejected("unsupported_type")
    if content_type != PDF and b"%PDF-" in data:
        raise DocumentRejected("unsupported_type")
    if content_type == PNG:
        end = data.find(_PNG_END)
        # Nothing may follow the image's last chunk (where appended files hide).
        # (A PNG without an end is truncated: check_image says so.)
        if end >= 0 and data[end + len(_PNG_END) :].strip(b"\0\r\n\t "):
            raise DocumentRejected("unsupported_type")
    if content_type == PDF:
        end = data.rfind(b"%%EOF")
        if end >= 0 and data[end + 5 :].strip(b"\0\r\n\t "):
            raise DocumentRejected("unsupported_type")


def validate_document(data: bytes, max_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """Check an upload and return its content type, or raise DocumentRejected."""
    if not data:
        raise DocumentRejected("empty")
    if len(data) > max_bytes:
        raise DocumentRejected("too_large", {"max_bytes": max_bytes})
    content_type = sniff_content_type(data[:16])
    if content_type is None:
        raise DocumentRejected("unsupported_type")
    check_polyglot(data, content_type)
    if content_type == PDF:
        check_pdf(data)
    else:
        check_image(data, "JPEG" if content_type == JPEG else "PNG", max_pixels)
    return content_type


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cipher(keys: Sequence[str | bytes]) -> MultiFernet:
    if not keys:
        raise ValueError("at least one document key is required")
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(data: bytes, keys: Sequence[str | bytes]) -> bytes:
    """Encrypt with the first key."""
    return _cipher(keys).encrypt(data)


def decrypt(token: bytes, keys: Sequence[str | bytes]) -> bytes:
    """Decrypt with whichever key encrypted; raises cryptography.fernet.InvalidToken."""
    return _cipher(keys).decrypt(token)


def rotate(token: bytes, keys: Sequence[str | bytes]) -> bytes:
    """Re-encrypt a token under the first key (for a key-rotation command)."""
    return _cipher(keys).rotate(token)


def new_storage_name() -> str:
    """An unguessable storage name that says nothing about the candidate."""
    return f"cnie/{secrets.token_hex(24)}.bin"


__all__ = [
    "ACCEPTED_TYPES",
    "DocumentRejected",
    "InvalidToken",
    "check_image",
    "check_pdf",
    "check_polyglot",
    "decrypt",
    "encrypt",
    "new_storage_name",
    "rotate",
    "sha256_hex",
    "sniff_content_type",
    "validate_document",
]
