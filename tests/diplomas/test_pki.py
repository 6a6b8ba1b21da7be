"""The diploma PKI: a root and an issuing certificate that X.509 verifiers accept, owner-only
files, production loading without generation, and rotation that keeps old kids verifiable."""

import base64
import datetime as dt
import hashlib
import io
import os
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from diplomas import pki, qr

CLAIMS = {
    "number": "BAC-2025-000001",
    "last_name_latin": "Bennani",
    "first_name_latin": "Yassine",
    "last_name_ar": "بناني",
    "first_name_ar": "ياسين",
    "birth_date": "2007-05-02",
    "track": "SMA",
    "session_year": 2025,
    "mention": "bien",
    "status_list_index": 7,
    "issued_on": "2025-07-12",
}


@pytest.fixture(autouse=True)
def _own_pki(settings, tmp_path):
    """Each test gets a PKI generated on first use in a fresh KEYS_DIR (embedded default)."""
    settings.KEYS_DIR = tmp_path / "keys"
    settings.DIPLOMA_PKI_DIR = ""
    settings.DIPLOMA_PKCS11_MODULE = ""


def _verify_chain(leaf: x509.Certificate, root: x509.Certificate):
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(dt.datetime.now(dt.UTC))
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    return verifier.verify(leaf, []).chain


def test_chain_verifies_with_cryptography():
    identity = pki.signing_identity()
    root = pki.root_certificate()
    assert identity.chain == (identity.certificate, root)
    assert _verify_chain(identity.certificate, root) == [identity.certificate, root]


