"""Issuing, revoking and replacing digital diplomas. Views, commands, tasks and signal receivers
call these functions, never each other.

A diploma is issued to a candidate whose current published result is "admitted" and who has a
CNIE number. Its faces are signed once, at issuance, from `claims` (what the diploma states):
the Verifiable Credential (Ed25519, eddsa-rdfc-2022), the SD-JWT VC and the QR code (ES256 with
the issuing certificate of diplomas.pki); the PDF is rendered on demand (diplomas.pdf).
A revoked or replaced diploma has its bit set in the issuer's Bitstring Status List, whose signed
credential is rebuilt in the same transaction.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.services import Change, record_changes
from candidates.models import Candidate
from exams.models import ExamSession, Subject
from results.models import Decision, Mention, Publication, PublishedResult, Sitting

from . import credential as cred
from . import keys as diploma_keys
from . import pki, sdjwt
from .codec import CROCKFORD, luhn32_check, new_diploma_number
from .models import Diploma, DiplomaStatus, IndexCounter, IssuanceRun, Refusal, StatusList

logger = logging.getLogger(__name__)

DEFAULT_ISSUER_NAME = (
    "Royaume du Maroc — Ministère de l'Éducation nationale, du Préscolaire et des Sports"
)
MENTION_AR = {
    Mention.PASSABLE: "مقبول",
    Mention.ASSEZ_BIEN: "مستحسن",
    Mention.BIEN: "حسن",
    Mention.TRES_BIEN: "حسن جدا",
}
MENTION_FR = {
    Mention.PASSABLE: "Passable",
    Mention.ASSEZ_BIEN: "Assez bien",
    Mention.BIEN: "Bien",
    Mention.TRES_BIEN: "Très bien",
}


class DiplomaRefused(Exception):
    """No diploma for this candidate; `reason` is for people (translatable), `code` for code."""

    def __init__(self, code: str, reason: Any):
        super().__init__(str(reason))
        self.code = code
        self.reason = reason


class DiplomaError(ValueError):
    """A staff action that cannot be done (no reason given, diploma not valid...)."""


@dataclass
class IssueReport:
    total: int = 0
    issued: int = 0
    already: int = 0
    refused_no_cnie: int = 0
    numbers: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "issued": self.issued,
            "already": self.already,
            "refused_no_cnie": self.refused_no_cnie,
        }


# --- signing context --------------------------------------------------------------------------


def site() -> str:
    return diploma_keys.site_url()


def vct_url() -> str:
    return f"{site()}/diplomas/vct/baccalaureate.json"


@dataclass
class Signer:
    """Everything needed to sign the three faces, loaded once per batch."""

    factory: cred.CredentialFactory
    identity: pki.SigningIdentity
    x5c: list[str]
    moment: datetime.datetime

    @property
    def created(self) -> str:
        return self.factory.issuer.created


def _xsd(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def issuer_for(moment: datetime.datetime) -> cred.Issuer:
    ring = diploma_keys.key_ring()
    did = diploma_keys.issuer_did()
    return cred.Issuer(
        site=site(),
        did=did,
        name=getattr(settings, "DIPLOMA_ISSUER_NAME", DEFAULT_ISSUER_NAME),
        verification_method=ring.verification_method(did),
        created=_xsd(moment),
    )


def signer(moment: datetime.datetime | None = None) -> Signer:
    """The signing context of a batch: keys, issuer, and the proofs' `created` moment."""
    moment = moment or timezone.now()
    identity = pki.signing_identity()
    factory = cred.CredentialFactory(issuer_for(moment), diploma_keys.key_ring().signing_key)
    x5c = [base64.b64encode(identity.certificate.public_bytes(serialization.Encoding.DER)).decode()]
    return Signer(factory, identity, x5c, moment)


def sign_faces(
    s: Signer, claims: dict[str, Any], number: str, status_index: int
) -> tuple[dict[str, Any], str, str]:
    """(credential, SD-JWT, QR text) of one diploma. Pure given the signer: the benchmark and
    the bulk issuance call it in worker processes."""
    from .qr import encode_qr

    valid_from = s.created
    vc = s.factory.issue(claims, number=number, status_index=status_index, valid_from=valid_from)
    status_list, index_in_list, _list = cred.status_location(s.factory.issuer.site, status_index)
    token = sdjwt.issue(
        claims,
        number=number,
        issuer=s.factory.issuer.site,
        vct=f"{s.factory.issuer.site}/diplomas/vct/baccalaureate.json",
        issued_at=int(s.moment.timestamp()),
        status={
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(index_in_list),
            "statusListCredential": status_list,
        },
        private_key=s.identity.private_key,
        kid=s.identity.kid,
        x5c=s.x5c,
    )
    qr_claims = {
        "number": number,
        "last_name_latin": claims["last_name_latin"],
        "first_name_latin": claims["first_name_latin"],
        "last_name_ar": claims["last_name_ar"],
        "first_name_ar": claims["first_name_ar"],
        "birth_date": claims["birth_date"],
        "track": claims["track"],
        "session_year": int(claims["session_year"]),
        "mention": claims.get("mention") or "",
        "status_list_index": status_index,
        "issued_on": claims["issued_on"],
    }
    if claims.get("general_average"):
        qr_claims["average"] = claims["general_average"]
    if claims.get("academy"):
        qr_claims["academy"] = claims["academy"]
    return vc, token, encode_qr(qr_claims, s.identity)


# --- what a diploma states --------------------------------------------------------------------

