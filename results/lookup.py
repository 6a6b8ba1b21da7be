"""The results lookup's rules, pure (no Django): what a query is, the key a published result is
stored under, the compact entry a candidate's result is frozen into, and which publications a
pointer makes public at a given moment.

The hot path (results.snapshot, results.api) only glues these to the cache: a request parses its
query, derives one HMAC, reads the pointer and the entry, and renders what it found.

* An entry is a few hundred bytes of JSON: the candidate's names and result, codes only. The
  names of tracks and subjects and the coefficients are in the publication's `names` mapping,
  read once per process (a publication never changes).
* A CNIE entry is an alias, "@" followed by the Massar entry's key, so that a result is stored
  once whichever identifier finds it.
* A pointer lists a session's live full publications as [id, publish_at, sitting] rows, catch-up
  sitting first, newest version first. At `now`, the first row of each sitting whose moment has
  come is that sitting's current publication: the switch at the moment is that comparison.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import orjson

from candidates.identifiers import is_valid_cnie, is_valid_massar, normalize_cnie, normalize_massar

MASSAR = "m"
CNIE = "c"
ALIAS = "@"
DIGEST_HEX = 40  # 160 bits of HMAC-SHA256
# Which sitting's result wins when a candidate has both: the catch-up result supersedes.
SITTING_ORDER = ("catch_up", "normal")
COMPONENTS = ("continuous", "regional", "national")

_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")


# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A valid public lookup: one identifier (Massar code or CNIE number) and a birth date."""

    kind: str  # MASSAR or CNIE
    identifier: str
    birth_date: datetime.date

    @property
    def subject(self) -> str:
        """What the per-code limit counts."""
        return f"{self.kind}:{self.identifier}"


