"""The convocation's business rules: who gets one and when, issuing and superseding versions,
the signed QR code, and checking a code at the exam centre's door.

Views, the API, commands and the benchmark call these functions; they never call each other.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.services import Change, record_changes
from candidates.models import Candidate, VerificationStatus
from exams.models import SessionWindow, WindowKind, WindowState

from . import codec
from .keys import key_ring
from .models import Convocation, ExamSlot

# -- The gate ---------------------------------------------------------------------------------


class Blocker:
    """Why a candidate cannot have their convocation yet (codes are stable, messages plain)."""

    NOT_VERIFIED = "not_verified"
    REPORTED = "reported"
    NO_CNIE_NUMBER = "no_cnie_number"
    NO_CNIE_COPY = "no_cnie_copy"
    NO_CENTRE = "no_centre"


BLOCKER_MESSAGES = {
    Blocker.NOT_VERIFIED: _(
        "You have not confirmed your data yet. Open “Verify my data”, check every field and "
        "confirm it: a convocation is issued only for a verified file."
    ),
    Blocker.REPORTED: _(
        "You reported errors in your file and your school is still reviewing them. Your "
        "convocation will be available once your data is corrected and confirmed."
    ),
    Blocker.NO_CNIE_NUMBER: _(
        "Your file has no CNIE number. Ask your school to add the number of your national "
        "electronic identity card: without a CNIE there is no convocation."
    ),
    Blocker.NO_CNIE_COPY: _(
        "Your school has not uploaded a copy of your CNIE yet. Ask your school to upload it: "
        "without a CNIE there is no convocation."
    ),
    Blocker.NO_CENTRE: _(
        "Your exam centre and room have not been assigned yet. Come back in a few days."
    ),
}


@dataclass(frozen=True)
class Gate:
    """Whether the candidate may download their convocation now, and if not, why."""

    window: SessionWindow | None
    window_state: str
    blockers: tuple[str, ...] = ()

    @property
    def window_open(self) -> bool:
        return self.window_state == WindowState.OPEN

    @property
    def allowed(self) -> bool:
        return self.window_open and not self.blockers

    @property
    def reasons(self) -> list[str]:
        return [str(BLOCKER_MESSAGES[code]) for code in self.blockers]


def convocation_gate(candidate: Candidate, now: datetime | None = None) -> Gate:
    """The rules of DESIGN journey 2: a verified file, a CNIE number and a current copy of the
    card, a centre and room, and the convocation window of the session open."""
    now = now or timezone.now()
    window = SessionWindow.objects.filter(
        session_id=candidate.session_id, kind=WindowKind.CONVOCATION
    ).first()
    state = window.state(now) if window else WindowState.NOT_SET
    blockers = []
    if candidate.verification_status == VerificationStatus.REPORTED:
        blockers.append(Blocker.REPORTED)
    elif candidate.verification_status != VerificationStatus.CONFIRMED:
        blockers.append(Blocker.NOT_VERIFIED)
    if not candidate.cnie_number:
        blockers.append(Blocker.NO_CNIE_NUMBER)
    elif not candidate.cnie_documents.filter(is_current=True).exists():
        blockers.append(Blocker.NO_CNIE_COPY)
    if candidate.exam_centre_id is None or not candidate.exam_room:
        blockers.append(Blocker.NO_CENTRE)
    return Gate(window, state, tuple(blockers))


class ConvocationRefused(Exception):
    def __init__(self, gate: Gate) -> None:
        super().__init__(", ".join(gate.blockers) or gate.window_state)
        self.gate = gate


# -- What is printed, and its hash --------------------------------------------------------------

CANDIDATE_RELATED = ("session", "school", "track", "exam_centre")


def candidate_for_convocation(queryset: QuerySet[Candidate]) -> QuerySet[Candidate]:
    return queryset.select_related(*CANDIDATE_RELATED)


def printed_fields(candidate: Candidate) -> dict[str, str]:
    """Every field of the file that the convocation prints (the timetable aside, which belongs
    to the session and is printed as it stands on each download)."""
    centre = candidate.exam_centre
    return {
        "session": candidate.session.code,
        "session_name": candidate.session.name,
        "massar_code": candidate.massar_code,
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
        "school": candidate.school.code,
        "school_fr": candidate.school.name_fr,
        "school_ar": candidate.school.name_ar,
        "centre": centre.code if centre else "",
        "centre_fr": centre.name_fr if centre else "",
        "centre_ar": centre.name_ar if centre else "",
        "centre_address": centre.address if centre else "",
        "room": candidate.exam_room,
        "photo": candidate.photo.name or "",
    }


def fields_hash(fields: dict[str, str]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# -- Issuing ----------------------------------------------------------------------------------


def current_convocation(candidate: Candidate) -> Convocation | None:
    return Convocation.objects.filter(candidate=candidate, superseded_at__isnull=True).first()


def _number(fields: dict[str, str], version: int) -> str:
    return f"{fields['session']}-{fields['massar_code']}-{version:02d}"


def issue_convocation(
    candidate: Candidate, actor=None, now: datetime | None = None, *, check_gate: bool = True
) -> Convocation:
    """The candidate's current convocation: the one already issued if the printed fields have
    not changed since, else a new version that supersedes it (both audited)."""
    for attempt in range(2):
        try:
            return _issue(candidate, actor, now or timezone.now(), check_gate)
        except IntegrityError:
            # Two downloads raced to issue the same version: the other one won, use it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _issue(candidate: Candidate, actor, now: datetime, check_gate: bool) -> Convocation:
    with transaction.atomic():
        # Lock the file so that a concurrent edit or download waits for this issue.
        locked = candidate_for_convocation(Candidate.objects.select_for_update(of=("self",))).get(
            pk=candidate.pk
        )
        if check_gate:
            gate = convocation_gate(locked, now)
            if not gate.allowed:
                raise ConvocationRefused(gate)
        fields = printed_fields(locked)
        digest = fields_hash(fields)
        current = current_convocation(locked)
        if current is not None and current.file_hash == digest:
            return current
        changes = []
        version = 1
        if current is not None:
            current.superseded_at = now
            current.save(update_fields=["superseded_at"])
            changed = sorted(k for k in fields if current.fields.get(k) != fields[k])
            changes.append(
                Change(
                    action="convocation.supersede",
                    object_type="convocation",
                    object_id=str(current.pk),
                    before={"number": current.number, "file_hash": current.file_hash},
                    after={"superseded_at": now.isoformat()},
                    reason="the file changed after issue: " + ", ".join(changed),
                    candidate_id=locked.pk,
                )
            )
            version = current.version + 1
        convocation = Convocation.objects.create(
            candidate=locked,
            number=_number(fields, version),
            version=version,
            file_hash=digest,
            fields=fields,
            kid=key_ring().kid,
            issued_at=now.replace(microsecond=0),
        )
        changes.append(
            Change(
                action="convocation.issue",
                object_type="convocation",
                object_id=str(convocation.pk),
                before={},
                after={
                    "number": convocation.number,
                    "version": version,
                    "file_hash": digest,
                    "centre": fields["centre"],
                    "room": fields["room"],
                },
                reason="downloaded by the candidate" if actor else "issued",
                candidate_id=locked.pk,
            )
        )
        record_changes(actor, changes)
        return convocation


# -- The QR code --------------------------------------------------------------------------------


def claims_for(convocation: Convocation) -> codec.Claims:
    fields = convocation.fields
    return codec.Claims(
        number=convocation.number,
        massar_code=fields["massar_code"],
        last_name=fields["last_name_latin"],
        first_name=fields["first_name_latin"],
        birth_date=fields["birth_date"],
        cnie_last4=fields["cnie_number"][-4:],
        centre=fields["centre"],
        room=fields["room"],
        session=fields["session"],
        issued_at=int(convocation.issued_at.timestamp()),
        file_hash=bytes.fromhex(convocation.file_hash)[:8],
        version=convocation.version,
    )


def qr_text(convocation: Convocation) -> str:
    """The signed text of the convocation's QR code (the same on every download)."""
    return codec.sign(claims_for(convocation), key_ring().signing_key)