_SITTING_RANK = {Sitting.NORMAL: 0, Sitting.CATCH_UP: 1}


def _public_publications(session: ExamSession) -> list[Publication]:
    from results.publication import current_publication

    now = timezone.now()
    found = []
    for sitting in (Sitting.NORMAL, Sitting.CATCH_UP):
        publication = current_publication(session, sitting, now)
        if publication is not None:
            found.append(publication)
    return found


def _current_query(session: ExamSession) -> Q | None:
    publications = _public_publications(session)
    if not publications:
        return None
    query = Q()
    for publication in publications:
        query |= Q(publication=publication) | Q(
            publication__base=publication, publication__status=Publication.Status.READY
        )
    return query


def _current_row_ids(
    session: ExamSession,
    candidate_ids: Iterable[int] | None = None,
    academy_id: int | None = None,
) -> dict[int, tuple[int, str]]:
    """candidate id -> (id, decision) of their latest public result row in the session
    (catch-up over normal, corrections over the full publication), of one academy if given.
    Light: no row is loaded."""
    query = _current_query(session)
    if query is None:
        return {}
    rows = PublishedResult.objects.filter(query)
    if candidate_ids is not None:
        rows = rows.filter(candidate_id__in=list(candidate_ids))
    if academy_id is not None:
        rows = rows.filter(candidate__school__directorate__academy_id=academy_id)
    latest: dict[int, tuple[tuple[int, int], int, str]] = {}
    for candidate_id, row_id, decision, sitting, version in rows.values_list(
        "candidate_id", "pk", "decision", "publication__sitting", "publication__version"
    ).iterator(chunk_size=20000):
        rank = (_SITTING_RANK.get(sitting, 0), version)
        held = latest.get(candidate_id)
        if held is None or rank > held[0]:
            latest[candidate_id] = (rank, row_id, decision)
    return {cid: (row_id, decision) for cid, (_rank, row_id, decision) in latest.items()}


def current_result(candidate: Candidate) -> PublishedResult | None:
    found = _current_row_ids(candidate.session, [candidate.pk]).get(candidate.pk)
    return PublishedResult.objects.get(pk=found[0]) if found else None


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def _subject_names() -> dict[str, tuple[str, str]]:
    return {
        code: (fr, ar) for code, fr, ar in Subject.objects.values_list("code", "name_fr", "name_ar")
    }


def build_claims(
    candidate: Candidate,
    row: PublishedResult,
    issued_on: datetime.date,
    names: dict[str, tuple[str, str]] | None = None,
) -> dict:
    """What the diploma states, from the candidate's file and the published result."""
    school = candidate.school
    academy = school.directorate.academy
    try:
        marks = json.loads(row.payload).get("k", [])
    except (ValueError, AttributeError):
        marks = []
    names = _subject_names() if names is None else names
    grades = []
    for item in marks:
        component, subject, mark = item[0], item[1], item[2]
        fr, ar = names.get(subject, (subject, subject))
        grade = {"subject": subject, "name_fr": fr, "name_ar": ar, "component": component}
        grade["mark"] = mark
        if len(item) > 3:
            grade["sitting"] = item[3]
        grades.append(grade)
    mention = row.mention or ""
    return _clean(
        {
            "cnie_number": candidate.cnie_number,
            "last_name_latin": candidate.last_name_latin,
            "first_name_latin": candidate.first_name_latin,
            "last_name_ar": candidate.last_name_ar,
            "first_name_ar": candidate.first_name_ar,
            "birth_date": candidate.birth_date.isoformat(),
            "birth_place_latin": candidate.birth_place_latin,
            "birth_place_ar": candidate.birth_place_ar,
            "track": candidate.track.code,
            "track_fr": candidate.track.name_fr,
            "track_ar": candidate.track.name_ar,
            "session": candidate.session.code,
            "session_name": candidate.session.name,
            "session_year": candidate.session.year,
            "academy": academy.code,
            "academy_fr": academy.name_fr,
            "academy_ar": academy.name_ar,
            "school_fr": school.name_fr,
            "school_ar": school.name_ar,
            "decision": row.decision,
            "mention": mention,
            "mention_fr": MENTION_FR.get(mention, ""),
            "mention_ar": MENTION_AR.get(mention, ""),
            "general_average": _dec(row.general_average),
            "continuous_average": _dec(row.continuous_average),
            "regional_average": _dec(row.regional_average),
            "national_average": _dec(row.national_average),
            "grades": grades,
            "issued_on": issued_on.isoformat(),
        }
    )


_CONTROLS = {i: " " for i in [*range(32), 127]}


def _clean(value: Any) -> Any:
    """No control character anywhere (canonical N-Quads escape them differently from one
    implementation to another; a name never holds one)."""
    if isinstance(value, str):
        return value.translate(_CONTROLS).strip()
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# Claims whose change makes a new diploma necessary (the others, like the school's name, are
# context: a diploma is not re-issued because a school was renamed).
STATED = (
    "cnie_number",
    "last_name_latin",
    "first_name_latin",
    "last_name_ar",
    "first_name_ar",
    "birth_date",
    "birth_place_latin",
    "birth_place_ar",
    "track",
    "session_year",
    "academy",
    "decision",
    "mention",
    "general_average",
    "continuous_average",
    "regional_average",
    "national_average",
    "grades",
)


def states_differently(old: dict, new: dict) -> bool:
    return any(old.get(key) != new.get(key) for key in STATED)


# --- allocation -------------------------------------------------------------------------------


