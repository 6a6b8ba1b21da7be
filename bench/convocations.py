"""Benchmark: convocation PDFs per second per core, and the CPU cost of checking a QR code.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/convocations.py [--pdfs 300]
    .venv/bin/python bench/convocations.py            # without DATABASE_URL: SQLite in a temporary directory

With DATABASE_URL the run happens in a throw-away PostgreSQL database (`bac_bench_conv` by
default) that is dropped and recreated, then migrated; without it, in a temporary SQLite
database. Either way keys, media and fonts live in a temporary directory. The session is
seeded with `manage.py seed`, seated with `assign_centres`, given a timetable with
`seed_timetable`, every file is made eligible (verified, a CNIE copy on record, a photo), then,
in one process (one core), it times:

1. the download path for N candidates: gate, issue (lock, hash, insert, audit) and PDF;
2. rendering the PDF again for the same N convocations (the PDF alone);
3. checking a QR code: the signature alone (`codec.verify`, what a phone does offline) and
   with the register (`services.check_code`, what the API does).

CPU time is process time (what a core spends), wall time includes waiting for the database.
Target (issue 3): at least 20 convocations per second per core.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bac.settings")
os.environ.setdefault("DEBUG", "true")

TARGET_PDFS_PER_SECOND = 20.0
TARGET_VERIFY_SECONDS = 0.001  # DESIGN §6 (diplomas): a QR verification under 1 ms of CPU


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pdfs", type=int, default=300, help="convocations to render")
    parser.add_argument("--verifications", type=int, default=2000)
    parser.add_argument("--database", default="bac_bench_conv", help="throw-away PostgreSQL db")
    parser.add_argument("--no-photo", action="store_true", help="files without a photo")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    return parser.parse_args()


def _postgres_database(server_url: str, name: str, drop_only: bool = False) -> str:
    import psycopg
    from psycopg import sql

    parsed = urlparse(server_url)
    if parsed.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("DATABASE_URL must point to a PostgreSQL server (postgres://...).")
    admin_url = urlunparse(parsed._replace(scheme="postgresql"))
    if urlparse(admin_url).path.strip("/") == name:
        sys.exit(f"DATABASE_URL must name another database than the throw-away {name!r}.")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if not drop_only:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunparse(parsed._replace(path="/" + name))


def _photo() -> bytes:
    """A synthetic 300×400 JPEG, the size of an identity photo."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 400), (196, 206, 218))
    draw = ImageDraw.Draw(image)
    draw.ellipse((90, 70, 210, 210), fill=(150, 120, 100))
    draw.rectangle((60, 230, 240, 400), fill=(40, 60, 90))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _prepare(count: int, with_photo: bool):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    from candidates.models import Candidate, CnieDocument, VerificationStatus
    from exams.models import ExamSession

    call_command("migrate", verbosity=0)
    call_command("seed", candidates=max(count, 2), stdout=io.StringIO())
    session = ExamSession.current()
    call_command("assign_centres", "--session", session.code, stdout=io.StringIO())
    call_command("seed_timetable", "--session", session.code, stdout=io.StringIO())
    files = Candidate.objects.filter(session=session)
    updates = {"verification_status": VerificationStatus.CONFIRMED}
    if with_photo:
        updates["photo"] = default_storage.save("photos/bench.jpg", ContentFile(_photo()))
    files.update(**updates)
    CnieDocument.objects.bulk_create(
        CnieDocument(
            candidate_id=pk,
            content_type="image/jpeg",
            size=1,
            sha256="0" * 64,
            encrypted_file="bench",
            is_current=True,
        )
        for pk in files.exclude(cnie_number="").values_list("pk", flat=True)
    )
    return session


def _timed(function, repeat: int) -> tuple[float, float, list]:
    cpu, wall = time.process_time(), time.perf_counter()
    results = [function(index) for index in range(repeat)]
    return time.process_time() - cpu, time.perf_counter() - wall, results


