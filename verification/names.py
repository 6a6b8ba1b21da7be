"""Comparing two spellings of a name, in Latin or Arabic script. Pure: no Django import.

`compare_names(a, b)` says how far apart two spellings are, as a grade and a stable code:

- none: the same text (surrounding and repeated spaces aside);
- cosmetic: the same name presented differently, nothing to correct: capitals, accents,
  spaces, hyphens, apostrophes, a particle written joined or apart (`Benjelloun`,
  `Ben Jelloun`), Arabic diacritics and tatweel, and Arabic letters whose form is a writing
  convention (hamza seats أ إ آ ء ؤ ئ, alef maqsura ى/ي, ta marbuta ة/ه);
- needs review: probably the same name, but the spelling differs in a way a diploma would
  show, so the candidate should check it against the card: a particle or article added or
  dropped (`El Amrani`/`Amrani`, `العمراني`/`عمراني`), a transliteration variant (`Mohammed`,
  `Mohamed`, `Mhammed`; from the names list and from general rules: ou/u/w, ch/sh, doubled
  letters, e/a and o/u vowels, y/i, a trailing e or h, k/q/c, dj/j, th/t, ph/f ...), a name
  part present on one side only (`Mohammed Amine`/`Amine`), one letter off (a typing slip);
- blocking: different names.

The comparison is symmetric, and case or spacing changes never grade worse than cosmetic.
Swapped given and family names are detected one level up, in `verification.compare`, where
both names are known.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path


class Grade(IntEnum):
    NONE = 0
    COSMETIC = 1
    NEEDS_REVIEW = 2
    BLOCKING = 3

    @property
    def slug(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Match:
    """How two values compare: a grade, a stable code for the explanation, its parameters."""

    grade: Grade
    code: str
    params: Mapping[str, str] = field(default_factory=dict)


SAME = Match(Grade.NONE, "same")

# -- Latin script -----------------------------------------------------------------------------

# Articles (with the sun-letter assimilations of al-) and filial or tribal particles.
ARTICLES = frozenset({"EL", "AL", "L", "LE", "ES", "ET", "EN", "ER", "EZ", "ED", "ECH", "ESS"})
FILIAL = frozenset({"BEN", "BENT", "BINT", "BENI", "AIT", "OULD", "IBN", "BOU", "OUM", "ABOU"})
PARTICLES = ARTICLES | FILIAL
# Particles written joined to the name, tried only as alternatives (`Elamrani` may be
# `El Amrani`, `Elias` is not `El Ias` unless the other spelling says so).
_JOINED = ("ABOU", "OULD", "BENT", "BEN", "AIT", "IBN", "BOU", "EL", "AL")
_ASSIMILATED = re.compile(r"^E(CH|[TDRZSNL])\1(?=[A-Z]{2})")
_SEPARATORS = re.compile(r"[^A-Z]+")


@functools.lru_cache(maxsize=65536)
def fold_latin(text: str) -> str:
    """Capitals without accents, every run of other characters made one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    plain = plain.replace("Æ", "AE").replace("Œ", "OE").replace("ß", "SS").replace("Ø", "O")
    return _SEPARATORS.sub(" ", plain).strip()


_DIGRAPHS = (
    ("DJ", "J"),
    ("DH", "D"),
    ("TH", "T"),
    ("PH", "F"),
    ("SH", "Ç"),
    ("CH", "Ç"),
    ("KH", "X"),
    ("GH", "G"),
    ("OU", "U"),
    ("OO", "U"),
    ("EE", "I"),
    ("CK", "K"),
    ("Q", "K"),
    ("W", "U"),
    ("Y", "I"),
)
_SOFT_C = re.compile(r"C(?=[EIY])")
_VOWELS = frozenset("AEIOU")


