"""Benchmark: issuing digital diplomas (every signed face), verifying QR codes, rendering PDFs.

    .venv/bin/python bench/diplomas.py                        # 20,000 diplomas, extrapolated
    .venv/bin/python bench/diplomas.py --candidates 500000    # the full target (about 7 min)
    .venv/bin/python bench/diplomas.py --database [--candidates N]   # the real issuance, PG

Keys and media live in a temporary directory. For N synthetic admitted candidates it times, on
this machine, side by side:

1. issuance of the three signed faces of each diploma (diplomas.services.sign_faces): the
   Verifiable Credential (OB 3.0, eddsa-rdfc-2022 proof over the RDFC-1.0 canonical form), the
   SD-JWT VC (ES256) and the QR code (COSE ES256, diplomas.qr), in one process and then in one
   worker process per core (multiprocessing, fork);
2. raw Ed25519 signing of the same payloads (each diploma's claims as JSON), for the ratio;
3. the canonicalization alone, fast path (one JSON-LD template per credential shape, values
   substituted, RDFC-1.0 first-degree labelling) against pyld's full algorithm on a sample;
4. QR verification CPU time (diplomas.qr.decode_qr: base45, zlib, COSE, ES256), target < 1 ms;
5. PDF rendering and PAdES signing per core (diplomas.pdf.bench_pdf), target >= 20 per second.

The database writes of the bulk issuance are not in these figures: they measure the signing.
With --database it times instead the real bulk issuance, end to end, against PostgreSQL
(DATABASE_URL names the server, default postgres://postgres@127.0.0.1:5432/postgres): in the
throw-away database `bac_bench_dipl` (dropped afterwards unless --keep) it seeds N candidates
with a CNIE as bench/compute_results.py does (`manage.py seed`, seed_grades, the grading
engine), publishes their results as bench/results_day.py does and makes every decision
"admitted"; then diplomas.services.start_issuance splits the issuance into its runs (one per
academy) and `--processes` worker processes take them as Celery workers would, each running the
task's code (diplomas.tasks.issue_session_task): claims, signatures, COPY of the diplomas,
outbox rows, audit entries. It prints diplomas per second, the wall time, the projection for
500,000 against the 600 s target, the CPU per diploma in the workers and in PostgreSQL, and the
ratio to raw Ed25519 signing of the stored claims. Sending the notifications is left to the
notification workers (the task is only queued).
Target (DESIGN §6): 500,000 diplomas issued in under 10 minutes.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bac.settings")
os.environ.setdefault("DEBUG", "true")
_TMP = tempfile.mkdtemp(prefix="bac-bench-diplomas-")
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
os.environ.setdefault("BAC_VAR_DIR", _TMP)
os.environ.setdefault("BAC_KEYS_DIR", os.path.join(_TMP, "keys"))

TARGET_SECONDS_500K = 600.0
TARGET_VERIFY_SECONDS = 0.001
TARGET_PDFS_PER_SECOND = 20.0

LAST = ["EL AMRANI", "BENNANI", "OUAZZANI", "TAZI", "IDRISSI", "ALAOUI", "CHRAIBI", "FASSI"]
FIRST = ["Mohamed", "Fatima Zahra", "Youssef", "Salma", "Omar", "Khadija", "Anas", "Imane"]
LAST_AR = ["العمراني", "بناني", "الوزاني", "التازي", "الإدريسي", "العلوي", "الشرايبي", "الفاسي"]
FIRST_AR = ["محمد", "فاطمة الزهراء", "يوسف", "سلمى", "عمر", "خديجة", "أنس", "إيمان"]
PLACES = [("Rabat", "الرباط"), ("Fès", "فاس"), ("Oujda", "وجدة"), ("Agadir", "أكادير")]
TRACKS = [("SM-A", "Sciences mathématiques A"), ("SP", "Sciences physiques"), ("SVT", "SVT")]
MENTIONS = [("passable", "Passable"), ("assez_bien", "Assez bien"), ("bien", "Bien"),
            ("tres_bien", "Très bien")]  # fmt: skip


def _claims(i: int) -> dict:
    rng = random.Random(i)
    place = rng.choice(PLACES)
    track = rng.choice(TRACKS)
    mention = rng.choice(MENTIONS)
    general = rng.randint(1000, 1950) / 100
    return {
        "cnie_number": f"{rng.choice('ABCDGHJK')}{rng.choice('ABEJ')}{rng.randint(0, 999999):06d}",
        "last_name_latin": rng.choice(LAST),
        "first_name_latin": rng.choice(FIRST),
        "last_name_ar": rng.choice(LAST_AR),
        "first_name_ar": rng.choice(FIRST_AR),
        "birth_date": f"2008-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "birth_place_latin": place[0],
        "birth_place_ar": place[1],
        "track": track[0],
        "track_fr": track[1],
        "track_ar": track[1],
        "session": "2026-N",
        "session_year": 2026,
        "academy": "RSK",
        "academy_fr": "Rabat-Salé-Kénitra",
        "academy_ar": "الرباط سلا القنيطرة",
        "decision": "admitted",
        "mention": mention[0],
        "mention_fr": mention[1],
        "general_average": f"{general:.2f}",
        "national_average": f"{general + 0.5:.2f}",
        "regional_average": f"{general - 0.5:.2f}",
        "continuous_average": f"{general:.2f}",
        "grades": [
            {
                "subject": s,
                "name_fr": s,
                "name_ar": s,
                "component": "national",
                "mark": f"{rng.randint(500, 2000) / 100:.2f}",
            }
            for s in ("MATH", "PC", "SVT", "FR", "AR", "EN", "PHILO")
        ],  # fmt: skip
        "issued_on": "2026-07-10",
    }


_SIGNER = None


def _work(bounds: tuple[int, int]) -> tuple[int, float]:
    """Sign the faces of diplomas start..stop; returns (count, CPU seconds spent)."""
    from diplomas.codec import new_diploma_number
    from diplomas.services import sign_faces

    cpu = time.process_time()
    start, stop = bounds
    for i in range(start, stop):
        sign_faces(_SIGNER, _claims(i), new_diploma_number(2026), i)
    return stop - start, time.process_time() - cpu


def _issue(count: int, processes: int, chunk: int = 500) -> tuple[float, float]:
    """(wall seconds, CPU seconds summed over the workers) to issue `count` diplomas."""
    bounds = [(s, min(s + chunk, count)) for s in range(0, count, chunk)]
    started = time.perf_counter()
    cpu = 0.0
    if processes == 1:
        for b in bounds:
            cpu += _work(b)[1]
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            for _done, spent in pool.imap_unordered(_work, bounds):
                cpu += spent
    return time.perf_counter() - started, cpu


def _seed_published(count: int, seed: int = 2026):
    """N candidates with a CNIE, their grades, computed and published results, all admitted.

    The same seeding as bench/compute_results.py (`manage.py seed`, seed_grades, the grading
    engine) and the publication of bench/results_day.py (results.publication, no push); then
    every candidate is given a CNIE and every published decision made "admitted", so that N
    diplomas are issued. Returns the session."""
    import io

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from exams.models import ExamSession
    from results import publication as publication_module
    from results.management.commands.seed_grades import seed_grades
    from results.services import compute_session

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("seed", candidates=count, seed=seed, stdout=io.StringIO())
    session = ExamSession.current()
    seed_grades(session, seed=seed, missing_rate=0.0, zero_rate=0.0)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # fresh statistics, as after a real import
    computation = compute_session(session)
    # No SMS or e-mail for synthetic candidates: the results push is not measured here.
    publication_module.on_publication_public = lambda publication: 0
    publication = publication_module.schedule_publication(
        computation, timezone.now() - datetime.timedelta(seconds=1), None, "diplomas benchmark"
    )
    publication_module.prepare_publication(publication.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE candidates_candidate SET cnie_number = 'BK' || lpad((id %% 1000000)::text, 6, '0')"
            " WHERE session_id = %s AND coalesce(cnie_number, '') = ''",
            [session.pk],
        )
        cursor.execute(
            "UPDATE results_publishedresult SET decision = 'admitted',"
            " mention = CASE WHEN mention = '' THEN 'passable' ELSE mention END"
            " WHERE decision <> 'admitted'"
        )
        cursor.execute("VACUUM ANALYZE")
    print(
        f"database: seeded {count:,} admitted candidates with a CNIE, grades and published "
        f"results in {time.perf_counter() - started:.0f} s"
    )
    return session


def _server_cpu() -> tuple[int, float]:
    """(pid, CPU seconds so far) of this process's PostgreSQL backend, when the server runs on
    this machine (else 0 seconds): the database's share of the work, on the same cores."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return pid, 0.0
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_part(run_id: int) -> tuple[int, float, tuple[int, float]]:
    """One Celery worker taking one issuance run off the queue: the task's own code. Returns
    (diplomas issued, CPU seconds of this process, its database backend's CPU so far)."""
    from diplomas.tasks import issue_session_task

    cpu = time.process_time()
    result = issue_session_task(run_id)
    return result["issued"], time.process_time() - cpu, _server_cpu()


