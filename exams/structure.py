"""Loading the national structure: academies and directorates, tracks and coefficients."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .models import Academy, Directorate, Subject, Track, TrackSubject

TRACKS_FILE = Path(__file__).resolve().parent / "data" / "tracks.json"


@transaction.atomic
def load_academies(path: Path | None = None) -> tuple[int, int]:
    """Create or update the academies and their directorates from academies.csv."""
    path = path or settings.SHARED_DATA_DIR / "academies.csv"
    academies = directorates = 0
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            academy, _ = Academy.objects.update_or_create(
                code=row["code"], defaults={"name_fr": row["name_fr"], "name_ar": row["name_ar"]}
            )
            academies += 1
            names_fr = row["directorates_fr"].split("|")
            names_ar = row["directorates_ar"].split("|")
            if len(names_fr) != len(names_ar):
                raise ValueError(f"{row['code']}: directorate lists differ in length")
            for index, (name_fr, name_ar) in enumerate(zip(names_fr, names_ar, strict=True), 1):
                Directorate.objects.update_or_create(
                    code=f"{academy.code}-{index:02d}",
                    defaults={"academy": academy, "name_fr": name_fr, "name_ar": name_ar},
                )
                directorates += 1
    return academies, directorates


@transaction.atomic
def load_tracks(path: Path | None = None) -> int:
    """Create or update subjects, tracks and coefficients from a tracks JSON file."""
    data = json.loads((path or TRACKS_FILE).read_text(encoding="utf-8"))
    subjects = {}
    for code, (name_fr, name_ar) in data["subjects"].items():
        subjects[code], _ = Subject.objects.update_or_create(
            code=code, defaults={"name_fr": name_fr, "name_ar": name_ar}
        )
    for spec in data["tracks"]:
        track, _ = Track.objects.update_or_create(
            code=spec["code"], defaults={"name_fr": spec["name"][0], "name_ar": spec["name"][1]}
        )
        wanted = set()
        for component in ("continuous", "regional", "national"):
            for subject_code, coefficient in spec.get(component, {}).items():
                TrackSubject.objects.update_or_create(
                    track=track,
                    subject=subjects[subject_code],
                    component=component,
                    defaults={"coefficient": Decimal(str(coefficient))},
                )
                wanted.add((subject_code, component))
        for ts in track.subjects.select_related("subject"):
            if (ts.subject.code, ts.component) not in wanted:
                ts.delete()
    return len(data["tracks"])
