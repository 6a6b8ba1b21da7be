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

Speed target: 20 PDFs a second a core (bench_pdf measures it).
"""

from __future__ import annotations

import asyncio
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

from convocations.pdf import _fit, _Output, _Pdf

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


def _draw_qr(pdf: _Pdf, text: str, x: float, y: float, size: float) -> None:
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


def render_unsigned(diploma, credential: bytes) -> bytes:
    """The diploma as an unsigned PDF (landscape A4) with the credential attached."""
    c = diploma.claims or {}
    pdf = _Pdf()
    pdf.set_title(f"Diplôme du baccalauréat {diploma.number}")
    pdf.set_author("Ministère de l'Éducation nationale")
    pdf.set_creator("Bac e-Services")
    pdf.set_lang("fr-MA")
    pdf.set_creation_date(diploma.issued_at)
    pdf.add_page(orientation="L")
    width = pdf.epw
    half = width / 2
    green = (11, 90, 60)

    # Frame, then the State in both languages: French on the left, Arabic on the right.
    pdf.set_draw_color(*green)
    pdf.set_line_width(0.8)
    pdf.rect(6, 6, pdf.w - 12, pdf.h - 12)
    pdf.set_line_width(0.2)
    pdf.set_y(11)
    pdf.latin(9)
    top = pdf.get_y()
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
    pdf.cell(width, 9, TITLE_FR, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.arabic(22, bold=True)
    pdf.cell(width, 11, TITLE_AR, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.latin(10)
    session = _claim(c, "session_year", "session")
    pdf.cell(half, 6, f"Session {session}", align="R")
    pdf.arabic(11)
    pdf.cell(half, 6, f"  دورة {session}", align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    latin_name = f"{_claim(c, 'first_name_latin')} {_claim(c, 'last_name_latin').upper()}"
    arabic_name = f"{_claim(c, 'first_name_ar')} {_claim(c, 'last_name_ar')}"
    pdf.latin(10)
    pdf.cell(half, 7, "décerné à ", align="R")
    pdf.arabic(11)
    pdf.cell(half, 7, "  تمنح إلى", align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.latin(14, bold=True)
    pdf.cell(half, 8, _fit(pdf, latin_name, half - 4), align="R")
    pdf.arabic(16, bold=True)
    pdf.cell(half, 8, _fit(pdf, arabic_name, half - 4), align="L", new_x="LMARGIN", new_y="NEXT")

    # The diploma's statements: French | Arabic, the QR code on the right.
    qr_size = 62
    table_w = width - qr_size - 6
    column = table_w / 2
    label_w = 27
    value_w = column - label_w - 2
    band = pdf.get_y() + 6
    _draw_qr(pdf, diploma.qr, pdf.l_margin + width - qr_size, band - 2, qr_size)
    pdf.set_xy(pdf.l_margin + width - qr_size, band + qr_size - 3)
    pdf.latin(7)
    pdf.cell(qr_size, 3.5, "Vérifiez ce diplôme : scannez le code.", align="C")
    pdf.set_xy(pdf.l_margin + width - qr_size, band + qr_size + 0.5)
    pdf.arabic(8)
    pdf.cell(qr_size, 4.5, "تحقق من هذه الشهادة بمسح الرمز.", align="C")
    pdf.set_xy(pdf.l_margin, band)
    pdf.set_draw_color(201, 208, 216)
    for label_fr, value_fr, label_ar, value_ar in _rows(diploma):
        y = pdf.get_y()
        pdf.latin(8)
        pdf.set_text_color(74, 83, 96)
        pdf.cell(label_w, ROW, label_fr)
        pdf.set_text_color(0, 0, 0)
        pdf.latin(10.5, bold=True)
        pdf.cell(value_w, ROW, _fit(pdf, value_fr, value_w))
        pdf.set_xy(pdf.l_margin + column + 2, y)
        pdf.arabic(12, bold=True)
        pdf.cell(value_w, ROW, _fit(pdf, value_ar, value_w), align="R")
        pdf.arabic(9)
        pdf.set_text_color(74, 83, 96)
        pdf.cell(label_w, ROW, label_ar, align="R")
        pdf.set_text_color(0, 0, 0)
        pdf.line(pdf.l_margin, y + ROW, pdf.l_margin + table_w, y + ROW)
        pdf.set_xy(pdf.l_margin, y + ROW + 0.3)

    # Footer: number, date, signing certificate; what the signature and attachment are.
    identity = pki.signing_identity()
    pdf.set_y(max(pdf.get_y(), band + qr_size + 6) + 8)
    pdf.set_draw_color(*green)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(1.5)
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
    y = pdf.get_y() + 1
    pdf.latin(7.5)
    pdf.paragraph(half - 4, 3.8, NOTICE_FR)
    pdf.set_xy(pdf.l_margin + half + 4, y)
    pdf.arabic(8.5)
    pdf.paragraph(half - 4, 4.4, NOTICE_AR, align="R")

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


@functools.lru_cache(maxsize=8)
def _signer(kid: str):
    """pyHanko's signer for an issuing identity, built once per process and kid. It signs
    through the identity's own key object, so that a key held in a PKCS#11 token
    (pki._TokenKey) signs PDFs exactly as a key in a file does."""
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    identity = pki.signing_identity()
    if identity.kid != kid:  # rotated between the caller's read and ours
        return _signer(identity.kid)
    chain = [
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        for cert in identity.chain
    ]

    class IdentitySigner(signers.Signer):
        async def async_sign_raw(
            self, data: bytes, digest_algorithm: str, dry_run: bool = False
        ) -> bytes:
            algorithm = _HASHES[digest_algorithm.lower()]()
            return identity.private_key.sign(data, ec.ECDSA(algorithm))  # DER, as CMS wants

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


def render_pdf(diploma) -> bytes:
    """The diploma's signed PDF: rendered once, then read from storage."""
    name = _storage_name(diploma)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    data = build_pdf(diploma)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # another worker stored its copy first: keep one, serve it
        default_storage.delete(saved)
        with default_storage.open(name, "rb") as handle:
            return handle.read()
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