# -- Checking a code ------------------------------------------------------------------------------

REASON_MESSAGES = {
    codec.Reason.MALFORMED: _(
        "This is not a convocation code, or it was not read completely. Scan it again."
    ),
    codec.Reason.UNKNOWN_KID: _(
        "This code was signed with a key the ministry does not publish: it is not genuine."
    ),
    codec.Reason.BAD_SIGNATURE: _(
        "The signature does not match the content: this code was altered or forged."
    ),
    codec.Reason.SUPERSEDED: _(
        "This convocation was replaced: the candidate's file changed after it was issued. "
        "Ask for the new convocation."
    ),
    codec.Reason.NOT_FOUND: _(
        "The signature is genuine but this convocation is not in the register. Call the "
        "centre's head."
    ),
}
VALID_MESSAGE = _("Valid convocation. Compare the name, birth date and photo with the CNIE.")


@dataclass(frozen=True)
class CheckResult:
    """The answer of the check page and of the API."""

    valid: bool
    reason: str | None
    claims: codec.Claims | None = None
    kid: str | None = None
    convocation: Convocation | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(VALID_MESSAGE if self.valid else REASON_MESSAGES[self.reason])

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "valid": self.valid,
            "status": "valid" if self.valid else "invalid",
            "reason": self.reason,
            "message": self.message,
        }
        if self.claims is not None:
            data["convocation"] = self.claims.as_dict() | {
                "issued_at": datetime.fromtimestamp(self.claims.issued_at, tz=UTC)
                .isoformat()
                .replace("+00:00", "Z"),
                "kid": self.kid,
            }
            data["convocation"].update(self.extra)
        return data


