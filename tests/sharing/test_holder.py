"""The holder's page: the diploma, its downloads, the offline copy, or why there is none."""

import json

import pytest
from django.urls import reverse

from audit.models import AuditEntry

from .factories import give_cnie

pytestmark = pytest.mark.django_db


def test_the_holder_sees_the_diploma_with_every_field(holder, diploma_a, candidate_a):
    response = holder.get(reverse("sharing:mine"))
    assert response.status_code == 200
    html = response.content.decode()
    assert diploma_a.number in html
    assert candidate_a.cnie_number in html  # their own page: everything
    assert "17.75" in html and "Mathématiques" in html
    assert response["Cache-Control"] == "no-store"


def test_a_candidate_without_cnie_is_told_so(candidate_a, client_for):
    html = client_for(candidate_a.user).get(reverse("sharing:mine")).content.decode()
    assert "no CNIE number" in html


def test_a_candidate_before_results_is_told_they_are_not_published(candidate_a, client_for):
    give_cnie(candidate_a)
    html = client_for(candidate_a.user).get(reverse("sharing:mine")).content.decode()
    assert "have not been published yet" in html


def test_a_candidate_not_admitted_is_told_so(candidate_a, client_for, monkeypatch):
    from results import snapshot

    give_cnie(candidate_a)
    monkeypatch.setattr(
        snapshot, "result_for_candidate", lambda c: snapshot.Outcome("found", {"d": "failed"})
    )
    html = client_for(candidate_a.user).get(reverse("sharing:mine")).content.decode()
    assert "you are not admitted" in html


def test_an_admitted_candidate_without_diploma_is_told_it_is_not_issued_yet(
    candidate_a, client_for, monkeypatch
):
    from results import snapshot

    give_cnie(candidate_a)
    monkeypatch.setattr(
        snapshot, "result_for_candidate", lambda c: snapshot.Outcome("found", {"d": "admitted"})
    )
    html = client_for(candidate_a.user).get(reverse("sharing:mine")).content.decode()
    assert "has not been issued yet" in html


@pytest.mark.parametrize(
    "face, content_type",
    [
        ("credential.json", "application/json"),
        ("credential.sd-jwt", "application/dc+sd-jwt"),
        ("qr.svg", "image/svg+xml"),
        ("qr.png", "image/png"),
    ],
)
def test_each_face_downloads_and_the_download_is_audited(holder, diploma_a, face, content_type):
    response = holder.get(reverse("sharing:download", args=[face]))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert "attachment" in response["Content-Disposition"]
    body = response.content
    if face == "credential.json":
        assert json.loads(body) == diploma_a.credential
    if face == "credential.sd-jwt":
        assert body.decode() == diploma_a.sd_jwt
    if face == "qr.png":
        assert body.startswith(b"\x89PNG")
    entry = AuditEntry.objects.get(action="diploma_downloaded")
    assert entry.candidate_id == diploma_a.candidate_id and entry.after == {"face": face}


def test_the_pdf_face_downloads(holder, diploma_a):
    pytest.importorskip("diplomas.pdf")
    from diplomas import pdf

    if not hasattr(pdf, "render_pdf"):
        pytest.skip("diplomas.pdf.render_pdf not available yet")
    response = holder.get(reverse("sharing:download", args=["diploma.pdf"]))
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_an_unknown_face_is_not_found(holder, diploma_a):
    assert holder.get(reverse("sharing:download", args=["secrets.txt"])).status_code == 404


def test_holder_pages_need_a_signed_in_candidate(client, clerk, client_for, diploma_a):
    for name, args in [("mine", []), ("offline", []), ("download", ["credential.json"])]:
        url = reverse(f"sharing:{name}", args=args)
        assert client.get(url).status_code == 302  # to sign-in
        assert client_for(clerk).get(url).status_code == 403


def test_the_offline_page_shows_the_qr_code_without_birth_data_or_cnie(
    holder, diploma_a, candidate_a
):
    response = holder.get(reverse("sharing:offline"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and 'rel="manifest"' in html
    assert candidate_a.cnie_number not in html
    assert "<script>" not in html and "style=" not in html


def test_the_manifest_and_service_worker_are_served_with_their_types_and_scope(client):
    manifest = client.get(reverse("sharing:manifest"))
    assert manifest["Content-Type"] == "application/manifest+json"
    body = json.loads(manifest.content)
    assert body["scope"] == body["start_url"] == reverse("sharing:offline")
    assert {icon["sizes"] for icon in body["icons"]} >= {"192x192", "512x512"}

    worker = client.get(reverse("sharing:service_worker"))
    assert worker["Content-Type"].startswith("text/javascript")
    assert worker["Service-Worker-Allowed"] == reverse("sharing:offline")
    assert worker["Cache-Control"] == "no-cache"
    source = worker.content.decode()
    assert f'var PAGE = "{reverse("sharing:offline")}' in source.replace("\\u002D", "-")
