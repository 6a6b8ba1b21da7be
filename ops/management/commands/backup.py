from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, backup


class Command(BaseCommand):
    help = "Back up the database and the documents (with a manifest of checksums) into DIR."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="an empty or new directory")

    def handle(self, *args, out: Path, **options) -> None:
        try:
            summary = backup(out)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"backed up {summary.tables} tables and {summary.files} files "
            f"({summary.bytes:,} bytes) into {summary.directory}"
        )
