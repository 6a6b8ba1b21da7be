"""The holder's diploma, its share links and their views, and the public verification.

Every holder action (a link created or revoked, a face downloaded) is audited against the
holder's file. Public lookups of share tokens are rate-limited per address, and an unknown token
costs more than a known one, so that guessing tokens stays hopeless.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from audit.services import Change, record_changes
from candidates.models import Candidate
from diplomas.models import Diploma, DiplomaStatus
from identity.ratelimit import RateLimit, address_bucket, client_address

from . import disclosure
from .models import DEFAULT_REVEALED, FieldGroup, ShareLink, ShareView

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 bits
TOKEN_PATTERN = r"[A-Za-z0-9_-]{32,64}"
_LINK_IN_TEXT = re.compile(r"/diploma/s/(" + TOKEN_PATTERN + r")/?")

# Link lifetimes the holder can choose, in days (None: until revoked).
EXPIRY_CHOICES_DAYS = (1, 7, 30, 90, 365, None)
DEFAULT_EXPIRY_DAYS = 30


# --- the holder's diploma -----------------------------------------------------------------------


def own_candidate(user) -> Candidate | None:
    """The signed-in candidate's latest file (no identifier in any URL: only one's own)."""
    return (
        Candidate.objects.filter(user=user)
        .select_related("session", "school", "track")
        .order_by("-session__year", "-pk")
        .first()
    )


def current_diploma(candidate: Candidate) -> Diploma | None:
    from diplomas.services import current_diploma as issued

    return issued(candidate)


def latest_diploma(candidate: Candidate) -> Diploma | None:
    """The current diploma, else the last one issued (revoked and not replaced, say)."""
    return current_diploma(candidate) or (
        Diploma.objects.filter(candidate=candidate).order_by("-issued_at", "-pk").first()
    )


NO_CNIE = "no_cnie"
NOT_PUBLISHED = "not_published"
NOT_ADMITTED = "not_admitted"
NOT_YET_ISSUED = "not_yet_issued"


def absence_reason(candidate: Candidate) -> str:
    """Why a candidate has no diploma: no CNIE, results not out, not admitted, or not yet issued."""
    if not candidate.has_cnie:
        return NO_CNIE
    from results.models import Decision
    from results.snapshot import result_for_candidate

    outcome = result_for_candidate(candidate)
    if not outcome.found:
        return NOT_PUBLISHED
    if (outcome.entry or {}).get("d") != Decision.ADMITTED:
        return NOT_ADMITTED
    return NOT_YET_ISSUED


def absence_message(reason: str) -> str:
    return {
        NO_CNIE: _(
            "Your file has no CNIE number or no copy of the card. A diploma is only issued to a "
            "candidate with a CNIE: ask your school to add it to your file."
        ),
        NOT_PUBLISHED: _("The results have not been published yet."),
        NOT_ADMITTED: _(
            "According to your published result, you are not admitted: no diploma is issued."
        ),
        NOT_YET_ISSUED: _(
            "You are admitted; your diploma has not been issued yet. It is issued on results "
            "day and you will be notified."
        ),
    }[reason]


def audit(actor, candidate: Candidate, action: str, object_id: Any, after: dict[str, Any]) -> None:
    record_changes(
        actor,
        [
            Change(
                action=action,
                object_type="diploma_share" if action.startswith("share") else "diploma",
                object_id=str(object_id),
                after=after,
                candidate_id=candidate.pk,
            )
        ],
    )


def record_download(actor, diploma: Diploma, face: str) -> None:
    audit(actor, diploma.candidate, "diploma_downloaded", diploma.number, {"face": face})


# --- share links --------------------------------------------------------------------------------


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def share_path(token: str) -> str:
    return reverse("sharing:shared", args=[token])


def normalise_revealed(groups: Iterable[str]) -> list[str]:
    chosen = set(groups)
    return [g for g in FieldGroup.values if g in chosen]


@transaction.atomic
def create_link(
    actor,
    diploma: Diploma,
    revealed: Collection[str] = DEFAULT_REVEALED,
    expires_in_days: int | None = DEFAULT_EXPIRY_DAYS,
    label: str = "",
) -> tuple[ShareLink, str]:
    """A new share link; returns it with its token, which is never stored and never shown again."""
    if diploma.status != DiplomaStatus.VALID:
        raise ValueError("only a valid diploma can be shared")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    link = ShareLink.objects.create(
        diploma=diploma,
        candidate=diploma.candidate,
        token_hash=token_digest(token),
        label=label.strip()[:80],
        revealed=normalise_revealed(revealed),
        created_at=now,
        expires_at=now + datetime.timedelta(days=expires_in_days) if expires_in_days else None,
    )
    audit(
        actor,
        diploma.candidate,
        "share_link_created",
        link.pk,
        {
            "diploma": diploma.number,
            "label": link.label,
            "revealed": link.revealed,
            "expires_at": link.expires_at.isoformat() if link.expires_at else None,
        },
    )
    return link, token


@transaction.atomic
def revoke_link(actor, link: ShareLink) -> bool:
    """Revoke a link at once; False if it was already revoked."""
    updated = ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        return False
    link.refresh_from_db(fields=["revoked_at"])
    audit(
        actor,
        link.candidate,
        "share_link_revoked",
        link.pk,
        {"revoked_at": link.revoked_at.isoformat()},
    )
    return True


def links_of(candidate: Candidate):
    """The holder's links, newest first, with their view counts (one query)."""
    from django.db.models import Count, Max

    return (
        ShareLink.objects.filter(candidate=candidate)
        .select_related("diploma")
        .annotate(view_count=Count("views"), last_view=Max("views__at"))
    )