def _allocate_indexes(count: int) -> int:
    """The first of `count` consecutive fresh status list indexes (inside a transaction).

    Safe across processes: on PostgreSQL the counter row is locked until the transaction
    commits; SQLite runs write transactions one at a time (transaction_mode IMMEDIATE). The bulk
    issuance allocates in a transaction of its own, so the lock is not held while it signs; a
    batch that then fails leaves its indexes unused (a gap in the status list is harmless: the
    bits of unused indexes are never set)."""
    IndexCounter.objects.get_or_create(name="status")
    counter = IndexCounter.objects.select_for_update().get(name="status")
    first = counter.next_value
    counter.next_value = first + count
    counter.save(update_fields=["next_value"])
    return first


def _random_numbers(year: int, count: int) -> list[str]:
    """`count` numbers as codec.new_diploma_number draws them (7 uniform Crockford characters
    and a check character), from one call to the system's random source instead of seven per
    number: a byte's low 5 bits are uniform over the 32 characters."""
    if count == 1:
        return [new_diploma_number(year)]
    data = secrets.token_bytes(7 * count)
    numbers = []
    for start in range(0, 7 * count, 7):
        body = "".join([CROCKFORD[b & 31] for b in data[start : start + 7]])
        full = body + luhn32_check(body)
        numbers.append(f"MA-{year}-{full[:4]}-{full[4:]}")
    return numbers


def _fresh_numbers(year: int, count: int) -> list[str]:
    """`count` random numbers not yet stored. Two processes may still draw the same number
    before either commits (1 chance in 34 billion per pair): the unique constraint keeps one,
    and the bulk issuance signs the other again under a new number (_store_bulk)."""
    numbers: set[str] = set()
    while len(numbers) < count:
        wanted = count - len(numbers)
        batch = set(_random_numbers(year, wanted)) - numbers
        taken = set(Diploma.objects.filter(number__in=list(batch)).values_list("number", flat=True))
        numbers |= batch - taken
    return list(numbers)


# --- issuance ---------------------------------------------------------------------------------


def current_diploma(candidate: Candidate) -> Diploma | None:
    return Diploma.objects.filter(candidate=candidate, status=DiplomaStatus.VALID).first()


def _refusal_reason(code: str):
    return {
        "no_cnie": _(
            "No diploma can be issued: there is no CNIE number in your file. Ask your school "
            "to add it; the diploma will then be issued."
        ),
        "not_admitted": _("No diploma can be issued: the published decision is not “admitted”."),
        "no_result": _("No diploma can be issued: there is no published result yet."),
    }[code]


def _record_refusals(session: ExamSession, candidate_ids: Sequence[int]) -> int:
    """Remember the admitted candidates without a CNIE and tell them (once)."""
    if not candidate_ids:
        return 0
    existing = set(
        Refusal.objects.filter(
            session=session, reason=Refusal.Reason.NO_CNIE, candidate_id__in=candidate_ids
        ).values_list("candidate_id", flat=True)
    )
    new = [i for i in candidate_ids if i not in existing]
    Refusal.objects.bulk_create(
        [Refusal(candidate_id=i, session=session, reason=Refusal.Reason.NO_CNIE) for i in new],
        ignore_conflicts=True,
    )
    if new:
        from notifications.services import queue_bulk_notifications

        queue_bulk_notifications("diploma_refused", f"diplomas.refused.{session.code}", new)
    return len(new)


def _audit_issued(actor, diplomas: Sequence[Diploma], reason: str = "") -> None:
    _record_issued(
        actor,
        [
            (d.number, d.status, d.replaces.number if d.replaces_id else None, d.candidate_id)
            for d in diplomas
        ],
        reason,
    )


def _record_issued(
    actor, issued: Iterable[tuple[str, str, str | None, int]], reason: str = ""
) -> None:
    """Audit issued diplomas: (number, status, number replaced or None, candidate id) each."""
    record_changes(
        actor,
        [
            Change(
                action="diplomas.issue",
                object_type="diplomas.diploma",
                object_id=number,
                after={"number": number, "status": status, "replaces": replaces},
                reason=reason,
                candidate_id=candidate_id,
            )
            for number, status, replaces, candidate_id in issued
        ],
    )


def _new_diploma(
    s: Signer,
    candidate: Candidate,
    row: PublishedResult,
    number: str,
    index: int,
    replaces: Diploma | None = None,
    names: dict[str, tuple[str, str]] | None = None,
) -> Diploma:
    claims = build_claims(candidate, row, timezone.localdate(s.moment), names)
    vc, token, qr_text = sign_faces(s, claims, number, index)
    return Diploma(
        number=number,
        candidate=candidate,
        session_id=candidate.session_id,
        published_result=row,
        claims=claims,
        issued_at=s.moment,
        status_list_index=index,
        credential=vc,
        sd_jwt=token,
        qr=qr_text,
        replaces=replaces,
    )


def _candidates() -> QuerySet[Candidate]:
    return Candidate.objects.select_related(
        "session", "track", "school__directorate__academy", "user"
    )