@functools.lru_cache(maxsize=65536)
def latin_key(token: str) -> str:
    """A rough phonetic key of one folded word for Maghreb transliterations: spellings of one
    name usually share it (`MOHAMMED`, `MOHAMED`, `MUHAMMAD` → `MUHAMAD`)."""
    word = _SOFT_C.sub("S", token)
    # A final mute e, or the e of a final -ae (Asmae/Asmaa), and a final h after a vowel.
    if len(word) > 3 and word.endswith("E") and (word[-2] not in _VOWELS or word[-2] == "A"):
        word = word[:-1]
    if len(word) > 3 and word.endswith("H") and word[-2] in _VOWELS:
        word = word[:-1]
    for old, new in _DIGRAPHS:
        word = word.replace(old, new)
    word = word.replace("C", "K").replace("Ç", "CH").replace("E", "A").replace("O", "U")
    collapsed = []
    for char in word:
        if not collapsed or collapsed[-1] != char:
            collapsed.append(char)
    return "".join(collapsed)


@functools.lru_cache(maxsize=65536)
def _latin_forms(text: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    """(words, particle removed) readings of a folded name: as written, without a leading
    particle written apart, and without one written joined to the first word."""
    words = tuple(text.split())
    forms: list[tuple[tuple[str, ...], str]] = [(words, "")]
    removed: list[str] = []
    rest = words
    while len(rest) > 1 and rest[0] in PARTICLES:
        removed.append(rest[0])
        rest = rest[1:]
        forms.append((rest, " ".join(removed)))
    if rest:
        first = rest[0]
        for particle in _JOINED:
            if first.startswith(particle) and len(first) - len(particle) >= 3:
                tail = first[len(particle) :]
                forms.append(((tail, *rest[1:]), " ".join([*removed, particle])))
        assimilated = _ASSIMILATED.match(first)
        if assimilated:
            tail = first[1 + len(assimilated.group(1)) :]
            article = first[: 1 + len(assimilated.group(1))]  # Et, Es, Ech ... as spoken
            forms.append(((tail, *rest[1:]), " ".join([*removed, article])))
        # Moroccan l- before a vowel: Lamrani, Lalaoui.
        if len(first) > 4 and first[0] == "L" and first[1] in "AEIOU" and first[1] != first[2]:
            forms.append(((first[1:], *rest[1:]), " ".join([*removed, "L"])))
    return tuple(dict.fromkeys(forms))


class VariantIndex:
    """Groups of spellings known to be one name (from the names list and a few built in)."""

    def __init__(self, groups: Iterable[Iterable[str]] = ()) -> None:
        self._groups: dict[str, set[int]] = {}
        count = 0
        for count, group in enumerate((*BUILT_IN_GROUPS, *groups)):  # noqa: B007
            for spelling in group:
                key = fold_latin(spelling).replace(" ", "")
                if key:
                    self._groups.setdefault(key, set()).add(count)
        self.size = count + 1 if self._groups else 0

    @classmethod
    def from_csv(cls, path: Path | str) -> VariantIndex:
        """The groups of a names list such as shared/data/names.csv (latin, latin_variants)."""
        groups = []
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                spellings = [row["latin"], *row.get("latin_variants", "").split("|")]
                groups.append([s for s in spellings if s])
        return cls(groups)

    def same_name(self, a: str, b: str) -> bool:
        """Whether the joined folded spellings a and b belong to one known group."""
        first, second = self._groups.get(a), self._groups.get(b)
        return bool(first and second and not first.isdisjoint(second))


# Spellings common in Moroccan civil records beyond the names list.
BUILT_IN_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Mohammed", "Mohamed", "Mhammed", "Mhamed", "M'hamed", "Muhammad", "Mohamad", "Mouhamed"),
    ("Abdellah", "Abdallah", "Abdullah", "Abdelah"),
    ("Abdelatif", "Abdellatif", "Abdullatif"),
    ("Abderrahmane", "Abderahmane", "Abdelrahman", "Abdurrahman", "Abderrahman"),
    ("Fatima", "Fatema", "Fatma", "Fatna", "Fadma"),
    ("Youssef", "Youssouf", "Yusuf", "Yousef", "Youcef", "Yossef"),
    ("Brahim", "Ibrahim", "Ibrahime", "Brahime"),
    ("Ismail", "Smail", "Ismael", "Esmail"),
    ("Houcine", "Hussein", "Hussain", "Lhoussine", "Houssine", "Hocine"),
    ("Lahcen", "Lahsen", "Lhassan", "Hassan"),
    ("Aicha", "Aisha", "Aysha", "Aïcha"),
)


