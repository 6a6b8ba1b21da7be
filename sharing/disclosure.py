"""What a share link reveals: claim groups, SD-JWT presentations and coarse networks.

Pure (no Django import): the same rules serve the share page, the SD-JWT download and tests.

An SD-JWT is `<issuer JWT>~<disclosure>~...~[<key-binding JWT>]`; each disclosure is the
base64url of a JSON array `[salt, name, value]` (an object property) or `[salt, value]` (an
array element), and the issuer JWT (or a disclosed value) carries the SHA-256 digests of the
disclosures it allows (`_sd` lists, `{"...": digest}` array items). A presentation keeps the
issuer JWT and only the disclosures the holder chose (RFC 9901 / draft-ietf-oauth-selective-
disclosure-jwt); a disclosure that is nested in a withheld one is withheld with it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RESULT = "result"
GRADES = "grades"
BIRTH = "birth"
CNIE = "cnie"
GROUPS = (RESULT, GRADES, BIRTH, CNIE)

# Claim names (as they appear in the diploma's claims and as SD-JWT disclosure names) and the
# group that hides them. A name not listed here is part of what every link shows (the holder's
# names, the diploma number, track, session, issuer) - unless it matches a pattern below.
_EXACT = {
    "general_average": RESULT,
    "average": RESULT,
    "mention": RESULT,
    "mention_ar": RESULT,
    "mention_fr": RESULT,
    "grades": GRADES,
    "marks": GRADES,
    "subjects": GRADES,
    "averages": GRADES,
    "components": GRADES,
    "continuous_average": GRADES,
    "regional_average": GRADES,
    "national_average": GRADES,
    "identifier": CNIE,
    "national_id": CNIE,
}


def claim_group(name: str) -> str | None:
    """The group that hides a claim, or None if every link shows it."""
    key = name.lower()
    if key in _EXACT:
        return _EXACT[key]
    # Anything about the card or birth, however the issuer spells it, is hidden by default:
    # failing closed here is what keeps a CNIE number off a page the holder did not choose.
    if "cnie" in key or key.startswith("national_id"):
        return CNIE
    if key.startswith(("birth", "place_of_birth", "date_of_birth")):
        return BIRTH
    if key.endswith("_grades") or key.endswith("_marks"):
        return GRADES
    return None


def is_revealed(name: str, revealed: Collection[str]) -> bool:
    group = claim_group(name)
    return group is None or group in revealed


def filter_claims(claims: Mapping[str, Any], revealed: Collection[str]) -> dict[str, Any]:
    """The top-level claims a link shows."""
    return {k: v for k, v in claims.items() if is_revealed(k, revealed)}


# --- SD-JWT -------------------------------------------------------------------------------------


class NotAnSdJwt(ValueError):
    pass


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(disclosure: str, alg: str) -> str:
    if alg.lower() not in ("sha-256", "sha256"):
        raise NotAnSdJwt(f"unsupported _sd_alg {alg!r}")
    raw = hashlib.sha256(disclosure.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Disclosure:
    encoded: str
    digest: str
    name: str | None  # None for an array element
    value: Any


def _digests_in(value: Any) -> Iterable[str]:
    """The digests a value makes disclosable: its `_sd` lists and `{"...": d}` array items."""
    if isinstance(value, dict):
        for digest in value.get("_sd", ()) or ():
            if isinstance(digest, str):
                yield digest
        for key, item in value.items():
            if key != "_sd":
                yield from _digests_in(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and set(item) == {"..."} and isinstance(item["..."], str):
                yield item["..."]
            else:
                yield from _digests_in(item)


def parse_sd_jwt(text: str) -> tuple[str, dict[str, Any], list[Disclosure]]:
    """(issuer JWT, its payload, disclosures); a trailing key-binding JWT is dropped."""
    text = text.strip()
    parts = text.split("~")
    if len(parts) < 2 or parts[0].count(".") != 2:
        raise NotAnSdJwt("not an SD-JWT")
    jwt = parts[0]
    try:
        payload = json.loads(_b64decode(jwt.split(".")[1]))
    except (ValueError, UnicodeDecodeError) as error:
        raise NotAnSdJwt("unreadable issuer JWT") from error
    if not isinstance(payload, dict):
        raise NotAnSdJwt("unreadable issuer JWT")
    alg = payload.get("_sd_alg", "sha-256")
    disclosures = []
    for encoded in parts[1:]:
        if not encoded or encoded.count(".") == 2:  # the empty tail or a key-binding JWT
            continue
        try:
            array = json.loads(_b64decode(encoded))
        except (ValueError, UnicodeDecodeError) as error:
            raise NotAnSdJwt("unreadable disclosure") from error
        if not isinstance(array, list) or len(array) not in (2, 3):
            raise NotAnSdJwt("malformed disclosure")
        name = array[1] if len(array) == 3 else None
        if name is not None and not isinstance(name, str):
            raise NotAnSdJwt("malformed disclosure")
        disclosures.append(Disclosure(encoded, _digest(encoded, alg), name, array[-1]))
    return jwt, payload, disclosures


def present(sd_jwt: str, keep: Callable[[str], bool]) -> str:
    """An SD-JWT presentation with only the disclosures whose name `keep` accepts.

    Walks from the issuer JWT down: a disclosure is kept when a kept value references it and
    its name (for an object property) is kept; array elements follow their parent.
    """
    jwt, payload, disclosures = parse_sd_jwt(sd_jwt)
    by_digest = {d.digest: d for d in disclosures}
    kept: list[Disclosure] = []
    seen: set[str] = set()
    pending = list(_digests_in(payload))
    while pending:
        digest = pending.pop(0)
        disclosure = by_digest.get(digest)
        if disclosure is None or digest in seen:
            continue
        seen.add(digest)
        if disclosure.name is not None and not keep(disclosure.name):
            continue
        kept.append(disclosure)
        pending.extend(_digests_in(disclosure.value))
    # Issuance order, as the holder received them.
    order = {d.digest: i for i, d in enumerate(disclosures)}
    kept.sort(key=lambda d: order[d.digest])
    return "~".join([jwt, *(d.encoded for d in kept)]) + "~"


def keeping(revealed: Collection[str]) -> Callable[[str], bool]:
    """A `keep` for present(): the disclosure names of the revealed groups (by name pattern)."""
    return lambda name: is_revealed(name, revealed)


def disclosed_names(sd_jwt: str) -> list[str]:
    """The names of the object-property disclosures an SD-JWT carries (for tests and pages)."""
    return [d.name for d in parse_sd_jwt(sd_jwt)[2] if d.name is not None]


# --- networks -----------------------------------------------------------------------------------


def coarse_network(address: str) -> str:
    """The viewer's network as the holder sees it: IPv4 /24, IPv6 /48, "" if unknown."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))


def country_code(value: str | None) -> str:
    """A two-letter ISO country code from a CDN header, "" for unknown (XX, T1 = Tor, junk)."""
    code = (value or "").strip().upper()
    if len(code) == 2 and code.isascii() and code.isalpha() and code != "XX":
        return code
    return ""