# --- public lookups of tokens -------------------------------------------------------------------


def _lookup_limit() -> RateLimit:
    return RateLimit(
        "share-lookup",
        getattr(settings, "SHARE_LOOKUPS_PER_ADDRESS", 60),
        getattr(settings, "SHARE_LOOKUP_WINDOW_SECONDS", 60),
    )


def _miss_limit() -> RateLimit:
    # Unknown tokens: a handful per quarter of an hour, then the address is locked out.
    window = getattr(settings, "SHARE_MISSES_WINDOW_SECONDS", 900)
    return RateLimit(
        "share-miss", getattr(settings, "SHARE_MISSES_PER_ADDRESS", 10), window, lockout=window
    )


FOUND = "found"
UNKNOWN = "unknown"
EXPIRED = "expired"
REVOKED = "revoked"
RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Lookup:
    state: str
    link: ShareLink | None = None
    retry_after: int = 0


def lookup(request: HttpRequest, token: str) -> Lookup:
    """Find a link by token for a public request, counting the attempt against the address."""
    bucket = address_bucket(client_address(request))
    misses = _miss_limit()
    locked = misses.check(bucket)
    if not locked.allowed:
        return Lookup(RATE_LIMITED, retry_after=locked.retry_after)
    throttled = _lookup_limit().hit(bucket)
    if not throttled.allowed:
        return Lookup(RATE_LIMITED, retry_after=throttled.retry_after)
    link = None
    if re.fullmatch(TOKEN_PATTERN, token):
        link = (
            ShareLink.objects.select_related(
                "diploma", "diploma__replaced_by", "diploma__session", "candidate"
            )
            .filter(token_hash=token_digest(token))
            .first()
        )
    if link is None:
        misses.hit(bucket)
        return Lookup(UNKNOWN)
    if link.revoked_at is not None:
        return Lookup(REVOKED, link)
    if link.is_expired():
        return Lookup(EXPIRED, link)
    return Lookup(FOUND, link)


def viewer_country(request: HttpRequest) -> str:
    """The viewer's country if our CDN says it (behind our proxies only) or a GeoIP base does."""
    if settings.TRUSTED_PROXY_COUNT > 0:
        header = getattr(settings, "SHARE_COUNTRY_HEADER", "CF-IPCountry")
        code = disclosure.country_code(request.headers.get(header)) if header else ""
        if code:
            return code
    database = getattr(settings, "SHARE_GEOIP_DATABASE", "")
    if database:
        try:
            import geoip2.database  # optional: only with a GeoLite2/GeoIP2 country database
        except ImportError:
            return ""
        try:
            with geoip2.database.Reader(database) as reader:
                return disclosure.country_code(
                    reader.country(client_address(request)).country.iso_code
                )
        except Exception:  # noqa: BLE001 - an unknown address or a broken base: unknown
            return ""
    return ""


