from django.core.management.base import BaseCommand

from ops.celery import flush_outbox


class Command(BaseCommand):
    help = "Send the tasks kept while the broker was down (Celery beat does it every 30 s)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"sent {flush_outbox(limit=100_000)} tasks")
