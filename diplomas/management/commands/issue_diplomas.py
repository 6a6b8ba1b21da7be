"""Issue the diplomas of a session now, from this command (the staff page queues it instead).

manage.py issue_diplomas --session CODE [--academy CODE] [--processes N] [--progress]

With --processes N (N > 1) the issuance is split as the staff page splits it (one run per
academy, diplomas.services.start_issuance) and N worker processes of this machine take the runs,
as N Celery workers would; the runs are listed on the staff page.
"""

from __future__ import annotations

import multiprocessing
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from bac.progress import ProgressBar
from diplomas import services
from exams.models import Academy, ExamSession


def _run(run_id: int) -> int:
    from diplomas.tasks import issue_session_task

    try:
        return issue_session_task(run_id)["issued"]
    finally:
        connections.close_all()


class Command(BaseCommand):
    help = (
        "Issue a diploma to every admitted candidate of the session with a CNIE number who holds "
        "none (idempotent); those without a CNIE are told and listed for their school."
    )

    def add_arguments(self, parser):
        parser.add_argument("--session", required=True, help="the session code, e.g. 2026-N")
        parser.add_argument("--academy", help="one academy only")
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="worker processes sharing the runs, one run per academy (default 1: here)",
        )
        parser.add_argument("--progress", action="store_true", help="always draw the progress bar")

    def handle(self, *args, **options):
        session = ExamSession.objects.filter(code=options["session"]).first()
        if session is None:
            raise CommandError(f"There is no session with the code {options['session']}.")
        academy_id = None
        if options["academy"]:
            academy = Academy.objects.filter(code=options["academy"]).first()
            if academy is None:
                raise CommandError(f"There is no academy with the code {options['academy']}.")
            academy_id = academy.pk
        bar = ProgressBar(
            1, "Diplomas", stream=self.stderr._out, enabled=True if options["progress"] else None
        )

        def progress(done: int, total: int) -> None:
            bar.total = max(total, 1)
            bar.update(done)

        if options["processes"] > 1:
            report = self._in_processes(session, academy_id, options["processes"], progress)
        else:
            report = services.issue_for_session(
                session, progress=progress, academy_id=academy_id
            ).as_dict()
        bar.finish()
        self.stdout.write(
            f"{report['issued']} issued, {report['already']} already held, "
            f"{report['refused_no_cnie']} refused (no CNIE) of {report['total']} admitted."
        )

    def _in_processes(self, session, academy_id, processes, progress) -> dict[str, int]:
        queued: list[int] = []
        runs = services.start_issuance(session, academy_id=academy_id, dispatch=queued.append)
        # The workers open their own connections: none is shared across the fork.
        connections.close_all()
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pending = pool.map_async(_run, queued, chunksize=1)
            while not pending.ready():
                state = services.issuance_progress(runs)
                progress(state["processed"], state["total"])
                time.sleep(0.5)
            pending.get()
        state = services.issuance_progress(runs)
        progress(state["processed"], state["total"])
        if state["status"] != "done":
            raise CommandError(f"The issuance did not finish: {state['status']}.")
        return {
            "issued": state["issued"],
            "already": state["already"],
            "refused_no_cnie": state["refused"],
            "total": state["total"],
        }
