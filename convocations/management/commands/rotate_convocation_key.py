"""Replace the key that signs convocation QR codes; the old public key stays published."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from convocations.keys import rotate


class Command(BaseCommand):
    help = (
        "Generate a new convocation signing key. Convocations signed before remain verifiable: "
        "their public key stays at /convocation/keys.json. Restart nothing: workers pick the "
        "new key up on their next signature."
    )

    def handle(self, *args, **options):
        try:
            old, new = rotate()
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Signing key {old} retired; {new} now signs."))
