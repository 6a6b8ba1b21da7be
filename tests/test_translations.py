"""The French and Arabic catalogues are complete and safe to use.

Parses locale/{fr,ar}/LC_MESSAGES/django.po with a small reader of its own (no extra
dependency) and checks every entry: translated, not fuzzy, same placeholders, same HTML tags
and same leading/trailing newlines as the English source. Then checks that the compiled
catalogues are the ones Django uses. No database is needed.
"""

import ast
import re
from pathlib import Path

import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
# Apps that keep a catalogue of their own (<app>/locale, made with makemessages run inside the
# app's folder) are held to the same rules.
CATALOGUES = [LOCALE] + sorted(
    path for path in ROOT.glob("*/locale") if path != LOCALE and (path / "fr").is_dir()
)
LANGUAGES = {"fr": 2, "ar": 6}  # language: number of plural forms

# %(name)s / %(count)d (with optional flags, width, precision), bare %s / %d / %i / %f / %r,
# and str.format fields such as {name} or {0}.
NAMED = re.compile(r"%\((\w+)\)[#0 +\-]*\d*(?:\.\d+)?[sdifreEgGxXoc]")
BARE = re.compile(r"%[#0 +\-]*\d*(?:\.\d+)?[sdifreEgGxXoc]")
BRACES = re.compile(r"\{\w*(?:![rsa])?(?::[^{}]*)?\}")
TAG = re.compile(r"</?[a-zA-Z][^<>]*>")


class Entry:
    def __init__(self):
        self.flags: set[str] = set()
        self.msgctxt: str | None = None
        self.msgid = ""
        self.msgid_plural: str | None = None
        self.msgstr: dict[int, str] = {}
        self.line = 0

    @property
    def label(self) -> str:
        return f"line {self.line}: {self.msgid!r}"


def _unquote(text: str) -> str:
    # A .po string is a C string literal; its escapes (\n, \t, \", \\) read like Python's.
    return ast.literal_eval(text)


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file, header first; obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    current: Entry | None = None
    field: tuple[str, int | None] | None = None

    def finish():
        nonlocal current, field
        if current is not None and (current.msgid or current.msgstr):
            entries.append(current)
        current, field = None, None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#"):
            if current is not None and field is not None and field[0] == "msgstr":
                finish()  # a comment after a msgstr starts the next entry
            if current is None:
                current = Entry()
                current.line = number
            if line.startswith("#,"):
                current.flags.update(f.strip() for f in line[2:].split(",") if f.strip())
            continue
        match = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(\".*\")$", line)
        if match:
            keyword, index, value = match.group(1), match.group(2), _unquote(match.group(3))
            if keyword in ("msgctxt", "msgid") and field is not None and field[0] == "msgstr":
                finish()
            if current is None:
                current = Entry()
                current.line = number
            if keyword == "msgstr":
                field = ("msgstr", int(index) if index is not None else 0)
                current.msgstr[field[1]] = value
            else:
                field = (keyword, None)
                setattr(current, keyword, value)
            continue
        if line.startswith('"') and current is not None and field is not None:
            value = _unquote(line)
            if field[0] == "msgstr":
                current.msgstr[field[1]] += value
            else:
                setattr(current, field[0], (getattr(current, field[0]) or "") + value)
            continue
        raise AssertionError(f"{path}:{number}: cannot read {raw!r}")
    finish()
    return entries


def placeholders(text: str) -> dict[str, set[str]]:
    text = text.replace("%%", "")
    named = set(NAMED.findall(text))
    bare = set(BARE.findall(NAMED.sub("", text)))
    return {"named": named, "bare": bare, "braces": set(BRACES.findall(text))}


def _catalogue(lang: str, base: Path = LOCALE) -> tuple[Entry, list[Entry]]:
    entries = parse_po(base / lang / "LC_MESSAGES" / "django.po")
    assert entries and entries[0].msgid == "", f"{base}/{lang}: the .po file has no header"
    return entries[0], entries[1:]


@pytest.fixture(
    params=[(base, lang) for base in CATALOGUES for lang in sorted(LANGUAGES)],
    ids=lambda param: f"{param[0].relative_to(ROOT)}-{param[1]}",
    scope="module",
)
def catalogue(request):
    base, lang = request.param
    header, entries = _catalogue(lang, base)
    return lang, header, entries


