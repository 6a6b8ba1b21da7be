"""Install a new diploma issuing certificate under the same root; the old one stays valid."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from diplomas.pki import rotate


class Command(BaseCommand):
    help = (
        "Issue a new diploma signing certificate under the ministry root and archive the old "
        "one: diplomas signed before stay verifiable (their kid stays published). Without "
        "options the root key in the PKI directory certifies a new key (embedded default); "
        "with an offline root, pass the certificate it issued (and the key, unless the key is "
        "in the PKCS#11 token)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--certificate", type=Path, help="PEM certificate issued by the root")
        parser.add_argument("--key", type=Path, help="PEM private key of that certificate")

    def handle(self, *args, **options):
        certificate = options["certificate"].read_bytes() if options["certificate"] else None
        key = options["key"].read_bytes() if options["key"] else None
        if key and not certificate:
            raise CommandError("--key goes with --certificate")
        try:
            old, new = rotate(certificate, key)
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Issuing certificate {old} archived; {new} now signs.")
        )
