"""The diploma's PDF face: the diploma in French and Arabic, its QR code, the Verifiable
Credential attached (credential.json, an Associated File with AFRelationship /Data), sealed
with a PAdES baseline B-B signature by the issuing certificate (diplomas.pki) and its chain.

Rendering reuses the convocation's fpdf2 + HarfBuzz machinery (convocations.pdf: fonts cut
and parsed once per process, Arabic shaped and laid out right to left); signing and
validation are pyHanko's. A PDF is rendered and signed once per diploma and kept in Django's
default storage under diplomas/pdf/<number>.pdf: a diploma's content never changes after
issuance (a correction is a new diploma with a new number), and a revoked one keeps its PDF
as issued: its state is what verification says, not what the paper says.

B-T and B-LT would need a time-stamping authority and revocation data from the network; the
embedded default has neither, so the signature is B-B and its validity rests on the issuing
certificate's long validity (pki.ISSUER_YEARS). A deployment with a TSA can add a
pyhanko.sign.timestamps.HTTPTimeStamper to _sign() to reach B-T.

Speed target: 20 PDFs a second a core (bench_pdf measures it). What a process does once and
every PDF reuses:
- the page's fixed wording, frame and rules (_static_layer, one per set of rows): its
  content-stream operators and the glyph codes its text uses; a PDF lays out and shapes only
  its own values and splices the rest in, in reading order (_Layer). Same page, pixel for pixel;
- the bidi layout and HarfBuzz shaping of strings that recur (_bidi_segments, _DiplomaFont);
- the CMS SignedData (_CmsTemplate): pyHanko builds it once over a placeholder digest, and each
  signature substitutes its digest and signature value instead of re-encoding the chain and
  the attributes with asn1crypto (~20 ms a PDF before).
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import functools
import hashlib
import io
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from asn1crypto import algos as asn1_algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from fpdf.bidi import auto_detect_base_direction
from fpdf.enums import PDFResourceType

from convocations.pdf import _ConvocationFont, _fit, _Output, _Pdf

from . import pki
from .qr import _choose, qr_matrix

logger = logging.getLogger(__name__)

CREDENTIAL_NAME = "credential.json"
SIGNATURE_FIELD = "DiplomaSignature"
ROW = 8.6  # mm, one line of the diploma's statements
BYTES_RESERVED = 8192  # the CMS blob: ~2.5 KB with the chain; no dummy signing to size it

MINISTRY_FR = (
    "Royaume du Maroc",
    "Ministère de l'Éducation nationale, du Préscolaire et des Sports",
)
MINISTRY_AR = ("المملكة المغربية", "وزارة التربية الوطنية والتعليم الأولي والرياضة")
TITLE_FR = "Diplôme du baccalauréat"
TITLE_AR = "شهادة البكالوريا"
MENTIONS = {
    "": ("—", "—"),
    "passable": ("Passable", "مقبول"),
    "assez_bien": ("Assez bien", "مستحسن"),
    "bien": ("Bien", "حسن"),
    "tres_bien": ("Très bien", "حسن جدا"),
}
NOTICE_FR = (
    "Ce diplôme est signé électroniquement par le ministère (signature PAdES). Le code QR et "
    "la pièce jointe credential.json (attestation vérifiable W3C) permettent à quiconque de "
    "le vérifier, même hors ligne. Un diplôme révoqué ou remplacé est signalé à la "
    "vérification."
)
NOTICE_AR = (
    "هذه الشهادة موقعة إلكترونيا من طرف الوزارة (توقيع PAdES). يمكن لأي شخص التحقق منها، "
    "ولو دون اتصال بالإنترنت، بواسطة رمز QR أو الملف المرفق credential.json. "
    "يشار عند التحقق إلى كل شهادة ملغاة أو معوضة."
)


# --- rendering ---------------------------------------------------------------------------------


def _claim(claims: dict[str, Any], *names: str, default: str = "—") -> str:
    for name in names:
        value = claims.get(name)
        if value not in (None, ""):
            return str(value)
    return default


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return "—"


def _average(claims: dict[str, Any]) -> str:
    raw = _claim(claims, "general_average", "average", default="")
    try:
        return f"{Decimal(raw):.2f} / 20" if raw else "—"
    except InvalidOperation:
        return raw


def _rows(diploma) -> list[tuple[str, str, str, str]]:
    c = diploma.claims or {}
    birth = _day(c.get("birth_date"))
    mention_fr, mention_ar = MENTIONS.get(c.get("mention") or "", (str(c.get("mention")),) * 2)
    mention_fr = c.get("mention_fr") or mention_fr
    mention_ar = c.get("mention_ar") or mention_ar
    session = _claim(c, "session_year", "session")
    rows = [
        ("Nom", _claim(c, "last_name_latin").upper(), "النسب", _claim(c, "last_name_ar")),
        ("Prénom", _claim(c, "first_name_latin"), "الاسم", _claim(c, "first_name_ar")),
        (
            "Né(e) le",
            f"{birth} à {_claim(c, 'birth_place_latin')}",
            "تاريخ ومكان الازدياد",
            f"{birth} {_claim(c, 'birth_place_ar')}",
        ),
    ]
    if c.get("cnie_number"):
        rows.append(("N° CNIE", c["cnie_number"], "رقم البطاقة الوطنية", c["cnie_number"]))
    rows += [
        ("Filière", _claim(c, "track_fr", "track"), "المسلك", _claim(c, "track_ar", "track")),
        ("Session", _claim(c, "session_name", "session_year", "session"), "الدورة", session),
        ("Moyenne générale", _average(c), "المعدل العام", _average(c)),
        ("Mention", mention_fr, "الميزة", mention_ar),
    ]
    if c.get("school_fr") or c.get("school_ar"):
        rows.append(("Établissement", _claim(c, "school_fr"), "المؤسسة", _claim(c, "school_ar")))
    rows.append(
        ("Académie", _claim(c, "academy_fr", "academy"), "الأكاديمية", _claim(c, "academy_ar"))
    )
    return rows


@functools.lru_cache(maxsize=4096)
def _bidi_segments(text: str, direction, alias: str) -> tuple:
    """fpdf2's bidi algorithm (pure Python, ~0.4 ms a string) over `text`: its result, a tuple
    of (text, direction) pairs, depends on nothing else. The diploma's fixed wording (labels,
    headings, notice) and the values that recur between diplomas (tracks, mentions, places,
    academies, common names) are laid out once per process."""
    from fpdf.bidi import BidiParagraph

    return BidiParagraph(
        text=text, base_direction=direction, preserve_bn_chars=True, alias=alias
    ).get_bidi_fragments()


# HarfBuzz's result for one string in one font at one size: its width, and per glyph what
# fpdf2's TTFFont.shape_text derives from it before registering the glyph in the document's
# subset. Bounded: emptied when full (a diploma prints ~40 shaped strings).
_SHAPED: dict[tuple, tuple] = {}
_SHAPED_MAX = 8192


class _DiplomaFont(_ConvocationFont):
    """A convocation font whose shaping results are kept per process (see _SHAPED): the
    glyphs are still registered in this document's own subset, in the same order as fpdf2's
    shape_text registers them, so the output is the same byte for byte."""

    __slots__ = ()

    def _key(self, kind: str, text: str, font_size_pt: float, text_shaping_params) -> tuple:
        params = text_shaping_params or {}
        return (
            kind,
            self.prepared.shaping_path,
            text,
            font_size_pt,
            tuple(sorted((name, repr(value)) for name, value in params.items())),
        )

    def shaped_text_width(
        self, text: str, font_size_pt: float, text_shaping_params
    ) -> tuple[int, float]:
        """TTFFont.shaped_text_width (fpdf2 measures every shaped cell before drawing it)."""
        key = self._key("width", text, font_size_pt, text_shaping_params)
        width = _SHAPED.get(key)
        if width is None:
            width = super().shaped_text_width(text, font_size_pt, text_shaping_params)
            if len(_SHAPED) >= _SHAPED_MAX:
                _SHAPED.clear()
            _SHAPED[key] = width
        return width

    def shape_text(self, text: str, font_size_pt: float, text_shaping_params) -> list[dict]:
        if not text:
            return []
        key = self._key("glyphs", text, font_size_pt, text_shaping_params)
        shaped = _SHAPED.get(key)
        if shaped is None:
            shaped = self._shape(text, font_size_pt, text_shaping_params)
            if len(_SHAPED) >= _SHAPED_MAX:
                _SHAPED.clear()
            _SHAPED[key] = shaped
        subset = self.subset
        infos = []
        for glyph_args, x_advance, y_advance, x_offset, y_offset, forced in shaped:
            glyph = subset.get_glyph(*glyph_args)
            if glyph is None:
                continue
            infos.append(
                {
                    "mapped_char": subset.pick_glyph(glyph),
                    "x_advance": x_advance,
                    "y_advance": y_advance,
                    "x_offset": x_offset,
                    "y_offset": y_offset,
                    "force_positioning": forced,
                }
            )
        return infos

    def _shape(self, text: str, font_size_pt: float, text_shaping_params) -> tuple:
        """TTFFont.shape_text of the pinned fpdf2 (2.8), up to the subset registration."""
        glyph_infos, glyph_positions = self.perform_harfbuzz_shaping(
            text, font_size_pt, text_shaping_params
        )
        clusters = sorted(int(info.cluster) for info in glyph_infos)
        cluster_mapping: dict[int, list[int]] = {}
        for index in range(len(text)):
            position = bisect.bisect_left(clusters, index)
            if position == 0:
                cluster = clusters[0]
            elif position == len(clusters) or clusters[position] != index:
                cluster = clusters[position - 1]
            else:
                cluster = clusters[position]
            cluster_mapping.setdefault(cluster, []).append(index)
        metrics = self.ttfont["hmtx"].metrics
        shaped = []
        for info, position in zip(glyph_infos, glyph_positions, strict=True):
            unicode: list[int] = []
            if info.cluster in cluster_mapping:
                unicode = [ord(text[i]) for i in cluster_mapping.pop(info.cluster)]
            name = self.ttfont.getGlyphName(info.codepoint)
            width = round(self.scale * metrics[name][0])
            forced = (
                width != position.x_advance
                or position.x_offset != 0
                or position.y_offset != 0
                or position.y_advance != 0
            )
            shaped.append(
                (
                    (info.codepoint, tuple(unicode), name, width),
                    position.x_advance,
                    position.y_advance,
                    position.x_offset,
                    position.y_offset,
                    forced,
                )
            )
        return tuple(shaped)


class _DiplomaPdf(_Pdf):
    """The convocation's document with per-process caches of the bidi layout and the shaping
    of the strings it prints (_bidi_segments, _DiplomaFont)."""

    def __init__(self) -> None:
        super().__init__()
        for font in self.fonts.values():
            if type(font) is _ConvocationFont:
                font.__class__ = _DiplomaFont

    def _preload_bidirectional_text(self, text: str, markdown: bool):
        """FPDF._preload_bidirectional_text of the pinned fpdf2 (2.8), the bidi algorithm's
        result taken from _bidi_segments."""
        if not self.text_shaping:
            return self._preload_font_styles(text, markdown)
        paragraph_direction = self.text_shaping["direction"] or auto_detect_base_direction(text)
        self.text_shaping["paragraph_direction"] = paragraph_direction
        segments = _bidi_segments(text, paragraph_direction, self.str_alias_nb_pages)
        emphasis = (
            "B" in self.font_style,
            "I" in self.font_style,
            self.strikethrough,
            self.underline,
        )
        fragments = []
        for bidi_text, bidi_direction in segments:
            self.text_shaping["fragment_direction"] = bidi_direction
            fragments.extend(
                self._preload_font_styles(bidi_text, markdown, _initial_emphasis=emphasis)
            )
            emphasis = getattr(self, "_markdown_emphasis", emphasis)
        return tuple(fragments)


def _draw_qr(pdf: _DiplomaPdf, text: str, x: float, y: float, size: float) -> None:
    """The QR code as vector rectangles inside `size` mm, with the four-module quiet zone;
    runs of dark modules repeated on the next rows make one rectangle. As convocations.pdf
    draws its code, from qr.qr_matrix() (segno's symbol, its mask chosen in a third of the
    time)."""
    matrix = qr_matrix(text)
    count = len(matrix)
    module = size / (count + 8)
    left, top = x + 4 * module, y + 4 * module
    pdf.set_fill_color(0, 0, 0)
    open_runs: dict[tuple[int, int], int] = {}  # (first, last column) -> first row
    rectangles: list[tuple[float, float, float, float]] = []
    for row in range(count + 1):
        line = matrix[row] if row < count else b""
        runs = {match.span() for match in re.finditer(rb"\x01+", line)}
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
    k, page_height = pdf.k, pdf.h
    pdf._out(  # the content-stream operators FPDF.rect() writes, as one filled path
        " ".join(
            f"{x * k:.2f} {(page_height - y) * k:.2f} {w * k:.2f} {-h * k:.2f} re"
            for x, y, w, h in rectangles
        )
        + " f"
    )


class _Layer:
    """Draws one layer of the page. The cells of the other layer only move the cursor as
    FPDF.cell would (cells here have a fixed width and height), so that both layers put every
    element where a single pass would.

    The static layer is cut into segments at each element of the diploma's own: the diploma's
    layer splices segment i back (wrapped in q/Q: whatever state it sets is undone) where the
    static layer stopped for the i-th time, so that the content stream keeps the reading
    order of a single pass (label, value, label, value...), which text extraction and screen
    readers follow."""

    def __init__(self, pdf: _DiplomaPdf, static: bool, segments: list[bytes]) -> None:
        self.pdf = pdf
        self.static = static
        self.segments = segments  # static: filled here; the diploma's: spliced from
        self.spliced = 0
        self.start = len(pdf.pages[pdf.page].contents)

    def split(self) -> None:
        """Where the diploma's layer draws something: the static layer's segment ends."""
        contents = self.pdf.pages[self.pdf.page].contents
        if self.static:
            self.segments.append(bytes(contents[self.start :]))
            self.start = len(contents)
            # The next segment runs where the diploma's layer has moved on (it may have set
            # another colour for what it draws next): it sets the graphics state it starts
            # from itself, as FPDF's setters write it, and its font on its first text.
            pdf = self.pdf
            pdf._out(f"{pdf.line_width * pdf.k:.2f} w")
            pdf._out(pdf.draw_color.serialize().upper())
            pdf._out(pdf.fill_color.serialize().lower())
            pdf.current_font_is_set_on_page = False
        else:
            segment = self.segments[self.spliced]
            self.spliced += 1
            if segment:
                self.pdf._out(b"q\n" + segment + b"Q")

    def cell(self, fixed: bool, w: float, h: float, text: str, align: str = "L") -> None:
        """A cell, the cursor then on its right (FPDF.cell's default)."""
        if not fixed:
            self.split()
        if fixed == self.static:
            self.pdf.cell(w, h, text, align=align)
        else:
            self.pdf.set_x(self.pdf.get_x() + w)

    def line(self, fixed: bool, w: float, h: float, text: str, align: str = "L") -> None:
        """A cell, the cursor then at the left margin of the next line."""
        if not fixed:
            self.split()
        if fixed == self.static:
            self.pdf.cell(w, h, text, align=align, new_x="LMARGIN", new_y="NEXT")
        else:
            self.pdf.set_y(self.pdf.get_y() + h)


def _draw(
    pdf: _DiplomaPdf,
    diploma,
    rows: list[tuple[str, str, str, str]],
    static: bool,
    segments: list[bytes],
) -> None:
    """One layer of the diploma's page: the static one (frame, rules, headings, labels,
    notice: the same on every diploma with the same rows) or the diploma's own (its values,
    names, QR code, number)."""
    c = (diploma.claims or {}) if diploma is not None else {}
    draw = _Layer(pdf, static, segments)
    width = pdf.epw
    half = width / 2
    green = (11, 90, 60)

    # Frame, then the State in both languages: French on the left, Arabic on the right.
    pdf.set_draw_color(*green)
    pdf.set_line_width(0.8)
    if static:
        pdf.rect(6, 6, pdf.w - 12, pdf.h - 12)
    pdf.set_line_width(0.2)
    pdf.set_y(11)
    pdf.latin(9)
    top = pdf.get_y()
    if static:
        for line in MINISTRY_FR:
            pdf.cell(half, 4.5, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(top)
        pdf.arabic(11)
        for line in MINISTRY_AR:
            pdf.set_x(pdf.l_margin + half)
            pdf.cell(half, 5, line, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.line(pdf.l_margin, top + 12, pdf.l_margin + width, top + 12)

    # Title band.
    pdf.set_y(top + 16)
    pdf.set_text_color(*green)
    pdf.latin(20, bold=True)
    draw.line(True, width, 9, TITLE_FR, align="C")
    pdf.arabic(22, bold=True)
    draw.line(True, width, 11, TITLE_AR, align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.latin(10)
    session = _claim(c, "session_year", "session")
    draw.cell(False, half, 6, f"Session {session}", align="R")
    pdf.arabic(11)
    draw.line(False, half, 6, f"  دورة {session}")
    pdf.ln(2)
    pdf.latin(10)
    draw.cell(True, half, 7, "décerné à ", align="R")
    pdf.arabic(11)
    draw.line(True, half, 7, "  تمنح إلى")
    draw.split()
    if static:
        pdf.set_y(pdf.get_y() + 8)
    else:
        latin_name = f"{_claim(c, 'first_name_latin')} {_claim(c, 'last_name_latin').upper()}"
        arabic_name = f"{_claim(c, 'first_name_ar')} {_claim(c, 'last_name_ar')}"
        pdf.latin(14, bold=True)
        pdf.cell(half, 8, _fit(pdf, latin_name, half - 4), align="R")
        pdf.arabic(16, bold=True)
        pdf.cell(
            half, 8, _fit(pdf, arabic_name, half - 4), align="L", new_x="LMARGIN", new_y="NEXT"
        )

    # The diploma's statements: French | Arabic, the QR code on the right.
    qr_size = 62
    table_w = width - qr_size - 6
    column = table_w / 2
    label_w = 27
    value_w = column - label_w - 2
    band = pdf.get_y() + 6
    draw.split()
    if not static:
        _draw_qr(pdf, diploma.qr, pdf.l_margin + width - qr_size, band - 2, qr_size)
    else:
        pdf.set_xy(pdf.l_margin + width - qr_size, band + qr_size - 3)
        pdf.latin(7)
        pdf.cell(qr_size, 3.5, "Vérifiez ce diplôme : scannez le code.", align="C")
        pdf.set_xy(pdf.l_margin + width - qr_size, band + qr_size + 0.5)
        pdf.arabic(8)
        pdf.cell(qr_size, 4.5, "تحقق من هذه الشهادة بمسح الرمز.", align="C")
    pdf.set_xy(pdf.l_margin, band)
    pdf.set_draw_color(201, 208, 216)
    for label_fr, value_fr, label_ar, value_ar in rows:
        y = pdf.get_y()
        pdf.latin(8)
        pdf.set_text_color(74, 83, 96)
        draw.cell(True, label_w, ROW, label_fr)
        pdf.set_text_color(0, 0, 0)
        pdf.latin(10.5, bold=True)
        draw.cell(False, value_w, ROW, "" if static else _fit(pdf, value_fr, value_w))
        pdf.set_xy(pdf.l_margin + column + 2, y)
        pdf.arabic(12, bold=True)
        draw.cell(False, value_w, ROW, "" if static else _fit(pdf, value_ar, value_w), "R")
        pdf.arabic(9)
        pdf.set_text_color(74, 83, 96)
        draw.cell(True, label_w, ROW, label_ar, align="R")
        pdf.set_text_color(0, 0, 0)
        if static:
            pdf.line(pdf.l_margin, y + ROW, pdf.l_margin + table_w, y + ROW)
        pdf.set_xy(pdf.l_margin, y + ROW + 0.3)

    # Footer: number, date, signing certificate; what the signature and attachment are.
    pdf.set_y(max(pdf.get_y(), band + qr_size + 6) + 8)
    pdf.set_draw_color(*green)
    if static:
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(1.5)
    draw.split()
    if not static:
        identity = pki.signing_identity()
        issued = _day(c.get("issued_on") or diploma.issued_at)
        pdf.latin(8.5, bold=True)
        pdf.cell(
            half,
            5,
            f"Diplôme n° {diploma.number} · délivré le {issued} · clé {identity.kid}",
        )
        pdf.arabic(9.5, bold=True)
        pdf.cell(
            half,
            5,
            f"شهادة رقم {diploma.number} · سلمت بتاريخ {issued}",
            align="R",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    else:
        pdf.set_y(pdf.get_y() + 5)
        y = pdf.get_y() + 1
        pdf.latin(7.5)
        pdf.paragraph(half - 4, 3.8, NOTICE_FR)
        pdf.set_xy(pdf.l_margin + half + 4, y)
        pdf.arabic(8.5)
        pdf.paragraph(half - 4, 4.4, NOTICE_AR, align="R")
    draw.split()


@dataclass(frozen=True)
class _StaticLayer:
    segments: list[bytes]  # the static layer's content-stream operators, cut (see _Layer)
    subsets: dict[str, tuple[dict, int, list[int]]]  # font key -> its SubsetMap's state


_STATIC_LAYERS: dict[tuple[str, ...], _StaticLayer] = {}


def _static_layer(rows: list[tuple[str, str, str, str]]) -> _StaticLayer:
    """The static layer for diplomas with these rows (the CNIE and school rows are optional:
    four layouts), drawn once per process. The glyph codes its text uses are those of the
    fonts' subsets after drawing it, which every document then starts from (_seed)."""
    key = tuple(row[0] for row in rows)
    layer = _STATIC_LAYERS.get(key)
    if layer is None:
        pdf = _DiplomaPdf()
        pdf.add_page(orientation="L")
        segments: list[bytes] = []
        _draw(pdf, None, rows, static=True, segments=segments)
        layer = _StaticLayer(
            segments=segments,
            subsets={
                name: (dict(f.subset._char_id_per_glyph), f.subset._next, list(f.subset._reserved))
                for name, f in pdf.fonts.items()
            },
        )
        _STATIC_LAYERS[key] = layer
    return layer


def render_unsigned(diploma, credential: bytes) -> bytes:
    """The diploma as an unsigned PDF (landscape A4) with the credential attached.

    The page is drawn in two layers: the static one, the same on every diploma with the same
    rows, comes from _static_layer() (its content-stream operators, spliced in by _Layer, and
    the glyph codes its text uses), and only the diploma's own values are laid out and shaped
    here: most of the page's text is fixed wording, which costs as much to lay out as the
    rest. The page looks the same as drawn in one pass (tests compare the rasterised pages)."""
    rows = _rows(diploma)
    layer = _static_layer(rows)
    pdf = _DiplomaPdf()
    for name, (glyphs, following, reserved) in layer.subsets.items():
        subset = pdf.fonts[name].subset
        subset._char_id_per_glyph = dict(glyphs)
        subset._next = following
        subset._reserved = list(reserved)
    pdf.set_title(f"Diplôme du baccalauréat {diploma.number}")
    pdf.set_author("Ministère de l'Éducation nationale")
    pdf.set_creator("Bac e-Services")
    pdf.set_lang("fr-MA")
    pdf.set_creation_date(diploma.issued_at)
    pdf.add_page(orientation="L")
    for font in pdf.fonts.values():  # the static layer's text uses all four
        pdf._resource_catalog.add(PDFResourceType.FONT, font.i, pdf.page)
    _draw(pdf, diploma, rows, static=False, segments=layer.segments)

    pdf.embed_file(
        bytes=credential,
        basename=CREDENTIAL_NAME,
        mime_type="application/json",
        associated_file_relationship="Data",
        desc="W3C Verifiable Credential (Open Badges 3.0) of this diploma",
        modification_date=diploma.issued_at,
        compress=True,
    )
    return bytes(pdf.output(output_producer_class=_Output))


def credential_bytes(diploma) -> bytes:
    return json.dumps(diploma.credential, ensure_ascii=False, indent=1).encode("utf-8")


# --- signing -----------------------------------------------------------------------------------


_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, contents: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(contents)) + contents


def _children(der: bytes) -> list[bytes]:
    """The encoded children (tag, length and contents each) of one constructed DER value."""
    body, children = _contents(der), []
    position = 0
    while position < len(body):
        first = body[position + 1]
        size = 1 if first < 0x80 else 1 + (first & 0x7F)
        length = first if first < 0x80 else int.from_bytes(body[position + 2 : position + size + 1])
        end = position + 1 + size + length
        children.append(body[position:end])
        position = end
    return children


def _contents(der: bytes) -> bytes:
    first = der[1]
    return der[2:] if first < 0x80 else der[2 + (first & 0x7F) :]


# The signed attributes a templated signature may carry: none depends on the time or the
# document, but the document's digest (message_digest), which is substituted.
_TEMPLATE_ATTRIBUTES = {
    "content_type",
    "message_digest",
    "signing_certificate_v2",
    "cms_algorithm_protection",
}


@dataclass(frozen=True)
class _CmsTemplate:
    """A CMS SignedData pyHanko built once, for one signer and one set of attribute settings,
    over a placeholder digest: every PDF's signature is this one with its own digest in the
    signed attributes and its own signature value. pyHanko's generic path re-encodes the
    certificates and attributes with asn1crypto for each document (~10 ms); the bytes it would
    produce are the same but for those two values, which tests check with pdfsig and pyHanko."""

    attributes: bytes  # the signed attributes as signed (SET OF, tag 0x31)
    digest_at: int  # where the placeholder digest sits in `attributes`
    digest_length: int
    signed_data_head: list[bytes]  # SignedData's fields before signerInfos
    signer_info_head: list[bytes]  # SignerInfo's version, sid, digestAlgorithm
    signature_algorithm: bytes  # SignerInfo's signatureAlgorithm
    content_type: bytes  # ContentInfo's OID (signedData)

    def fill(self, digest: bytes, signature_of) -> bytes:
        attributes = (
            self.attributes[: self.digest_at]
            + digest
            + self.attributes[self.digest_at + len(digest) :]
        )
        signer_info = _tlv(
            0x30,
            b"".join(self.signer_info_head)
            + b"\xa0"
            + attributes[1:]  # [0] IMPLICIT: the same length and contents as the SET
            + self.signature_algorithm
            + _tlv(0x04, signature_of(attributes)),
        )
        signed_data = _tlv(0x30, b"".join(self.signed_data_head) + _tlv(0x31, signer_info))
        return _tlv(0x30, self.content_type + _tlv(0xA0, signed_data))


@functools.lru_cache(maxsize=8)
def _signer(kid: str):
    """pyHanko's signer for an issuing identity, built once per process and kid. It signs
    through the identity's own key object, so that a key held in a PKCS#11 token
    (pki._TokenKey) signs PDFs exactly as a key in a file does."""
    from asn1crypto import cms
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    identity = pki.signing_identity()
    if identity.kid != kid:  # rotated between the caller's read and ours
        return _signer(identity.kid)
    chain = [
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        for cert in identity.chain
    ]

    def raw_signature(data: bytes, digest_algorithm: str) -> bytes:
        algorithm = _HASHES[digest_algorithm.lower()]()
        return identity.private_key.sign(data, ec.ECDSA(algorithm))  # DER, as CMS wants

    class IdentitySigner(signers.Signer):
        templates: dict[tuple, _CmsTemplate | None] = {}  # one class per identity

        async def async_sign_raw(
            self, data: bytes, digest_algorithm: str, dry_run: bool = False
        ) -> bytes:
            return raw_signature(data, digest_algorithm)

        async def async_sign(
            self,
            data_digest: bytes,
            digest_algorithm: str,
            dry_run: bool = False,
            use_pades: bool = False,
            timestamper=None,
            signed_attr_settings=None,
            is_pdf_sig: bool = True,
            encap_content_info=None,
        ) -> cms.ContentInfo:
            generic = dry_run or timestamper is not None or encap_content_info is not None
            template = None
            if not generic and is_pdf_sig:
                # The signing time varies per document: it is in the signature dictionary
                # (/M) with PAdES, and a template carrying it as an attribute is refused.
                settings = signed_attr_settings
                key = (
                    digest_algorithm,
                    use_pades,
                    repr(getattr(settings, "cades_signed_attrs", None)),
                    repr(getattr(settings, "adobe_revinfo_attr", None)),
                )
                if key not in self.templates:
                    self.templates[key] = await self._template(
                        digest_algorithm, use_pades, signed_attr_settings
                    )
                template = self.templates[key]
            if template is None or len(data_digest) != template.digest_length:
                return await super().async_sign(
                    data_digest,
                    digest_algorithm,
                    dry_run=dry_run,
                    use_pades=use_pades,
                    timestamper=timestamper,
                    signed_attr_settings=signed_attr_settings,
                    is_pdf_sig=is_pdf_sig,
                    encap_content_info=encap_content_info,
                )
            der = template.fill(
                data_digest, lambda attributes: raw_signature(attributes, digest_algorithm)
            )
            return cms.ContentInfo.load(der)

        async def _template(self, digest_algorithm, use_pades, signed_attr_settings):
            # Zeros: a digest no document has, found again in the encoded attributes.
            placeholder = bytes(_HASHES[digest_algorithm.lower()]().digest_size)
            attributes = await self.signed_attrs(
                placeholder,
                digest_algorithm,
                attr_settings=signed_attr_settings,
                use_pades=use_pades,
            )
            if {a["type"].native for a in attributes} - _TEMPLATE_ATTRIBUTES:
                return None  # something per signature (a signing time...): the generic path
            content_info = await self.async_sign_prescribed_attributes(digest_algorithm, attributes)
            der = content_info.dump()
            content_type, signed_data = _children(der)
            fields = _children(signed_data)
            fields = _children(fields[0])  # the SignedData SEQUENCE inside [0] EXPLICIT
            signer_infos = _children(fields[-1])
            if len(signer_infos) != 1:
                return None
            parts = _children(signer_infos[0])
            # version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature
            if len(parts) != 6 or parts[3][0] != 0xA0:
                return None
            encoded = attributes.dump()
            marker = _tlv(0x04, placeholder)
            if encoded.count(marker) != 1 or b"\xa0" + encoded[1:] != parts[3]:
                return None
            return _CmsTemplate(
                attributes=encoded,
                digest_at=encoded.index(marker) + len(marker) - len(placeholder),
                digest_length=len(placeholder),
                signed_data_head=fields[:-1],
                signer_info_head=parts[:3],
                signature_algorithm=parts[4],
                content_type=content_type,
            )

    return IdentitySigner(
        signing_cert=chain[0],
        cert_registry=SimpleCertificateStore.from_certs(chain),
        signature_mechanism=asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
    )


_worker = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="pyhanko")


def _off_loop(function, *args, **kwargs):
    """Call one of pyHanko's synchronous wrappers, which run asyncio.run(): directly, or from
    a worker thread when this thread already runs an event loop (an ASGI worker's, or the
    one Playwright's sync API leaves in the test process), where asyncio.run() refuses."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args, **kwargs)
    return _worker.submit(function, *args, **kwargs).result()


def sign(data: bytes) -> bytes:
    """PAdES B-B signature of `data` by the current issuing identity, chain included."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="Diplôme du baccalauréat délivré par le ministère",
        location="Rabat, Maroc",
        # Certify: the document admits no change but further signatures and validation data.
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    output = _off_loop(
        signers.sign_pdf,
        writer,
        meta,
        signer=_signer(pki.signing_identity().kid),
        bytes_reserved=BYTES_RESERVED,
    )
    return output.getvalue()


def build_pdf(diploma) -> bytes:
    """Render and sign, without the cache."""
    return sign(render_unsigned(diploma, credential_bytes(diploma)))


def _storage_name(diploma) -> str:
    return f"diplomas/pdf/{re.sub(r'[^A-Za-z0-9_-]', '_', diploma.number)}.pdf"


def stored_pdf(diploma) -> bytes | None:
    """The diploma's signed PDF if it was rendered before, else None (never renders)."""
    name = _storage_name(diploma)
    if not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def render_pdf(diploma) -> bytes:
    """The diploma's signed PDF: rendered once, then read from storage."""
    stored = stored_pdf(diploma)
    if stored is not None:
        return stored
    data = build_pdf(diploma)
    saved = default_storage.save(_storage_name(diploma), ContentFile(data))
    if saved != _storage_name(diploma):  # another worker stored its copy first: serve that one
        default_storage.delete(saved)
        return stored_pdf(diploma) or data
    return data


# --- verification ------------------------------------------------------------------------------


class PdfReason:
    VALID = "valid"
    NOT_PDF = "not_pdf"
    UNSIGNED = "unsigned"
    ALTERED = "altered"
    UNTRUSTED = "untrusted"
    INVALID = "invalid"


PDF_REASONS = {
    PdfReason.VALID: _("The PDF is signed by the ministry and unchanged since signing."),
    PdfReason.NOT_PDF: _("This file is not a readable PDF."),
    PdfReason.UNSIGNED: _("This PDF carries no diploma signature."),
    PdfReason.ALTERED: _("The PDF was changed after it was signed."),
    PdfReason.UNTRUSTED: _("The PDF is signed, but not by a ministry certificate."),
    PdfReason.INVALID: _("The PDF's signature is not valid."),
}


@dataclass(frozen=True)
class PdfVerdict:
    ok: bool
    reason: str  # translatable text for people
    code: str = PdfReason.VALID
    signer: str = ""  # the signing certificate's subject
    kid: str | None = None  # the signing certificate's kid (pki.kid_of)
    signed_at: datetime | None = None  # as the signer claims it (no time stamp in B-B)
    modified: bool = False  # anything added or changed after the signature
    credential: dict[str, Any] | None = field(default=None)  # as signed


def _verdict(code: str, **values: Any) -> PdfVerdict:
    return PdfVerdict(code == PdfReason.VALID, PDF_REASONS[code], code, **values)


def _attached_credential(root) -> dict[str, Any] | None:
    """credential.json from the catalogue `root` of the signed revision."""
    try:
        names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError:
        return None
    for index in range(0, len(names) - 1, 2):
        if str(names[index]) != CREDENTIAL_NAME:
            continue
        try:
            stream = names[index + 1].get_object()["/EF"]["/F"].get_object()
            return json.loads(stream.data)
        except (KeyError, ValueError):
            return None
    return None


def verify_pdf(data: bytes, trust_roots: list[x509.Certificate] | None = None) -> PdfVerdict:
    """Validate a diploma PDF's signature with pyHanko, our root (or `trust_roots`) as the
    only trust anchor and no network; return the credential attached to the signed revision
    (for the caller to check the VC and its status). Never raises on bad input."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    roots = trust_roots or [pki.root_certificate()]
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_regular_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError):
        return _verdict(PdfReason.NOT_PDF)
    signatures = [s for s in signatures if s.field_name == SIGNATURE_FIELD] or signatures
    if not signatures:
        return _verdict(PdfReason.UNSIGNED)
    signature = signatures[0]
    context = ValidationContext(
        trust_roots=[
            asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
            for root in roots
        ],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    try:
        status = _off_loop(validate_pdf_signature, signature, context)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError):
        return _verdict(PdfReason.INVALID)
    except Exception:  # a verifier answers; whatever a crafted file trips in a library
        logger.warning("diploma PDF validation failed unexpectedly", exc_info=True)
        return _verdict(PdfReason.INVALID)
    cert = signature.signer_cert
    kid = pki.b64url(hashlib.sha256(cert.dump()).digest()[:8])
    values = {
        "signer": cert.subject.human_friendly,
        "kid": kid,
        "signed_at": status.signer_reported_dt,
        "modified": status.coverage != SignatureCoverageLevel.ENTIRE_FILE,
    }
    if not status.intact:
        return _verdict(PdfReason.ALTERED, **values)
    if not status.valid:
        return _verdict(PdfReason.INVALID, **values)
    if not status.trusted:
        return _verdict(PdfReason.UNTRUSTED, **values)
    if status.coverage not in (
        SignatureCoverageLevel.ENTIRE_FILE,
        SignatureCoverageLevel.ENTIRE_REVISION,
    ) or (values["modified"] and not _harmless_update(status)):
        return _verdict(PdfReason.ALTERED, **values)
    try:
        root = reader.get_historical_root(signature.signed_revision)
        credential = _attached_credential(root)
    except (PdfError, KeyError, ValueError, TypeError):
        credential = None
    return _verdict(PdfReason.VALID, credential=credential, **values)


def _harmless_update(status) -> bool:
    """A later revision that only adds signatures or validation data (no visible change)."""
    from pyhanko.sign.diff_analysis import ModificationLevel

    level = getattr(status, "modification_level", None)
    return level is not None and level <= ModificationLevel.LTA_UPDATES


# --- benchmark ---------------------------------------------------------------------------------


def bench_pdf(diplomas: list, rounds: int = 1) -> dict[str, float]:
    """Render and sign each of `diplomas` (`rounds` times), bypassing the cache; CPU seconds
    measured with time.process_time. For bench/diplomas.py."""
    build_pdf(diplomas[0])  # warm up: fonts cut and parsed, signer built
    started = time.process_time()
    wall = time.perf_counter()
    count = 0
    for _round in range(rounds):
        for diploma in diplomas:
            _choose.cache_clear()  # each document pays for its own QR symbol
            build_pdf(diploma)
            count += 1
    cpu = time.process_time() - started
    return {
        "pdfs": count,
        "cpu_seconds": cpu,
        "wall_seconds": time.perf_counter() - wall,
        "pdfs_per_cpu_second": count / cpu if cpu else float("inf"),
    }