def issue_diploma(candidate: Candidate, *, actor=None) -> Diploma:
    """The candidate's valid diploma, issued now if they have none. Raises DiplomaRefused."""
    held = current_diploma(candidate)
    if held is not None:
        return held
    candidate = _candidates().get(pk=candidate.pk)
    row = current_result(candidate)
    if row is None:
        raise DiplomaRefused("no_result", _refusal_reason("no_result"))
    if row.decision != Decision.ADMITTED:
        raise DiplomaRefused("not_admitted", _refusal_reason("not_admitted"))
    if not candidate.cnie_number:
        with transaction.atomic():
            _record_refusals(candidate.session, [candidate.pk])
        raise DiplomaRefused("no_cnie", _refusal_reason("no_cnie"))
    s = signer()
    try:
        with transaction.atomic():
            Candidate.objects.select_for_update().filter(pk=candidate.pk).first()
            held = current_diploma(candidate)
            if held is not None:
                return held
            index = _allocate_indexes(1)
            diploma = _new_diploma(
                s, candidate, row, _fresh_numbers(candidate.session.year, 1)[0], index
            )
            diploma.save()
            Refusal.objects.filter(candidate=candidate, resolved_at__isnull=True).update(
                resolved_at=s.moment
            )
            _audit_issued(actor, [diploma])
            _notify_issued([candidate.pk], diploma.number)
    except IntegrityError:
        held = current_diploma(candidate)
        if held is None:
            raise
        return held
    return diploma


def _notify_issued(candidate_ids: Sequence[int], reference: str) -> None:
    from notifications.services import queue_bulk_notifications

    queue_bulk_notifications("diploma_issued", f"diplomas.{reference}", list(candidate_ids))


# --- bulk issuance ----------------------------------------------------------------------------

# Diplomas per batch of the bulk issuance: each batch is signed, then written in one
# transaction (all or nothing). 2,000 lets the diplomas, audit entries and outbox rows all take
# PostgreSQL's COPY path (bac.pg.COPY_MIN_ROWS) while a batch stays a few seconds of work.
BULK_BATCH = 2000

_CANDIDATE_FIELDS = (
    "pk",
    "cnie_number",
    "last_name_latin",
    "first_name_latin",
    "last_name_ar",
    "first_name_ar",
    "birth_date",
    "birth_place_latin",
    "birth_place_ar",
    "track_id",
    "school_id",
)
_ROW_FIELDS = (
    "pk",
    "decision",
    "mention",
    "general_average",
    "continuous_average",
    "regional_average",
    "national_average",
    "payload",
)


def _text(value: Any) -> Any:
    """_clean for one value, without the translation when there is nothing to translate."""
    if type(value) is str:
        return (value if value.isprintable() else value.translate(_CONTROLS)).strip()
    return _clean(value)


@dataclass(frozen=True)
class _Shared:
    """What the diplomas of one session share, cleaned once per run instead of once per
    diploma: the session, the tracks, the schools with their academy, the subjects' names."""

    session: tuple[str, str, int]
    tracks: dict[int, tuple[str, str, str]]
    schools: dict[int, tuple[str, str, str, str, str]]
    names: dict[str, tuple[str, str]]
    # Each distinct (component, subject, mark, sitting) line, cleaned and named once per run:
    # a session has a few thousand distinct lines among its millions.
    grade_lines: dict[tuple, dict[str, Any]] = field(default_factory=dict)


def _shared(session: ExamSession) -> _Shared:
    from exams.models import School, Track

    tracks = {
        pk: (_text(code), _text(fr), _text(ar))
        for pk, code, fr, ar in Track.objects.values_list("pk", "code", "name_fr", "name_ar")
    }
    schools = {
        row[0]: tuple(_text(v) for v in row[1:])
        for row in School.objects.values_list(
            "pk",
            "name_fr",
            "name_ar",
            "directorate__academy__code",
            "directorate__academy__name_fr",
            "directorate__academy__name_ar",
        )
    }
    names = {code: (_text(fr), _text(ar)) for code, (fr, ar) in _subject_names().items()}
    return _Shared((_text(session.code), _text(session.name), session.year), tracks, schools, names)


def _grades_of(
    payload: str,
    names: dict[str, tuple[str, str]],
    lines: dict[tuple, dict[str, Any]],
) -> list[dict[str, Any]]:
    import orjson

    try:
        marks = orjson.loads(payload).get("k", [])
    except (ValueError, AttributeError, TypeError):
        marks = []
    grades = []
    for item in marks:
        try:
            key = tuple(item)
            line = lines.get(key)
        except TypeError:  # not hashable: not our payload's shape, cleaned the long way
            key, line = None, None
        if line is None:
            line = _grade_line(item, names)
            if key is not None and len(lines) < 200_000:
                lines[key] = line
        grades.append(dict(line))  # each diploma its own dictionaries
    return grades