def one_edit_apart(a: str, b: str) -> bool:
    """Whether a and b differ by at most one insertion, deletion, substitution or swap of two
    neighbouring letters."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    if la > lb:
        a, b = b, a
    # b is one longer than a: one deletion from b gives a.
    for i in range(len(a)):
        if a[i] != b[i]:
            return a[i:] == b[i + 1 :]
    return True


def _words_match(a: tuple[str, ...], b: tuple[str, ...], variants: VariantIndex) -> bool:
    """Word by word, each pair the same by key or a known variant; or the whole names."""
    if "".join(latin_key(w) for w in a) == "".join(latin_key(w) for w in b):
        return True
    if variants.same_name("".join(a), "".join(b)):
        return True
    if len(a) != len(b) or len(a) < 2:
        return False
    return all(
        x == y or latin_key(x) == latin_key(y) or variants.same_name(x, y)
        for x, y in zip(a, b, strict=True)
    )


def _part_missing(a: tuple[str, ...], b: tuple[str, ...], variants: VariantIndex) -> bool:
    """Whether every word of the shorter name is in the longer one (e.g. a compound given
    name written in full on one side only)."""
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if not short or len(short) == len(long_):
        return False
    keys = [latin_key(w) for w in long_]
    return all(
        latin_key(word) in keys or any(variants.same_name(word, other) for other in long_)
        for word in short
    )


EMPTY_INDEX = VariantIndex()


def compare_latin(a: str, b: str, variants: VariantIndex | None = None) -> Match:
    """Two Latin spellings; see the module's docstring for the grades."""
    if " ".join(a.split()) == " ".join(b.split()):
        return SAME
    return _compare_latin_folded(fold_latin(a), fold_latin(b), variants or EMPTY_INDEX)


@functools.lru_cache(maxsize=131072)
def _compare_latin_folded(a: str, b: str, variants: VariantIndex) -> Match:
    if a.replace(" ", "") == b.replace(" ", ""):
        return Match(Grade.COSMETIC, "presentation")
    if not a or not b:
        return Match(Grade.BLOCKING, "different")
    forms_a, forms_b = _latin_forms(a), _latin_forms(b)
    # A particle added or dropped, the rest identical.
    for words_a, particle_a in forms_a:
        for words_b, particle_b in forms_b:
            if "".join(words_a) == "".join(words_b) and (particle_a or particle_b):
                particle = (particle_a or particle_b).title()
                return Match(Grade.NEEDS_REVIEW, "particle", {"particle": particle})
    for words_a, _pa in forms_a:
        for words_b, _pb in forms_b:
            if _words_match(words_a, words_b, variants):
                return Match(Grade.NEEDS_REVIEW, "transliteration")
    for words_a, _pa in forms_a:
        for words_b, _pb in forms_b:
            if _part_missing(words_a, words_b, variants):
                return Match(Grade.NEEDS_REVIEW, "name_part_missing")
    joined_a, joined_b = a.replace(" ", ""), b.replace(" ", "")
    if min(len(joined_a), len(joined_b)) >= 4 and one_edit_apart(joined_a, joined_b):
        return Match(Grade.NEEDS_REVIEW, "typo")
    key_a = "".join(latin_key(w) for w in a.split())
    key_b = "".join(latin_key(w) for w in b.split())
    if min(len(key_a), len(key_b)) >= 5 and one_edit_apart(key_a, key_b):
        return Match(Grade.NEEDS_REVIEW, "typo")
    return Match(Grade.BLOCKING, "different")


# -- Arabic script ----------------------------------------------------------------------------