def parse_birth_date(raw: str) -> datetime.date | None:
    """ISO (2008-03-14, what a date input sends) or the day first (14/03/2008)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10 and raw[4] == "-":
            value = datetime.date.fromisoformat(raw)
        else:
            match = _DMY.fullmatch(raw)
            if match is None:
                return None
            day, month, year = (int(part) for part in match.groups())
            value = datetime.date(year, month, day)
    except ValueError:
        return None
    if not 1900 <= value.year <= 2100:
        return None
    return value


def parse_query(
    massar_code: str | None, cnie_number: str | None, birth_date: str | None
) -> tuple[Query | None, dict[str, str]]:
    """A Query, or error codes by field ("identifier", "birth_date").

    The checks are on the form of the values only, never on what exists: a well-formed code
    that matches nothing is a valid query (its answer is the generic one).
    """
    errors: dict[str, str] = {}
    massar = normalize_massar(massar_code or "")
    cnie = normalize_cnie(cnie_number or "")
    query_kind, identifier = MASSAR, massar
    if massar and cnie:
        errors["identifier"] = "both"
    elif massar:
        if not is_valid_massar(massar):
            errors["identifier"] = "massar_invalid"
    elif cnie:
        query_kind, identifier = CNIE, cnie
        if not is_valid_cnie(cnie):
            errors["identifier"] = "cnie_invalid"
    else:
        errors["identifier"] = "missing"
    date = parse_birth_date(birth_date or "")
    if date is None:
        errors["birth_date"] = "missing" if not (birth_date or "").strip() else "invalid"
    if errors:
        return None, errors
    assert date is not None
    return Query(query_kind, identifier, date), {}


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> Any:
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    # CPython keeps OpenSSL's own HMAC object in `_hmac`, with the same copy, update and
    # hexdigest: used directly, a digest costs a third less (a publication makes a million).
    # Where it is not there, the hmac.HMAC object does the same.
    return getattr(keyed, "_hmac", None) or keyed


def lookup_digest(key: bytes, kind: str, identifier: str, birth_date: datetime.date) -> str:
    """The name a published result is stored under: HMAC-SHA256(key, kind|identifier|date)."""
    # A copy of the keyed object (its pads hashed once per process) costs less than a one-shot
    # hmac.digest, which looks the algorithm up in OpenSSL 3 on every call.
    mac = _keyed(key).copy()
    mac.update(f"{kind}|{identifier}|{birth_date.isoformat()}".encode())
    return mac.hexdigest()[:DIGEST_HEX]


def query_digest(key: bytes, query: Query) -> str:
    return lookup_digest(key, query.kind, query.identifier, query.birth_date)


# --- entries ----------------------------------------------------------------------------------


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


@dataclass
class SnapshotRow:
    """Everything published about one candidate, as it is frozen at publication."""

    candidate_id: int
    massar_code: str
    cnie_number: str
    birth_date: datetime.date
    last_name: str
    first_name: str
    last_name_ar: str
    first_name_ar: str
    track: str
    candidate_type: str
    continuous_average: Decimal | None
    regional_average: Decimal | None
    national_average: Decimal | None
    general_average: Decimal | None
    decision: str
    mention: str
    # (component, subject code, sitting, mark)
    marks: list[tuple[str, str, str, Decimal]] = field(default_factory=list)
    version: int = 0
    corrected_at: float | None = None

    def payload(self) -> str:
        return encode_entry(self)


def encode_entry(row: SnapshotRow) -> str:
    """The compact JSON of one candidate's published result (no CNIE number, no birth date)."""
    order = {name: index for index, name in enumerate(COMPONENTS)}
    marks = []
    for component, subject, sitting, mark in sorted(
        row.marks, key=lambda m: (order.get(m[0], 9), m[1], m[2] != "normal")
    ):
        item: list[Any] = [component, subject, _dec(mark)]
        if sitting != "normal":
            item.append(sitting)
        marks.append(item)
    entry: dict[str, Any] = {
        "v": row.version,
        "m": row.massar_code,
        "n": [row.last_name, row.first_name],
        "na": [row.last_name_ar, row.first_name_ar],
        "t": row.track,
        "ct": row.candidate_type,
        "avg": [
            _dec(row.general_average),
            _dec(row.continuous_average),
            _dec(row.regional_average),
            _dec(row.national_average),
        ],
        "d": row.decision,
        "me": row.mention,
        "k": marks,
    }
    if row.corrected_at is not None:
        entry["cor"] = round(row.corrected_at, 3)
    # The same bytes as json.dumps(entry, ensure_ascii=False, separators=(",", ":")), the
    # format's definition (a property test holds them equal), at a fraction of the cost.
    return orjson.dumps(entry).decode()


def decode_entry(raw: str | bytes) -> dict[str, Any]:
    return orjson.loads(raw)


def alias_value(massar_digest: str) -> str:
    return ALIAS + massar_digest


class Identified(Protocol):
    massar_code: str
    cnie_number: str
    birth_date: datetime.date


def entry_items(key: bytes, row: Identified, payload: str) -> list[tuple[str, str]]:
    """The (digest, value) pairs that make a row findable: by Massar code, and by CNIE number
    through an alias."""
    return entry_items_of(key, row.massar_code, row.cnie_number, row.birth_date, payload)


def entry_items_of(
    key: bytes, massar_code: str, cnie_number: str, birth_date: datetime.date, payload: str
) -> list[tuple[str, str]]:
    """entry_items of a row given as its values."""
    massar = lookup_digest(key, MASSAR, massar_code, birth_date)
    items = [(massar, payload)]
    if cnie_number:
        items.append((lookup_digest(key, CNIE, cnie_number, birth_date), ALIAS + massar))
    return items


# --- pointers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LivePublication:
    namespace: str  # the publication's cache namespace (results.snapshot.namespace_of)
    publish_at: float  # POSIX seconds
    sitting: str
    version: int
    # What changes when one of its corrections is published or withdrawn ("" if it has none):
    # a host's replica re-reads the corrections when it changes.
    corrections: str = ""


