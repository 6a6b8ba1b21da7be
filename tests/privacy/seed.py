"""Candidate A's personal data in every app that holds some: a CNIE copy (viewed by the clerk),
two correction reports with evidence (one decided), the messages of the decision, a
superseded and a current convocation, sign-in records and one-time codes."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass

from django.utils import timezone
from PIL import Image

from candidates.models import Candidate, CnieDocument
from verification.models import CorrectionRequest


def make_png(size=(64, 40), color=(180, 20, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Seeded:
    cnie_copy: CnieDocument
    cnie_bytes: bytes
    decided_report: CorrectionRequest
    pending_report: CorrectionRequest
    evidence_bytes: bytes


def seed_personal_data(candidate: Candidate, clerk) -> Seeded:
    from candidates.file_services import read_cnie_copy, upload_cnie_copy
    from candidates.models import IdentitySource
    from convocations.services import issue_convocation
    from identity.models import OneTimeCode, SignInEvent
    from tests.factories import SessionWindowFactory
    from verification import services as verification

    SessionWindowFactory(session=candidate.session, kind="verification")
    IdentitySource.objects.create(
        candidate=candidate,
        kind=IdentitySource.Kind.CNIE_CARD,
        data={"cnie_number": candidate.cnie_number, "birth_place_latin": "Rabat"},
    )
    cnie_bytes = make_png()
    copy = upload_cnie_copy(candidate, io.BytesIO(cnie_bytes), clerk, "192.0.2.10")
    read_cnie_copy(candidate, clerk, "192.0.2.11")

    evidence = make_png(color=(10, 200, 10))
    decided = verification.report_error(
        candidate, candidate.user, "birth_place_latin", "Salé", io.BytesIO(evidence)
    )
    verification.resolve_correction(decided, clerk, accept=False, reason="Illegible scan")
    pending = verification.report_error(
        candidate, candidate.user, "first_name_latin", "Mohamed", io.BytesIO(evidence)
    )

    issue_convocation(candidate, check_gate=False)
    candidate.exam_room = "12"
    candidate.save(update_fields=["exam_room"])
    issue_convocation(candidate, check_gate=False)

    now = timezone.now()
    OneTimeCode.objects.create(
        user=candidate.user,
        purpose=OneTimeCode.Purpose.SIGN_IN,
        code_hash="x",
        channel=OneTimeCode.Channel.SMS,
        expires_at=now + datetime.timedelta(minutes=5),
    )
    SignInEvent.objects.create(
        username=candidate.user.username,
        user=candidate.user,
        address="192.0.2.12",
        succeeded=True,
        reason=SignInEvent.Reason.SIGNED_IN,
    )
    from notifications.models import Notification

    Notification.objects.create(
        candidate=candidate,
        channel="sms",
        kind="correction_decided",
        reference=f"report:{decided.pk}",
        idempotency_key=Notification.key_for(
            "correction_decided", f"report:{decided.pk}", candidate.pk, "sms"
        ),
        language="fr",
        destination=candidate.phone,
        body="Votre demande de correction a été examinée.",
        status="sent",
        sent_at=now,
    )
    decided.refresh_from_db()
    return Seeded(copy, cnie_bytes, decided, pending, evidence)
