"""Benchmark: re-check a whole session of N files against their identity sources.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/verification.py [--candidates 500000]

DATABASE_URL names the server (and a database to connect to for administration); the run
happens in a throw-away database (`bac_bench_verif` by default) that is dropped and recreated,
then migrated and seeded with `manage.py seed` (which plants discrepancies between a few per
cent of the files and their CNIE card data). Every card also gets its machine-readable zone as
a second source (a TD1 zone built from the card's data and read back by identity.mrz). Then,
in one run on the same server, it times:

1. `verification.services.recheck_session` on the whole session, with no stored result yet
   (every result written);
2. the same again, which must write nothing (idempotent);
3. the same after 1% of the card sources were corrected (only their results rewritten).

It prints files per second for each, the files per worst grade, and, for each kind of planted
discrepancy, the grades the re-check gave it. Target (issue 3): the whole session re-checked
in under 60 s.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from _db import drop_database, recreate_database  # bench/ is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bac.settings")
os.environ.setdefault("DEBUG", "true")

TARGET_SECONDS = 60.0
YEAR = 2026
GRADES = ("none", "cosmetic", "needs review", "blocking")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=500_000)
    parser.add_argument("--database", default="bac_bench_verif")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--no-mrz", action="store_true", help="compare with the card data only")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    return parser.parse_args()


def _add_mrz_sources() -> int:
    """A machine-readable zone for every CNIE card, built from the card's data and read back,
    stored as the candidate's "mrz" source (COPY)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bac.pg import copy_from_stdin
    from candidates.models import IdentitySource
    from identity.mrz import build_td1, parse_mrz

    today = datetime.date(YEAR, 6, 1)
    now = timezone.now()
    cards = IdentitySource.objects.filter(kind=IdentitySource.Kind.CNIE_CARD).order_by(
        "candidate_id"
    )
    table = connection.ops.quote_name(IdentitySource._meta.db_table)
    statement = f"COPY {table} (candidate_id, kind, data, captured_at) FROM STDIN"
    count = 0
    last = 0
    while True:
        # A chunk read, then written: the connection cannot fetch while it copies.
        chunk = list(
            cards.filter(candidate_id__gt=last).values_list("candidate_id", "data")[:20_000]
        )
        if not chunk:
            break
        last = chunk[-1][0]
        with transaction.atomic(), connection.cursor() as cursor:
            with copy_from_stdin(cursor, statement) as copy:
                for candidate_id, card in chunk:
                    lines = build_td1(
                        f"LA{candidate_id:07d}",
                        datetime.date.fromisoformat(card["birth_date"]),
                        card["sex"],
                        datetime.date.fromisoformat(card["expiry_date"]),
                        card["last_name_latin"],
                        card["first_name_latin"],
                        optional_data_1=card["cnie_number"],
                    )
                    data = parse_mrz(lines, today=today).source_data()
                    copy.write_row((candidate_id, "mrz", json.dumps(data), now))
        count += len(chunk)
    return count


def _correct_sources(session, share: float) -> int:
    """Change the card data of about `share` of the files, as schools do: wrong birth dates
    fixed, birth places altered (new discrepancies)."""
    from django.db import connection

    step = round(1 / share)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE candidates_identitysource AS s "
            "SET data = s.data || jsonb_build_object('birth_date', to_char(c.birth_date, 'YYYY-MM-DD')) "
            "FROM candidates_candidate AS c "
            "WHERE s.candidate_id = c.id AND s.kind = 'cnie_card' AND c.session_id = %s "
            "AND c.id %% %s = 0 AND s.data->>'birth_date' <> to_char(c.birth_date, 'YYYY-MM-DD')",
            [session.pk, step],
        )
        fixed = cursor.rowcount
        cursor.execute(
            'UPDATE candidates_identitysource AS s SET data = s.data || \'{"birth_place_latin": "Casablanca"}\'::jsonb '
            "FROM candidates_candidate AS c "
            "WHERE s.candidate_id = c.id AND s.kind = 'cnie_card' AND c.session_id = %s "
            "AND c.id %% %s = 1 AND c.birth_place_latin <> 'Casablanca'",
            [session.pk, step],
        )
        return fixed + cursor.rowcount


