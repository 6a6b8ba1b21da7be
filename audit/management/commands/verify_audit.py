from django.core.management.base import BaseCommand, CommandError

from audit.services import verify_chain


class Command(BaseCommand):
    help = "Check the hash chain of the audit log and report the first tampered entry."

    def handle(self, *args, **options):
        broken = verify_chain()
        if broken is None:
            self.stdout.write(self.style.SUCCESS("Audit log intact."))
            return
        raise CommandError(f"Audit log tampered: entry {broken.sequence} {broken.reason}.")
