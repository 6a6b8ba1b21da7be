"""The convocation PDF: both scripts, Arabic shaped and laid out right to left, the photo,
the centre and room, the track's timetable, the rules and the signed QR code.

fpdf2 with HarfBuzz text shaping (uharfbuzz) and its bidi algorithm. The fonts ship in
convocations/fonts/ (Noto Naskh Arabic, OFL; DejaVu Sans, Bitstream Vera licence) so that
a machine with only Python renders the same document.

Speed (issue 3: at least 20 convocations a second a core). Left to itself, fpdf2 parses
every font for every document and subsets it again with fontTools on output: ~0.2 s a
document with the full fonts. Instead, each process once
- cuts the fonts to the characters a convocation can print (Latin with its accents, Arabic,
  digits, punctuation), keeping every OpenType feature for HarfBuzz, into a private
  temporary directory, and a copy without the layout tables for embedding, deflated once;
- parses them once with fpdf2 (`_font_templates`); each document gets cheap copies;
and `_Output` embeds those prepared fonts as they are (~25 KB each) instead of subsetting.
Fixed paragraphs are broken into lines once. French text is not run through HarfBuzz. The
document then costs ~40 ms of CPU (bench/convocations.py), about half of it text layout.

The printed texts in French and Arabic (headings, rules) are the document's fixed bilingual
content, whatever the reader's interface language; their official wording is the ministry's.
"""

from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import io
import logging
import shutil
import tempfile
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import segno
from django.utils import timezone
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import (
    CIDSystemInfo,
    OutputProducer,
    PDFFont,
    _build_cmap_blocks,
    _tt_font_widths,
)
from fpdf.syntax import Name, PDFArray, PDFContentStream

# fontTools narrates every subset at INFO level: ~2,000 log lines a document otherwise.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONTS = {
    # family, style: file
    ("latin", ""): "DejaVuSans.ttf",
    ("latin", "B"): "DejaVuSans-Bold.ttf",
    ("arabic", ""): "NotoNaskhArabic-Regular.ttf",
    ("arabic", "B"): "NotoNaskhArabic-Bold.ttf",
}
_COMMON = [*range(0x20, 0x7F), 0xA0, 0xAB, 0xBB, 0xB0, 0xB7, *range(0x2010, 0x2027), 0x2116]
_FONT_CHARACTERS = {
    # French and the Latin transliterations of Moroccan names (Latin-1, Latin Extended-A).
    "latin": [*_COMMON, *range(0xA1, 0x180), 0x20AC, 0x25A1],
    # The Arabic letters, marks and digits, and the letters Moroccan names borrow (پ ڤ گ ڭ ݣ).
    "arabic": [
        *_COMMON,
        0x060C,
        0x061B,
        0x061F,
        *range(0x0621, 0x0660),
        *range(0x0660, 0x066E),
        0x0670,
        0x0671,
        0x067E,
        0x0686,
        0x06A4,
        0x06A9,
        0x06AD,
        0x06AF,
        0x06CC,
        0x06D4,
        0x0763,
        0x200C,
        0x200D,
        0x200E,
        0x200F,
    ],
}
# The layout tables drive HarfBuzz; the font embedded in the PDF does not need them.
_LAYOUT_TABLES = ("GDEF", "GPOS", "GSUB")


@dataclass(frozen=True)
class PreparedFont:
    path: Path  # what fpdf2 parses and the PDF embeds (no layout tables)
    shaping_path: Path  # the same glyphs with their layout tables, for HarfBuzz
    embedded: bytes  # `path`, deflated once, as the PDF's FontFile2 stream
    length: int  # its size before deflating (/Length1)
    tag: str  # the six-letter subset tag of its PDF name


