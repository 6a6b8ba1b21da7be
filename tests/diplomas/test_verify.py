"""Verifying each face online and offline: valid, tampered, unknown key, revoked, replaced."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command

from diplomas import codec, sdjwt, services, verify
from diplomas import pki as diploma_pki

from .conftest import committed

pytestmark = pytest.mark.django_db


def _faces(diploma):
    return {
        "credential": json.dumps(diploma.credential),
        "sd-jwt": diploma.sd_jwt,
        "qr": diploma.qr,
    }


def test_every_face_of_a_new_diploma_is_valid(diploma):
    for face, data in _faces(diploma).items():
        verdict = verify.verify_any(data)
        assert (verdict.state, verdict.face, verdict.number) == ("valid", face, diploma.number)


def test_the_credential_reveals_only_that_a_cnie_is_bound(diploma, candidate_a):
    verdict = verify.verify_any(json.dumps(diploma.credential))
    assert verdict.claims["cnie_bound"] is True
    assert candidate_a.cnie_number not in json.dumps(verdict.claims)
    assert verify.cnie_matches(diploma.credential, candidate_a.cnie_number)
    assert not verify.cnie_matches(diploma.credential, "ZZ999999")


def test_a_changed_grade_in_the_credential_is_refused(diploma):
    vc = json.loads(json.dumps(diploma.credential))
    vc["credentialSubject"]["result"][0]["value"] = "19.25"
    verdict = verify.verify_any(json.dumps(vc))
    assert verdict.state == "invalid" and verdict.code == "bad-signature"
    assert verdict.claims == {} and verdict.number == ""


def test_a_changed_byte_anywhere_in_the_sd_jwt_is_refused(diploma):
    token = diploma.sd_jwt
    jwt, rest = token.split("~", 1)
    payload = json.loads(codec.b64url_decode(jwt.split(".")[1]))
    payload["number"] = "MA-2026-0000-0000"
    forged = ".".join(
        [jwt.split(".")[0], codec.b64url(json.dumps(payload).encode()), jwt.split(".")[2]]
    )
    assert verify.verify_any(forged + "~" + rest).code == "bad-signature"
    # A disclosure altered: its digest is not in the signed payload.
    disclosure = rest.split("~")[0]
    item = json.loads(codec.b64url_decode(disclosure))
    item[2] = "tampered"
    altered = token.replace(disclosure, codec.b64url(json.dumps(item).encode()))
    assert verify.verify_any(altered).code == "bad-disclosure"


def test_a_presentation_hiding_claims_still_verifies_and_hides_them(diploma, candidate_a):
    shown = sdjwt.present(diploma.sd_jwt, {"family_name", "given_name", "mention"})
    verdict = verify.verify_any(shown)
    assert verdict.state == "valid"
    assert set(verdict.claims) == {"last_name_latin", "first_name_latin", "mention", "number"}
    assert candidate_a.cnie_number not in shown


def test_a_changed_qr_code_is_refused(diploma):
    text = diploma.qr
    index = len(text) // 2
    swapped = text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]
    verdict = verify.verify_any(swapped)
    assert verdict.state == "invalid" and verdict.face == "qr"


def test_a_face_signed_with_an_unknown_key_is_refused(diploma):
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = sdjwt.issue(
        diploma.claims,
        number=diploma.number,
        issuer="https://evil.example",
        vct="https://evil.example/diplomas/vct/baccalaureate.json",
        issued_at=0,
        status={
            "statusPurpose": "revocation",
            "statusListIndex": "0",
            "statusListCredential": "x/0.json",
        },
        private_key=stranger,
        kid="not-our-kid",
    )
    assert verify.verify_any(token).code == "unknown-key"
    vc = json.loads(json.dumps(diploma.credential))
    vc["proof"]["verificationMethod"] = vc["proof"]["verificationMethod"] + "x"
    assert verify.verify_any(json.dumps(vc)).code == "unknown-key"


@pytest.mark.parametrize("garbage", ["", "hello", "{not json", "BACD1:!!!", "eyJ~", b"\xff\xfe"])
def test_garbage_gets_a_clear_answer(db, garbage):
    verdict = verify.verify_any(garbage)
    assert verdict.state == "invalid" and str(verdict.reason)


def test_a_revoked_diploma_says_so_on_every_face(diploma, ministry_staff):
    with committed():
        services.revoke_diploma(diploma, reason="fraud", actor=ministry_staff)
    for data in _faces(diploma).values():
        verdict = verify.verify_any(data)
        assert verdict.state == "revoked" and "fraud" not in str(verdict.reason)


def test_a_replaced_diploma_points_to_its_replacement(diploma, ministry_staff):
    with committed():
        new = services.replace_diploma(diploma, reason="typo", actor=ministry_staff)
    for data in _faces(diploma).values():
        verdict = verify.verify_any(data)
        assert (verdict.state, verdict.current_number) == ("replaced", new.number)
    assert verify.verify_any(new.qr).state == "valid"


def test_export_then_offline_verification_of_every_face(diploma, tmp_path, capsys):
    call_command("export_diploma", diploma.number, "--out", str(tmp_path))
    names = {p.name for p in tmp_path.iterdir()}
    assert {"credential.json", "credential.sd-jwt", "qr.txt", "diploma.pdf"} <= names
    assert {"jwks.json", "did.json", "status-list.json", "ca.pem"} <= names
    capsys.readouterr()
    call_command("verify_diploma", str(tmp_path), "--keys", str(tmp_path), "--json")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["face"] for line in lines} == {"credential", "sd-jwt", "qr", "pdf"}
    assert all(line["state"] == "valid" for line in lines)


def test_offline_verification_sees_a_revocation_in_the_exported_list(
    diploma, tmp_path, ministry_staff, capsys
):
    with committed():
        services.revoke_diploma(diploma, reason="fraud", actor=ministry_staff)
    call_command("export_diploma", diploma.number, "--out", str(tmp_path), "--no-pdf")
    with pytest.raises(SystemExit):
        call_command("verify_diploma", str(tmp_path), "--keys", str(tmp_path))
    out = capsys.readouterr().out
    assert out.count("REVOKED") == 3


def test_offline_verification_with_other_keys_refuses(diploma, tmp_path, capsys):
    call_command("export_diploma", diploma.number, "--out", str(tmp_path), "--no-pdf")
    did = json.loads((tmp_path / "did.json").read_text())
    did["verificationMethod"][0]["publicKeyMultibase"] = codec.multikey_ed25519(bytes(32))
    (tmp_path / "did.json").write_text(json.dumps(did))
    with pytest.raises(SystemExit):
        call_command("verify_diploma", str(tmp_path / "credential.json"), "--keys", str(tmp_path))
    assert "INVALID" in capsys.readouterr().out


def test_the_sd_jwt_names_the_current_issuing_certificate(diploma):
    header = json.loads(codec.b64url_decode(diploma.sd_jwt.split(".")[0]))
    assert header["typ"] == "dc+sd-jwt" and header["alg"] == "ES256"
    assert header["kid"] == diploma_pki.signing_identity().kid


def test_offline_an_issuing_certificate_the_ca_did_not_sign_is_ignored(diploma, tmp_path, capsys):
    from cryptography.hazmat.primitives import serialization

    from diplomas import pki

    call_command("export_diploma", diploma.number, "--out", str(tmp_path), "--no-pdf")
    _key, other_ca = pki.make_root()  # our issuing certificate does not chain to it
    (tmp_path / "ca.pem").write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    for face in ("qr.txt", "credential.sd-jwt"):
        with pytest.raises(SystemExit):
            call_command("verify_diploma", str(tmp_path / face), "--keys", str(tmp_path))
    out = capsys.readouterr().out
    assert out.count("INVALID") == 2 and out.count("not ours") == 2


# --- replaced, offline: the signed replacement record (replacements.jws) ----------------------


def _offline(tmp_path, capsys, face: str = "") -> tuple[list[dict], str]:
    """verify_diploma --keys on the exported directory (or one face of it), as JSON lines."""
    capsys.readouterr()
    try:
        call_command("verify_diploma", str(tmp_path / face), "--keys", str(tmp_path), "--json")
    except SystemExit:
        pass
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_offline_verification_tells_a_replaced_diploma_and_points_to_the_current_one(
    diploma, tmp_path, ministry_staff, capsys
):
    with committed():
        new = services.replace_diploma(diploma, reason="typo", actor=ministry_staff)
    call_command("export_diploma", diploma.number, "--out", str(tmp_path), "--no-pdf")
    assert (tmp_path / "replacements.jws").exists()
    lines, err = _offline(tmp_path, capsys)
    assert len(lines) == 3 and err == ""
    for line in lines:
        assert (line["state"], line["number"]) == ("replaced", diploma.number), line
        assert line["current_number"] == new.number


def test_offline_the_replacement_is_the_end_of_the_chain(diploma, tmp_path, ministry_staff, capsys):
    with committed():
        second = services.replace_diploma(diploma, reason="typo", actor=ministry_staff)
        third = services.replace_diploma(second, reason="typo", actor=ministry_staff)
    call_command("export_diploma", diploma.number, "--out", str(tmp_path), "--no-pdf")
    lines, _err = _offline(tmp_path, capsys, "qr.txt")
    assert (lines[0]["state"], lines[0]["current_number"]) == ("replaced", third.number)


def _reencoded(token: str, change) -> str:
    """The JWS with its payload changed and the original signature kept."""
    header, payload, signature = token.strip().split(".")
    data = json.loads(codec.b64url_decode(payload))
    change(data)
    return ".".join([header, codec.b64url(json.dumps(data).encode()), signature])


def test_offline_an_altered_replacement_record_is_ignored_with_its_reason(
    diploma, tmp_path, ministry_staff, capsys
):
    with committed():
        services.replace_diploma(diploma, reason="typo", actor=ministry_staff)
    call_command("export_diploma", diploma.number, "--out", str(tmp_path), "--no-pdf")
    record = tmp_path / "replacements.jws"
    forged = "MA-2026-0000-0000"
    record.write_text(
        _reencoded(record.read_text(), lambda p: p["replacements"].update({diploma.number: forged}))
    )
    lines, err = _offline(tmp_path, capsys)
    assert "replacements.jws ignored (bad signature" in err
    assert [line["state"] for line in lines] == ["revoked"] * 3
    assert forged not in json.dumps(lines)


def test_offline_a_record_signed_with_another_key_is_ignored(
    diploma, tmp_path, ministry_staff, capsys
):
    """Whoever holds a key of their own can sign a record; only the DID's keys count."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with committed():
        services.replace_diploma(diploma, reason="typo", actor=ministry_staff)
    call_command("export_diploma", diploma.number, "--out", str(tmp_path), "--no-pdf")
    did = json.loads((tmp_path / "did.json").read_text())["id"]
    (tmp_path / "replacements.jws").write_text(
        verify.sign_replacements(
            {diploma.number: "MA-2026-0000-0000"},
            did=did,
            verification_method=f"{did}#stranger",
            signing_key=Ed25519PrivateKey.generate(),
            issued_at=0,
        )
    )
    lines, err = _offline(tmp_path, capsys, "credential.json")
    assert "ignored (signed with a key that is not in did.json)" in err
    assert lines[0]["state"] == "revoked" and lines[0]["current_number"] == ""


def test_offline_a_record_never_turns_a_valid_diploma_into_a_replaced_one(
    diploma, tmp_path, capsys
):
    """The record only tells what a revoked diploma became: the status list decides."""
    from diplomas import keys as diploma_keys

    call_command("export_diploma", diploma.number, "--out", str(tmp_path), "--no-pdf")
    assert (
        verify.read_replacements(
            (tmp_path / "replacements.jws").read_text(), verify.KeySet.from_directory(tmp_path)
        )
        == {}
    )
    ring = diploma_keys.key_ring()
    did = diploma_keys.issuer_did()
    (tmp_path / "replacements.jws").write_text(
        verify.sign_replacements(
            {diploma.number: "MA-2026-0000-0000"},
            did=did,
            verification_method=ring.verification_method(did),
            signing_key=ring.signing_key,
            issued_at=0,
        )
    )
    lines, err = _offline(tmp_path, capsys)
    assert err == "" and [line["state"] for line in lines] == ["valid"] * 3