def _grade_line(item: Sequence[Any], names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    subject = _text(item[1])
    fr, ar = names.get(item[1]) or (subject, subject)
    grade = {
        "subject": subject,
        "name_fr": fr,
        "name_ar": ar,
        "component": _text(item[0]),
        "mark": _text(item[2]),
    }
    if len(item) > 3:
        grade["sitting"] = _text(item[3])
    return grade


def _bulk_claims(shared: _Shared, person: tuple, row: tuple, issued_on: str) -> dict[str, Any]:
    """build_claims from plain values (_CANDIDATE_FIELDS, _ROW_FIELDS): the same dictionary,
    without loading six model instances per diploma."""
    (_pk, cnie, last_l, first_l, last_a, first_a, birth, place_l, place_a, track, school) = person
    (_row, decision, mention, general, continuous, regional, national, payload) = row
    track_code, track_fr, track_ar = shared.tracks[track]
    school_fr, school_ar, academy, academy_fr, academy_ar = shared.schools[school]
    mention = mention or ""
    return {
        "cnie_number": _text(cnie),
        "last_name_latin": _text(last_l),
        "first_name_latin": _text(first_l),
        "last_name_ar": _text(last_a),
        "first_name_ar": _text(first_a),
        "birth_date": birth.isoformat(),
        "birth_place_latin": _text(place_l),
        "birth_place_ar": _text(place_a),
        "track": track_code,
        "track_fr": track_fr,
        "track_ar": track_ar,
        "session": shared.session[0],
        "session_name": shared.session[1],
        "session_year": shared.session[2],
        "academy": academy,
        "academy_fr": academy_fr,
        "academy_ar": academy_ar,
        "school_fr": school_fr,
        "school_ar": school_ar,
        "decision": _text(decision),
        "mention": _text(mention),
        "mention_fr": MENTION_FR.get(mention, ""),
        "mention_ar": MENTION_AR.get(mention, ""),
        "general_average": _dec(general),
        "continuous_average": _dec(continuous),
        "regional_average": _dec(regional),
        "national_average": _dec(national),
        "grades": _grades_of(payload, shared.names, shared.grade_lines),
        "issued_on": issued_on,
    }


@dataclass(slots=True)
class _NewDiploma:
    """A signed diploma not stored yet (plain values: no model instance per row)."""

    number: str
    candidate_id: int
    session_id: int
    published_result_id: int
    claims: dict[str, Any]
    status_list_index: int
    credential: dict[str, Any] = field(default_factory=dict)
    sd_jwt: str = ""
    qr: str = ""

    def sign(self, s: Signer, number: str) -> _NewDiploma:
        self.number = number
        self.credential, self.sd_jwt, self.qr = sign_faces(
            s, self.claims, number, self.status_list_index
        )
        return self


_COPY_COLUMNS = (
    "number",
    "candidate_id",
    "session_id",
    "published_result_id",
    "status",
    "claims",
    "issued_at",
    "revocation_reason",
    "status_list_index",
    "credential",
    "sd_jwt",
    "qr",
)


_LZ4: list[bool] = []


def _fast_compression() -> None:
    """Compress this transaction's large values (credential, SD-JWT, claims) with lz4 rather
    than PostgreSQL's default pglz: a third less database CPU per diploma, read back the same.
    Skipped on a server built without lz4."""
    if _LZ4 and not _LZ4[0]:
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL default_toast_compression = 'lz4'")
    except DatabaseError:
        _LZ4[:] = [False]
    else:
        _LZ4[:] = [True]


def _commit_without_waiting() -> None:
    """Let this batch's commit return before its WAL reaches the disk (PostgreSQL only): the
    workers sign instead of waiting on fsync, a core idle at each of 250 commits a run.

    Safe for a batch: a crash can lose only the last fraction of a second of commits, whole
    batches with their outbox rows and audit entries (so nobody was told of a lost diploma);
    the run is not marked done (that commit waits, and the WAL is flushed in order), and
    running it again issues exactly what is missing."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _insert_bulk(s: Signer, diplomas: list[_NewDiploma]) -> set[str]:
    """Store new diplomas, skipping any that conflict (a candidate given one meanwhile, a
    number drawn by another process too); returns the numbers stored. On PostgreSQL through
    COPY: a bulk INSERT of 10 kB rows spends more time quoting parameters than signing them."""
    from bac.pg import copy_from_stdin

    if connection.vendor != "postgresql" or len(diplomas) < 50:
        Diploma.objects.bulk_create(
            [
                Diploma(
                    number=d.number,
                    candidate_id=d.candidate_id,
                    session_id=d.session_id,
                    published_result_id=d.published_result_id,
                    claims=d.claims,
                    issued_at=s.moment,
                    status_list_index=d.status_list_index,
                    credential=d.credential,
                    sd_jwt=d.sd_jwt,
                    qr=d.qr,
                )
                for d in diplomas
            ],
            ignore_conflicts=True,
        )
        wanted = {(d.number, d.candidate_id) for d in diplomas}
        return {
            number
            for number, candidate_id in Diploma.objects.filter(
                number__in=[d.number for d in diplomas]
            ).values_list("number", "candidate_id")
            if (number, candidate_id) in wanted
        }
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in _COPY_COLUMNS)
    table = quote(Diploma._meta.db_table)
    import orjson

    def dumps(value: dict[str, Any]) -> str:
        return orjson.dumps(value).decode()

    rows = [
        (
            d.number,
            d.candidate_id,
            d.session_id,
            d.published_result_id,
            DiplomaStatus.VALID.value,
            dumps(d.claims),
            s.moment,
            "",
            d.status_list_index,
            dumps(d.credential),
            d.sd_jwt,
            d.qr,
        )
        for d in diplomas
    ]
    _fast_compression()
    # Straight into the table first: a conflict is rare (a single issuance meanwhile, a number
    # drawn twice), and a COPY through a staging table makes the server parse every row twice.
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with copy_from_stdin(cursor, f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return {d.number for d in diplomas}
    except IntegrityError:
        pass
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE diploma_copy (number text, candidate_id bigint, "
            "session_id bigint, published_result_id bigint, status text, claims jsonb, "
            "issued_at timestamptz, revocation_reason text, status_list_index bigint, "
            "credential jsonb, sd_jwt text, qr text) ON COMMIT DROP"
        )
        with copy_from_stdin(cursor, f"COPY diploma_copy ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM diploma_copy "  # noqa: S608 - names from the model
            "ON CONFLICT DO NOTHING RETURNING number"
        )
        stored = {row[0] for row in cursor.fetchall()}
        cursor.execute("DROP TABLE diploma_copy")
    return stored


def _store_bulk(s: Signer, year: int, diplomas: list[_NewDiploma]) -> list[_NewDiploma]:
    """Store the signed diplomas (inside the batch's transaction); those whose number another
    process stored first are signed again under a new number. Returns those stored: a
    candidate given a diploma meanwhile (a single issuance) keeps theirs."""
    stored: list[_NewDiploma] = []
    pending = diplomas
    while pending:
        numbers = _insert_bulk(s, pending)
        stored += [d for d in pending if d.number in numbers]
        missing = [d for d in pending if d.number not in numbers]
        if not missing:
            break
        held = set(
            Diploma.objects.filter(
                candidate_id__in=[d.candidate_id for d in missing], status=DiplomaStatus.VALID
            ).values_list("candidate_id", flat=True)
        )
        pending = [d for d in missing if d.candidate_id not in held]
        fresh = _fresh_numbers(year, len(pending))
        pending = [d.sign(s, fresh[i]) for i, d in enumerate(pending)]
    return stored


def _audit_bulk(actor, diplomas: Sequence[_NewDiploma]) -> None:
    _record_issued(
        actor, [(d.number, DiplomaStatus.VALID.value, None, d.candidate_id) for d in diplomas]
    )


def _issue_batch(
    s: Signer,
    shared: _Shared,
    session: ExamSession,
    chunk: Sequence[int],
    admitted: dict[int, int],
    actor,
) -> IssueReport:
    """Issue the diplomas of one batch of admitted candidates: signed first, outside any
    transaction (nothing is locked while the CPU works), then stored, resolved, notified and
    audited in one transaction: all of the batch or none of it."""
    report = IssueReport()
    people = list(
        Candidate.objects.filter(pk__in=chunk).order_by("pk").values_list(*_CANDIDATE_FIELDS)
    )
    without = [person[0] for person in people if not person[1]]
    with_cnie = [person for person in people if person[1]]
    # Someone may have been issued one meanwhile (a single issuance, another run): skip them.
    held = set(
        Diploma.objects.filter(
            candidate_id__in=[person[0] for person in with_cnie], status=DiplomaStatus.VALID
        ).values_list("candidate_id", flat=True)
    )
    with_cnie = [person for person in with_cnie if person[0] not in held]
    report.already = len(held)
    signed: list[_NewDiploma] = []
    if with_cnie:
        rows = {
            row[0]: row
            for row in PublishedResult.objects.filter(
                pk__in=[admitted[person[0]] for person in with_cnie]
            ).values_list(*_ROW_FIELDS)
        }
        with transaction.atomic():
            first = _allocate_indexes(len(with_cnie))
        numbers = _fresh_numbers(session.year, len(with_cnie))
        issued_on = timezone.localdate(s.moment).isoformat()
        for i, person in enumerate(with_cnie):
            row = rows[admitted[person[0]]]
            claims = _bulk_claims(shared, person, row, issued_on)
            signed.append(
                _NewDiploma("", person[0], session.pk, row[0], claims, first + i).sign(
                    s, numbers[i]
                )
            )
    with transaction.atomic():
        _commit_without_waiting()
        report.refused_no_cnie = _record_refusals(session, without)
        stored = _store_bulk(s, session.year, signed) if signed else []
        report.already += len(signed) - len(stored)
        if stored:
            holders = [d.candidate_id for d in stored]
            Refusal.objects.filter(candidate_id__in=holders, resolved_at__isnull=True).update(
                resolved_at=s.moment
            )
            _notify_issued(holders, f"session.{session.code}")
            # Last: the audit chain's head stays locked until the commit, so that concurrent
            # runs wait for each other only this long.
            _audit_bulk(actor, stored)
        report.issued = len(stored)
        report.numbers = [d.number for d in stored]
    return report


def issue_for_session(
    session: ExamSession,
    *,
    progress: Callable[[int, int], None] | None = None,
    academy_id: int | None = None,
    batch_size: int = BULK_BATCH,
    actor=None,
) -> IssueReport:
    """Issue a diploma to every admitted candidate of the session (of one academy, if given)
    with a CNIE who holds none (idempotent: run it again, nothing changes). The admitted
    without a CNIE are recorded, told and listed for their school.

    Several calls may run at once in different processes (start_issuance queues one per
    academy): indexes and numbers are allocated safely and a candidate never gets two."""
    report = IssueReport()
    admitted = {
        cid: row_id
        for cid, (row_id, decision) in _current_row_ids(session, academy_id=academy_id).items()
        if decision == Decision.ADMITTED
    }
    report.total = len(admitted)
    holding = Diploma.objects.filter(session=session, status=DiplomaStatus.VALID)
    if academy_id is not None:
        holding = holding.filter(candidate__school__directorate__academy_id=academy_id)
    holders = {cid for cid in holding.values_list("candidate_id", flat=True) if cid in admitted}
    report.already = len(holders)
    todo = sorted(cid for cid in admitted if cid not in holders)
    done = report.already
    if progress:
        progress(done, report.total)
    if not todo:
        return report
    s = signer()
    shared = _shared(session)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        batch = _issue_batch(s, shared, session, chunk, admitted, actor)
        report.issued += batch.issued
        report.already += batch.already
        report.refused_no_cnie += batch.refused_no_cnie
        report.numbers += batch.numbers
        done += len(chunk)
        if progress:
            progress(done, report.total)
    return report


# --- revocation and replacement ---------------------------------------------------------------


def _locked(diploma: Diploma) -> Diploma:
    return Diploma.objects.select_for_update().select_related("candidate").get(pk=diploma.pk)


def revoke_diploma(diploma: Diploma, *, reason: str, actor) -> Diploma:
    """Revoke a valid diploma: status list bit set, reason recorded and audited, holder told."""
    reason = (reason or "").strip()
    if not reason:
        raise DiplomaError(_("Say why the diploma is revoked."))
    with transaction.atomic():
        diploma = _locked(diploma)
        if diploma.status != DiplomaStatus.VALID:
            raise DiplomaError(_("Only a valid diploma can be revoked."))
        _end(diploma, DiplomaStatus.REVOKED, reason, actor)
        from notifications.services import notify_candidate

        notify_candidate(diploma.candidate, "diploma_revoked", f"diplomas.{diploma.number}")
    return diploma


def _end(diploma: Diploma, status: str, reason: str, actor) -> None:
    diploma.status = status
    diploma.revoked_at = timezone.now()
    diploma.revocation_reason = reason
    diploma.revoked_by = actor
    diploma.save(update_fields=["status", "revoked_at", "revocation_reason", "revoked_by"])
    record_changes(
        actor,
        [
            Change(
                action=f"diplomas.{'revoke' if status == DiplomaStatus.REVOKED else 'replace'}",
                object_type="diplomas.diploma",
                object_id=diploma.number,
                before={"status": DiplomaStatus.VALID},
                after={"status": status},
                reason=reason,
                candidate_id=diploma.candidate_id,
            )
        ],
    )
    refresh_status_list(diploma.status_list_index // cred.STATUS_LIST_BITS)


def replace_diploma(diploma: Diploma, *, reason: str, actor) -> Diploma:
    """Issue a new diploma from the candidate's current result and file in place of `diploma`
    (new number, `replaces` link); the old one is marked replaced in the status list."""
    reason = (reason or "").strip()
    if not reason:
        raise DiplomaError(_("Say why the diploma is replaced."))
    candidate = _candidates().get(pk=diploma.candidate_id)
    row = current_result(candidate)
    if row is None or row.decision != Decision.ADMITTED:
        raise DiplomaRefused("not_admitted", _refusal_reason("not_admitted"))
    if not candidate.cnie_number:
        raise DiplomaRefused("no_cnie", _refusal_reason("no_cnie"))
    s = signer()
    with transaction.atomic():
        old = _locked(diploma)
        if old.status != DiplomaStatus.VALID:
            raise DiplomaError(_("Only a valid diploma can be replaced."))
        _end(old, DiplomaStatus.REPLACED, reason, actor)
        index = _allocate_indexes(1)
        new = _new_diploma(
            s, candidate, row, _fresh_numbers(candidate.session.year, 1)[0], index, replaces=old
        )
        new.save()
        _audit_issued(actor, [new], reason)
        from notifications.services import notify_candidate

        notify_candidate(candidate, "diploma_replaced", f"diplomas.{new.number}")
    return new


def current_of(diploma: Diploma) -> Diploma:
    """The end of the replacement chain starting at `diploma`."""
    seen = {diploma.pk}
    while True:
        following = Diploma.objects.filter(replaces=diploma).first()
        if following is None or following.pk in seen:
            return diploma
        seen.add(following.pk)
        diploma = following


# --- after a corrected result -----------------------------------------------------------------


def follow_result(candidate: Candidate, reason: str, actor=None) -> Diploma | None:
    """Bring the candidate's diploma in line with their current published result: replace it if
    what it states changed, revoke it if they are no longer admitted, issue one if they became
    admitted (with a CNIE) and DIPLOMAS_AUTO_ISSUE is on. Returns the valid diploma after that,
    if any."""
    candidate = _candidates().get(pk=candidate.pk)
    held = current_diploma(candidate)
    row = current_result(candidate)
    admitted = row is not None and row.decision == Decision.ADMITTED
    if held is None:
        from .receivers import auto_issue

        if not admitted or not auto_issue():
            return None
        try:
            return issue_diploma(candidate, actor=actor)
        except DiplomaRefused:
            return None
    if not admitted:
        revoke_diploma(
            held,
            reason=str(_("The corrected result is no longer “admitted”: %(reason)s"))
            % {"reason": reason},
            actor=actor,
        )
        return None
    new_claims = build_claims(candidate, row, timezone.localdate())
    if not candidate.cnie_number or not states_differently(held.claims, new_claims):
        return held
    return replace_diploma(held, reason=reason, actor=actor)


# --- status lists -----------------------------------------------------------------------------


def revoked_indexes(list_id: int) -> set[int]:
    low = list_id * cred.STATUS_LIST_BITS
    high = low + cred.STATUS_LIST_BITS
    return {
        index - low
        for index in Diploma.objects.filter(status_list_index__gte=low, status_list_index__lt=high)
        .exclude(status=DiplomaStatus.VALID)
        .values_list("status_list_index", flat=True)
    }


def refresh_status_list(list_id: int) -> StatusList:
    """Sign the status list again from the diplomas' statuses (call inside the transaction that
    changed them)."""
    revoked = revoked_indexes(list_id)
    moment = timezone.now()
    issuer = issuer_for(moment)
    url = f"{issuer.site}/diplomas/status/{list_id}.json"
    document = cred.status_list_credential(
        url=url,
        issuer=issuer,
        revoked=revoked,
        valid_from=issuer.created,
        private_key=diploma_keys.key_ring().signing_key,
    )
    row, _created = StatusList.objects.update_or_create(
        list_id=list_id, defaults={"credential": document, "revoked_count": len(revoked)}
    )
    cache.delete(_status_cache_key(list_id))
    return row


def _status_cache_key(list_id: int) -> str:
    return f"diplomas:status:{list_id}"


def status_list_document(list_id: int) -> dict[str, Any] | None:
    """The signed status list credential served at its URL (None: no such list)."""
    key = _status_cache_key(list_id)
    cached = cache.get(key)
    if cached is not None:
        return cached
    row = StatusList.objects.filter(list_id=list_id).first()
    if row is None or row.credential.get("id", "").split("/diplomas/")[0] != site():
        exists = Diploma.objects.filter(
            status_list_index__gte=list_id * cred.STATUS_LIST_BITS,
            status_list_index__lt=(list_id + 1) * cred.STATUS_LIST_BITS,
        ).exists()
        if not exists and list_id != 0:
            return None
        row = refresh_status_list(list_id)
    cache.set(key, row.credential, 30)
    return row.credential


# --- the PDF ----------------------------------------------------------------------------------


def off_event_loop(function: Callable[..., Any], *args: Any) -> Any:
    """Call `function` here, or in a worker thread when this thread runs an asyncio event loop:
    pyHanko's synchronous API calls asyncio.run(), which cannot nest (an async caller, or a
    Playwright test earlier in the same process)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def pdf_bytes(diploma: Diploma) -> bytes:
    """The signed PDF, rendered on demand (diplomas.pdf keeps the rendered file)."""
    from .pdf import render_pdf

    return off_event_loop(render_pdf, diploma)


