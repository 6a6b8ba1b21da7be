"""Write every face of a diploma and what an offline verifier needs into a directory."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from diplomas import credential as cred
from diplomas import keys as diploma_keys
from diplomas import pki, services, verify
from diplomas.codec import normalise_diploma_number
from diplomas.models import Diploma


def _replacements(diploma: Diploma) -> str:
    """The signed record of what replaced `diploma` (the end of its replacement chain), or of
    nothing: the status list alone says "revoked" for a replaced diploma too. Written even
    when empty, so that a directory exported again never keeps a stale record."""
    replacements = {}
    if diploma.status == verify.REPLACED:
        current = services.current_of(diploma)
        if current.pk != diploma.pk:
            replacements[diploma.number] = current.number
    ring = diploma_keys.key_ring()
    did = diploma_keys.issuer_did()
    return verify.sign_replacements(
        replacements,
        did=did,
        verification_method=ring.verification_method(did),
        signing_key=ring.signing_key,
        issued_at=int(timezone.now().timestamp()),
    )


def _write(path: Path, data: str | bytes) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


class Command(BaseCommand):
    help = (
        "Export diploma NUMBER into --out DIR: credential.json, credential.sd-jwt, qr.txt, "
        "diploma.pdf, and the public keys (jwks.json, did.json), the status list credential "
        "(status-list.json), the CA certificate (ca.pem) and the signed replacement record "
        "(replacements.jws) for `verify_diploma --keys DIR`."
    )

    def add_arguments(self, parser):
        parser.add_argument("number")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--no-pdf", action="store_true", help="skip the PDF")

    def handle(self, *args, **options):
        number = normalise_diploma_number(options["number"]) or options["number"]
        diploma = Diploma.objects.filter(number=number).first()
        if diploma is None:
            raise CommandError(f"no diploma {options['number']}")
        out: Path = options["out"]
        out.mkdir(parents=True, exist_ok=True)
        _write(
            out / "credential.json", json.dumps(diploma.credential, ensure_ascii=False, indent=2)
        )
        _write(out / "credential.sd-jwt", diploma.sd_jwt + "\n")
        _write(out / "qr.txt", diploma.qr + "\n")
        if not options["no_pdf"]:
            _write(out / "diploma.pdf", services.pdf_bytes(diploma))
        _write(out / "jwks.json", json.dumps(diploma_keys.jwks(), indent=2))
        _write(out / "did.json", json.dumps(diploma_keys.did_document(), indent=2))
        list_id = diploma.status_list_index // cred.STATUS_LIST_BITS
        services.refresh_status_list(list_id)
        _write(
            out / "status-list.json",
            json.dumps(services.status_list_document(list_id), indent=2),
        )
        _write(out / "ca.pem", pki.root_certificate().public_bytes(serialization.Encoding.PEM))
        _write(out / verify.REPLACEMENTS_FILE, _replacements(diploma) + "\n")
        self.stdout.write(f"{diploma.number} ({diploma.status}) exported to {out}")