# Harakat, Quranic marks, superscript alef; tatweel; zero-width joiners and marks.
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u200c-\u200f]")
_ARABIC_LETTERS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
        "ء": None,
        "ک": "ك",
        "ی": "ي",
        "ە": "ه",
        "ھ": "ه",
    }
)
_NOT_LETTERS = re.compile(r"[^\w]|[\d_]")
_ARABIC_FILIAL = frozenset({"بن", "بنت", "ابن", "ايت", "ولد", "بو", "ام", "ابو"})


def is_arabic(text: str) -> bool:
    return any("\u0600" <= c <= "\u06ff" or "\u0750" <= c <= "\u077f" for c in text)


def arabic_plain(text: str) -> str:
    """Without diacritics, tatweel and invisible marks; hyphens and other punctuation made
    spaces, spaces made single."""
    bare = _ARABIC_MARKS.sub("", unicodedata.normalize("NFC", text))
    return " ".join(_NOT_LETTERS.sub(" ", bare).split())


def arabic_key(text: str) -> str:
    """The letters that carry the name: hamza seats, alef maqsura and ta marbuta unified."""
    return arabic_plain(text).translate(_ARABIC_LETTERS)


def _arabic_forms(key: str) -> list[tuple[str, str]]:
    """(letters without spaces, particle removed) readings of a name: as written, without a
    leading particle word, and without the article ال of its words."""
    words = key.split()
    forms = [("".join(words), "")]
    if len(words) > 1 and words[0] in _ARABIC_FILIAL:
        forms.append(("".join(words[1:]), words[0]))
    stripped = [w[2:] if w.startswith("ال") and len(w) > 3 else w for w in words]
    if stripped != words:
        forms.append(("".join(stripped), "ال"))
    return forms


@functools.lru_cache(maxsize=131072)
def compare_arabic(a: str, b: str) -> Match:
    """Two Arabic spellings; see the module's docstring for the grades."""
    if " ".join(a.split()) == " ".join(b.split()):
        return SAME
    plain_a, plain_b = arabic_plain(a), arabic_plain(b)
    if plain_a.replace(" ", "") == plain_b.replace(" ", ""):
        return Match(Grade.COSMETIC, "presentation")
    key_a, key_b = arabic_key(a), arabic_key(b)
    if key_a.replace(" ", "") == key_b.replace(" ", ""):
        return Match(Grade.COSMETIC, "arabic_spelling")
    for letters_a, particle_a in _arabic_forms(key_a):
        for letters_b, particle_b in _arabic_forms(key_b):
            if letters_a == letters_b and (particle_a or particle_b):
                return Match(Grade.NEEDS_REVIEW, "particle", {"particle": particle_a or particle_b})
    words_a, words_b = key_a.split(), key_b.split()
    short, long_ = (words_a, words_b) if len(words_a) < len(words_b) else (words_b, words_a)
    if short and len(short) < len(long_) and all(w in long_ for w in short):
        return Match(Grade.NEEDS_REVIEW, "name_part_missing")
    # Short vowels are not written: four letters one apart are often two names (محمد, أحمد).
    joined_a, joined_b = key_a.replace(" ", ""), key_b.replace(" ", "")
    if min(len(joined_a), len(joined_b)) >= 5 and one_edit_apart(joined_a, joined_b):
        return Match(Grade.NEEDS_REVIEW, "typo")
    return Match(Grade.BLOCKING, "different")


# -- Either script ----------------------------------------------------------------------------


def compare_names(a: str, b: str, variants: VariantIndex | None = None) -> Match:
    """Two spellings of a name, in whichever script they are written."""
    if a == b:
        return SAME
    return _compare_names(a, b, variants or EMPTY_INDEX)


@functools.lru_cache(maxsize=262144)
def _compare_names(a: str, b: str, variants: VariantIndex) -> Match:
    # Names repeat a lot across half a million files: each pair is worked out once.
    if " ".join(a.split()) == " ".join(b.split()):
        return SAME
    arabic_a, arabic_b = is_arabic(a), is_arabic(b)
    if arabic_a and arabic_b:
        return compare_arabic(a, b)
    if arabic_a != arabic_b:
        return Match(Grade.NEEDS_REVIEW, "different_script")
    return compare_latin(a, b, variants)