def _database_section(args: argparse.Namespace, server_url: str) -> None:
    """The real bulk issuance against PostgreSQL, end to end, in `--processes` workers."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.db import connection, connections

    from diplomas import services
    from diplomas.models import Diploma, IssuanceRun
    from exams.models import ExamSession
    from notifications.tasks import send_notifications

    if args.seeded:
        session = ExamSession.current()
    else:
        session = _seed_published(args.candidates)
        if args.template:
            from _db import copy_database

            connections.close_all()
            copy_database(os.environ["DATABASE_URL"], args.database_name, args.template)
            print(f"database: kept as the template {args.template} for the next runs")
    # The outbox rows are written (that is issuance work); sending them is the notification
    # workers' job, later and throttled: here, as with a broker, the task is only queued.
    send_notifications.apply_async = lambda *args, **kwargs: None
    # Keys, certificates and the status-list counter exist before the workers fork.
    services.signer()
    queued: list[int] = []
    runs = services.start_issuance(session, dispatch=queued.append)
    connections.close_all()
    print(
        f"issuance: {len(runs)} runs (parts) queued, taken by {args.processes} worker processes"
        f" (load average now {os.getloadavg()[0]:.1f})"
    )
    started = time.perf_counter()
    cpu = 0.0
    issued = 0
    backends: dict[int, float] = {}
    with multiprocessing.get_context("fork").Pool(args.processes) as pool:
        for count, spent, (pid, server) in pool.imap_unordered(_run_part, queued, chunksize=1):
            issued += count
            cpu += spent
            backends[pid] = max(server, backends.get(pid, 0.0))
    wall = time.perf_counter() - started
    server_cpu = sum(backends.values())
    stored = Diploma.objects.filter(session=session).count()
    statuses = set(IssuanceRun.objects.values_list("status", flat=True))
    if stored != args.candidates or statuses != {"done"}:
        sys.exit(f"issuance incomplete: {stored} diplomas, runs {statuses}")
    rate = issued / wall
    print(
        f"issued {issued:,} diplomas (signed, stored, audited, notified) in {wall:.1f} s ="
        f" {rate:,.0f}/s; CPU per diploma: {cpu / issued * 1000:.2f} ms in the workers +"
        f" {server_cpu / issued * 1000:.2f} ms in PostgreSQL"
    )
    again = services.issue_for_session(session)
    print(f"run again: {again.issued} issued, {again.already:,} already held (idempotent)")
    projected = 500_000 / rate
    verdict = "OK" if projected < TARGET_SECONDS_500K else "MISSED"
    print(
        f"  500,000 diplomas, wall clock: {projected:,.0f} s ({projected / 60:.1f} min)"
        f"{' measured' if args.candidates >= 500_000 else ' extrapolated'}"
        f" — target < {TARGET_SECONDS_500K:.0f} s: {verdict}"
    )
    bound = 500_000 * (cpu + server_cpu) / issued / args.processes
    verdict = "OK" if bound < TARGET_SECONDS_500K else "MISSED"
    print(
        f"  500,000 diplomas, CPU-bound (cores to ourselves): {bound:,.0f} s"
        f" ({bound / 60:.1f} min) — target < {TARGET_SECONDS_500K:.0f} s: {verdict}"
    )
    # Raw Ed25519 over the same payloads (each stored diploma's claims as JSON), on as many
    # processes: the ratio compares like with like.
    key = Ed25519PrivateKey.generate()
    payloads = [
        json.dumps(claims, ensure_ascii=False).encode()
        for claims in Diploma.objects.values_list("claims", flat=True)[: min(issued, 20_000)]
    ]
    started = time.perf_counter()
    for payload in payloads:
        key.sign(payload)
    raw = len(payloads) / (time.perf_counter() - started) * args.processes
    print(
        f"raw Ed25519 signing : {raw:8,.0f}/s ({args.processes} cores, extrapolated from one);"
        f" issuance/raw = 1/{raw / rate:.0f}"
    )
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=20_000)
    parser.add_argument(
        "--database",
        action="store_true",
        help="time the real bulk issuance against PostgreSQL instead (DATABASE_URL: the server)",
    )
    parser.add_argument("--database-name", default="bac_bench_dipl")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument(
        "--template",
        metavar="NAME",
        help="seed once: keep the seeded, published database as NAME (a PostgreSQL template) and,"
        " when NAME exists, start from a copy of it instead of seeding again",
    )
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--single", type=int, default=2000, help="diplomas for the 1-core run")
    parser.add_argument("--verifications", type=int, default=3000)
    parser.add_argument("--pdfs", type=int, default=60)
    args = parser.parse_args()

    import django

    if args.database:
        from _db import (  # bench/ is sys.path[0]
            copy_database,
            database_exists,
            drop_database,
            recreate_database,
        )

        server_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
        if args.template and database_exists(server_url, args.template):
            os.environ["DATABASE_URL"] = copy_database(
                server_url, args.template, args.database_name
            )
            args.seeded = True
            print(f"database: a copy of {args.template} (seeded and published before)")
        else:
            os.environ["DATABASE_URL"] = recreate_database(server_url, args.database_name)
            args.seeded = False
        os.environ["DIPLOMAS_AUTO_ISSUE"] = "false"
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        django.setup()
        try:
            _database_section(args, server_url)
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep:
                drop_database(server_url, args.database_name)
        return
    django.setup()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from diplomas import credential as cred
    from diplomas import dataintegrity as di
    from diplomas import pdf, qr, services

    global _SIGNER
    _SIGNER = services.signer(datetime.datetime(2026, 7, 10, 9, tzinfo=datetime.UTC))
    _work((0, 20))  # warm up: templates built, keys loaded, before the workers fork

    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    single = min(args.single, args.candidates)
    t1, cpu = _issue(single, 1)
    cpu /= single
    rate1 = single / t1
    print(f"issuance, 1 process : {single:>8,} diplomas in {t1:7.2f} s = {rate1:8,.0f}/s")
    print(
        f"  CPU per diploma: {cpu * 1000:.2f} ms, so 500,000 on {args.processes} cores need"
        f" {500_000 * cpu / args.processes:,.0f} s of CPU each (load average now"
        f" {os.getloadavg()[0]:.1f}: other work on the machine slows the wall-clock figures)"
    )
    tn, cpun = _issue(args.candidates, args.processes)
    raten = args.candidates / tn
    print(
        f"issuance, {args.processes} processes: {args.candidates:>8,} diplomas in {tn:7.2f} s"
        f" = {raten:8,.0f}/s ({cpun / args.candidates * 1000:.2f} ms CPU each)"
    )
    projected = 500_000 / raten
    verdict = "OK" if projected < TARGET_SECONDS_500K else "MISSED"
    print(
        f"  500,000 diplomas, wall clock: {projected:,.0f} s ({projected / 60:.1f} min)"
        f"{' measured' if args.candidates >= 500_000 else ' extrapolated'}"
        f" — target < {TARGET_SECONDS_500K:.0f} s: {verdict}"
    )
    bound = 500_000 * cpun / args.candidates / args.processes
    verdict = "OK" if bound < TARGET_SECONDS_500K else "MISSED"
    print(
        f"  500,000 diplomas, CPU-bound (cores to ourselves): {bound:,.0f} s"
        f" ({bound / 60:.1f} min) — target < {TARGET_SECONDS_500K:.0f} s: {verdict}"
    )

    # Raw Ed25519 over the same payloads (the claims as JSON), in one process.
    key = Ed25519PrivateKey.generate()
    payloads = [json.dumps(_claims(i), ensure_ascii=False).encode() for i in range(single)]
    started = time.perf_counter()
    for payload in payloads:
        key.sign(payload)
    raw = single / (time.perf_counter() - started)
    print(f"raw Ed25519 signing : {raw:8,.0f}/s (1 process); issuance/raw = 1/{raw / rate1:.0f}")

    # Canonicalization: fast path against pyld's full algorithm.
    sample = [_claims(i) for i in range(100)]
    factory = _SIGNER.factory
    docs = [
        {
            k: v
            for k, v in factory.issue(
                c, number="MA-2026-0000-0000", status_index=i, valid_from=_SIGNER.created
            ).items()
            if k != "proof"
        }
        for i, c in enumerate(sample)
    ]
    started = time.perf_counter()
    for i, c in enumerate(sample):
        template, _doc = factory._template(cred._shape(c))
        template.canonical(
            cred.slot_values(
                c,
                number="MA-2026-0000-0000",
                status_index=i,
                issuer=factory.issuer,
                valid_from=_SIGNER.created,
                salt="00",
            )
        )
    fast = (time.perf_counter() - started) / len(sample)
    started = time.perf_counter()
    for doc in docs:
        di.canonize(doc)
    full = (time.perf_counter() - started) / len(docs)
    print(f"RDFC-1.0 per credential: fast path {fast * 1000:.2f} ms, pyld {full * 1000:.1f} ms")

    # QR verification, CPU time.
    texts = [
        services.sign_faces(_SIGNER, _claims(i), f"MA-2026-0000-{i:04d}", i)[2] for i in range(50)
    ]
    certificates = {_SIGNER.identity.kid: _SIGNER.identity.certificate}
    started = time.process_time()
    for n in range(args.verifications):
        assert qr.decode_qr(texts[n % len(texts)], certificates).ok
    per = (time.process_time() - started) / args.verifications
    verdict = "OK" if per < TARGET_VERIFY_SECONDS else "MISSED"
    print(f"QR verification     : {per * 1000:.3f} ms CPU each — target < 1 ms: {verdict}")

    # PDF rendering and signing, per core.
    diplomas = []
    for i in range(min(args.pdfs, 200)):
        claims = _claims(i)
        vc, token, text = services.sign_faces(_SIGNER, claims, f"MA-2026-0000-{i:04d}", i)
        diplomas.append(
            SimpleNamespace(
                number=f"MA-2026-0000-{i:04d}",
                issued_at=_SIGNER.moment,
                qr=text,
                claims=claims,
                credential=vc,
                sd_jwt=token,
                status="valid",
                status_list_index=i,
            )
        )
    figures = pdf.bench_pdf(diplomas)
    per_second = figures["pdfs_per_cpu_second"]
    verdict = "OK" if per_second >= TARGET_PDFS_PER_SECOND else "MISSED"
    print(
        f"PDF render + sign   : {per_second:.1f} per CPU second ({figures['pdfs']} PDFs)"
        f" — target >= 20/s per core: {verdict}"
    )


if __name__ == "__main__":
    main()
