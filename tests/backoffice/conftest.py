"""Fixtures for the back office: documents made in memory, uploads, a private media root."""

import io
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_png(size=(64, 40), color=(180, 20, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def make_jpeg(size=(64, 40), color=(20, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def make_pdf() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (10, 10, 200)).save(buffer, "PDF")
    return buffer.getvalue()


def make_pdf_with(objects: bytes) -> bytes:
    """A minimal PDF carrying extra objects (e.g. a JavaScript action)."""
    return (
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >> endobj\n"
        + objects
        + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def make_pdf_with_object_stream(content: bytes) -> bytes:
    body = zlib.compress(content)
    stream = (
        b"5 0 obj << /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
        + str(len(body)).encode()
        + b" >>\nstream\n"
        + body
        + b"\nendstream\nendobj\n"
    )
    return make_pdf_with(stream)


def make_noise_png(side: int) -> bytes:
    """A PNG that does not compress (random pixels), to exceed a size limit."""
    import os

    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def make_bomb_png(side: int = 12_000) -> bytes:
    """A tiny file that decodes to side × side pixels."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")
    return buffer.getvalue()


def upload(name: str, data: bytes, content_type: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def stored_copy(candidate_a, clerk):
    """Candidate A's CNIE copy (a PNG), uploaded by their school's clerk."""
    from candidates.file_services import upload_cnie_copy

    data = make_png()
    document = upload_cnie_copy(candidate_a, io.BytesIO(data), clerk, "192.0.2.10")
    return document, data