def check_code(text: str) -> CheckResult:
    """Verify the signature offline-style, then ask the register whether this version is still
    the candidate's current one and whether the file still matches it."""
    verification = codec.verify(text, key_ring().public_keys)
    if not verification.valid:
        return CheckResult(False, verification.reason, kid=verification.kid)
    claims = verification.claims
    assert claims is not None
    convocation = (
        Convocation.objects.filter(number=claims.number)
        .select_related(*(f"candidate__{name}" for name in CANDIDATE_RELATED))
        .first()
    )
    if convocation is None or convocation.version != claims.version:
        return CheckResult(False, codec.Reason.NOT_FOUND, claims, verification.kid)
    extra = {
        "last_name_ar": convocation.fields.get("last_name_ar", ""),
        "first_name_ar": convocation.fields.get("first_name_ar", ""),
        "centre_name_fr": convocation.fields.get("centre_fr", ""),
        "centre_name_ar": convocation.fields.get("centre_ar", ""),
    }
    stale = convocation.superseded_at is not None or (
        bytes.fromhex(fields_hash(printed_fields(convocation.candidate)))[:8] != claims.file_hash
    )
    if stale:
        return CheckResult(
            False, codec.Reason.SUPERSEDED, claims, verification.kid, convocation, extra
        )
    return CheckResult(True, None, claims, verification.kid, convocation, extra)


PHOTO_MAX_BYTES = 2 * 1024 * 1024


def photo_bytes(candidate: Candidate) -> bytes | None:
    """The candidate's photo file, or None if there is none or it cannot be read."""
    if not candidate.photo:
        return None
    try:
        with default_storage.open(candidate.photo.name, "rb") as handle:
            data = handle.read(PHOTO_MAX_BYTES + 1)
    except OSError:
        return None
    return data if 0 < len(data) <= PHOTO_MAX_BYTES else None


def photo_data_url(candidate: Candidate) -> str | None:
    data = photo_bytes(candidate)
    if data is None:
        return None
    kind = "png" if data.startswith(b"\x89PNG") else "jpeg" if data[:2] == b"\xff\xd8" else None
    if kind is None:
        return None
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


# -- The timetable --------------------------------------------------------------------------------


def timetable(candidate: Candidate) -> list[ExamSlot]:
    return list(
        ExamSlot.objects.filter(session_id=candidate.session_id, track_id=candidate.track_id)
        .select_related("subject")
        .order_by("starts_at", "subject__code")
    )


# -- The document --------------------------------------------------------------------------------


def convocation_pdf(convocation: Convocation) -> bytes:
    """The PDF of an issued convocation, with the session's timetable as it stands today."""
    from .pdf import ConvocationDocument, SlotLine, render

    candidate = convocation.candidate
    slots = [
        SlotLine(
            starts_at=slot.starts_at,
            duration_minutes=slot.duration_minutes,
            subject_fr=slot.subject.name_fr,
            subject_ar=slot.subject.name_ar,
            component=slot.component,
        )
        for slot in timetable(candidate)
    ]
    return render(
        ConvocationDocument(
            fields=convocation.fields,
            number=convocation.number,
            version=convocation.version,
            issued_at=convocation.issued_at,
            file_hash=convocation.file_hash,
            qr_text=qr_text(convocation),
            slots=slots,
            photo=photo_bytes(candidate),
        )
    )
