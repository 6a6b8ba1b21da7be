"""Benchmark: the complaint season (2024: about 50,000 complaints in the three days after results).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/complaints.py [--complaints 50000]

DATABASE_URL names the server (and a database to connect to for administration); the run
happens in a throw-away database (`bac_bench_complaints` by default) that is dropped and
recreated, then migrated. Without DATABASE_URL it runs on a throw-away SQLite file instead.
It seeds candidates (`manage.py seed`), their grades (`manage.py seed_grades`), computes the
results and publishes them, then times, in one run:

1. filing: one complaint per candidate, on a national-exam subject, through
   `complaints.services.file_complaint` (window, published result, subject and duplicate
   checks, the receipt, the audit entry): complaints per second;
2. deciding: every complaint assigned and decided by academy staff; 90 % rejected (final at
   once, the candidate notified), 10 % with a corrected mark proposed by one reviewer and
   approved by a second, which propagates: the grade changed and audited, the result
   recomputed by the grading engine, a new version of that result published, the candidate
   notified. Prints rejections per second and seconds per 1,000 propagated corrections (the
   approval alone, and the whole decision: assign + propose + approve).

Notifications are written to the outbox and, with no Celery broker, sent in-process to memory
backends, as the embedded default does: the figures include that work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _db import drop_database, recreate_database  # bench/ is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bac.settings")
os.environ.setdefault("DEBUG", "true")
# Messages go to memory, not to the terminal (100,000 of them).
os.environ["SMS_BACKEND"] = "notifications.sms.MemorySMSBackend"
os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"

YEAR = 2026


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--complaints", type=int, default=50_000)
    parser.add_argument(
        "--candidates", type=int, default=None, help="default: 10 %% more than complaints"
    )
    parser.add_argument("--corrected-share", type=float, default=0.10)
    parser.add_argument("--database", default="bac_bench_complaints")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    return parser.parse_args()


def _publish(session):
    import datetime

    from django.db import transaction
    from django.utils import timezone

    from results.models import Publication
    from results.publication import schedule_publication
    from results.services import compute_session

    computation = compute_session(session)
    with transaction.atomic():
        publication = schedule_publication(
            computation, timezone.now() - datetime.timedelta(minutes=1), None, "bench"
        )
    # Prepared by the (eager) task as the transaction committed.
    publication.refresh_from_db()
    if publication.status != Publication.Status.READY:
        sys.exit(f"the publication is {publication.status}: {publication.error}")
    return publication


def _reviewers() -> dict[int, tuple]:
    from exams.models import Academy
    from identity.models import Role, User

    pairs = {}
    for academy in Academy.objects.all():
        pairs[academy.pk] = tuple(
            User.objects.create(
                username=f"aref-{academy.code}-{n}", role=Role.ACADEMY, academy=academy
            )
            for n in (1, 2)
        )
    return pairs


def _targets(publication, count: int) -> list[tuple]:
    """(candidate, national subject) for the first `count` candidates with a public result."""
    from candidates.models import Candidate
    from exams.models import Subject, TrackSubject
    from results.models import Grade

    national: dict[int, list[int]] = {}
    for track_id, subject_id in TrackSubject.objects.filter(component="national").values_list(
        "track_id", "subject_id"
    ):
        national.setdefault(track_id, []).append(subject_id)
    graded: dict[int, set[int]] = {}
    for candidate_id, subject_id in (
        Grade.objects.filter(component="national", sitting="normal")
        .values_list("candidate_id", "subject_id")
        .iterator(chunk_size=20_000)
    ):
        graded.setdefault(candidate_id, set()).add(subject_id)
    subjects = Subject.objects.in_bulk()
    candidates = (
        Candidate.objects.filter(published_results__publication=publication)
        .select_related("session", "track", "school__directorate")
        .order_by("pk")
    )
    targets = []
    for candidate in candidates.iterator(chunk_size=5000):
        choices = sorted(
            set(national.get(candidate.track_id, [])) & graded.get(candidate.pk, set())
        )
        if choices:
            targets.append((candidate, subjects[choices[0]]))
            if len(targets) >= count:
                break
    return targets


def main() -> None:
    args = _parse_args()
    candidates = args.candidates or int(args.complaints * 1.1) + 100
    server_url = os.environ.get("DATABASE_URL", "")
    sqlite_dir = None
    if server_url:
        os.environ["DATABASE_URL"] = recreate_database(server_url, args.database)
        where = f"PostgreSQL database {args.database}"
    else:
        sqlite_dir = tempfile.mkdtemp(prefix="bac-bench-complaints-")
        os.environ["BAC_VAR_DIR"] = sqlite_dir
        where = f"SQLite in {sqlite_dir}"

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from complaints import services
    from complaints.models import Complaint
    from exams.models import ExamSession, SessionWindow, WindowKind
    from notifications.sms import MemorySMSBackend

    devnull = open(os.devnull, "w")  # noqa: SIM115
    try:
        call_command("migrate", verbosity=0, run_syncdb=True)
        started = time.perf_counter()
        call_command("seed", candidates=candidates, year=YEAR, stdout=devnull)
        session = ExamSession.objects.get(code=f"{YEAR}-N")
        call_command("seed_grades", session=session.code, stdout=devnull, stderr=devnull)
        publication = _publish(session)
        # The seeded calendar puts complaints weeks ahead: the window derives from the
        # publication moment instead (the default when the calendar has none).
        SessionWindow.objects.filter(session=session, kind=WindowKind.COMPLAINTS).delete()
        reviewers = _reviewers()
        targets = _targets(publication, args.complaints)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        print(
            f"{where}: {candidates:,} candidates seeded, graded, computed and published "
            f"in {time.perf_counter() - started:.1f} s; {len(targets):,} complaints to file"
        )

        started = time.perf_counter()
        filed = []
        for candidate, subject in targets:
            filed.append(services.file_complaint(candidate, subject, "wrong_sum", "", None))
        filing_seconds = time.perf_counter() - started

        step = max(1, round(1 / args.corrected_share)) if args.corrected_share > 0 else 0
        rejected = corrected = 0
        reject_seconds = correct_seconds = approve_seconds = 0.0
        for index, complaint in enumerate(filed):
            first, second = reviewers[complaint.academy_id]
            if step and index % step == 0:
                started = time.perf_counter()
                services.assign_complaint(complaint, first, first)
                mark = complaint.original_mark
                new = mark + 1 if mark <= Decimal("19") else mark - 1
                complaint = services.propose_decision(
                    complaint, first, True, "Exercise 2 unmarked.", "Exercise 2 is now marked.", new
                )
                approve_started = time.perf_counter()
                services.approve_correction(complaint, second)
                now = time.perf_counter()
                approve_seconds += now - approve_started
                correct_seconds += now - started
                corrected += 1
            else:
                started = time.perf_counter()
                services.assign_complaint(complaint, first, first)
                services.propose_decision(
                    complaint, first, False, "Sum checked.", "No material error was found."
                )
                reject_seconds += time.perf_counter() - started
                rejected += 1
            if index % 5000 == 0:
                MemorySMSBackend.outbox.clear()

        accepted = Complaint.objects.filter(status="accepted").count()
        if accepted != corrected:
            sys.exit(f"{corrected} corrections made but {accepted} complaints accepted")
        print()
        print(
            f"filing          {len(filed):8,} complaints in {filing_seconds:7.1f} s  "
            f"{len(filed) / filing_seconds:8,.0f} complaints/s"
        )
        if rejected:
            print(
                f"rejections      {rejected:8,} decisions  in {reject_seconds:7.1f} s  "
                f"{rejected / reject_seconds:8,.0f} decisions/s"
            )
        if corrected:
            print(
                f"corrections     {corrected:8,} propagated in {correct_seconds:7.1f} s  "
                f"{1000 * approve_seconds / corrected:8.1f} s per 1,000 propagated corrections "
                f"(approval and propagation), {1000 * correct_seconds / corrected:.1f} s per 1,000 "
                "with assignment and proposal"
            )
    finally:
        connection.close()
        devnull.close()
        if server_url and not args.keep:
            drop_database(server_url, args.database)
        if sqlite_dir and not args.keep:
            shutil.rmtree(sqlite_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
