"""Import a candidate list from the command line, with the same rules as the upload page.

    manage.py import_candidates FILE --session CODE [--keep-valid-rows] [--as USERNAME]

Every bad row is printed as `line N, column C: reason`; the exit status is 1 when the file was
rejected (nothing stored), 0 otherwise.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from bac.commands import read_file_argument, session_by_code
from bac.progress import ProgressBar
from candidates.services import (
    JOB_CONFLICT,
    ImportConflict,
    describe,
    error_message,
    import_candidates,
)


def format_error(error: dict) -> str:
    """`line N, column C: reason`, shortened for errors about a whole line or the whole file."""
    if not error["line"]:
        return _("file: %(reason)s") % {"reason": error["reason"]}
    if not error["column"]:
        return _("line %(line)s: %(reason)s") % error
    return _("line %(line)s, column %(column)s: %(reason)s") % error


class Command(BaseCommand):
    help = "Import candidates from a CSV or XLSX file into a session (all rows or none)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV or XLSX file")
        parser.add_argument("--session", required=True, help="the session code, e.g. 2026-N")
        parser.add_argument(
            "--keep-valid-rows",
            action="store_true",
            help="store the valid rows even if other rows have errors",
        )
        parser.add_argument(
            "--as",
            dest="username",
            help="import as this staff user, within their scope (default: the system, no scope)",
        )
        parser.add_argument(
            "--progress",
            action="store_true",
            help="draw the progress bar even when stderr is not a terminal",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        data = read_file_argument(path)
        session = session_by_code(options["session"])
        actor = None
        if options["username"]:
            actor = get_user_model().objects.filter(username=options["username"]).first()
            if actor is None or not actor.is_staff_member:
                raise CommandError(
                    _("There is no staff user %(name)s.") % {"name": options["username"]}
                )

        bar = ProgressBar(
            1,
            label=_("Import"),
            stream=self.stderr._out,
            enabled=True if options["progress"] else None,
        )

        def progress(done: int, total: int) -> None:
            bar.total = max(total, 1)
            bar.update(done)

        try:
            outcome = import_candidates(
                session,
                data,
                path.name,
                actor,
                keep_valid_rows=options["keep_valid_rows"],
                progress=progress,
            )
        except ImportConflict:
            raise CommandError(error_message(JOB_CONFLICT)) from None
        bar.finish()
        for error in outcome.errors:
            self.stdout.write(format_error(describe(error)))
        if outcome.rejected:
            raise CommandError(
                _("The file was rejected: %(count)s errors, nothing was stored.")
                % {"count": outcome.error_count},
                returncode=1,
            )
        summary = _(
            "%(total)s rows: %(created)s files created, %(updated)s updated, %(unchanged)s unchanged, "
            "%(errors)s errors."
        ) % {
            "total": outcome.total_rows,
            "created": outcome.created,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "errors": outcome.error_count,
        }
        self.stdout.write(self.style.SUCCESS(summary))
