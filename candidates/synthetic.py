"""A synthetic national cohort for demos, tests and benchmarks. Pure: no Django import.

Names come from shared/data/names.csv; a few per cent of candidates get a deliberate
discrepancy between their file and their CNIE card, for the verification service to find.
Nothing here is a real person's data.
"""

from __future__ import annotations

import csv
import datetime
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .importing import COLUMNS as IMPORT_COLUMNS  # noqa: F401 - the rows' format

BIRTH_PLACES = (
    ("Rabat", "الرباط"),
    ("Casablanca", "الدار البيضاء"),
    ("Fès", "فاس"),
    ("Marrakech", "مراكش"),
    ("Tanger", "طنجة"),
    ("Agadir", "أكادير"),
    ("Meknès", "مكناس"),
    ("Oujda", "وجدة"),
    ("Kénitra", "القنيطرة"),
    ("Tétouan", "تطوان"),
    ("Safi", "آسفي"),
    ("El Jadida", "الجديدة"),
    ("Béni Mellal", "بني ملال"),
    ("Nador", "الناظور"),
    ("Taza", "تازة"),
    ("Khouribga", "خريبكة"),
    ("Laâyoune", "العيون"),
    ("Errachidia", "الرشيدية"),
    ("Ouarzazate", "ورزازات"),
    ("Settat", "سطات"),
)
MASSAR_LETTERS = "DGHJKMNPRSTU"
CNIE_PREFIXES = ("A", "AB", "B", "BE", "BH", "BJ", "BK", "C", "CD", "D", "E", "EE", "F", "G", "H")
# Discrepancy kinds planted between the file and the card, and how often (per mille).
DISCREPANCIES = (
    ("given_name_variant", 12),
    ("family_particle", 8),
    ("arabic_orthography", 6),
    ("birth_date_typo", 4),
    ("swapped_names", 3),
    ("cnie_digit", 3),
)


@dataclass(frozen=True)
class Name:
    latin: str
    arabic: str
    variants: tuple[str, ...]


def load_names(path: Path) -> dict[str, list[Name]]:
    names: dict[str, list[Name]] = {"given_male": [], "given_female": [], "family": []}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            variants = tuple(v for v in row["latin_variants"].split("|") if v)
            names[row["kind"]].append(Name(row["latin"], row["arabic"], variants))
    return names


_ARABIC_VARIANTS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه", "ى": "ي"})
_PARTICLES = ("El ", "Ben ", "Ait ", "Ould ")


def _plant(
    kind: str, row: dict[str, str], card: dict[str, str], rng: random.Random, given: Name
) -> None:
    if kind == "given_name_variant" and given.variants:
        card["first_name_latin"] = rng.choice(given.variants)
    elif kind == "family_particle":
        family = card["last_name_latin"]
        for particle in _PARTICLES:
            if family.startswith(particle):
                card["last_name_latin"] = family[len(particle) :]
                break
        else:
            card["last_name_latin"] = "El " + family
    elif kind == "arabic_orthography":
        card["first_name_ar"] = row["first_name_ar"].translate(_ARABIC_VARIANTS)
        card["last_name_ar"] = row["last_name_ar"].translate(_ARABIC_VARIANTS)
    elif kind == "birth_date_typo":
        born = datetime.date.fromisoformat(row["birth_date"])
        card["birth_date"] = (
            born + datetime.timedelta(days=rng.choice((-10, -1, 1, 10)))
        ).isoformat()
    elif kind == "swapped_names":
        card["first_name_latin"], card["last_name_latin"] = (
            row["last_name_latin"],
            row["first_name_latin"],
        )
    elif kind == "cnie_digit" and row["cnie_number"]:
        number = row["cnie_number"]
        last = str((int(number[-1]) + 1) % 10)
        card["cnie_number"] = number[:-1] + last


def generate_rows(
    n: int,
    school_codes: Sequence[str],
    track_codes: Sequence[str],
    names: dict[str, list[Name]],
    session_year: int = 2026,
    seed: int = 2026,
    start: int = 0,
) -> Iterator[tuple[dict[str, str], dict[str, str] | None, str | None]]:
    """Yield (row in the import format, CNIE card data or None, planted discrepancy or None)."""
    rng = random.Random(seed + start)
    schools, tracks = list(school_codes), list(track_codes)
    track_weights = [3 if code in ("SP", "SVT") else 1 for code in tracks]
    males, females, families = names["given_male"], names["given_female"], names["family"]
    thresholds = []
    total = 0
    for kind, per_mille in DISCREPANCIES:
        total += per_mille
        thresholds.append((total, kind))
    for i in range(start, start + n):
        sex = "F" if rng.random() < 0.52 else "M"
        given = rng.choice(females if sex == "F" else males)
        family = rng.choice(families)
        free = rng.random() < 0.24
        age = rng.randint(20, 32) if free else rng.choice((17, 18, 18, 18, 19, 20))
        born = datetime.date(session_year - age, 1, 1) + datetime.timedelta(days=rng.randrange(365))
        place = rng.choice(BIRTH_PLACES)
        has_cnie = rng.random() >= 0.01
        prefix = CNIE_PREFIXES[i % len(CNIE_PREFIXES)]
        cnie = f"{prefix}{(i // len(CNIE_PREFIXES)) % 1_000_000:06d}" if has_cnie else ""
        row = {
            "massar_code": f"{MASSAR_LETTERS[i % len(MASSAR_LETTERS)]}{100_000_000 + i:09d}",
            "cnie_number": cnie,
            "last_name_latin": family.latin,
            "first_name_latin": given.latin,
            "last_name_ar": family.arabic,
            "first_name_ar": given.arabic,
            "birth_date": born.isoformat(),
            "birth_place_latin": place[0],
            "birth_place_ar": place[1],
            "sex": sex,
            "nationality": "MAR",
            "school_code": schools[i % len(schools)],
            "track_code": rng.choices(tracks, track_weights)[0],
            "candidate_type": "free" if free else "school",
            "phone": f"+2126{rng.randrange(10**8):08d}",
            "email": f"candidat{i}@example.ma" if rng.random() < 0.6 else "",
        }
        card = None
        planted = None
        if has_cnie:
            card = {
                key: row[key]
                for key in (
                    "cnie_number",
                    "last_name_latin",
                    "first_name_latin",
                    "last_name_ar",
                    "first_name_ar",
                    "birth_date",
                    "birth_place_latin",
                    "sex",
                )
            }
            card["expiry_date"] = datetime.date(
                session_year + 8, born.month, min(born.day, 28)
            ).isoformat()
            roll = rng.randrange(1000)
            for threshold, kind in thresholds:
                if roll < threshold:
                    planted = kind
                    _plant(kind, row, card, rng, given)
                    break
        yield row, card, planted