# --- bulk issuance runs -----------------------------------------------------------------------


def start_issuance(
    session: ExamSession,
    *,
    actor=None,
    academy_id: int | None = None,
    dispatch: Callable[[int], Any] | None = None,
) -> list[IssuanceRun]:
    """Create issuance runs and queue their tasks once the transaction commits: one per academy
    (the academy given, or every academy with candidates in the session), so that several
    Celery workers share a national issuance, each run a part of it (issuance_progress adds
    them up). `dispatch(run_id)` queues one (default: the Celery task)."""
    from exams.models import Academy

    from .tasks import issue_session_task

    if academy_id is not None:
        academy_ids = [academy_id]
    else:
        # Largest first: workers take the runs in this order, so that the small ones fill in
        # at the end instead of one worker finishing a large academy alone.
        academy_ids = list(
            Academy.objects.filter(directorates__schools__candidates__session=session)
            .annotate(candidates=Count("directorates__schools__candidates"))
            .order_by("-candidates", "code")
            .values_list("pk", flat=True)
        )
    runs = [
        IssuanceRun.objects.create(session=session, academy_id=pk, created_by=actor)
        for pk in academy_ids
    ]
    record_changes(
        actor,
        [
            Change(
                action="diplomas.issue_session",
                object_type="diplomas.issuancerun",
                object_id=str(run.pk),
                after={"session": session.code, "academy": run.academy_id},
            )
            for run in runs
        ],
    )
    run_ids = [run.pk for run in runs]

    def queue() -> None:
        for run_id in run_ids:
            (dispatch or issue_session_task.delay)(run_id)

    transaction.on_commit(queue, robust=True)
    return runs