@functools.cache
def prepared_fonts() -> dict[tuple[str, str], PreparedFont]:
    """Per process: the fonts cut to what a convocation prints, in a private directory."""
    from fontTools import subset as ftsubset
    from fontTools import ttLib

    directory = Path(tempfile.mkdtemp(prefix="bac-convocation-fonts-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    prepared = {}
    for (family, style), name in FONTS.items():
        font = ttLib.TTFont(FONT_DIR / name, recalcTimestamp=False)
        options = ftsubset.Options()
        options.layout_features = ["*"]  # every shaping feature: init/medi/fina, liga, mark...
        options.notdef_outline = True
        options.glyph_names = True
        # PDF viewers rasterise without TrueType hinting.
        options.hinting = False
        options.drop_tables += ["FFTM", "kern", "MATH", "DSIG", "gasp", "hdmx", "LTSH", "VDMX"]
        subsetter = ftsubset.Subsetter(options)
        subsetter.populate(unicodes=_FONT_CHARACTERS[family])
        subsetter.subset(font)
        shaping_path = directory / f"shaping-{name}"
        font.save(shaping_path)
        plain = ttLib.TTFont(shaping_path, recalcTimestamp=False)
        for table in _LAYOUT_TABLES:
            if table in plain:
                del plain[table]
        path = directory / name
        plain.save(path)
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).digest()
        tag = "".join(chr(ord("A") + byte % 26) for byte in digest[:6])
        prepared[(family, style)] = PreparedFont(
            path, shaping_path, zlib.compress(raw, 9), len(raw), tag
        )
    return prepared


_shapers = threading.local()


def _shaper(font: PreparedFont):
    """One HarfBuzz font per thread and font file (fpdf2 sets its size before each use)."""
    from fpdf.fonts import HarfBuzzFont
    from uharfbuzz import Blob, Face

    cache = _shapers.__dict__.setdefault("fonts", {})
    shaper = cache.get(font.shaping_path)
    if shaper is None:
        shaper = cache[font.shaping_path] = HarfBuzzFont(
            Face(Blob.from_file_path(font.shaping_path))
        )
    return shaper


@functools.cache
def _font_templates() -> dict[str, tuple[TTFFont, PreparedFont]]:
    """Per process: each font parsed once by fpdf2 (metrics, cmap, descriptor)."""
    scratch = FPDF()
    templates = {}
    for (family, style), prepared in prepared_fonts().items():
        scratch.add_font(family, style, str(prepared.path))
        key = f"{family.lower()}{style}"
        template = scratch.fonts[key]
        # Load now what shaping reads later, so that documents only ever read it.
        template.ttfont.getGlyphOrder()
        template.ttfont["hmtx"].metrics  # noqa: B018
        templates[key] = (template, prepared)
    return templates


class _ConvocationFont(TTFFont):
    """A document's own copy of a font fpdf2 parsed once (see _font_instance)."""

    __slots__ = ("prepared",)


def _font_instance(template: TTFFont, prepared: PreparedFont, index: int) -> _ConvocationFont:
    """What fpdf2's add_font() builds, without parsing the file again: the read-only parts
    (the fontTools font, cmap, glyph ids) are shared; what a document changes (the glyphs it
    uses, its widths table, its descriptor object) is its own. Mirrors TTFFont.__deepcopy__ of
    the pinned fpdf2."""
    font = _ConvocationFont.__new__(_ConvocationFont)
    for name in TTFFont.__slots__:
        if hasattr(template, name):  # a few slots are never set for a TrueType font
            setattr(font, name, getattr(template, name))
    font.prepared = prepared
    font.i = index
    font.cw = copy.copy(template.cw)
    font.desc = copy.copy(template.desc)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    # Shape with the layout tables that the embedded copy of the font does without.
    font._hbfont = _shaper(prepared)
    return font


class _Output(OutputProducer):
    """fpdf2's output (a documented extension point), except for the convocation's fonts: they
    are embedded as prepared once per process, already cut to the characters a convocation
    prints and already deflated, instead of being subset again by fontTools for each document
    (~7 ms a font, most of a convocation's cost). The objects written are those fpdf2 writes
    for a TrueType font: Type0 → CIDFontType2 (widths, CIDToGIDMap) → descriptor → FontFile2,
    and a ToUnicode map so that text can be extracted and searched."""

    def _add_fonts(self, image_objects_per_index, gfxstate_objs_per_name, pattern_objs_per_name):
        fonts = self.fpdf.fonts
        ours = {k: f for k, f in fonts.items() if isinstance(f, _ConvocationFont)}
        for key in ours:
            del fonts[key]
        try:
            objects = super()._add_fonts(
                image_objects_per_index, gfxstate_objs_per_name, pattern_objs_per_name
            )
        finally:
            fonts.update(ours)
        ours = ours.values()
        for font in sorted(ours, key=lambda f: f.i):
            objects[font.i] = self._add_prepared_font(font)
        SubsetMap.pick.cache_clear()
        SubsetMap.get_glyph.cache_clear()
        return objects

    def _add_prepared_font(self, font: _ConvocationFont) -> PDFFont:
        name = f"{font.prepared.tag}+{font.name}"
        composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        cid_font = PDFFont(
            subtype="CIDFontType2",
            base_font=name,
            d_w=font.desc.missing_width,
            w=_tt_font_widths(font),
        )
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])

        unicode_map = []
        gid_map = bytearray()
        for glyph, code in font.subset.items():
            if glyph is None:
                continue
            if len(gid_map) < 2 * code + 2:
                gid_map.extend(bytes(2 * code + 2 - len(gid_map)))
            gid_map[2 * code : 2 * code + 2] = glyph.glyph_id.to_bytes(2, "big")
            if isinstance(glyph.unicode, tuple) and glyph.unicode:
                text = "".join(chr(c) for c in glyph.unicode).encode("utf-16-be").hex().upper()
                unicode_map.append(f"<{code:04X}> <{text}>\n")
        to_unicode = PDFContentStream(
            (
                "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
                "/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
                "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
                "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
                f"{_build_cmap_blocks(unicode_map, 'bfchar')}"
                "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
            ).encode("latin-1"),
            compress=True,
        )
        self._add_pdf_obj(to_unicode, "fonts")
        composite.to_unicode = to_unicode

        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info

        descriptor = font.desc
        descriptor.font_name = Name(name)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor

        cid_to_gid = PDFContentStream(contents=bytes(gid_map), compress=True)
        self._add_pdf_obj(cid_to_gid, "fonts")
        cid_font.c_i_d_to_g_i_d_map = cid_to_gid

        font_file = PDFContentStream(contents=font.prepared.embedded)
        font_file.filter = Name("FlateDecode")
        font_file.length1 = font.prepared.length  # type: ignore[attr-defined]
        self._add_pdf_obj(font_file, "fonts")
        descriptor.font_file2 = font_file  # type: ignore[attr-defined]
        return composite