def test_parser_reads_the_whole_catalogue():
    for base in CATALOGUES:
        for lang in LANGUAGES:
            _header, entries = _catalogue(lang, base)
            text = (base / lang / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
            active = [line for line in text.splitlines() if line.startswith("msgid ")]
            assert len(entries) + 1 == len(active), f"{base}/{lang}"
    assert len(_catalogue("fr")[1]) > 400


def test_header(catalogue):
    lang, header, _entries = catalogue
    meta = dict(line.split(":", 1) for line in header.msgstr[0].splitlines() if ":" in line)
    meta = {k.strip(): v.strip() for k, v in meta.items()}
    assert "fuzzy" not in header.flags
    assert meta["Language"] == lang
    assert "charset=UTF-8" in meta["Content-Type"]
    assert meta["Plural-Forms"].startswith(f"nplurals={LANGUAGES[lang]};")


def test_every_entry_is_translated_and_not_fuzzy(catalogue):
    lang, _header, entries = catalogue
    problems = []
    for e in entries:
        if "fuzzy" in e.flags:
            problems.append(f"fuzzy: {e.label}")
        expected = range(LANGUAGES[lang]) if e.msgid_plural is not None else range(1)
        if sorted(e.msgstr) != list(expected):
            problems.append(f"forms {sorted(e.msgstr)}: {e.label}")
        for i, text in e.msgstr.items():
            if not text.strip():
                problems.append(f"empty msgstr[{i}]: {e.label}")
    assert not problems, "\n".join(problems)


def test_placeholders_tags_and_newlines_match(catalogue):
    lang, _header, entries = catalogue
    problems = []
    for e in entries:
        sources = [e.msgid] + ([e.msgid_plural] if e.msgid_plural is not None else [])
        wanted = placeholders(e.msgid)
        if e.msgid_plural is not None:
            plural = placeholders(e.msgid_plural)
            wanted = {k: wanted[k] | plural[k] for k in wanted}
        tags = sorted(TAG.findall(e.msgid))
        for i, text in e.msgstr.items():
            got = placeholders(text)
            if got != wanted:
                problems.append(f"placeholders {got} != {wanted} in msgstr[{i}]: {e.label}")
            if sorted(TAG.findall(text)) != tags:
                problems.append(f"HTML tags differ in msgstr[{i}]: {e.label}")
            for source in sources:
                if source.startswith("\n") != text.startswith("\n") or source.endswith(
                    "\n"
                ) != text.endswith("\n"):
                    problems.append(f"leading/trailing newline differs in msgstr[{i}]: {e.label}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("base", CATALOGUES, ids=lambda base: str(base.relative_to(ROOT)))
def test_no_msgid_is_left_out_of_one_language(base):
    ids = {}
    for lang in LANGUAGES:
        _header, entries = _catalogue(lang, base)
        ids[lang] = {(e.msgctxt, e.msgid, e.msgid_plural) for e in entries}
    assert ids["fr"] == ids["ar"]


KNOWN = {
    "fr": {
        "Sign in": "Se connecter",
        "Candidates": "Candidats",
        "Complaints": "Réclamations",
        "Massar code": "Code Massar",
        "Catch-up session": "Session de rattrapage",
    },
    "ar": {
        "Sign in": "تسجيل الدخول",
        "Candidates": "المترشحون",
        "Complaints": "التظلمات",
        "Massar code": "رمز مسار",
        "Catch-up session": "الدورة الاستدراكية",
        "Convocation": "الاستدعاء",
        "Scholarship": "المنحة",
        "Digital diploma": "الدبلوم الرقمي",
    },
}


@pytest.mark.parametrize("lang", sorted(KNOWN))
def test_django_uses_the_compiled_catalogues(lang):
    with translation.override(lang):
        for source, expected in KNOWN[lang].items():
            assert translation.gettext(source) == expected
        assert translation.get_language_bidi() == (lang == "ar")
    with translation.override("en"):
        assert translation.gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(
    "lang, count, expected",
    [
        ("fr", 1, "1 candidat"),
        ("fr", 2, "2 candidats"),
        ("ar", 1, "1 مترشح"),
        ("ar", 2, "2 مترشحان"),
        ("ar", 5, "5 مترشحين"),
        ("ar", 25, "25 مترشحًا"),
        ("ar", 300, "300 مترشح"),
    ],
)
def test_plural_forms_are_chosen_by_count(lang, count, expected):
    with translation.override(lang):
        text = translation.ngettext("%(total)s candidate", "%(total)s candidates", count)
    assert text % {"total": count} == expected