def _planted_report(session, count: int) -> list[str]:
    """For each kind of planted discrepancy, the worst grades the re-check gave its files."""
    from django.conf import settings

    from candidates.synthetic import generate_rows, load_names
    from verification.models import FileCheck

    names = load_names(settings.SHARED_DATA_DIR / "names.csv")
    planted = {
        row["massar_code"]: kind or "none planted"
        for row, _card, kind in generate_rows(count, ["S"], ["SP"], names, session_year=YEAR)
    }
    found: dict[str, Counter[int]] = defaultdict(Counter)
    grades = FileCheck.objects.filter(session=session).values_list(
        "candidate__massar_code", "worst_grade"
    )
    for massar, grade in grades.iterator(chunk_size=20_000):
        found[planted.get(massar, "?")][grade] += 1
    lines = []
    for kind in sorted(found, key=lambda k: (k == "none planted", k)):
        counts = ", ".join(f"{GRADES[g]} {n:,}" for g, n in sorted(found[kind].items()))
        lines.append(f"  {kind:22} {sum(found[kind].values()):8,} files: {counts}")
    return lines


def main() -> None:
    args = _parse_args()
    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url:
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres"
        )
    os.environ["DATABASE_URL"] = recreate_database(server_url, args.database)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from candidates.models import IdentitySource
    from exams.models import ExamSession
    from verification.services import recheck_session

    try:
        call_command("migrate", verbosity=0, run_syncdb=True)
        started = time.perf_counter()
        call_command("seed", candidates=args.candidates, year=YEAR, stdout=open(os.devnull, "w"))  # noqa: SIM115
        session = ExamSession.objects.get(code=f"{YEAR}-N")
        cards = IdentitySource.objects.filter(kind=IdentitySource.Kind.CNIE_CARD).count()
        print(
            f"database {args.database}: seeded {args.candidates:,} files, {cards:,} CNIE cards "
            f"in {time.perf_counter() - started:.1f} s"
        )
        if not args.no_mrz:
            started = time.perf_counter()
            zones = _add_mrz_sources()
            print(
                f"machine-readable zones built and read back for {zones:,} cards "
                f"in {time.perf_counter() - started:.1f} s"
            )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

        timings = []
        for label in ("first re-check (all new)", "second re-check (no change)"):
            started = time.perf_counter()
            run = recheck_session(session, chunk_size=args.chunk_size)
            seconds = time.perf_counter() - started
            timings.append((label, seconds, run))
        planted = _planted_report(session, args.candidates)
        by_grade = timings[-1][2].by_grade
        corrected = _correct_sources(session, 0.01)
        started = time.perf_counter()
        run = recheck_session(session, chunk_size=args.chunk_size)
        timings.append((f"after {corrected:,} sources changed", time.perf_counter() - started, run))
        if timings[1][2].created or timings[1][2].changed:
            sys.exit(f"the second re-check wrote something: {timings[1][2].__dict__}")

        print()
        for label, seconds, run in timings:
            print(
                f"{label:32} {seconds:7.2f} s  {run.files / seconds:10,.0f} files/s  "
                f"(new {run.created:,}, changed {run.changed:,})"
            )
        print(
            "files per worst grade (before the changes): "
            + ", ".join(f"{GRADES[int(g)]} {n:,}" for g, n in sorted(by_grade.items()))
        )
        print("planted discrepancies and the grades found for them:")
        for line in planted:
            print(line)
        target = TARGET_SECONDS * args.candidates / 500_000
        worst = max(seconds for _label, seconds, _run in timings)
        verdict = "PASS" if worst < target else "FAIL"
        print(f"target: {args.candidates:,} files re-checked in under {target:.1f} s: {verdict}")
    finally:
        connection.close()
        if not args.keep:
            drop_database(server_url, args.database)


if __name__ == "__main__":
    main()