# -- Fixed bilingual content --------------------------------------------------------------------

MINISTRY_FR = (
    "Royaume du Maroc",
    "Ministère de l'Éducation nationale, du Préscolaire et des Sports",
)
MINISTRY_AR = ("المملكة المغربية", "وزارة التربية الوطنية والتعليم الأولي والرياضة")
TITLE_FR = "Convocation aux examens du baccalauréat"
TITLE_AR = "استدعاء لاجتياز امتحانات البكالوريا"
RULES_FR = (
    "Présentez-vous au centre d'examen 30 minutes avant le début de chaque épreuve, avec cette "
    "convocation et votre CNIE originale.",
    "Aucun candidat n'est admis en salle plus de 15 minutes après le début d'une épreuve.",
    "Téléphones, montres connectées et tout appareil électronique sont interdits dans la salle.",
    "Toute fraude ou tentative de fraude est sanctionnée conformément à la loi n° 02-13.",
    "Vérifiez les informations ci-dessus ; signalez toute erreur à votre établissement.",
)
RULES_AR = (
    "يجب الحضور إلى مركز الامتحان 30 دقيقة قبل بداية كل اختبار، مصحوبا بهذا الاستدعاء "
    "وبالبطاقة الوطنية للتعريف الإلكترونية الأصلية.",
    "لا يسمح لأي مترشح بالدخول إلى القاعة بعد مرور 15 دقيقة على بداية الاختبار.",
    "يمنع إدخال الهواتف والساعات الذكية وكل جهاز إلكتروني إلى قاعة الامتحان.",
    "كل غش أو محاولة غش يعرض صاحبه للعقوبات المنصوص عليها في القانون رقم 02.13.",
    "تحقق من المعلومات أعلاه وأبلغ مؤسستك بأي خطأ.",
)
FOOTER_FR = (
    "Le code QR est signé par le ministère : le surveillant le vérifie à l'entrée, avec votre "
    "CNIE. Si vos données changent, téléchargez à nouveau votre convocation : l'ancienne ne "
    "sera plus valable."
)
FOOTER_AR = (
    "رمز QR موقع من طرف الوزارة، ويتحقق منه الحارس عند الدخول مع بطاقتك الوطنية. "
    "إذا تغيرت معطياتك، حمل الاستدعاء من جديد: يصبح الاستدعاء القديم غير صالح."
)
DAYS_FR = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
DAYS_AR = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")