def test_chain_verifies_with_openssl(tmp_path):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    identity = pki.signing_identity()
    (tmp_path / "root.pem").write_bytes(
        pki.root_certificate().public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "leaf.pem").write_bytes(
        identity.certificate.public_bytes(serialization.Encoding.PEM)
    )
    done = subprocess.run(  # noqa: S603
        [openssl, "verify", "-x509_strict", "-purpose", "smimesign", "-CAfile", "root.pem"]
        + ["leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "leaf.pem: OK" in done.stdout


def test_a_certificate_of_another_root_does_not_verify():
    _, other_root = pki.make_root()
    with pytest.raises(x509.verification.VerificationError):
        _verify_chain(pki.signing_identity().certificate, other_root)


def test_certificate_profiles():
    identity = pki.signing_identity()
    root = pki.root_certificate()
    for certificate in (root, identity.certificate):
        assert isinstance(certificate.public_key().curve, ec.SECP256R1)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    leaf = identity.certificate.extensions
    assert not leaf.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert identity.certificate.not_valid_after_utc <= root.not_valid_after_utc
    assert identity.certificate.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(
        days=365 * 20
    )


def test_kid_is_the_truncated_hash_of_the_certificate():
    identity = pki.signing_identity()
    der = identity.certificate.public_bytes(serialization.Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:8]).rstrip(b"=").decode()
    assert identity.kid == expected == pki.kid_of(identity.certificate)
    assert pki.certificate_for(identity.kid) == identity.certificate
    assert pki.certificate_for("AAAAAAAAAAA") is None
    jwk = pki.public_jwk(identity.certificate)
    assert jwk["kid"] == identity.kid and jwk["crv"] == "P-256" and jwk["alg"] == "ES256"


def test_files_are_owner_only_and_generated_once(settings):
    first = pki.signing_identity()
    directory = settings.KEYS_DIR / "diploma_pki"
    for path in [directory / "root.pem", directory / "root.key.pem", directory / "issuer.pem"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    pki._cache.clear()  # a new process: reads what the first one wrote
    assert pki.signing_identity().kid == first.kid
    assert pki.signing_identity().private_key.private_numbers() == (
        first.private_key.private_numbers()
    )


def test_rotation_keeps_the_old_kid_verifiable():
    old = pki.signing_identity()
    old_text = qr.encode_qr(CLAIMS)
    call_command("rotate_diploma_issuer", stdout=io.StringIO())
    new = pki.signing_identity()
    assert new.kid != old.kid
    assert pki.root_certificate() == old.chain[1]  # same root
    assert set(pki.issuing_certificates()) == {old.kid, new.kid}
    assert _verify_chain(new.certificate, pki.root_certificate())
    verdict = qr.decode_qr(old_text)
    assert verdict.ok and verdict.kid == old.kid
    new_verdict = qr.decode_qr(qr.encode_qr(CLAIMS))
    assert new_verdict.ok and new_verdict.kid == new.kid


def test_production_directory_is_read_never_generated(settings, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    settings.DIPLOMA_PKI_DIR = str(empty)
    with pytest.raises(ImproperlyConfigured):
        pki.signing_identity()
    assert list(empty.iterdir()) == []


def test_offline_root_rotation_installs_a_certificate_the_root_issued(settings, tmp_path):
    embedded = pki.signing_identity()
    source = settings.KEYS_DIR / "diploma_pki"
    production = tmp_path / "production"
    shutil.copytree(source, production)
    root_key = serialization.load_pem_private_key(
        (production / "root.key.pem").read_bytes(), password=None
    )
    (production / "root.key.pem").unlink()  # the root stays offline
    settings.DIPLOMA_PKI_DIR = str(production)
    assert pki.signing_identity().kid == embedded.kid
    with pytest.raises(CommandError, match="offline root"):
        call_command("rotate_diploma_issuer")

    key, certificate = pki.make_issuer(root_key, pki.root_certificate())
    cert_file, key_file = tmp_path / "new.pem", tmp_path / "new.key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(pki._key_pem(key))
    call_command(
        "rotate_diploma_issuer",
        certificate=cert_file,
        key=key_file,
        stdout=io.StringIO(),
    )
    assert pki.signing_identity().certificate == certificate
    assert embedded.kid in pki.issuing_certificates()


def test_a_certificate_from_another_root_is_refused(tmp_path):
    pki.signing_identity()
    other_key, other_root = pki.make_root()
    key, certificate = pki.make_issuer(other_key, other_root)
    cert_file, key_file = tmp_path / "rogue.pem", tmp_path / "rogue.key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(pki._key_pem(key))
    with pytest.raises(CommandError, match="not issued by the root"):
        call_command("rotate_diploma_issuer", certificate=cert_file, key=key_file)
    assert pki.kid_of(certificate) not in pki.issuing_certificates()


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path):
    pki.signing_identity()
    key, certificate = pki.make_issuer(pki._load_root_key(pki.pki_dir()), pki.root_certificate())
    cert_file, key_file = tmp_path / "new.pem", tmp_path / "other.key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(pki._key_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(CommandError, match="does not match"):
        call_command("rotate_diploma_issuer", certificate=cert_file, key=key_file)


# --- PKCS#11: the issuing key in a token (SoftHSM2) --------------------------------------------

SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)
TOKEN, KEY_LABEL, PIN = "bac-diplomas", "diploma-issuer", "1234"


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory):
    """A SoftHSM2 token holding a P-256 key pair generated inside it: (module, public key).
    Once per process: SoftHSM reads its configuration when first loaded, and stays loaded."""
    module = next((path for path in SOFTHSM_MODULES if os.path.exists(path)), None)
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        _missing("SoftHSM2 is not installed (Debian package softhsm2)")
    try:
        import pkcs11
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
    except ImportError:
        _missing("python-pkcs11 is not installed")
    directory = tmp_path_factory.mktemp("softhsm")
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n")
    # SoftHSM reads its configuration once, when the library is first loaded in the process.
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(  # noqa: S603
        [util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "123456"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    token = pkcs11.lib(module).get_token(token_label=TOKEN)
    with token.open(rw=True, user_pin=PIN) as session:
        parameters = session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        public, _private = parameters.generate_keypair(store=True, label=KEY_LABEL)
        public_key = serialization.load_der_public_key(encode_ec_public_key(public))
    yield module, public_key
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


def _token_pki(settings, tmp_path, module, public_key):
    """A production PKI directory whose issuing certificate certifies the token's key; the
    root key stays 'offline' (returned to the test)."""
    root_key, root = pki.make_root()
    _, certificate = pki.make_issuer(root_key, root, public_key=public_key)
    directory = tmp_path / "token-pki"
    (directory / "issuers").mkdir(parents=True)
    (directory / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (directory / "issuer.pem").write_bytes(pem)
    (directory / "issuers" / f"{pki.kid_of(certificate)}.pem").write_bytes(pem)
    settings.DIPLOMA_PKI_DIR = str(directory)
    settings.DIPLOMA_PKCS11_MODULE = module
    settings.DIPLOMA_PKCS11_TOKEN = TOKEN
    settings.DIPLOMA_PKCS11_KEY_LABEL = KEY_LABEL
    settings.DIPLOMA_PKCS11_PIN = PIN
    return root_key, root, certificate


def test_a_pkcs11_token_signs_the_qr_code_and_the_pdf(settings, tmp_path, softhsm):
    from diplomas import pdf
    from tests.diplomas.test_pdf import make_diploma

    module, public_key = softhsm
    _root_key, root, certificate = _token_pki(settings, tmp_path, module, public_key)
    identity = pki.signing_identity()
    assert identity.certificate == certificate and identity.chain[1] == root
    with pytest.raises(NotImplementedError):
        identity.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    verdict = qr.decode_qr(qr.encode_qr(CLAIMS))
    assert verdict.ok and verdict.kid == identity.kid
    settings.MEDIA_ROOT = tmp_path / "media"
    pdf_verdict = pdf.verify_pdf(pdf.build_pdf(make_diploma("BAC-2025-TOKEN")))
    assert pdf_verdict.ok and pdf_verdict.kid == identity.kid, pdf_verdict


def test_a_token_key_that_does_not_match_the_certificate_is_refused(settings, tmp_path, softhsm):
    module, _public_key = softhsm
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    _token_pki(settings, tmp_path, module, other)
    with pytest.raises(ImproperlyConfigured, match="does not match"):
        pki.signing_identity()


def test_rotation_with_a_token_installs_the_certificate_only(settings, tmp_path, softhsm):
    module, public_key = softhsm
    root_key, root, first = _token_pki(settings, tmp_path, module, public_key)
    pki.signing_identity()
    with pytest.raises(CommandError, match="PKCS#11"):
        call_command("rotate_diploma_issuer")
    # The offline root certifies the token's key again (a renewal).
    _, renewed = pki.make_issuer(root_key, root, public_key=public_key)
    cert_file = tmp_path / "renewed.pem"
    cert_file.write_bytes(renewed.public_bytes(serialization.Encoding.PEM))
    call_command("rotate_diploma_issuer", certificate=cert_file, stdout=io.StringIO())
    assert pki.signing_identity().certificate == renewed
    assert set(pki.issuing_certificates()) == {pki.kid_of(first), pki.kid_of(renewed)}
    assert b"PRIVATE KEY" not in (tmp_path / "token-pki" / "issuer.pem").read_bytes()
