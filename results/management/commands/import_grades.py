"""Import grades from the command line, with the same rules as the upload page.

    manage.py import_grades FILE --session CODE [--as USERNAME]

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
from candidates.management.commands.import_candidates import format_error
from identity.models import Role
from results.services import GRADE_CONFLICT, GradeConflict, describe, error_message, import_grades


class Command(BaseCommand):
    help = "Import grades from a CSV or XLSX file into a session (all rows or none)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV or XLSX file")
        parser.add_argument("--session", required=True, help="the session code, e.g. 2026-N")
        parser.add_argument(
            "--as",
            dest="username",
            help="import as this academy or ministry user, within their scope "
            "(default: the system, no scope)",
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
            if actor is None or actor.role not in (Role.ACADEMY, Role.MINISTRY):
                raise CommandError(
                    _("There is no academy or ministry user %(name)s.")
                    % {"name": options["username"]}
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
            # No upload limit here: a national file (five million rows) comes this way.
            outcome = import_grades(
                session, data, path.name, actor, progress=progress, max_bytes=None
            )
        except GradeConflict:
            raise CommandError(error_message(GRADE_CONFLICT)) from None
        bar.finish()
        for error in outcome.errors:
            self.stdout.write(format_error(describe(error)))
        if outcome.rejected:
            raise CommandError(
                _("The file was rejected: %(count)s errors, nothing was stored.")
                % {"count": outcome.error_count},
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "%(total)s rows: %(created)s grades created, %(updated)s changed, "
                    "%(unchanged)s unchanged."
                )
                % {
                    "total": outcome.total_rows,
                    "created": outcome.created,
                    "updated": outcome.updated,
                    "unchanged": outcome.unchanged,
                }
            )
        )