@dataclass(frozen=True)
class SlotLine:
    starts_at: datetime  # aware
    duration_minutes: int
    subject_fr: str
    subject_ar: str
    component: str


@dataclass(frozen=True)
class ConvocationDocument:
    """Everything the PDF prints: a snapshot of the file (convocation.fields) and the rest."""

    fields: dict[str, str]
    number: str
    version: int
    issued_at: datetime
    file_hash: str
    qr_text: str
    slots: Sequence[SlotLine]
    photo: bytes | None = None


def _day(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d}" if rest else f"{hours} h"


class _Pdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        for key, (template, prepared) in _font_templates().items():
            self.fonts[key] = _font_instance(template, prepared, len(self.fonts) + 1)
        self.set_margins(12, 10, 12)
        self.set_auto_page_break(True, margin=12)
        self.c_margin = 1.2

    def latin(self, size: float, bold: bool = False) -> None:
        """French text: no shaping needed (and none paid for)."""
        self.set_text_shaping(False)
        self.set_font("latin", "B" if bold else "", size)
        self.set_fallback_fonts([], exact_match=False)

    def arabic(self, size: float, bold: bool = False) -> None:
        """Arabic text, shaped by HarfBuzz, laid out right to left by the bidi algorithm;
        Latin letters inside (a Massar code, a centre code) fall back to the Latin font."""
        self.set_text_shaping(True)
        self.set_font("arabic", "B" if bold else "", size)
        self.set_fallback_fonts(["latin"], exact_match=False)

    def paragraph(self, width: float, height: float, text: str, align: str = "L") -> None:
        """multi_cell for the fixed texts, with the line breaks computed once per process:
        breaking shaped text measures it again for every character."""
        key = (self.font_family, self.font_style, self.font_size_pt, width, text)
        lines = _LINE_CACHE.get(key)
        if lines is None:
            lines = self.multi_cell(width, height, text, dry_run=True, output="LINES")
            _LINE_CACHE[key] = lines
        x = self.get_x()
        for line in lines:
            self.set_x(x)
            self.cell(width, height, line, align=align, new_x="LEFT", new_y="NEXT")


_LINE_CACHE: dict[tuple, list[str]] = {}