def build_pointer(session_id: int | None, live: Iterable[LivePublication]) -> dict[str, Any]:
    """The pointer of a session: its live full publications, in the order the lookup tries them,
    and the state of their corrections ("c", for the hosts' replicas)."""
    rank = {sitting: index for index, sitting in enumerate(SITTING_ORDER)}
    ordered = sorted(live, key=lambda p: (rank.get(p.sitting, len(rank)), -p.version))
    return {
        "s": session_id,
        "e": [[p.namespace, round(p.publish_at, 6), p.sitting] for p in ordered],
        "c": {p.namespace: p.corrections for p in ordered if p.corrections},
    }


def public_publications(pointer: Mapping[str, Any], now: float) -> list[str]:
    """The namespaces of the publications visible at `now`: for each sitting, the newest whose
    moment has come."""
    seen: set[str] = set()
    found: list[str] = []
    for namespace, publish_at, sitting in pointer.get("e", ()):
        if publish_at <= now and sitting not in seen:
            seen.add(sitting)
            found.append(namespace)
    return found


# --- presentation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """Translated labels, given by the caller (this module does not translate)."""

    decisions: Mapping[str, str]
    mentions: Mapping[str, str]
    components: Mapping[str, str]
    sittings: Mapping[str, str]


def _name(names: Mapping[str, Any], table: str, code: str, language: str) -> str:
    item = names.get(table, {}).get(code)
    if not item:
        return code
    return item.get("ar" if language == "ar" else "fr") or item.get("fr") or code


def present(
    entry: Mapping[str, Any],
    names: Mapping[str, Any],
    labels: Labels,
    language: str,
    published_at: str | None = None,
    subject_cache: dict[tuple[str, str, str, str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One result as the page and the API show it (codes with their labels).

    `subject_cache`, if given, keeps the labelled lines of subjects between calls: the caller
    keeps one per publication and language (`names`, `labels` and `language` must not vary).
    """
    general, continuous, regional, national = entry["avg"]
    track = entry["t"]
    coefficients = names.get("coefficients", {}).get(track, {})
    mention = entry.get("me") or ""
    subjects = []
    for item in entry.get("k", ()):
        component, subject, mark = item[0], item[1], item[2]
        sitting = item[3] if len(item) > 3 else "normal"
        key = (track, component, subject, sitting)
        shown = None if subject_cache is None else subject_cache.get(key)
        if shown is None:
            shown = {
                "code": subject,
                "name": _name(names, "subjects", subject, language),
                "component": component,
                "component_label": labels.components.get(component, component),
                "coefficient": coefficients.get(component, {}).get(subject),
                "mark": None,
                "sitting": sitting,
                "sitting_label": labels.sittings.get(sitting, sitting),
            }
            if subject_cache is not None:
                subject_cache[key] = shown
        shown = shown.copy()
        shown["mark"] = mark
        subjects.append(shown)
    averages = [
        {"component": c, "label": labels.components.get(c, c), "average": a}
        for c, a in zip(COMPONENTS, (continuous, regional, national), strict=True)
        if a is not None
    ]
    sitting = names.get("sitting", "normal")
    return {
        "session": {"code": names.get("session_code", ""), "name": names.get("session_name", "")},
        "sitting": {"code": sitting, "label": labels.sittings.get(sitting, sitting)},
        "version": entry.get("v"),
        "published_at": published_at,
        "corrected_at": entry.get("cor"),
        "candidate": {
            "massar_code": entry["m"],
            "last_name": entry["n"][0],
            "first_name": entry["n"][1],
            "last_name_ar": entry["na"][0],
            "first_name_ar": entry["na"][1],
            "candidate_type": entry.get("ct", ""),
            "track": {"code": track, "name": _name(names, "tracks", track, language)},
        },
        "result": {
            "general_average": general,
            "decision": {"code": entry["d"], "label": labels.decisions.get(entry["d"], entry["d"])},
            "mention": (
                {"code": mention, "label": labels.mentions.get(mention, mention)}
                if mention
                else None
            ),
            "averages": averages,
        },
        "subjects": subjects,
    }


def first_found(values: Sequence[str | bytes | None]) -> tuple[int, str | None]:
    """The index and value of the first entry found, or (-1, None)."""
    for index, value in enumerate(values):
        if value:
            return index, value.decode() if isinstance(value, bytes) else value
    return -1, None
