"""The pure document rules: sniffing by content, image and PDF checks, encryption."""

import pytest
from cryptography.fernet import Fernet, InvalidToken

from candidates import documents
from candidates.documents import DocumentRejected

from .conftest import (
    make_bomb_png,
    make_jpeg,
    make_pdf,
    make_pdf_with,
    make_pdf_with_object_stream,
    make_png,
)

LIMIT = 5 * 1024 * 1024


def rejection(data: bytes, **kwargs) -> str:
    with pytest.raises(DocumentRejected) as info:
        documents.validate_document(data, kwargs.pop("max_bytes", LIMIT), **kwargs)
    return info.value.code


def test_the_type_comes_from_the_content_not_the_name():
    assert documents.validate_document(make_png(), LIMIT) == "image/png"
    assert documents.validate_document(make_jpeg(), LIMIT) == "image/jpeg"
    assert documents.validate_document(make_pdf(), LIMIT) == "application/pdf"
    assert rejection(b"GIF89a" + b"\0" * 100) == "unsupported_type"
    assert rejection(b"<html><script>alert(1)</script></html>") == "unsupported_type"


def test_an_empty_file_is_refused():
    assert rejection(b"") == "empty"


def test_a_file_over_the_limit_is_refused_with_the_limit():
    with pytest.raises(DocumentRejected) as info:
        documents.validate_document(make_png(), 100)
    assert info.value.code == "too_large" and info.value.params == {"max_bytes": 100}


def test_a_png_signature_on_a_jpeg_body_is_refused():
    assert rejection(b"\x89PNG\r\n\x1a\n" + make_jpeg()[3:]) in {
        "damaged_image",
        "unsupported_type",
    }


def test_an_image_over_the_pixel_budget_is_refused_before_decoding():
    assert rejection(make_png(size=(200, 200)), max_pixels=10_000) == "too_many_pixels"
    assert rejection(make_bomb_png()) == "too_many_pixels"


def test_a_truncated_png_is_refused():
    data = make_png(size=(300, 300))
    assert rejection(data[: len(data) - 40]) == "damaged_image"


@pytest.mark.parametrize(
    "objects",
    [
        b"4 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj",
        b"4 0 obj << /S /J#61vaScript /JS (app.alert(1)) >> endobj",
        b"4 0 obj << /JS 7 0 R >> endobj",
        b"4 0 obj << /JS <6170702e616c657274283129> >> endobj",
        b"4 0 obj << /S /Launch /F (calc.exe) >> endobj",
        b"4 0 obj << /Names << /JavaScript 8 0 R >> >> endobj",
    ],
)
def test_a_pdf_with_script_or_launch_actions_is_refused(objects):
    assert rejection(make_pdf_with(objects)) == "pdf_active_content"


def test_a_script_hidden_in_a_compressed_object_stream_is_refused():
    hidden = b"4 0 << /S /JavaScript /JS (app.alert(1)) >>"
    assert rejection(make_pdf_with_object_stream(hidden)) == "pdf_active_content"


def test_an_innocent_object_stream_is_accepted():
    assert (
        documents.validate_document(make_pdf_with_object_stream(b"4 0 << /Type /Font >>"), LIMIT)
        == "application/pdf"
    )


def test_an_encrypted_pdf_is_refused():
    assert (
        rejection(
            make_pdf_with(
                b"9 0 obj << /Filter /Standard /V 2 >> endobj trailer << /Encrypt 9 0 R >>"
            )
        )
        == "pdf_encrypted"
    )


def test_a_plain_pdf_is_accepted():
    assert (
        documents.validate_document(make_pdf_with(b"4 0 obj << /Type /Font >> endobj"), LIMIT)
        == "application/pdf"
    )


def test_encryption_round_trips_and_does_not_contain_the_plaintext():
    key = Fernet.generate_key().decode()
    data = make_png(size=(100, 100))
    token = documents.encrypt(data, [key])
    assert data not in token and data[:8] not in token
    assert documents.decrypt(token, [key]) == data


def test_the_first_key_encrypts_and_every_key_decrypts():
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = documents.encrypt(b"secret card", [old])
    assert documents.decrypt(token, [new, old]) == b"secret card"
    rotated = documents.rotate(token, [new, old])
    assert documents.decrypt(rotated, [new]) == b"secret card"
    with pytest.raises(InvalidToken):
        documents.decrypt(token, [new])


def test_storage_names_are_random_and_opaque():
    names = {documents.new_storage_name() for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith("cnie/") and n.endswith(".bin") and len(n) > 40 for n in names)


def test_a_script_action_in_a_compressed_stream_not_marked_as_object_stream_is_refused():
    import zlib

    body = zlib.compress(b"4 0 << /S /JavaScript /JS (app.alert(1)) >>")
    padded = (
        b"5 0 obj << /Length "
        + str(len(body)).encode()
        + b" /Pad ("
        + b"x" * 5000
        + b") >>\nstream\n"
    )
    assert (
        rejection(make_pdf_with(padded + body + b"\nendstream\nendobj\n")) == "pdf_active_content"
    )


def test_an_object_stream_that_cannot_be_read_is_refused():
    broken = b"5 0 obj << /Type /ObjStm /Filter /LZWDecode /Length 10 >>\nstream\n0123456789\nendstream\nendobj\n"
    assert rejection(make_pdf_with(broken)) == "pdf_damaged"