def record_view(request: HttpRequest, link: ShareLink, kind: str) -> ShareView:
    return ShareView.objects.create(
        link=link,
        at=timezone.now(),
        kind=kind,
        network=disclosure.coarse_network(client_address(request)),
        country=viewer_country(request),
    )


def views_of(link: ShareLink) -> list[ShareView]:
    return list(link.views.all()[:500])


# --- what a link shows --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    ltr: bool = False  # numbers and codes keep their order in an Arabic page
    lang: str = ""  # "ar" for a value in Arabic script, "fr" for one in Latin script
    arabic: str = ""  # the same in Arabic script, when the claim has an Arabic twin


@dataclass(frozen=True)
class Mark:
    subject: str
    mark: str
    component: str = ""


@dataclass
class Shown:
    """The diploma as a page shows it: rows, the grade table, and what was withheld."""

    rows: list[Row] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)


def _label(name: str) -> str:
    labels = {
        "number": _("Diploma number"),
        "diploma_number": _("Diploma number"),
        "last_name": _("Family name"),
        "last_name_latin": _("Family name"),
        "first_name_latin": _("Given name"),
        "birth_place_latin": _("Birth place"),
        "track_fr": _("Track"),
        "school_fr": _("School"),
        "academy_fr": _("Issuing academy"),
        "issued_on": _("Issued on"),
        "average": _("General average"),
        "first_name": _("Given name"),
        "last_name_ar": _("Family name (Arabic)"),
        "first_name_ar": _("Given name (Arabic)"),
        "name": _("Name"),
        "name_ar": _("Name (Arabic)"),
        "birth_date": _("Birth date"),
        "birth_place": _("Birth place"),
        "birth_place_ar": _("Birth place (Arabic)"),
        "cnie_number": _("CNIE number"),
        "cnie": _("CNIE number"),
        "track": _("Track"),
        "track_ar": _("Track (Arabic)"),
        "track_code": _("Track code"),
        "session": _("Session"),
        "session_name": _("Session"),
        "mention_fr": _("Mention"),
        "name_latin": _("Name"),
        "cnie_bound": _("Bound to a CNIE number"),
        "issued": _("Issued on"),
        "session_year": _("Session year"),
        "year": _("Year"),
        "academy": _("Issuing academy"),
        "academy_ar": _("Issuing academy (Arabic)"),
        "general_average": _("General average"),
        "mention": _("Mention"),
        "mention_ar": _("Mention (Arabic)"),
        "continuous_average": _("Continuous assessment average"),
        "regional_average": _("Regional exam average"),
        "national_average": _("National exam average"),
        "issued_at": _("Issued on"),
        "massar_code": _("Massar code"),
        "school": _("School"),
        "school_ar": _("School (Arabic)"),
    }
    return labels.get(name, name.replace("_", " ").capitalize())


# Internal bookkeeping of the issuer, or implied by the diploma's existence.
_NOT_SHOWN = {"status_list_index", "candidate_id", "published_result_id", "version", "decision"}
# A code is not shown when its name is (track SP -> Sciences Physiques).
_CODE_OF = {
    "track": "track_fr",
    "academy": "academy_fr",
    "session": "session_name",
    "session_year": "session_name",
    "mention": "mention_fr",
}


def _mention(value: Any) -> str:
    from results.models import Mention

    try:
        return str(Mention(value or "").label)
    except ValueError:
        return _flat(value)


_LTR_HINTS = ("number", "cnie", "code", "average", "date", "year", "massar")


def _flat(value: Any) -> str:
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value)
    return "" if value is None else str(value)


def _component(code: str) -> str:
    from exams.models import Component

    try:
        return str(Component(code).label)
    except ValueError:
        return code


