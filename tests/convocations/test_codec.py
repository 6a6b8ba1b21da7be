"""The QR code format, on its own: CBOR, base45, COSE_Sign1 with Ed25519 and a key id."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from convocations import codec

CLAIMS = codec.Claims(
    number="2026-N-R130000001-01",
    massar_code="R130000001",
    last_name="El Amrani",
    first_name="Mohammed",
    birth_date="2008-03-14",
    cnie_last4="0001",
    centre="C-RABAT-01",
    room="03",
    session="2026-N",
    issued_at=1_780_000_000,
    file_hash=bytes(range(8)),
    version=1,
)


@pytest.fixture
def key():
    return Ed25519PrivateKey.generate()


def published(*private_keys):
    return {codec.b64url(codec.key_id(k.public_key())): k.public_key() for k in private_keys}


@pytest.mark.parametrize(
    "raw, text",
    [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"", "")],
)
def test_base45_matches_the_rfc_9285_examples(raw, text):
    assert codec.b45encode(raw) == text
    assert codec.b45decode(text) == raw


@given(st.binary(max_size=300))
def test_base45_round_trips_any_bytes(data):
    assert codec.b45decode(codec.b45encode(data)) == data


@pytest.mark.parametrize("text", ["GGW", "A", "ab", "::::"])
def test_base45_rejects_text_that_no_bytes_encode_to(text):
    with pytest.raises(codec.MalformedError):
        codec.b45decode(text)


def test_cbor_encoding_is_canonical_and_round_trips():
    value = {1: "é", 2: -8, 3: b"\x00\x01", 4: [1, 2, 3], 5: 2**40, 6: True, 7: None}
    encoded = codec.cbor_encode(value)
    assert codec.cbor_decode(encoded) == value
    assert codec.cbor_encode(codec.cbor_decode(encoded)) == encoded
    assert codec.cbor_encode(23) == b"\x17" and codec.cbor_encode(24) == b"\x18\x18"


@pytest.mark.parametrize(
    "data", [b"\x82\x01", b"\x01\x02", b"\x9f\x01\xff", b"\xfb" + bytes(8), b"\xa2\x01\x01\x01\x02"]
)
def test_cbor_decoder_rejects_truncated_indefinite_float_and_duplicate_input(data):
    with pytest.raises(codec.MalformedError):
        codec.cbor_decode(data)


def test_a_signed_code_verifies_with_its_public_key_and_gives_back_the_claims(key):
    text = codec.sign(CLAIMS, key)
    assert text.startswith("BACV1:")
    assert set(text[6:]) <= set(codec.BASE45_ALPHABET)
    result = codec.verify(text, published(key))
    assert result.valid and result.reason is None
    assert result.claims == CLAIMS
    assert result.kid == codec.b64url(codec.key_id(key.public_key()))
    assert len(result.kid) == 11  # 8 bytes, base64url


def test_the_code_is_small_enough_for_a_medium_qr_code(key):
    assert len(codec.sign(CLAIMS, key)) < 400


def test_signing_is_deterministic(key):
    assert codec.sign(CLAIMS, key) == codec.sign(CLAIMS, key)


def test_every_single_changed_byte_makes_the_code_invalid(key):
    cose = codec.b45decode(codec.sign(CLAIMS, key)[6:])
    for position in range(len(cose)):
        tampered = bytearray(cose)
        tampered[position] ^= 0x01
        result = codec.verify("BACV1:" + codec.b45encode(bytes(tampered)), published(key))
        assert not result.valid, f"byte {position} changed and the code still verifies"
        assert result.reason in ("bad_signature", "malformed", "unknown_kid")


def test_a_changed_claim_resigned_with_another_key_is_unknown(key):
    forger = Ed25519PrivateKey.generate()
    forged = codec.sign(CLAIMS, forger)
    result = codec.verify(forged, published(key))
    assert not result.valid and result.reason == "unknown_kid"


def test_a_code_signed_by_a_retired_key_still_verifies_when_that_key_is_published(key):
    retired = Ed25519PrivateKey.generate()
    assert codec.verify(codec.sign(CLAIMS, retired), published(key, retired)).valid


@pytest.mark.parametrize(
    "text",
    ["", "hello", "BACV1:", "BACV1:abc", "BACV2:" + "A" * 30, "BACV1:" + "0" * 5000],
)
def test_text_that_is_not_a_code_is_malformed(key, text):
    result = codec.verify(text, published(key))
    assert not result.valid and result.reason == "malformed"


def test_scanner_line_breaks_are_ignored_but_a_trailing_space_is_part_of_the_code(key):
    text = codec.sign(CLAIMS, key)
    assert codec.verify("  " + text + "\r\n", published(key)).valid
    assert codec.normalise("BACV1:AB \n") == "BACV1:AB "


def test_a_well_signed_code_with_the_wrong_claims_shape_is_malformed(key):
    protected = codec.cbor_encode({1: -8, 4: codec.key_id(key.public_key())})
    payload = codec.cbor_encode({1: "only a number"})
    signature = key.sign(codec.cbor_encode(["Signature1", protected, b"", payload]))
    cose = codec.cbor_encode(codec.Tag(18, [protected, {}, payload, signature]))
    result = codec.verify("BACV1:" + codec.b45encode(cose), published(key))
    assert not result.valid and result.reason == "malformed"
