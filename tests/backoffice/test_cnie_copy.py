"""Uploading and viewing the CNIE copy: content checks, encryption at rest, access log."""

import io
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.files.storage import default_storage

from audit.models import AuditEntry
from candidates.file_services import upload_cnie_copy
from candidates.models import CnieDocument, DocumentAccess

from .conftest import (
    make_bomb_png,
    make_jpeg,
    make_noise_png,
    make_pdf,
    make_pdf_with,
    make_png,
    upload,
)


def post_copy(client, candidate, name, data, content_type):
    return client.post(
        f"/staff/candidates/{candidate.pk}/cnie/upload/",
        {"document": upload(name, data, content_type)},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def stored_files(media_root: Path) -> list[Path]:
    return [p for p in (media_root / "cnie").glob("*")] if (media_root / "cnie").exists() else []


@pytest.mark.parametrize(
    ("name", "maker", "content_type"),
    [
        ("card.png", make_png, "image/png"),
        ("card.jpg", make_jpeg, "image/jpeg"),
        ("card.pdf", make_pdf, "application/pdf"),
    ],
)
def test_a_clerk_uploads_a_png_a_jpeg_or_a_pdf_and_it_round_trips_decrypted(
    client_for, clerk, candidate_a, name, maker, content_type
):
    data = maker()
    client = client_for(clerk)
    response = post_copy(client, candidate_a, name, data, "application/octet-stream")
    assert response.status_code == 302
    document = CnieDocument.objects.get(candidate=candidate_a, is_current=True)
    assert document.content_type == content_type
    assert document.size == len(data)
    assert document.uploaded_by == clerk
    view = client.get(f"/staff/candidates/{candidate_a.pk}/cnie/")
    assert view.status_code == 200
    assert view.content == data
    assert view["Content-Type"] == content_type
    assert view["Content-Disposition"].startswith("inline")
    assert view["Cache-Control"] == "no-store"
    assert view["X-Content-Type-Options"] == "nosniff"


def test_the_file_on_disk_is_encrypted_and_its_name_says_nothing(
    client_for, clerk, candidate_a, _private_media
):
    data = make_png(size=(300, 200))
    post_copy(client_for(clerk), candidate_a, f"{candidate_a.massar_code}.png", data, "image/png")
    document = CnieDocument.objects.get(candidate=candidate_a)
    assert document.encrypted_file.startswith("cnie/") and document.encrypted_file.endswith(".bin")
    assert candidate_a.massar_code not in document.encrypted_file
    on_disk = Path(default_storage.path(document.encrypted_file)).read_bytes()
    assert data not in on_disk
    assert data[:8] not in on_disk  # not even the PNG signature
    assert data[64:128] not in on_disk
    assert Path(default_storage.path(document.encrypted_file)).parent == _private_media / "cnie"


def test_a_text_file_renamed_jpg_is_refused(client_for, clerk, candidate_a, _private_media):
    response = post_copy(
        client_for(clerk),
        candidate_a,
        "card.jpg",
        b"just some text, not a picture\n" * 20,
        "image/jpeg",
    )
    assert response.status_code == 400
    assert "Only a JPEG or PNG photo or a PDF scan" in response.content.decode()
    assert not CnieDocument.objects.exists()
    assert stored_files(_private_media) == []


def test_a_too_large_file_is_refused_with_the_limit_and_nothing_is_stored(
    client_for, clerk, candidate_a, settings, _private_media
):
    settings.CNIE_UPLOAD_MAX_BYTES = 20 * 1024
    response = post_copy(
        client_for(clerk), candidate_a, "card.png", make_noise_png(120), "image/png"
    )
    assert response.status_code == 400
    assert "larger than 20 KB" in response.content.decode()
    assert not CnieDocument.objects.exists()
    assert not DocumentAccess.objects.exists()
    assert not AuditEntry.objects.filter(action="cnie_copy.upload").exists()
    assert stored_files(_private_media) == []


def test_a_pdf_with_javascript_is_refused(client_for, clerk, candidate_a, _private_media):
    evil = make_pdf_with(b"4 0 obj << /Type /Action /S /JavaScript /JS (app.alert('hi')) >> endobj")
    response = post_copy(client_for(clerk), candidate_a, "card.pdf", evil, "application/pdf")
    assert response.status_code == 400
    assert "contains JavaScript" in response.content.decode()
    assert not CnieDocument.objects.exists()
    assert stored_files(_private_media) == []


def test_a_pdf_with_a_launch_action_is_refused(client_for, clerk, candidate_a):
    evil = make_pdf_with(b"4 0 obj << /Type /Action /S /Launch /F (cmd.exe) >> endobj")
    response = post_copy(client_for(clerk), candidate_a, "card.pdf", evil, "application/pdf")
    assert response.status_code == 400
    assert not CnieDocument.objects.exists()


def test_a_decompression_bomb_is_refused(client_for, clerk, candidate_a, _private_media):
    bomb = make_bomb_png()
    assert len(bomb) < 100_000
    response = post_copy(client_for(clerk), candidate_a, "card.png", bomb, "image/png")
    assert response.status_code == 400
    assert "too many pixels" in response.content.decode()
    assert not CnieDocument.objects.exists()
    assert stored_files(_private_media) == []


def test_a_truncated_image_is_refused(client_for, clerk, candidate_a):
    data = make_jpeg(size=(400, 300))
    response = post_copy(
        client_for(clerk), candidate_a, "card.jpg", data[: len(data) // 2], "image/jpeg"
    )
    assert response.status_code == 400
    assert not CnieDocument.objects.exists()


def test_a_new_upload_replaces_the_current_copy_and_is_audited(
    client_for, clerk, candidate_a, stored_copy
):
    first, _ = stored_copy
    response = post_copy(client_for(clerk), candidate_a, "card.jpg", make_jpeg(), "image/jpeg")
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.is_current is False
    current = CnieDocument.objects.get(candidate=candidate_a, is_current=True)
    assert current.pk != first.pk
    entries = AuditEntry.objects.filter(candidate=candidate_a, action="cnie_copy.upload").order_by(
        "sequence"
    )
    assert entries.count() == 2
    last = entries.last()
    assert last.object_type == "cnie_document" and last.actor == clerk
    assert last.before == {"document": first.pk, "sha256": first.sha256}
    assert last.after["sha256"] == current.sha256
    upload_log = DocumentAccess.objects.get(document=current, action="upload")
    assert upload_log.user == clerk and upload_log.address == "127.0.0.1"


def test_every_view_of_the_copy_is_logged_with_the_viewer_and_address(
    client_for, clerk, academy_staff, ministry_staff, candidate_a, stored_copy
):
    document, _ = stored_copy
    for user in (clerk, academy_staff, ministry_staff):
        assert (
            client_for(user)
            .get(f"/staff/candidates/{candidate_a.pk}/cnie/", REMOTE_ADDR="198.51.100.7")
            .status_code
            == 200
        )
    views = DocumentAccess.objects.filter(document=document, action="view")
    assert sorted(v.user_label for v in views) == sorted(
        u.username for u in (clerk, academy_staff, ministry_staff)
    )
    assert {v.address for v in views} == {"198.51.100.7"}


def test_the_forwarded_address_is_believed_only_behind_a_trusted_proxy(
    client_for, clerk, candidate_a, stored_copy, settings
):
    client = client_for(clerk)
    url = f"/staff/candidates/{candidate_a.pk}/cnie/"
    client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    settings.TRUSTED_PROXY_COUNT = 1
    client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    addresses = list(
        DocumentAccess.objects.filter(action="view")
        .order_by("at", "pk")
        .values_list("address", flat=True)
    )
    assert addresses == ["10.0.0.1", "203.0.113.9"]


def test_a_copy_stays_readable_after_the_keys_rotate(
    client_for, clerk, candidate_a, stored_copy, settings
):
    _, data = stored_copy
    settings.DOCUMENT_KEYS = [Fernet.generate_key().decode(), *settings.DOCUMENT_KEYS]
    assert client_for(clerk).get(f"/staff/candidates/{candidate_a.pk}/cnie/").content == data


def test_a_copy_encrypted_under_an_unknown_key_is_not_served(
    client_for, clerk, candidate_a, stored_copy, settings
):
    settings.DOCUMENT_KEYS = [Fernet.generate_key().decode()]
    assert client_for(clerk).get(f"/staff/candidates/{candidate_a.pk}/cnie/").status_code == 404
    assert not DocumentAccess.objects.filter(action="view").exists()


def test_a_file_without_a_copy_has_nothing_to_view(client_for, clerk, candidate_a):
    assert client_for(clerk).get(f"/staff/candidates/{candidate_a.pk}/cnie/").status_code == 404


def test_a_candidate_sees_their_own_copy_and_the_view_is_logged(
    client_for, candidate_a, stored_copy
):
    document, data = stored_copy
    response = client_for(candidate_a.user).get("/my-file/cnie/")
    assert response.status_code == 200
    assert response.content == data
    assert response["Cache-Control"] == "no-store"
    log = DocumentAccess.objects.get(document=document, action="view")
    assert log.user == candidate_a.user


def test_candidate_b_cannot_see_candidate_a_s_copy(
    client_for, candidate_a, candidate_b, stored_copy
):
    _, data = stored_copy
    response = client_for(candidate_b.user).get("/my-file/cnie/")
    assert response.status_code == 404
    assert data not in response.content
    assert (
        client_for(candidate_b.user).get(f"/staff/candidates/{candidate_a.pk}/cnie/").status_code
        == 403
    )
    assert not DocumentAccess.objects.filter(action="view").exists()


def test_the_candidate_s_own_copy_url_is_for_candidates_only(client_for, clerk, stored_copy):
    assert client_for(clerk).get("/my-file/cnie/").status_code == 403


def test_the_upload_service_stores_nothing_when_the_database_write_fails(
    candidate_a, clerk, _private_media, monkeypatch
):
    import candidates.file_services as services

    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(services, "record_changes", broken)
    with pytest.raises(RuntimeError):
        upload_cnie_copy(candidate_a, io.BytesIO(make_png()), clerk, None)
    assert not CnieDocument.objects.exists()
    assert stored_files(_private_media) == []
