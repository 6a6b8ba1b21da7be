"""Checking a code: the public keys, the API (valid / invalid with its reason), supersession
after a change of the file, key rotation and the rate limit."""

import io
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import call_command

from convocations import codec, keys, services

API = "/convocation/api/verify"


@pytest.fixture
def issued(candidate_a, ready, convocation_window):
    ready(candidate_a, photo=True)
    return services.issue_convocation(candidate_a, actor=candidate_a.user)


@pytest.fixture
def code(issued):
    return services.qr_text(issued)


def ask(client, text, **extra):
    return client.post(API, json.dumps({"qr": text}), content_type="application/json", **extra)


def test_the_public_keys_are_published_as_a_jwks(client, db):
    response = client.get("/convocation/keys.json")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    (key,) = response.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    public = Ed25519PublicKey.from_public_bytes(codec.b64url_decode(key["x"]))
    assert key["kid"] == codec.b64url(codec.key_id(public))


def test_the_signing_key_is_generated_on_first_use_owner_only(settings, db):
    ring = keys.key_ring()
    private = settings.KEYS_DIR / keys.PRIVATE_KEY_FILE
    assert private.exists() and private.stat().st_mode & 0o777 == 0o600
    assert keys.key_ring().kid == ring.kid  # generated once, then read


def test_a_genuine_code_is_valid_and_the_api_says_who_it_belongs_to(client, code, issued):
    response = ask(client, code)
    assert response.status_code == 200
    data = response.json()
    assert data["valid"] is True and data["status"] == "valid" and data["reason"] is None
    c = data["convocation"]
    assert c["number"] == issued.number and c["massar_code"] == "R130000001"
    assert (c["first_name"], c["last_name"]) == ("Mohammed", "El Amrani")
    assert c["birth_date"] == "2008-03-14"
    assert c["cnie_last4"] == issued.fields["cnie_number"][-4:]
    assert c["centre"] == "C-RABAT-01" and c["room"] == "03"
    assert c["kid"] == keys.key_ring().kid
    assert "photo" not in c  # the photo is for signed-in invigilators only
    assert response["Cache-Control"] == "no-store"


def test_signed_in_invigilators_also_get_the_photo(client_for, clerk, code):
    data = ask(client_for(clerk), code).json()
    assert data["convocation"]["photo"].startswith("data:image/jpeg;base64,")


def test_a_code_with_one_byte_changed_is_invalid(client, code):
    raw = bytearray(codec.b45decode(code[len(codec.PREFIX) :]))
    raw[-10] ^= 0xFF  # inside the signature
    data = ask(client, codec.PREFIX + codec.b45encode(bytes(raw))).json()
    assert data == {
        "valid": False,
        "status": "invalid",
        "reason": "bad_signature",
        "message": "The signature does not match the content: this code was altered or forged.",
    }


def test_a_changed_claim_with_the_old_signature_is_invalid(client, issued):
    forged = services.claims_for(issued).__class__(
        **{**services.claims_for(issued).__dict__, "room": "01"}
    )
    genuine = codec.cbor_decode(codec.b45decode(services.qr_text(issued)[6:]))
    protected, unprotected, _payload, signature = genuine.value
    tampered = codec.cbor_encode(
        codec.Tag(18, [protected, unprotected, forged.to_cbor(), signature])
    )
    data = ask(client, codec.PREFIX + codec.b45encode(tampered)).json()
    assert not data["valid"] and data["reason"] == "bad_signature"


def test_a_code_signed_by_an_unknown_key_is_invalid(client, issued):
    forged = codec.sign(services.claims_for(issued), Ed25519PrivateKey.generate())
    data = ask(client, forged).json()
    assert not data["valid"] and data["reason"] == "unknown_kid"
    assert "convocation" not in data


@pytest.mark.parametrize("text", ["", "hello", "BACV1:", "BACV1:%%%", "https://example.org"])
def test_text_that_is_not_a_code_is_malformed(client, db, text):
    data = ask(client, text).json()
    assert not data["valid"] and data["reason"] == "malformed"


def test_a_genuine_signature_for_a_convocation_not_in_the_register_is_invalid(client, issued):
    text = services.qr_text(issued)
    issued.delete()
    data = ask(client, text).json()
    assert not data["valid"] and data["reason"] == "not_found"


def test_the_old_code_is_superseded_as_soon_as_the_file_changes(client, candidate_a, code):
    candidate_a.exam_room = "09"
    candidate_a.save()
    data = ask(client, code).json()
    assert not data["valid"] and data["reason"] == "superseded"
    assert data["convocation"]["room"] == "03"  # what the old paper says


def test_after_a_change_the_new_download_is_valid_and_the_old_one_superseded(
    client, candidate_a, code, issued
):
    candidate_a.last_name_latin = "El Amrani Idrissi"
    candidate_a.save()
    new = services.issue_convocation(candidate_a, actor=candidate_a.user)
    issued.refresh_from_db()
    assert issued.superseded_at is not None and new.version == 2
    assert ask(client, code).json()["reason"] == "superseded"
    assert ask(client, services.qr_text(new)).json()["valid"] is True


def test_codes_signed_before_a_key_rotation_stay_valid(client, code, issued):
    old_kid = keys.key_ring().kid
    call_command("rotate_convocation_key", stdout=io.StringIO())
    assert keys.key_ring().kid != old_kid
    published = {k["kid"] for k in client.get("/convocation/keys.json").json()["keys"]}
    assert published == {old_kid, keys.key_ring().kid}
    assert ask(client, code).json()["valid"] is True


def test_a_retired_key_published_only_in_settings_still_verifies(client, settings, issued):
    text = services.qr_text(issued)
    retired_x = codec.b64url(codec.raw_public_key(keys.key_ring().signing_key.public_key()))
    settings.KEYS_DIR = settings.KEYS_DIR.parent / "elsewhere"
    settings.CONVOCATION_EXTRA_PUBLIC_KEYS = (retired_x,)
    assert ask(client, text).json()["valid"] is True


def test_the_api_answers_a_bad_request_plainly(client, db):
    response = client.post(API, "not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["reason"] == "bad_request"
    assert (
        client.post(API, json.dumps({"qr": 5}), content_type="application/json").status_code == 400
    )
    assert client.get(API).status_code == 405


def test_the_api_is_rate_limited_per_address(client, settings, code):
    settings.CONVOCATION_VERIFY_PER_ADDRESS = 3
    for _ in range(3):
        assert ask(client, code, REMOTE_ADDR="10.1.2.3").status_code == 200
    limited = ask(client, code, REMOTE_ADDR="10.1.2.3")
    assert limited.status_code == 429
    assert limited.json()["reason"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert ask(client, code, REMOTE_ADDR="10.9.9.9").status_code == 200


def test_one_ipv6_subscriber_counts_as_one_address(client, settings, code):
    settings.CONVOCATION_VERIFY_PER_ADDRESS = 2
    ask(client, code, REMOTE_ADDR="2001:db8:1:2::1")
    ask(client, code, REMOTE_ADDR="2001:db8:1:2::2")
    assert ask(client, code, REMOTE_ADDR="2001:db8:1:2::3").status_code == 429


def test_verifying_a_code_costs_little_cpu(code):
    import time

    ring = keys.key_ring()
    codec.verify(code, ring.public_keys)
    started = time.process_time()
    for _ in range(200):
        assert codec.verify(code, ring.public_keys).valid
    assert (time.process_time() - started) / 200 < 0.002
