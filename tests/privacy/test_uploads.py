"""Uploads are judged by their content (candidates/documents.py, shared by every app that takes
a document): size and pixel limits, decompression bombs, polyglots, PDFs with active content.
The basic cases live in tests/backoffice/test_documents.py; these are the hostile ones."""

import io
import zipfile

import pytest
from PIL import Image

from candidates import documents
from candidates.documents import DocumentRejected
from tests.backoffice.conftest import make_bomb_png, make_jpeg, make_pdf, make_pdf_with, make_png

LIMIT = 5 * 1024 * 1024


def rejection(data: bytes, **kwargs) -> str:
    with pytest.raises(DocumentRejected) as info:
        documents.validate_document(data, kwargs.pop("max_bytes", LIMIT), **kwargs)
    return info.value.code


def test_a_decompression_bomb_is_refused_before_decoding():
    assert rejection(make_bomb_png(side=12_000)) == "too_many_pixels"
    # Under Pillow's own bomb threshold but over ours.
    assert rejection(make_bomb_png(side=7_000)) == "too_many_pixels"


def test_the_pixel_limit_is_explicit_and_configurable():
    assert rejection(make_png(size=(400, 300)), max_pixels=100_000) == "too_many_pixels"
    assert documents.validate_document(make_png(size=(400, 300)), LIMIT, 200_000) == "image/png"


def test_a_file_over_the_size_limit_is_refused():
    assert rejection(make_png(), max_bytes=64) == "too_large"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<p>hello</p>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "polyglot",
    [
        pytest.param(lambda: make_jpeg() + _zip(), id="jpeg+zip"),
        pytest.param(lambda: make_png() + _zip(), id="png+zip"),
        pytest.param(lambda: make_png() + b"<html><script>alert(1)</script>", id="png+html"),
        pytest.param(lambda: make_jpeg() + b"<SCRIPT>alert(1)</SCRIPT>", id="jpeg+script"),
        pytest.param(lambda: make_jpeg() + make_pdf(), id="jpeg+pdf"),
        pytest.param(lambda: make_png() + b"trailing data after IEND", id="png+trailer"),
        pytest.param(lambda: make_pdf() + _zip(), id="pdf+zip"),
        pytest.param(lambda: make_pdf() + b"\n<svg onload=alert(1)>", id="pdf+svg"),
        pytest.param(lambda: make_pdf() + b"\nappended after the end", id="pdf+trailer"),
    ],
)
def test_a_polyglot_file_is_refused(polyglot):
    assert rejection(polyglot()) == "unsupported_type"


def test_a_comment_with_html_inside_a_jpeg_is_refused():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, "JPEG", comment=b"<script>alert(1)</script>")
    assert rejection(buffer.getvalue()) == "unsupported_type"


@pytest.mark.parametrize(
    "objects",
    [
        # Automatic actions (on open, on page view...) and embedded files.
        b"4 0 obj << /Type /Page /AA << /O 5 0 R >> >> endobj",
        b"4 0 obj << /Type /Page /AA 6 0 R >> endobj",
        b"4 0 obj << /S /JavaScript /JS (this.exportDataObject()) >> endobj",
        b"4 0 obj << /Names << /EmbeddedFiles 7 0 R >> >> endobj",
        b"4 0 obj << /Type /EmbeddedFile /Length 3 >> endobj",
        b"4 0 obj << /Type /Filespec /EF << /F 8 0 R >> /Type /EmbeddedFile >> endobj",
        b"4 0 obj << /S /Launch /Win << /F (cmd.exe) >> >> endobj",
        b"4 0 obj << /S /GoToE /T << /R /C /N (x) >> >> endobj",
        b"4 0 obj << /Type /Annot /Subtype /RichMedia >> endobj",
        b"4 0 obj << /S /#4A#61vaScript /JS (x) >> endobj",
    ],
)
def test_a_pdf_with_active_content_or_an_embedded_file_is_refused(objects):
    # make_pdf_with's catalogue has /OpenAction 4 0 R: the action it opens with is object 4.
    assert rejection(make_pdf_with(objects)) == "pdf_active_content"


def test_an_open_action_that_only_goes_to_a_page_is_accepted():
    data = make_pdf_with(b"4 0 obj << /S /GoTo /D [3 0 R /Fit] >> endobj")
    assert documents.validate_document(data, LIMIT) == "application/pdf"


def test_ordinary_photos_and_scans_are_still_accepted():
    import os

    # Random pixels: compressed data full of byte patterns, none of which is a marker.
    noise = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))
    for fmt, expected in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("PDF", "application/pdf")):
        buffer = io.BytesIO()
        noise.save(buffer, fmt)
        assert documents.validate_document(buffer.getvalue(), LIMIT) == expected


def test_the_checks_run_on_every_upload_path(candidate_a, clerk, settings, tmp_path):
    """The CNIE upload of the back office and the candidate's evidence use the same checks."""
    from candidates.file_services import upload_cnie_copy

    settings.MEDIA_ROOT = tmp_path
    with pytest.raises(DocumentRejected):
        upload_cnie_copy(candidate_a, io.BytesIO(make_png() + _zip()), clerk, None)
    from verification import services

    with pytest.raises(services.VerificationRefused):
        services._store_evidence(io.BytesIO(make_jpeg() + _zip()))
