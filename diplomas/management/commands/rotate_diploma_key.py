"""Replace the Ed25519 key that signs diploma credentials; the old one stays published."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from diplomas.keys import rotate


class Command(BaseCommand):
    help = (
        "Generate a new Ed25519 credential signing key. The old public key stays in the DID "
        "document and the JWKS, so every credential signed before still verifies."
    )

    def handle(self, *args, **options):
        try:
            old, new = rotate()
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"credential signing key rotated: {old} -> {new}")