def main() -> None:
    args = _parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bac-bench-conv-"))
    os.environ["BAC_VAR_DIR"] = str(scratch)
    os.environ["MEDIA_ROOT"] = str(scratch / "media")
    server_url = os.environ.get("DATABASE_URL", "")
    if server_url:
        os.environ["DATABASE_URL"] = _postgres_database(server_url, args.database)

    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from candidates.models import Candidate
    from convocations import codec, pdf, services
    from convocations.keys import key_ring
    from convocations.models import Convocation

    try:
        started = time.perf_counter()
        session = _prepare(args.pdfs, not args.no_photo)
        eligible = list(
            services.candidate_for_convocation(
                Candidate.objects.filter(session=session).exclude(cnie_number="")
            ).order_by("pk")[: args.pdfs]
        )
        count = len(eligible)
        print(
            f"{connection.vendor}: {count} eligible candidates seeded, seated and given a "
            f"timetable in {time.perf_counter() - started:.1f} s"
        )
        now = timezone.now()
        window = session.windows.get(kind="convocation")
        window.opens_at, window.closes_at = now - datetime.timedelta(days=1), None
        window.save()

        # Warm-up: the fonts are prepared once per process (not counted, as in a web worker).
        started = time.perf_counter()
        pdf.prepared_fonts()
        pdf._font_templates()
        print(f"fonts prepared once per process in {time.perf_counter() - started:.2f} s")

        cpu, wall, documents = _timed(
            lambda i: services.convocation_pdf(services.issue_convocation(eligible[i])), count
        )
        sizes = [len(d) for d in documents]
        print(
            f"download path (gate, issue, audit, PDF): {count} in {cpu:.2f} s CPU, {wall:.2f} s "
            f"wall: {count / cpu:.1f} per second per core ({count / wall:.1f} wall)"
        )
        convocations = list(
            Convocation.objects.filter(superseded_at__isnull=True)
            .select_related("candidate")
            .order_by("pk")
        )
        cpu, wall, _ = _timed(lambda i: services.convocation_pdf(convocations[i]), count)
        rate = count / cpu
        verdict = "OK" if rate >= TARGET_PDFS_PER_SECOND else "BELOW TARGET"
        print(
            f"convocation PDFs: {count} rendered in {cpu:.2f} s CPU ({wall:.2f} s wall): "
            f"{rate:.1f} PDFs/s/core (target ≥ {TARGET_PDFS_PER_SECOND:.0f}) {verdict}"
        )
        print(
            f"PDF size: median {statistics.median(sizes) / 1024:.0f} KB, "
            f"max {max(sizes) / 1024:.0f} KB ({'with' if not args.no_photo else 'without'} photo)"
        )

        codes = [services.qr_text(c) for c in convocations]
        ring = key_ring()
        n = args.verifications
        cpu, _wall, results = _timed(lambda i: codec.verify(codes[i % count], ring.public_keys), n)
        assert all(r.valid for r in results)
        offline = cpu / n
        cpu, _wall, results = _timed(lambda i: services.check_code(codes[i % count]), n)
        assert all(r.valid for r in results)
        online = cpu / n
        tampered = codes[0][:-3] + ("A" if codes[0][-3] != "A" else "B") + codes[0][-2:]
        assert not codec.verify(tampered, ring.public_keys).valid
        verdict = "OK" if offline < TARGET_VERIFY_SECONDS else "ABOVE TARGET"
        print(
            f"QR verification: {offline * 1e6:.0f} µs CPU per code offline (signature, "
            f"codec.verify) {verdict}; {online * 1e6:.0f} µs CPU with the register lookup "
            f"(services.check_code, the API); code length {len(codes[0])} characters"
        )
    finally:
        connection.close()
        if server_url and not args.keep:
            _postgres_database(server_url, args.database, drop_only=True)


if __name__ == "__main__":
    main()
