"""Build a synthetic country: structure, a current session with its calendar, N candidates,
their CNIE card data (with a few per cent of planted discrepancies) and one sign-in per role."""

from __future__ import annotations

import datetime
import itertools
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from bac.progress import ProgressBar
from candidates.models import Candidate, IdentitySource
from candidates.synthetic import generate_rows, load_names
from exams.models import Directorate, ExamCentre, ExamSession, School, SessionWindow, Track
from exams.structure import load_academies, load_tracks
from identity import totp
from identity.models import Role, User

DEMO_PASSWORD = "bac-demo-2026"
SCHOOL_NAMES = (
    ("Lycée Ibn Sina", "ثانوية ابن سينا"),
    ("Lycée Al Khawarizmi", "ثانوية الخوارزمي"),
    ("Lycée Moulay Youssef", "ثانوية مولاي يوسف"),
    ("Lycée Ibn Khaldoun", "ثانوية ابن خلدون"),
    ("Lycée Al Massira", "ثانوية المسيرة"),
    ("Lycée Ibn Rochd", "ثانوية ابن رشد"),
    ("Lycée Abdelkrim Al Khattabi", "ثانوية عبد الكريم الخطابي"),
    ("Lycée Al Farabi", "ثانوية الفارابي"),
    ("Lycée Omar Ibn Abdelaziz", "ثانوية عمر بن عبد العزيز"),
    ("Lycée Al Idrissi", "ثانوية الإدريسي"),
)
BATCH = 5000


