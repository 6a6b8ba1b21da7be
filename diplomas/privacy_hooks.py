"""The diplomas app's entry in the register of personal data (privacy.register): the diplomas
issued to the candidate (what each certifies, its signed faces, its revocation or replacement)
and the refusals (why an admitted candidate got no diploma), with their exporter. Declared from
DiplomasConfig.ready().

No purger: a diploma certifies a degree for the holder's whole life and must stay verifiable,
so it is never deleted (a correction revokes it and issues a new one; both stay). A refusal is
kept with the file it concerns, as the school's record of why no diploma was issued.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from django.utils.translation import gettext_lazy as _

PUBLIC_TASK = _("Public task: certifying the baccalaureate (law 09-08, article 4)")


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _file_name(number: str, face: str) -> str:
    # Diploma numbers are letters, digits and dashes; anything else is kept out of ZIP paths.
    return f"documents/diploma-{re.sub(r'[^A-Za-z0-9_-]', '_', number)}-{face}"


def export_diplomas(candidate, actor, address: str | None):
    """Every diploma of the candidate, valid or not, with the faces that are stored: the
    verifiable credential and the SD-JWT (kept as signed at issuance) and the signed PDF once
    it has been rendered; then the refusals. Who revoked a diploma is left out (the academy
    or the ministry acts as the issuing authority; the staff's names are theirs).

    A PDF that was never rendered is not in the export: the PDF is rendered and signed on
    demand (then kept, diplomas.pdf), so the export would have to create and sign a new
    document rather than return one held; everything it would state is in the record's claims
    and in the credential, and the candidate can download it from their diploma page.

    No read is logged per face: the export itself is audited (privacy.export), and a diploma is
    not an access-logged document like a CNIE copy."""
    from privacy.register import Export

    from .models import Diploma, Refusal
    from .pdf import stored_pdf

    out = Export()
    diplomas = list(
        Diploma.objects.filter(candidate=candidate)
        .select_related("session")
        .order_by("issued_at", "pk")
    )
    # A replacement is issued to the same candidate, so both ends of a link are in this list.
    numbers = {d.pk: d.number for d in diplomas}
    replaced_by = {d.replaces_id: d.number for d in diplomas if d.replaces_id}
    for diploma in diplomas:
        files: dict[str, bytes] = {}
        if diploma.credential:
            files[_file_name(diploma.number, "credential.json")] = json.dumps(
                diploma.credential, ensure_ascii=False, indent=2
            ).encode("utf-8")
        if diploma.sd_jwt:
            files[_file_name(diploma.number, "credential.sd-jwt")] = diploma.sd_jwt.encode("ascii")
        pdf = stored_pdf(diploma)
        if pdf is not None:
            files[_file_name(diploma.number, "diploma.pdf")] = pdf
        row: dict[str, Any] = {
            "record": "diploma",
            "number": diploma.number,
            "session": diploma.session.code,
            "status": diploma.status,
            "issued_at": _iso(diploma.issued_at),
            "revoked_at": _iso(diploma.revoked_at),
            "revocation_reason": diploma.revocation_reason,
            "replaces": numbers.get(diploma.replaces_id),
            "replaced_by": replaced_by.get(diploma.pk),
            "claims": diploma.claims,
            "qr": diploma.qr,
            "files": sorted(files),
        }
        if pdf is None:
            row["note"] = str(
                _("The PDF has not been made yet: download it from your diploma page.")
            )
        out.files.update(files)
        out.records.append(row)
    refusals = (
        Refusal.objects.filter(candidate=candidate)
        .select_related("session")
        .order_by("created_at", "pk")
    )
    out.records.extend(
        {
            "record": "refusal",
            "session": refusal.session.code,
            "reason": refusal.reason,
            "created_at": _iso(refusal.created_at),
            "resolved_at": _iso(refusal.resolved_at),
        }
        for refusal in refusals
    )
    return out


def register_data_kinds() -> None:
    from privacy.register import data_kind

    data_kind(
        "diplomas.diploma",
        label=_("Baccalaureate diplomas"),
        fields=_(
            "Diploma number; names in both scripts, CNIE number, birth date and place, track, "
            "session, school, averages, mention and marks as the diploma certifies them; its "
            "signed forms (verifiable credential, SD-JWT, QR code, PDF); whether it is valid, "
            "revoked or replaced, when and why; and, if an admitted candidate got no diploma, "
            "the reason and when it was resolved"
        ),
        purpose=_(
            "Certify that the candidate holds the baccalaureate, and let anyone they choose "
            "check it"
        ),
        legal_basis=PUBLIC_TASK,
        recipients=_(
            "The candidate; anyone the candidate shares a verifiable copy with (only what they "
            "chose to show); the issuing authority (the ministry and the candidate's academy); "
            "the candidate's school sees why a diploma could not be issued"
        ),
        retention=_(
            "Kept permanently, never deleted: a diploma must stay verifiable for the holder's "
            "whole life. A revoked or replaced diploma is kept too, marked as such, and so is "
            "the reason a diploma could not be issued"
        ),
        retention_days=None,  # no purge, on purpose (see the module docstring)
        exporter=export_diplomas,
        models=("diplomas.Diploma", "diplomas.Refusal"),
    )