def _qr(pdf: FPDF, text: str, x: float, y: float, size: float) -> None:
    """The QR code drawn as vector rectangles, sharp at any print resolution, inside `size` mm
    with the four-module quiet zone the standard asks for. Runs of dark modules that repeat on
    the next rows are drawn as one rectangle."""
    matrix = segno.make(text, error="m", micro=False).matrix
    count = len(matrix)
    module = size / (count + 8)
    left, top = x + 4 * module, y + 4 * module
    pdf.set_fill_color(0, 0, 0)
    open_runs: dict[tuple[int, int], int] = {}  # (first, last column) -> first row
    rectangles: list[tuple[float, float, float, float]] = []
    for row in range(count + 1):
        line = matrix[row] if row < count else b""
        runs = set()
        column = 0
        while column < len(line):
            if line[column]:
                start = column
                while column < len(line) and line[column]:
                    column += 1
                runs.add((start, column))
            else:
                column += 1
        for run in [run for run in open_runs if run not in runs]:
            first_row = open_runs.pop(run)
            rectangles.append(
                (
                    left + run[0] * module,
                    top + first_row * module,
                    (run[1] - run[0]) * module,
                    (row - first_row) * module,
                )
            )
        for run in runs:
            open_runs.setdefault(run, row)
    # One filled path of rectangles, as FPDF.rect() writes them one by one (~600 calls).
    k, page_height = pdf.k, pdf.h
    pdf._out(  # the content stream operator that FPDF.rect() itself writes
        " ".join(
            f"{x * k:.2f} {(page_height - y) * k:.2f} {w * k:.2f} {-h * k:.2f} re"
            for x, y, w, h in rectangles
        )
        + " f"
    )


def _photo(pdf: _Pdf, photo: bytes | None, x: float, y: float, w: float, h: float) -> None:
    pdf.set_draw_color(90, 90, 90)
    pdf.rect(x, y, w, h)
    if photo:
        try:
            pdf.image(
                io.BytesIO(photo), x=x + 0.5, y=y + 0.5, w=w - 1, h=h - 1, keep_aspect_ratio=True
            )
            return
        except Exception:  # noqa: BLE001, S110 - an unreadable photo prints the placeholder
            pass
    pdf.set_xy(x, y + h / 2 - 6)
    pdf.latin(7)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(w, 4, "Photo", align="C", new_x="LEFT", new_y="NEXT")
    pdf.arabic(8)
    pdf.cell(w, 5, "الصورة", align="C")
    pdf.set_text_color(0, 0, 0)