def _marks(value: Any) -> list[Mark]:
    arabic = get_language() == "ar"
    marks = []
    if isinstance(value, dict):
        value = [{"subject": k, "mark": v} for k, v in value.items()]
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            subject = (
                (item.get("name_ar") if arabic else item.get("name_fr"))
                or item.get("subject")
                or ""
            )
            mark = item.get("mark", item.get("grade", item.get("value", "")))
            marks.append(
                Mark(str(subject), _flat(mark), _component(str(item.get("component", ""))))
            )
        elif isinstance(item, list | tuple) and len(item) >= 2:
            marks.append(
                Mark(str(item[-2]), _flat(item[-1]), str(item[0]) if len(item) > 2 else "")
            )
    return marks


def _latin_twin(name: str, claims: dict[str, Any]) -> str | None:
    """The Latin-script claim an Arabic one goes with (last_name_ar -> last_name_latin)."""
    base = name[: -len("_ar")]
    for twin in (f"{base}_latin", f"{base}_fr", base):
        if twin in claims:
            return twin
    return None


def _display(name: str, value: Any) -> str:
    if name == "mention":
        return _mention(value)
    if isinstance(value, str) and ("date" in name or name in ("issued_on", "issued")):
        try:
            return datetime.date.fromisoformat(value[:10]).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return _flat(value)


def shown_claims(claims: dict[str, Any], revealed: Collection[str] | None = None) -> Shown:
    """The claims a page shows: all of them for the holder (revealed=None), else a link's.

    A claim in Arabic script shares the row of its Latin twin (names, places, track...).
    """
    result = Shown()
    hidden: set[str] = set()
    arabic: dict[str, str] = {}
    for name, value in claims.items():
        if name.endswith("_ar") and _latin_twin(name, claims):
            if revealed is None or disclosure.is_revealed(name, revealed):
                arabic[_latin_twin(name, claims) or ""] = _flat(value)
    for name, value in claims.items():
        if name.startswith("_") or name in _NOT_SHOWN or name in ("@context", "type", "id"):
            continue
        if name in _CODE_OF and claims.get(_CODE_OF[name]):
            continue
        if name.endswith("_ar") and _latin_twin(name, claims):
            continue  # shown with its twin
        if revealed is not None and not disclosure.is_revealed(name, revealed):
            hidden.add(disclosure.claim_group(name) or "")
            continue
        if disclosure.claim_group(name) == disclosure.GRADES and isinstance(value, list | dict):
            if isinstance(value, dict) and not all(
                isinstance(v, int | float | str) for v in value.values()
            ):
                # A nested record of averages: one row each.
                for key, item in value.items():
                    result.rows.append(Row(_label(f"{key}_average"), _flat(item), True))
                continue
            result.marks.extend(_marks(value))
            continue
        lang = "ar" if name.endswith("_ar") else ("fr" if name.endswith(("_latin", "_fr")) else "")
        ltr = any(h in name for h in _LTR_HINTS)
        if name in arabic:
            lang = lang or "fr"
        result.rows.append(
            Row(_label(name), _display(name, value), ltr, lang, arabic.get(name, ""))
        )
    result.hidden = [str(FieldGroup(g).label) for g in FieldGroup.values if g in hidden]
    return result


def presentation(link: ShareLink) -> str:
    """The SD-JWT a verifier downloads from a link: only the revealed disclosures.

    The issuer names its disclosures after SD-JWT VC conventions (diplomas.sdjwt.DISCLOSABLE:
    claim key -> disclosure name); a disclosure whose name is not in that table is withheld.
    """
    from diplomas.sdjwt import DISCLOSABLE

    names = {name for key, name in DISCLOSABLE if disclosure.is_revealed(key, link.revealed)}
    return disclosure.present(link.diploma.sd_jwt, names.__contains__)


# --- verification -------------------------------------------------------------------------------

VALID = "valid"
INVALID = "invalid"
REPLACED = "replaced"
LINK_EXPIRED = "expired"


@dataclass
class Answer:
    """A verification answer, the same for the page and the API."""

    state: str  # valid, revoked, replaced, expired (link), invalid
    reason: str = ""
    message: str = ""
    number: str = ""
    current_number: str = ""
    face: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    retry_after: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "valid": self.state == VALID,
            "reason": self.reason,
            "message": self.message,
            "number": self.number or None,
            "current_number": self.current_number or None,
            "face": self.face or None,
            "claims": self.claims,
        }


