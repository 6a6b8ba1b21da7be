"""Identifier rules (DESIGN §2). Pure: no Django import, so a verifier or a parser can reuse it."""

from __future__ import annotations

import re
import unicodedata

MASSAR_RE = re.compile(r"[A-Z][0-9]{9}")
CNIE_RE = re.compile(r"[A-Z]{1,2}[0-9]{5,6}")
_SPACES = re.compile(r"[\s\-\.]+")
# E.164-ish Moroccan mobile: 06/07 + 8 digits, or +2126/+2127 + 8 digits.
_PHONE_RE = re.compile(r"(?:\+212|00212|0)([67][0-9]{8})")


def _fold(value: str) -> str:
    # NFKC turns full-width and other compatibility forms office software may produce into ASCII.
    return _SPACES.sub("", unicodedata.normalize("NFKC", value)).upper()


def normalize_massar(value: str) -> str:
    return _fold(value)


def is_valid_massar(value: str) -> bool:
    return MASSAR_RE.fullmatch(value) is not None


def normalize_cnie(value: str) -> str:
    return _fold(value)


def is_valid_cnie(value: str) -> bool:
    return CNIE_RE.fullmatch(value) is not None


def normalize_phone(value: str) -> str | None:
    """Return a Moroccan mobile number as +2126XXXXXXXX, or None if it is not one."""
    match = _PHONE_RE.fullmatch(_fold(value))
    if match is None:
        return None
    return "+212" + match.group(1)