class Command(BaseCommand):
    help = "Seed a synthetic exam session with N candidates across the 12 academies."

    def add_arguments(self, parser):
        parser.add_argument("--candidates", type=int, default=2000)
        parser.add_argument("--year", type=int, default=timezone.localdate().year)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--progress", action="store_true", help="always draw the progress bar")
        parser.add_argument(
            "--demo-data",
            action="store_true",
            help="also assign exam centres, a timetable and grades, and check every file",
        )

    def handle(self, *args, **options):
        count, year = options["candidates"], options["year"]
        if count < 2:
            raise CommandError("--candidates must be at least 2 (the demo needs two candidates).")
        load_academies()
        load_tracks()
        schools = self._schools(count)
        session = self._session(year, demo=options["demo_data"])
        created = self._candidates(session, schools, count, options)
        if options["demo_data"]:
            self._demo_data(session)
        accounts = self._demo_accounts(session)
        if options["demo_data"]:
            self._demo_services()
        self.stdout.write(
            self.style.SUCCESS(
                f"Session {session.code}: {session.candidates.count()} candidates "
                f"({created} new) in {len(schools)} schools."
            )
        )
        self.stdout.write(f"\nSign-ins to try (password for all: {DEMO_PASSWORD}):")
        for line in accounts:
            self.stdout.write(f"  {line}")

    def _schools(self, count: int) -> list[School]:
        directorates = list(Directorate.objects.order_by("code"))
        wanted = max(len(directorates), count // 270 + 1)
        existing = {s.code: s for s in School.objects.all()}
        new_schools, new_centres = [], []
        for index in range(wanted):
            directorate = directorates[index % len(directorates)]
            code = f"{directorate.code}-{index // len(directorates) + 1:03d}"
            if code in existing:
                continue
            name_fr, name_ar = SCHOOL_NAMES[index % len(SCHOOL_NAMES)]
            new_schools.append(
                School(
                    directorate=directorate,
                    code=code,
                    name_fr=f"{name_fr} ({directorate.name_fr})",
                    name_ar=f"{name_ar} ({directorate.name_ar})",
                )
            )
            new_centres.append(
                ExamCentre(
                    directorate=directorate,
                    code=f"C-{code}",
                    name_fr=f"Centre d'examen {name_fr} ({directorate.name_fr})",
                    name_ar=f"مركز الامتحان {name_ar} ({directorate.name_ar})",
                )
            )
        School.objects.bulk_create(new_schools, batch_size=BATCH)
        ExamCentre.objects.bulk_create(new_centres, batch_size=BATCH, ignore_conflicts=True)
        return list(School.objects.order_by("code"))

    def _session(self, year: int, demo: bool = False) -> ExamSession:
        session, created = ExamSession.objects.get_or_create(
            code=f"{year}-N", defaults={"name": f"Session normale {year}", "year": year}
        )
        if not session.is_current:
            ExamSession.objects.filter(is_current=True).update(is_current=False)
            session.is_current = True
            session.save(update_fields=["is_current"])
        if created or not session.windows.exists():
            now = timezone.now().replace(minute=0, second=0, microsecond=0)
            day = datetime.timedelta(days=1)
            plan = {
                "registration": (now - 60 * day, now - 20 * day),
                "verification": (now - 5 * day, now + 20 * day),
                "convocation": (now + 10 * day, now + 40 * day),
                "exams": (now + 35 * day, now + 40 * day),
                "scholarship": (now - 2 * day, now + 45 * day),
                "results": (now + 55 * day, None),
                "complaints": (now + 55 * day, now + 58 * day),
                "diploma": (now + 56 * day, None),
                "catch_up": (now + 65 * day, now + 68 * day),
            }
            if demo:
                # The demo lets every service be tried at once: the day after results, with
                # the data verification, the convocation and the scholarship still open.
                plan |= {
                    "convocation": (now - 3 * day, now + 40 * day),
                    "results": (now - day, None),
                    "complaints": (now - day, now + 2 * day),
                    "diploma": (now - day, None),
                }
            for kind, (opens, closes) in plan.items():
                SessionWindow.objects.update_or_create(
                    session=session, kind=kind, defaults={"opens_at": opens, "closes_at": closes}
                )
        return session

    def _candidates(self, session: ExamSession, schools: list[School], count: int, options) -> int:
        start = session.candidates.count()
        if start >= count:
            return 0
        names = load_names(settings.SHARED_DATA_DIR / "names.csv")
        school_ids = {s.code: s.pk for s in schools}
        track_ids = dict(Track.objects.values_list("code", "pk"))
        rows = generate_rows(
            count - start,
            list(school_ids),
            list(track_ids),
            names,
            session_year=session.year,
            seed=options["seed"],
            start=start,
        )
        bar = ProgressBar(count - start, "Seeding", enabled=True if options["progress"] else None)
        done = 0
        while True:
            batch = list(itertools.islice(rows, BATCH))
            if not batch:
                break
            with transaction.atomic():
                files = [
                    Candidate(
                        session=session,
                        school_id=school_ids[row["school_code"]],
                        track_id=track_ids[row["track_code"]],
                        birth_date=datetime.date.fromisoformat(row["birth_date"]),
                        **{
                            k: v
                            for k, v in row.items()
                            if k not in ("school_code", "track_code", "birth_date")
                        },
                    )
                    for row, _card, _planted in batch
                ]
                Candidate.objects.bulk_create(files, batch_size=BATCH)
                sources = [
                    IdentitySource(candidate=file, kind=IdentitySource.Kind.CNIE_CARD, data=card)
                    for file, (_row, card, _planted) in zip(files, batch, strict=True)
                    if card is not None
                ]
                IdentitySource.objects.bulk_create(sources, batch_size=BATCH)
            done += len(batch)
            bar.update(done)
        bar.finish()
        return done

    def _demo_data(self, session: ExamSession) -> None:
        """What the other services need to be tried at once; each step is idempotent."""
        from results.models import Grade

        quiet = {"stdout": StringIO(), "stderr": StringIO()}
        call_command("assign_centres", session=session.code, **quiet)
        call_command("seed_timetable", session=session.code, **quiet)
        if not Grade.objects.filter(candidate__session=session).exists():
            call_command("seed_grades", session=session.code, **quiet)
        call_command("recheck_session", session=session.code, **quiet)

    def _demo_services(self) -> None:
        """The services after the exams, tried at once: the scholarship programme opens, the
        results are published, diplomas issued and complaints filed in every state. Each step
        is idempotent and prints what it did."""
        for command in ("demo_scholarships", "demo_diplomas", "demo_complaints"):
            call_command(command, stdout=self.stdout, stderr=self.stderr)

    def _demo_accounts(self, session: ExamSession) -> list[str]:
        first, second = session.candidates.select_related("school__directorate__academy").order_by(
            "pk"
        )[:2]
        school = first.school
        academy = school.directorate.academy
        lines = []
        staff = (
            ("clerk", Role.SCHOOL, {"school": school}, f"school clerk of {school.code}"),
            ("aref", Role.ACADEMY, {"academy": academy}, f"academy staff of {academy.code}"),
            ("ministry", Role.MINISTRY, {}, "ministry staff"),
        )
        for username, role, scope, label in staff:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"role": role, "email": f"{username}@example.ma", **scope},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                # Demo staff come enrolled so that `demo_totp` can stand in for their phone.
                user.totp_secret_encrypted = totp.encrypt_secret(totp.new_secret())
                user.totp_confirmed = True
                user.save()
            lines.append(
                f"{label}: {username}, then the code printed by "
                f"`DEBUG=true .venv/bin/python manage.py demo_totp {username}`"
            )
        user, created = User.objects.get_or_create(
            username=first.massar_code, defaults={"role": Role.CANDIDATE, "email": first.email}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        if first.user_id != user.pk:
            first.user = user
            first.save(update_fields=["user"])
        lines.append(
            f"candidate: {first.massar_code} (the one-time code is printed in the server's terminal)"
        )
        lines.append(
            f"candidate to activate: {second.massar_code}, born {second.birth_date.isoformat()}"
            + (f", CNIE {second.cnie_number}" if second.cnie_number else "")
        )
        return lines