def _state_message(state: str, current_number: str = "") -> str:
    if state == VALID:
        return _("This diploma is genuine and valid.")
    if state == DiplomaStatus.REVOKED:
        return _("This diploma was revoked by the ministry: it is no longer valid.")
    if state == REPLACED:
        if current_number:
            return _(
                "This diploma was replaced by diploma %(number)s (a corrected result): only the "
                "current diploma is valid."
            ) % {"number": current_number}
        return _("This diploma was replaced: only the current diploma is valid.")
    if state == LINK_EXPIRED:
        return _("This share link has expired. Ask the holder for a new link.")
    return _("This is not a valid diploma.")


def replacement_number(diploma: Diploma) -> str:
    """The number of the diploma that replaced this one ("" unless it was replaced)."""
    if diploma.status != DiplomaStatus.REPLACED:
        return ""
    try:
        return diploma.replaced_by.number
    except Diploma.replaced_by.RelatedObjectDoesNotExist:
        return ""


def answer_for_link(request: HttpRequest, token: str) -> Answer:
    """What one of our share links says: the link's state, then its diploma's."""
    found = lookup(request, token)
    if found.state == RATE_LIMITED:
        return Answer(
            INVALID,
            RATE_LIMITED,
            _("Too many checks from your network. Try again later."),
            retry_after=found.retry_after,
        )
    if found.state == UNKNOWN:
        return Answer(INVALID, "unknown_link", _("This share link does not exist."))
    link = found.link
    assert link is not None
    if found.state in (EXPIRED, REVOKED):
        record_view(request, link, ShareView.Kind.REFUSED)
        if found.state == EXPIRED:
            return Answer(LINK_EXPIRED, "link_expired", _state_message(LINK_EXPIRED))
        return Answer(
            INVALID,
            "link_revoked",
            _("The holder has withdrawn this share link. Ask for a new one."),
        )
    record_view(request, link, ShareView.Kind.VERIFY)
    diploma = link.diploma
    current = replacement_number(diploma) if diploma.status == DiplomaStatus.REPLACED else ""
    return Answer(
        str(diploma.status),
        "" if diploma.status == DiplomaStatus.VALID else str(diploma.status),
        _state_message(str(diploma.status), current),
        number=diploma.number,
        current_number=current,
        face="share_link",
        claims=disclosure.filter_claims(diploma.claims, link.revealed),
    )


def share_token_in(text: str) -> str | None:
    """The token of one of our share links in pasted text (a full URL or just its path)."""
    match = _LINK_IN_TEXT.search(text.strip()) if len(text) < 2000 else None
    return match.group(1) if match else None


def verify_limit() -> RateLimit:
    return RateLimit(
        "diploma-verify",
        getattr(settings, "DIPLOMA_VERIFY_PER_ADDRESS", 60),
        getattr(settings, "DIPLOMA_VERIFY_WINDOW_SECONDS", 60),
    )


def verify_throttled(request: HttpRequest) -> int:
    """0 if this address may verify now, else the seconds to wait."""
    decision = verify_limit().hit(address_bucket(client_address(request)))
    return 0 if decision.allowed else decision.retry_after


def verify(request: HttpRequest, data: bytes | str) -> Answer:
    """Verify what a verifier submitted: one of our share links, or any face of a diploma."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) and len(data) < 2000 else data
    if isinstance(text, str):
        token = share_token_in(text)
        if token:
            return answer_for_link(request, token)
    from diplomas.verify import verify_any

    verdict = verify_any(data)
    state = verdict.state if verdict.state in (VALID, "revoked", REPLACED) else INVALID
    current = verdict.current_number or ""
    return Answer(
        state,
        verdict.code if state != VALID else "",
        # Our own words for the states (with the pointer to a replacement); the verifier's
        # reason, which says what is wrong and nothing more, for an invalid one.
        _state_message(state, current) if state != INVALID else str(verdict.reason),
        number=verdict.number or "",
        current_number=current,
        face=verdict.face or "",
        claims=dict(verdict.claims or {}),
    )


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
