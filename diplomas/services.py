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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.services import Change, record_changes
from candidates.models import Candidate
from exams.models import ExamSession, Subject
from results.models import Decision, Mention, Publication, PublishedResult, Sitting

from . import credential as cred
from . import keys as diploma_keys
from . import pki, sdjwt
from .codec import new_diploma_number
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
    session: ExamSession, candidate_ids: Iterable[int] | None = None
) -> dict[int, tuple[int, str]]:
    """candidate id -> (id, decision) of their latest public result row in the session
    (catch-up over normal, corrections over the full publication). Light: no row is loaded."""
    query = _current_query(session)
    if query is None:
        return {}
    rows = PublishedResult.objects.filter(query)
    if candidate_ids is not None:
        rows = rows.filter(candidate_id__in=list(candidate_ids))
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
    """The first of `count` consecutive fresh status list indexes (inside a transaction)."""
    IndexCounter.objects.get_or_create(name="status")
    counter = IndexCounter.objects.select_for_update().get(name="status")
    first = counter.next_value
    counter.next_value = first + count
    counter.save(update_fields=["next_value"])
    return first


def _fresh_numbers(year: int, count: int) -> list[str]:
    numbers: set[str] = set()
    while len(numbers) < count:
        wanted = count - len(numbers)
        batch = {new_diploma_number(year) for _ in range(wanted)} - numbers
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
    record_changes(
        actor,
        [
            Change(
                action="diplomas.issue",
                object_type="diplomas.diploma",
                object_id=d.number,
                after={
                    "number": d.number,
                    "status": d.status,
                    "replaces": d.replaces.number if d.replaces_id else None,
                },
                reason=reason,
                candidate_id=d.candidate_id,
            )
            for d in diplomas
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


def _insert(diplomas: list[Diploma]) -> list[Diploma]:
    """Store new diplomas; returns those stored (a candidate given one meanwhile by a single
    issuance keeps theirs). On PostgreSQL through COPY: a bulk INSERT of 10 kB rows spends
    more time quoting parameters than signing them."""
    from bac.pg import copy_from_stdin

    if connection.vendor != "postgresql" or len(diplomas) < 50:
        Diploma.objects.bulk_create(diplomas, ignore_conflicts=True)
        stored = set(
            Diploma.objects.filter(number__in=[d.number for d in diplomas]).values_list(
                "number", "candidate_id"
            )
        )
        return [d for d in diplomas if (d.number, d.candidate_id) in stored]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in _COPY_COLUMNS)
    table = quote(Diploma._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE diploma_copy (number text, candidate_id bigint, "
            "session_id bigint, published_result_id bigint, status text, claims jsonb, "
            "issued_at timestamptz, revocation_reason text, status_list_index bigint, "
            "credential jsonb, sd_jwt text, qr text)"
        )
        with copy_from_stdin(cursor, f"COPY diploma_copy ({columns}) FROM STDIN") as copy:
            for d in diplomas:
                copy.write_row(
                    (
                        d.number,
                        d.candidate_id,
                        d.session_id,
                        d.published_result_id,
                        d.status,
                        json.dumps(d.claims, ensure_ascii=False),
                        d.issued_at,
                        d.revocation_reason,
                        d.status_list_index,
                        json.dumps(d.credential, ensure_ascii=False),
                        d.sd_jwt,
                        d.qr,
                    )
                )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM diploma_copy "  # noqa: S608 - names from the model
            "ON CONFLICT DO NOTHING RETURNING number"
        )
        stored = {row[0] for row in cursor.fetchall()}
        cursor.execute("DROP TABLE diploma_copy")
    return [d for d in diplomas if d.number in stored]


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


def issue_for_session(
    session: ExamSession,
    *,
    progress: Callable[[int, int], None] | None = None,
    academy_id: int | None = None,
    batch_size: int = 500,
    actor=None,
) -> IssueReport:
    """Issue a diploma to every admitted candidate of the session with a CNIE who holds none
    (idempotent: run it again, nothing changes). The admitted without a CNIE are recorded, told
    and listed for their school."""
    report = IssueReport()
    admitted = {
        cid: row_id
        for cid, (row_id, decision) in _current_row_ids(session).items()
        if decision == Decision.ADMITTED
    }
    if academy_id is not None:
        in_academy = set(
            Candidate.objects.filter(
                pk__in=list(admitted), school__directorate__academy_id=academy_id
            ).values_list("pk", flat=True)
        )
        admitted = {cid: row_id for cid, row_id in admitted.items() if cid in in_academy}
    report.total = len(admitted)
    holders = set(
        Diploma.objects.filter(
            candidate_id__in=list(admitted), status=DiplomaStatus.VALID
        ).values_list("candidate_id", flat=True)
    )
    report.already = len(holders)
    todo = sorted(cid for cid in admitted if cid not in holders)
    done = report.already
    if progress:
        progress(done, report.total)
    s = signer()
    names = _subject_names()
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        candidates = list(_candidates().filter(pk__in=chunk).order_by("pk"))
        rows = PublishedResult.objects.in_bulk([admitted[c.pk] for c in candidates])
        without = [c.pk for c in candidates if not c.cnie_number]
        with_cnie = [c for c in candidates if c.cnie_number]
        with transaction.atomic():
            report.refused_no_cnie += _record_refusals(session, without)
            # Someone may have been issued one meanwhile (a single issuance): skip them.
            now_held = set(
                Diploma.objects.filter(
                    candidate_id__in=[c.pk for c in with_cnie], status=DiplomaStatus.VALID
                ).values_list("candidate_id", flat=True)
            )
            with_cnie = [c for c in with_cnie if c.pk not in now_held]
            if with_cnie:
                first = _allocate_indexes(len(with_cnie))
                numbers = _fresh_numbers(session.year, len(with_cnie))
                diplomas = [
                    _new_diploma(s, c, rows[admitted[c.pk]], numbers[i], first + i, names=names)
                    for i, c in enumerate(with_cnie)
                ]
                diplomas = _insert(diplomas)
                holders = [d.candidate_id for d in diplomas]
                Refusal.objects.filter(candidate_id__in=holders, resolved_at__isnull=True).update(
                    resolved_at=s.moment
                )
                _audit_issued(actor, diplomas)
                _notify_issued(holders, f"session.{session.code}")
                report.issued += len(diplomas)
                report.numbers += [d.number for d in diplomas]
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
    session: ExamSession, *, actor=None, academy_id: int | None = None
) -> list[IssuanceRun]:
    """Create issuance runs and queue their tasks once the transaction commits: one per academy
    (the academy given, or every academy with candidates in the session), so that several
    Celery workers share a national issuance."""
    from exams.models import Academy

    from .tasks import issue_session_task

    if academy_id is not None:
        academy_ids = [academy_id]
    else:
        academy_ids = list(
            Academy.objects.filter(directorates__schools__candidates__session=session)
            .distinct()
            .order_by("code")
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
            issue_session_task.delay(run_id)

    transaction.on_commit(queue, robust=True)
    return runs


def run_issuance(run_id: int) -> IssuanceRun:
    run = IssuanceRun.objects.select_related("session").get(pk=run_id)
    if run.status in (IssuanceRun.Status.RUNNING, IssuanceRun.Status.DONE):
        return run
    IssuanceRun.objects.filter(pk=run.pk).update(status=IssuanceRun.Status.RUNNING)

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
