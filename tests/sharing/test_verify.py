"""The public verification page and API: share links recognised and answered for, the faces of
a diploma passed to diplomas.verify, upload limits, rate limits, and no JavaScript needed."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from sharing import services
from sharing.models import ShareView

from .factories import make_diploma

pytestmark = pytest.mark.django_db

VERIFY = reverse("sharing:verify")
API = reverse("sharing:api_verify")


def api(client, body, **extra):
    return client.post(API, json.dumps(body), content_type="application/json", **extra)


@pytest.fixture
def link(diploma_a, candidate_a):
    share, token = services.create_link(candidate_a.user, diploma_a, revealed=["result"])
    return share, "https://bac.example.ma" + services.share_path(token)


def test_the_page_works_without_javascript_for_a_pasted_share_link(visitor, link, diploma_a):
    share, url = link
    page = visitor.get(VERIFY)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.content.decode()
    assert page["Permissions-Policy"].startswith("camera=(self)")
    response = visitor.post(VERIFY, {"text": url})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Valid diploma" in html and diploma_a.number in html and "15.37" in html
    assert diploma_a.claims["cnie_number"] not in html and "17.75" not in html
    assert share.views.filter(kind=ShareView.Kind.VERIFY).count() == 1


def test_the_api_answers_for_a_share_link_in_json(visitor, link, diploma_a):
    _, url = link
    response = api(visitor, {"data": url})
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "valid" and body["valid"] is True
    assert body["number"] == diploma_a.number and body["face"] == "share_link"
    assert "cnie_number" not in body["claims"] and "grades" not in body["claims"]
    assert body["claims"]["general_average"] == "15.37"


def test_a_revoked_link_an_expired_link_and_an_unknown_link_are_refused(
    visitor, link, candidate_a, diploma_a, clock
):
    share, url = link
    services.revoke_link(candidate_a.user, share)
    body = api(visitor, {"data": url}).json()
    assert body["state"] == "invalid" and body["reason"] == "link_revoked" and not body["claims"]

    _, token = services.create_link(candidate_a.user, diploma_a, expires_in_days=1)
    clock.advance(days=2)
    body = api(visitor, {"data": services.share_path(token)}).json()
    assert body["state"] == "expired" and body["number"] is None

    body = api(visitor, {"data": services.share_path("Z" * 43)}).json()
    assert body["state"] == "invalid" and body["reason"] == "unknown_link"


def test_a_link_to_a_replaced_diploma_points_to_the_current_one(
    visitor, link, diploma_a, candidate_a
):
    _, url = link
    diploma_a.status = "replaced"
    diploma_a.save()
    make_diploma(candidate_a, number="BAC-2026-NEW002", replaces=diploma_a)
    body = api(visitor, {"data": url}).json()
    assert body["state"] == "replaced" and body["current_number"] == "BAC-2026-NEW002"
    html = visitor.post(VERIFY, {"text": url}).content.decode()
    assert "Replaced diploma" in html and "BAC-2026-NEW002" in html


def test_a_link_to_a_revoked_diploma_says_revoked(visitor, link, diploma_a):
    _, url = link
    diploma_a.status = "revoked"
    diploma_a.save()
    assert api(visitor, {"data": url}).json()["state"] == "revoked"


def test_the_api_refuses_what_is_not_json_with_a_reason(visitor):
    response = visitor.post(API, "not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["reason"] == "bad_request"
    assert api(visitor, {"data": ""}).status_code == 400
    assert visitor.get(API).status_code == 405


def test_the_api_needs_no_csrf_token():
    strict = Client(enforce_csrf_checks=True)
    response = api(strict, {"data": services.share_path("Q" * 43)})
    assert response.status_code == 200


def test_the_api_is_rate_limited_per_address(visitor, settings):
    settings.DIPLOMA_VERIFY_PER_ADDRESS = 3
    for _ in range(3):
        assert api(visitor, {"data": "nothing"}).status_code != 429
    limited = api(visitor, {"data": "nothing"})
    assert limited.status_code == 429 and limited.json()["reason"] == "rate_limited"
    assert int(limited["Retry-After"]) > 0
    assert api(Client(REMOTE_ADDR="198.51.100.1"), {"data": "nothing"}).status_code != 429


def test_the_page_is_rate_limited_too(visitor, settings):
    settings.DIPLOMA_VERIFY_PER_ADDRESS = 1
    visitor.post(VERIFY, {"text": "nothing"})
    response = visitor.post(VERIFY, {"text": "nothing"})
    assert response.status_code == 429 and "Too many checks" in response.content.decode()


def test_an_upload_over_the_limit_is_refused_with_a_clear_error(visitor, settings):
    settings.DIPLOMA_VERIFY_MAX_BYTES = 1024 * 1024
    big = SimpleUploadedFile("diploma.pdf", b"%PDF" + b"0" * (1024 * 1024), "application/pdf")
    response = visitor.post(VERIFY, {"document": big})
    assert response.status_code in (400, 413)
    assert (
        "larger than the limit of 1 MB" in response.content.decode()
        or "too large" in response.content.decode()
    )
    huge = SimpleUploadedFile("diploma.pdf", b"%PDF" + b"0" * (2 * 1024 * 1024), "application/pdf")
    response = visitor.post(VERIFY, {"document": huge})
    assert response.status_code == 413 and "The file is too large" in response.content.decode()

    response = visitor.post(API, b"%PDF" + b"0" * (1024 * 1024), content_type="application/pdf")
    assert response.status_code == 413 and response.json()["reason"] == "too_large"


def test_an_empty_form_says_what_to_do(visitor):
    response = visitor.post(VERIFY, {})
    assert response.status_code == 400
    assert "Paste a link or code, or choose a file." in response.content.decode()


# --- the diploma's own faces, through diplomas.verify ---------------------------------------------


@pytest.fixture
def verify_any():
    module = pytest.importorskip("diplomas.verify")
    return module.verify_any


def test_the_qr_text_of_a_valid_diploma_is_valid(visitor, diploma_a, verify_any):
    body = api(visitor, {"data": diploma_a.qr}).json()
    assert body["state"] == "valid" and body["number"] == diploma_a.number
    html = visitor.post(VERIFY, {"text": diploma_a.qr}).content.decode()
    assert "Valid diploma" in html


def test_the_credential_json_uploaded_and_posted_is_valid(visitor, diploma_a, verify_any):
    data = json.dumps(diploma_a.credential).encode()
    upload = SimpleUploadedFile("credential.json", data, "application/json")
    html = visitor.post(VERIFY, {"document": upload}).content.decode()
    assert "Valid diploma" in html
    assert api(visitor, {"credential": diploma_a.credential}).json()["state"] == "valid"


def test_the_shared_sd_jwt_presentation_verifies(visitor, link, diploma_a, verify_any):
    share, url = link
    token = url.rsplit("/s/", 1)[1].strip("/")
    presentation = visitor.get(reverse("sharing:shared_sd_jwt", args=[token])).content.decode()
    body = api(visitor, {"data": presentation}).json()
    assert body["state"] == "valid", body
    assert "national_id_number" not in json.dumps(body["claims"])


def test_the_pdf_of_a_revoked_diploma_says_revoked(visitor, diploma_a, verify_any):
    from diplomas.pdf import render_pdf
    from diplomas.services import revoke_diploma

    pdf = render_pdf(diploma_a)
    revoke_diploma(diploma_a, reason="test", actor=None)
    response = visitor.post(API, pdf, content_type="application/pdf")
    assert response.json()["state"] == "revoked"


def test_garbage_is_invalid_with_a_reason(visitor, verify_any):
    body = api(visitor, {"data": "BACD1:NOT-A-CODE"}).json()
    assert body["state"] == "invalid" and body["reason"]


def test_a_link_to_a_diploma_the_ministry_revoked_says_revoked(visitor, link, diploma_a):
    from diplomas.services import revoke_diploma

    _, url = link
    revoke_diploma(diploma_a, reason="Fraud established", actor=None)
    body = api(visitor, {"data": url}).json()
    assert body["state"] == "revoked" and "Fraud" not in str(body)
    html = visitor.get(url.replace("https://bac.example.ma", "")).content.decode()
    assert "Revoked diploma" in html and "Fraud" not in html


def test_the_api_is_described_by_openapi_and_its_path_is_the_real_one(client):
    response = client.get(reverse("sharing:openapi"))
    body = response.json()
    assert body["openapi"].startswith("3.")
    assert list(body["paths"]) == [API]
    states = body["components"]["schemas"]["Answer"]["properties"]["state"]["enum"]
    assert {"valid", "revoked", "replaced", "expired", "invalid"} <= set(states)
