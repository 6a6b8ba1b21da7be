"""Print the current authenticator code of a staff member, for the local demo only."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from identity import totp
from identity.access import STAFF_ROLES
from identity.models import User


class Command(BaseCommand):
    help = "Print the current TOTP code of a staff user (refused unless DEBUG is on)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: object, **options: object) -> None:
        # Whoever can run this holds every staff member's second factor: never in production.
        if not settings.DEBUG:
            raise CommandError("demo_totp only runs with DEBUG=true (local demo).")
        username = str(options["username"])
        user = User.objects.filter(username=username, role__in=STAFF_ROLES).first()
        if user is None:
            raise CommandError(f"No staff user named {username!r}.")
        if not user.totp_secret_encrypted:
            raise CommandError(
                f"{username} has no authenticator yet: sign in with the password to enrol one."
            )
        secret = totp.decrypt_secret(user.totp_secret_encrypted)
        remaining = totp.STEP_SECONDS - int(timezone.now().timestamp()) % totp.STEP_SECONDS
        self.stdout.write(totp.current_code(secret))
        self.stderr.write(f"valid for about {remaining} more seconds")