def run_issuance(run_id: int) -> IssuanceRun:
    """Carry out one issuance run (the task). A run is claimed by one worker only: a second
    delivery of its task (acks_late after a lost worker) finds it running or done and leaves it."""
    run = IssuanceRun.objects.select_related("session").get(pk=run_id)
    claimed = IssuanceRun.objects.filter(
        pk=run.pk, status__in=(IssuanceRun.Status.PENDING, IssuanceRun.Status.FAILED)
    ).update(status=IssuanceRun.Status.RUNNING, error="", finished_at=None)
    if not claimed:
        return run

    def progress(done: int, total: int) -> None:
        IssuanceRun.objects.filter(pk=run.pk).update(processed=done, total=total)

    try:
        report = issue_for_session(
            run.session, progress=progress, academy_id=run.academy_id, actor=run.created_by
        )
    except Exception as exc:  # recorded for the staff page, then re-raised for the logs
        IssuanceRun.objects.filter(pk=run.pk).update(
            status=IssuanceRun.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    IssuanceRun.objects.filter(pk=run.pk).update(
        status=IssuanceRun.Status.DONE,
        total=report.total,
        processed=report.total,
        issued=report.issued,
        refused=report.refused_no_cnie,
        already=report.already,
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


def issuance_progress(runs: Iterable[IssuanceRun]) -> dict[str, Any]:
    """The progress of an issuance split into runs, as one: sums of their counts (read fresh
    from the database) and a status: failed if one failed, done when all are, else running or
    waiting."""
    ids = [run.pk for run in runs]
    rows = IssuanceRun.objects.filter(pk__in=ids)
    sums = rows.aggregate(
        total=Sum("total"),
        processed=Sum("processed"),
        issued=Sum("issued"),
        refused=Sum("refused"),
        already=Sum("already"),
    )
    progress: dict[str, Any] = {key: value or 0 for key, value in sums.items()}
    statuses = set(rows.values_list("status", flat=True))
    if IssuanceRun.Status.FAILED in statuses:
        progress["status"] = IssuanceRun.Status.FAILED.value
    elif statuses == {IssuanceRun.Status.DONE}:
        progress["status"] = IssuanceRun.Status.DONE.value
    elif statuses == {IssuanceRun.Status.PENDING}:
        progress["status"] = IssuanceRun.Status.PENDING.value
    else:
        progress["status"] = IssuanceRun.Status.RUNNING.value
    progress["runs"] = len(ids)
    return progress
