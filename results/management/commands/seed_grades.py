"""Synthetic grades for a seeded session: one mark per candidate and subject of their track.

    manage.py seed_grades [--session CODE] [--seed N] [--missing-rate R] [--zero-rate R] [--replace]
    manage.py seed_grades --catch-up [--session CODE]   (after computing the normal sitting)

For demos and benchmarks only (refused unless DEBUG is on): the marks are random, and they are
written in bulk (COPY on PostgreSQL) without audit entries, like the synthetic candidates of
`manage.py seed`. Real grades come in through `import_grades` or the staff pages.
"""

from __future__ import annotations

import random
from collections import defaultdict

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from bac.pg import copy_from_stdin, use_copy
from candidates.models import Candidate
from exams.models import CandidateType, ExamSession, TrackSubject
from results.grades import format_mark
from results.models import Grade

BATCH = 20_000
# Marks are multiples of 0.25, as markers give them.
_STEPS = 81


class Command(BaseCommand):
    help = "Generate synthetic grades for every candidate of a session (demo and benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--session", help="session code (default: the current session)")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--missing-rate",
            type=float,
            default=0.002,
            help="share of candidates with one mark left out (default 0.002)",
        )
        parser.add_argument(
            "--zero-rate",
            type=float,
            default=0.003,
            help="share of candidates with a 0 in one national subject (default 0.003)",
        )
        parser.add_argument(
            "--replace", action="store_true", help="delete the session's grades first"
        )
        parser.add_argument(
            "--catch-up",
            action="store_true",
            help="instead, catch-up marks for the candidates convened to the catch-up session",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_grades writes random, unaudited marks: DEBUG only.")
        if options["session"]:
            session = ExamSession.objects.filter(code=options["session"]).first()
        else:
            session = ExamSession.current()
        if session is None:
            raise CommandError("No such session (seed candidates first: manage.py seed).")
        if options["catch_up"]:
            count = seed_catch_up_grades(session, seed=options["seed"])
            self.stdout.write(
                self.style.SUCCESS(f"{count} catch-up grades written for {session.code}.")
            )
            return
        count = seed_grades(
            session,
            seed=options["seed"],
            missing_rate=options["missing_rate"],
            zero_rate=options["zero_rate"],
            replace=options["replace"],
        )
        self.stdout.write(self.style.SUCCESS(f"{count} grades written for {session.code}."))


def seed_grades(
    session: ExamSession,
    seed: int = 2026,
    missing_rate: float = 0.002,
    zero_rate: float = 0.003,
    replace: bool = False,
) -> int:
    """Write the synthetic grades; returns how many."""
    rng = random.Random(seed)
    offsets = [rng.gauss(0, 2.6) for _ in range(4096)]
    subjects: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for track_id, subject_id, component in TrackSubject.objects.values_list(
        "track_id", "subject_id", "component"
    ):
        subjects[track_id].append((subject_id, component))
    marks = [format_mark(step * 25) for step in range(_STEPS)]
    now = timezone.now()
    written = 0
    with transaction.atomic():
        if replace:
            Grade.objects.filter(candidate__session=session).delete()
        elif Grade.objects.filter(candidate__session=session).exists():
            raise CommandError(f"{session.code} already has grades: use --replace.")
        # Read first: the connection is busy copying while the marks are generated.
        candidates = list(
            Candidate.objects.filter(session=session)
            .order_by("id")
            .values_list("id", "track_id", "candidate_type")
        )
        copy = use_copy(len(candidates))
        lines: list[str] = []
        objects: list[Grade] = []
        stamp = now.isoformat()
        getbits = rng.getrandbits
        free = CandidateType.FREE

        def flush(cursor_copy) -> None:
            nonlocal lines, objects
            if cursor_copy is not None:
                cursor_copy.write("".join(lines))
            else:
                Grade.objects.bulk_create(objects, batch_size=2000)
            lines, objects = [], []

        def generate(cursor_copy) -> int:
            count = 0
            for cid, track_id, ctype in candidates:
                ability = rng.gauss(11.5, 3.0)
                entries = subjects.get(track_id, ())
                skip = (
                    rng.randrange(len(entries)) if rng.random() < missing_rate and entries else -1
                )
                zero = rng.random() < zero_rate
                for position, (subject_id, component) in enumerate(entries):
                    if position == skip or (component == "continuous" and ctype == free):
                        continue
                    if zero and component == "national":
                        step, zero = 0, False
                    else:
                        bonus = 2.0 if component == "continuous" else 0.0
                        value = ability + bonus + offsets[getbits(12)]
                        step = min(_STEPS - 1, max(1, round(value * 4)))
                    if cursor_copy is not None:
                        lines.append(
                            f"{cid}\t{subject_id}\t{component}\tnormal\t{marks[step]}\t{stamp}\n"
                        )
                    else:
                        objects.append(
                            Grade(
                                candidate_id=cid,
                                subject_id=subject_id,
                                component=component,
                                sitting="normal",
                                mark=marks[step],
                                updated_at=now,
                            )
                        )
                    count += 1
                if len(lines) >= BATCH or len(objects) >= BATCH:
                    flush(cursor_copy)
            if lines or objects:
                flush(cursor_copy)
            return count

        if copy:
            table = connection.ops.quote_name(Grade._meta.db_table)
            sql = (
                f"COPY {table} (candidate_id, subject_id, component, sitting, mark, updated_at) "
                "FROM STDIN"
            )
            with connection.cursor() as cursor, copy_from_stdin(cursor, sql) as writer:
                written = generate(writer)
        else:
            written = generate(None)
    return written


def seed_catch_up_grades(session: ExamSession, seed: int = 2026) -> int:
    """A catch-up mark for every national subject of every candidate convened to the catch-up
    session (according to the latest computation of the normal sitting); replaces earlier ones."""
    from results.services import catch_up_candidate_ids

    convened = catch_up_candidate_ids(session)
    if convened is None:
        raise CommandError("Compute the normal sitting first: manage.py compute_results.")
    rng = random.Random(seed + 1)
    national = Grade.objects.filter(
        candidate_id__in=convened, component="national", sitting="normal"
    ).values_list("candidate_id", "subject_id", "mark")
    now = timezone.now()
    objects = []
    for candidate_id, subject_id, mark in national.iterator(chunk_size=BATCH):
        value = float(mark) + rng.gauss(1.0, 3.0)
        step = min(_STEPS - 1, max(1, round(value * 4)))
        objects.append(
            Grade(
                candidate_id=candidate_id,
                subject_id=subject_id,
                component="national",
                sitting="catch_up",
                mark=format_mark(step * 25),
                updated_at=now,
            )
        )
    with transaction.atomic():
        Grade.objects.filter(candidate__session=session, sitting="catch_up").delete()
        Grade.objects.bulk_create(objects, batch_size=2000)
    return len(objects)
