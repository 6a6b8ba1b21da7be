"""The published keys: did:web document, JWKS, rotation that keeps old credentials verifiable."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from diplomas import keys, verify

pytestmark = pytest.mark.django_db


def test_the_did_is_the_site_host_with_its_port_encoded(settings):
    assert keys.did_for("https://bac.men.gov.ma") == "did:web:bac.men.gov.ma"
    assert keys.did_for("http://127.0.0.1:8000/") == "did:web:127.0.0.1%3A8000"
    assert keys.did_for("https://example.ma/bac") == "did:web:example.ma:bac"


def test_the_did_document_publishes_multikeys_for_assertion(client):
    document = client.get("/.well-known/did.json").json()
    assert document["id"] == keys.issuer_did()
    method = document["verificationMethod"][0]
    assert method["type"] == "Multikey" and method["publicKeyMultibase"].startswith("z6Mk")
    assert method["id"] in document["assertionMethod"]


def test_the_jwks_holds_the_ed25519_and_the_p256_issuing_keys(client):
    response = client.get("/diplomas/jwks.json")
    assert "max-age" in response["Cache-Control"]
    kinds = {(k["kty"], k.get("crv")) for k in response.json()["keys"]}
    assert kinds == {("OKP", "Ed25519"), ("EC", "P-256")}


@pytest.fixture
def own_keys(settings, tmp_path):
    """A key directory of this test's own (the PKI stays where it is)."""
    from diplomas import pki

    settings.DIPLOMA_PKI_DIR = str(pki.pki_dir())
    settings.KEYS_DIR = tmp_path / "keys"
    return settings.KEYS_DIR


def test_after_rotation_old_credentials_still_verify_and_new_ones_use_the_new_key(
    own_keys, diploma, candidate_a, ministry_staff
):
    from diplomas import services

    old_method = diploma.credential["proof"]["verificationMethod"]
    call_command("rotate_diploma_key")
    document = keys.did_document()
    ids = [m["id"] for m in document["verificationMethod"]]
    assert len(ids) == 2 and ids[0] != old_method and old_method in ids
    assert verify.verify_any(json.dumps(diploma.credential)).state == "valid"
    new = services.replace_diploma(diploma, reason="re-signed", actor=ministry_staff)
    assert new.credential["proof"]["verificationMethod"] == ids[0]
    assert verify.verify_any(json.dumps(new.credential)).state == "valid"


def test_sd_jwt_vc_issuer_metadata_points_to_the_jwks(client, diploma):
    from diplomas import codec

    metadata = client.get("/.well-known/jwt-vc-issuer").json()
    payload = json.loads(codec.b64url_decode(diploma.sd_jwt.split(".")[1]))
    assert metadata["issuer"] == payload["iss"]
    assert metadata["jwks_uri"].endswith("/diplomas/jwks.json")