def render(document: ConvocationDocument) -> bytes:
    """The convocation as PDF bytes."""
    f = document.fields
    pdf = _Pdf()
    pdf.set_title(f"Convocation {document.number}")
    pdf.set_author("Ministère de l'Éducation nationale")
    pdf.set_creator("Bac e-Services")
    pdf.set_lang("fr-MA")
    pdf.set_creation_date(document.issued_at)
    pdf.add_page()
    width = pdf.epw  # 186 mm
    half = width / 2

    # Header: the State in both languages, French on the left, Arabic on the right.
    pdf.latin(8)
    top = pdf.get_y()
    for line in MINISTRY_FR:
        pdf.cell(half, 4, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(top)
    pdf.arabic(10)
    for line in MINISTRY_AR:
        pdf.set_x(pdf.l_margin + half)
        pdf.cell(half, 4.6, line, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(11, 90, 60)
    pdf.line(pdf.l_margin, top + 10.5, pdf.l_margin + width, top + 10.5)

    # Photo on the left, QR code on the right, title between.
    band = top + 13
    photo_w, photo_h, qr_size = 30, 38, 46
    _photo(pdf, document.photo, pdf.l_margin, band, photo_w, photo_h)
    _qr(pdf, document.qr_text, pdf.l_margin + width - qr_size, band - 1, qr_size)
    middle_x = pdf.l_margin + photo_w + 3
    middle_w = width - photo_w - qr_size - 6
    pdf.set_xy(middle_x, band)
    pdf.latin(12.5, bold=True)
    pdf.paragraph(middle_w, 5.6, TITLE_FR, align="C")
    pdf.arabic(14, bold=True)
    pdf.paragraph(middle_w, 7, TITLE_AR, align="C")
    pdf.latin(9)
    pdf.cell(middle_w, 5, f["session_name"], align="C", new_x="LEFT", new_y="NEXT")
    pdf.latin(11, bold=True)
    full_latin = f"{f['first_name_latin']} {f['last_name_latin'].upper()}"
    pdf.cell(middle_w, 6, full_latin, align="C", new_x="LEFT", new_y="NEXT")
    pdf.arabic(13, bold=True)
    pdf.cell(middle_w, 7, f"{f['first_name_ar']} {f['last_name_ar']}", align="C")

    # Identity, centre and room: French column | Arabic column.
    pdf.set_y(band + max(photo_h, qr_size))
    birth = _day(date.fromisoformat(f["birth_date"]))
    rows = (
        ("Nom", f["last_name_latin"].upper(), "النسب", f["last_name_ar"]),
        ("Prénom", f["first_name_latin"], "الاسم", f["first_name_ar"]),
        (
            "Né(e) le",
            f"{birth} à {f['birth_place_latin']}",
            "تاريخ ومكان الازدياد",
            f"{birth} {f['birth_place_ar']}",
        ),
        ("Code Massar", f["massar_code"], "رمز مسار", f["massar_code"]),
        ("N° CNIE", f["cnie_number"], "رقم البطاقة الوطنية", f["cnie_number"]),
        ("Filière", f["track_fr"], "المسلك", f["track_ar"]),
        ("Établissement", f["school_fr"], "المؤسسة", f["school_ar"]),
        ("Centre d'examen", f["centre_fr"] or "—", "مركز الامتحان", f["centre_ar"] or "—"),
        ("Code du centre", f["centre"] or "—", "رمز المركز", f["centre"] or "—"),
        ("Salle", f["room"] or "—", "القاعة", f["room"] or "—"),
    )
    label_w = 28
    value_w = half - label_w - 2
    pdf.set_draw_color(201, 208, 216)
    for label_fr, value_fr, label_ar, value_ar in rows:
        y = pdf.get_y()
        pdf.latin(7.5)
        pdf.set_text_color(74, 83, 96)
        pdf.cell(label_w, 6, label_fr)
        pdf.set_text_color(0, 0, 0)
        pdf.latin(8.6, bold=True)
        pdf.cell(value_w, 6, _fit(pdf, value_fr, value_w))
        pdf.set_xy(pdf.l_margin + half + 2, y)
        pdf.arabic(10, bold=True)
        pdf.cell(value_w, 6, _fit(pdf, value_ar, value_w), align="R")
        pdf.arabic(8.5)
        pdf.set_text_color(74, 83, 96)
        pdf.cell(label_w, 6, label_ar, align="R")
        pdf.set_text_color(0, 0, 0)
        pdf.line(pdf.l_margin, y + 6, pdf.l_margin + width, y + 6)
        pdf.set_xy(pdf.l_margin, y + 6.2)

    # Timetable of the candidate's track.
    pdf.ln(3)
    _section(pdf, "Calendrier des épreuves", "جدول الاختبارات", width)
    columns = (34, 16, 16, 60, 60)
    heads = (("Date", "L"), ("Heure", "L"), ("Durée", "L"), ("Épreuve", "L"), ("الاختبار", "R"))
    pdf.set_fill_color(238, 241, 244)
    for (head, align), w in zip(heads, columns, strict=True):
        if align == "R":
            pdf.arabic(9, bold=True)
        else:
            pdf.latin(8, bold=True)
        pdf.cell(w, 6, head, border="B", align=align, fill=True)
    pdf.ln(6)
    if not document.slots:
        pdf.latin(8.5)
        pdf.cell(width / 2, 6, "Le calendrier sera publié prochainement.")
        pdf.arabic(9.5)
        pdf.cell(width / 2, 6, "سيتم نشر الجدول قريبا.", align="R", new_x="LMARGIN", new_y="NEXT")
    tz = timezone.get_default_timezone()
    for slot in document.slots:
        local = timezone.localtime(slot.starts_at, tz)
        regional = slot.component == "regional"
        pdf.latin(8.3)
        pdf.cell(columns[0], 5.8, f"{DAYS_FR[local.weekday()]} {_day(local.date())}", border="B")
        pdf.cell(columns[1], 5.8, local.strftime("%H:%M"), border="B")
        pdf.cell(columns[2], 5.8, _duration(slot.duration_minutes), border="B")
        subject_fr = slot.subject_fr + (" (régional)" if regional else "")
        pdf.cell(columns[3], 5.8, _fit(pdf, subject_fr, columns[3]), border="B")
        pdf.arabic(9.5)
        subject_ar = f"{DAYS_AR[local.weekday()]} · {slot.subject_ar}" + (
            " (جهوي)" if regional else ""
        )
        pdf.cell(columns[4], 5.8, _fit(pdf, subject_ar, columns[4]), border="B", align="R")
        pdf.ln(5.8)
    pdf.latin(7)
    pdf.set_text_color(74, 83, 96)
    pdf.cell(half, 4.5, "Heures légales du Maroc (Africa/Casablanca).")
    pdf.arabic(8)
    pdf.cell(half, 4.5, "التوقيت القانوني للمملكة.", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)

    # Rules, French on the left and Arabic on the right.
    pdf.ln(2)
    _section(pdf, "Consignes", "تعليمات", width)
    top = pdf.get_y()
    pdf.latin(7.8)
    for rule in RULES_FR:
        pdf.paragraph(half - 3, 3.9, f"• {rule}")
        pdf.ln(0.8)
    bottom_fr = pdf.get_y()
    pdf.set_y(top)
    pdf.arabic(9)
    for rule in RULES_AR:
        pdf.set_x(pdf.l_margin + half + 3)
        pdf.paragraph(half - 3, 4.5, f"• {rule}", align="R")
        pdf.ln(0.4)
    pdf.set_y(max(bottom_fr, pdf.get_y()) + 2)

    # Footer: the number, version and fingerprint the invigilator's check page shows too.
    issued = timezone.localtime(document.issued_at, tz)
    pdf.set_draw_color(11, 90, 60)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(1)
    pdf.latin(7.2, bold=True)
    pdf.cell(
        width,
        4,
        f"Convocation n° {document.number} · version {document.version} · émise le "
        f"{_day(issued.date())} à {issued:%H:%M} · empreinte {document.file_hash[:16]}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.latin(7)
    pdf.paragraph(width, 3.6, FOOTER_FR)
    pdf.arabic(8)
    pdf.paragraph(width, 4.2, FOOTER_AR, align="R")
    return bytes(pdf.output(output_producer_class=_Output))


def _section(pdf: _Pdf, title_fr: str, title_ar: str, width: float) -> None:
    y = pdf.get_y()
    pdf.latin(10, bold=True)
    pdf.set_text_color(11, 90, 60)
    pdf.cell(width / 2, 6.5, title_fr)
    pdf.arabic(11.5, bold=True)
    pdf.cell(width / 2, 6.5, title_ar, align="R")
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(pdf.l_margin, y + 7)


def _fit(pdf: FPDF, text: str, width: float, smallest: float = 6.5) -> str:
    """Make `text` fit `width`: a smaller font first (down to `smallest` pt), then an ellipsis."""
    room = width - 2 * pdf.c_margin
    # Measuring shaped text costs as much as printing it; the sum of the characters' own
    # advance widths, with a margin for the wider joined forms, settles most texts for free.
    widths = pdf.current_font.cw
    estimate = sum(widths[ord(char)] for char in text) * pdf.font_size / 1000
    if estimate * 1.2 <= room:
        return text
    size = pdf.font_size_pt
    while pdf.get_string_width(text) > room and size > smallest:
        size -= 0.5
        pdf.set_font_size(size)
    if pdf.get_string_width(text) <= room:
        return text
    while len(text) > 1 and pdf.get_string_width(text + "…") > room:
        text = text[:-1]
    return text.rstrip() + "…"
