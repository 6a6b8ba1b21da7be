"""The diploma PKI: the ministry's root CA and the issuing certificate that signs the PDF
(PAdES) and the QR code (COSE ES256).

    root CA        P-256, self-signed, CA:TRUE pathlen 0, keyCertSign + cRLSign, 40 years
      issuing      P-256, CA:FALSE, digitalSignature + nonRepudiation, 30 years (within root)

Files, in settings.DIPLOMA_PKI_DIR (default KEYS_DIR/diploma_pki), all owner-only:

    root.pem              the root certificate (the trust anchor verifiers install)
    root.key.pem          the root's private key: only in the embedded default, where it is
                          generated on first start; in production the root stays offline and
                          this file is absent (rotation then installs a certificate the offline
                          CA issued: `rotate_diploma_issuer --certificate --key`)
    issuer.pem            the current issuing private key AND certificate in one file, so that
                          a rotation replaces both in a single atomic rename (a process never
                          reads a new key with an old certificate); with a PKCS#11 token it holds
                          the certificate only
    issuers/<kid>.pem     every issuing certificate ever used, the current one included: what
                          signed before a rotation still verifies

The kid of an issuing certificate is the base64url of the first 8 bytes of the SHA-256 of its
DER encoding; the COSE protected header of the QR code carries those 8 bytes.

With DIPLOMA_PKI_DIR unset (embedded default) everything is generated on first use. With it
set, the files must exist: nothing is generated, a missing file is a configuration error.

PKCS#11 (DIPLOMA_PKCS11_MODULE, _TOKEN, _KEY_LABEL, PIN in DIPLOMA_PKCS11_PIN): the issuing
private key stays in the token (an HSM); `issuer.pem` holds only its certificate. The key is
reached through python-pkcs11 (pyHanko's own PKCS#11 dependency; the optional extra
`pip install .[pkcs11]`) and wrapped as a `cryptography` EllipticCurvePrivateKey whose sign()
asks the token, so the QR, SD-JWT and PDF code does not know where the key lives. Tested with
SoftHSM2 (tests/diplomas/test_pki.py).

Operating it in production:
1. On the offline CA machine, make the root (P-256, CA:TRUE pathlen 0) and keep its key there.
2. Make the issuing key (in the HSM, or a PEM file), have the root certify it with the profile
   of make_issuer() (CA:FALSE; digitalSignature + nonRepudiation, critical).
3. Put root.pem, issuer.pem (key + certificate, or the certificate alone with PKCS#11) and
   issuers/<kid>.pem of every certificate ever used in DIPLOMA_PKI_DIR (owner-only); the
   kid is printed by `manage.py rotate_diploma_issuer` and is pki.kid_of(certificate).
4. Publish root.pem for verifiers (PDF readers trust it for signatures: in NSS,
   `certutil -A -n bac-root -t ",C," -i root.pem`, the middle flag being e-mail/S/MIME).
5. Rotate: `manage.py rotate_diploma_issuer --certificate new.pem [--key new.key.pem]`.
   Workers pick the new certificate up on their next signature (files are stat'ed).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from bac.keyfiles import StampedCache, mtime_ns, write_new

ROOT_CERT = "root.pem"
ROOT_KEY = "root.key.pem"
ISSUER = "issuer.pem"
ARCHIVE = "issuers"
ROOT_YEARS = 40
ISSUER_YEARS = 30


@dataclass(frozen=True)
class SigningIdentity:
    """What signs a diploma's PDF and QR code."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # (issuing certificate, root)
    kid: str


@dataclass(frozen=True)
class _State:
    root: x509.Certificate
    identity: SigningIdentity
    issuers: dict[str, x509.Certificate]  # kid -> certificate, current one included


def kid_bytes(certificate: x509.Certificate) -> bytes:
    """The 8 bytes that name an issuing certificate (COSE kid)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()[:8]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def kid_of(certificate: x509.Certificate) -> str:
    """The kid as text: base64url of kid_bytes()."""
    return b64url(kid_bytes(certificate))


def public_jwk(certificate: x509.Certificate) -> dict[str, str]:
    """The certificate's public key as a JWK (RFC 7518 §6.2), with its kid and x5c: what a
    JWKS publishes and what the JS interop test feeds cose-js."""
    numbers = certificate.public_key().public_numbers()
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
        "kid": kid_of(certificate),
        "use": "sig",
        "alg": "ES256",
        "x5c": [base64.b64encode(der).decode("ascii")],
    }


# --- generation (embedded default, rotation) ---------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME,
                "Royaume du Maroc - Ministère de l'Éducation nationale",
            ),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Baccalauréat"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_root(
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new self-signed root CA (P-256). May sign end-entity certificates only (pathlen 0)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = _now()
    name = _name("Bac e-Services - Autorité racine des diplômes")
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def make_issuer(
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey | None, x509.Certificate]:
    """A new issuing certificate signed by the root. Without `public_key` a key pair is
    generated and returned; with one (a key held in a token) only the certificate is made."""
    key = None
    if public_key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = key.public_key()
    now = _now()
    not_after = min(now + dt.timedelta(days=365 * ISSUER_YEARS), root.not_valid_after_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Bac e-Services - Émetteur des diplômes {now:%Y-%m-%d %H%M%S}"))
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation: a PAdES signature commits the issuer
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return key, certificate


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _archive(directory: Path, certificate: x509.Certificate) -> None:
    target = directory / ARCHIVE / f"{kid_of(certificate)}.pem"
    if not target.exists():
        write_new(target, _cert_pem(certificate))


def _generate(directory: Path) -> None:
    """First start of the embedded default: a root, then an issuing certificate. Each step is
    first-writer-wins, so concurrent workers end up with one PKI."""
    if not (directory / ROOT_CERT).exists():
        root_key, root = make_root()
        # The key first: a root certificate without its key could never issue again.
        if write_new(directory / ROOT_KEY, _key_pem(root_key)):
            write_new(directory / ROOT_CERT, _cert_pem(root), replace=True)
        else:  # another worker won: its certificate follows its key within moments
            deadline = time.monotonic() + 10
            while not (directory / ROOT_CERT).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
    if not (directory / ISSUER).exists():
        root_key, root = _load_root_key(directory), _load_root(directory)
        key, certificate = make_issuer(root_key, root)
        assert key is not None
        # Archived only by the winner: a loser's certificate never signed anything.
        if write_new(directory / ISSUER, _key_pem(key) + _cert_pem(certificate)):
            _archive(directory, certificate)


# --- loading -----------------------------------------------------------------------------------


def pki_dir() -> Path:
    configured = getattr(settings, "DIPLOMA_PKI_DIR", "")
    return Path(configured) if configured else Path(settings.KEYS_DIR) / "diploma_pki"


def _embedded() -> bool:
    return not getattr(settings, "DIPLOMA_PKI_DIR", "")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImproperlyConfigured(f"diploma PKI: {path} is missing") from None


def _load_root(directory: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(_read(directory / ROOT_CERT))


def _load_root_key(directory: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(_read(directory / ROOT_KEY), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ImproperlyConfigured("diploma PKI: the root key must be an EC key")
    return key


def _pkcs11_configured() -> bool:
    return bool(getattr(settings, "DIPLOMA_PKCS11_MODULE", ""))


def _load_issuer(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    data = _read(directory / ISSUER)
    certificate = x509.load_pem_x509_certificate(data)
    if _pkcs11_configured():
        key = _TokenKey(certificate)
    else:
        key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ImproperlyConfigured("diploma PKI: the issuing key must be a P-256 EC key")
    if isinstance(key, _TokenKey):
        # The token's key must be the certificate's: one signature, checked, at load time.
        probe = b"diploma PKI: does the token hold the certificate's key?"
        try:
            certificate.public_key().verify(
                key.sign(probe, ec.ECDSA(hashes.SHA256())), probe, ec.ECDSA(hashes.SHA256())
            )
        except Exception as error:  # InvalidSignature, or the token's own errors
            raise ImproperlyConfigured(
                f"diploma PKI: the PKCS#11 key does not match the certificate: {error!r}"
            ) from None
    elif key.public_key().public_numbers() != certificate.public_key().public_numbers():
        raise ImproperlyConfigured("diploma PKI: the issuing key does not match its certificate")
    return key, certificate


class _Token:
    """One logged-in PKCS#11 session per process (python-pkcs11 sessions do not survive a
    fork and are not thread-safe: a lock serialises the signatures)."""

    _sessions: dict[tuple, tuple[int, object]] = {}
    _lock = threading.Lock()

    @classmethod
    def session(cls):
        import pkcs11

        config = (
            settings.DIPLOMA_PKCS11_MODULE,
            settings.DIPLOMA_PKCS11_TOKEN,
            getattr(settings, "DIPLOMA_PKCS11_PIN", ""),
        )
        cached = cls._sessions.get(config)
        if cached is not None and cached[0] == os.getpid():
            return cached[1]
        module, label, pin = config
        token = pkcs11.lib(module).get_token(token_label=label)
        session = token.open(user_pin=pin or None)
        cls._sessions[config] = (os.getpid(), session)
        return session


class _TokenKey(ec.EllipticCurvePrivateKey):
    """The issuing key in a PKCS#11 token, seen as a `cryptography` private key: sign()
    hashes here and has the token sign the digest (CKM_ECDSA, which every token offers),
    then returns the DER signature `cryptography` returns. The key never leaves the token."""

    def __init__(self, certificate: x509.Certificate) -> None:
        public = certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ImproperlyConfigured("diploma PKI: the token's certificate is not an EC one")
        self._public = public
        self._label = settings.DIPLOMA_PKCS11_KEY_LABEL

    def _key(self):
        from pkcs11 import ObjectClass

        return _Token.session().get_key(object_class=ObjectClass.PRIVATE_KEY, label=self._label)

    def sign(self, data: bytes, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.utils import (
            Prehashed,
            encode_dss_signature,
        )
        from pkcs11 import Mechanism

        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, Prehashed):
            digest = data
        else:
            hasher = hashes.Hash(algorithm)
            hasher.update(data)
            digest = hasher.finalize()
        with _Token._lock:
            raw = self._key().sign(digest, mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def exchange(self, algorithm, peer_public_key) -> bytes:
        raise NotImplementedError("the diploma issuing key only signs")

    def private_numbers(self):
        raise NotImplementedError("the key stays in the PKCS#11 token")

    def private_bytes(self, encoding, format, encryption_algorithm) -> bytes:  # noqa: A002
        raise NotImplementedError("the key stays in the PKCS#11 token")

    def __copy__(self) -> _TokenKey:
        return self

    def __deepcopy__(self, memo) -> _TokenKey:
        return self


def _load(directory: Path) -> _State:
    if _embedded():
        _generate(directory)
    root = _load_root(directory)
    key, certificate = _load_issuer(directory)
    verify_issued_by(certificate, root)
    issuers: dict[str, x509.Certificate] = {}
    archive = directory / ARCHIVE
    if archive.is_dir():
        for entry in sorted(archive.iterdir()):
            if entry.name.startswith(".") or entry.suffix != ".pem":
                continue
            archived = x509.load_pem_x509_certificate(entry.read_bytes())
            verify_issued_by(archived, root)
            issuers[kid_of(archived)] = archived
    kid = kid_of(certificate)
    issuers[kid] = certificate
    identity = SigningIdentity(key, certificate, (certificate, root), kid)
    return _State(root, identity, issuers)


def verify_issued_by(certificate: x509.Certificate, root: x509.Certificate) -> None:
    """Refuse (ImproperlyConfigured) an issuing certificate the root did not sign."""
    try:
        certificate.verify_directly_issued_by(root)
    except Exception as error:  # InvalidSignature, or a key of another type
        raise ImproperlyConfigured(
            f"diploma PKI: certificate {kid_of(certificate)} is not issued by the root: {error}"
        ) from None


def _stamp(directory: Path) -> tuple:
    return (
        mtime_ns(directory / ROOT_CERT),
        mtime_ns(directory / ISSUER),
        mtime_ns(directory / ARCHIVE),
        getattr(settings, "DIPLOMA_PKCS11_MODULE", ""),
    )


_cache: StampedCache[_State] = StampedCache(_load, _stamp)


def _state() -> _State:
    """Loaded once per process and reloaded when the files change (a rotation in another
    process): three stat() calls a use."""
    return _cache.get(pki_dir())


# --- public API --------------------------------------------------------------------------------


def signing_identity() -> SigningIdentity:
    """The current issuing key, its certificate, chain and kid."""
    return _state().identity


def root_certificate() -> x509.Certificate:
    return _state().root


def issuing_certificates() -> dict[str, x509.Certificate]:
    """Every issuing certificate ever used (kid -> certificate), the current one included."""
    return dict(_state().issuers)


def certificate_for(kid: str) -> x509.Certificate | None:
    return _state().issuers.get(kid)


def rotate(certificate_pem: bytes | None = None, key_pem: bytes | None = None) -> tuple[str, str]:
    """Install a new issuing certificate under the same root; the old one stays in the archive.

    Without arguments a key pair is generated and certified with the root key (which must be
    in the PKI directory: the embedded default). With `certificate_pem` (and `key_pem`, unless
    the key is in a PKCS#11 token) a certificate the offline root issued is installed, after
    checking that the root did sign it. Returns (old kid, new kid)."""
    directory = pki_dir()
    old = _state()
    if certificate_pem is None:
        if _pkcs11_configured():
            raise ImproperlyConfigured(
                "the issuing key is in a PKCS#11 token: have the root certify it, then pass "
                "--certificate"
            )
        if not (directory / ROOT_KEY).exists():
            raise ImproperlyConfigured(
                f"the root key is not in {directory} (offline root): pass --certificate and --key"
            )
        key, certificate = make_issuer(_load_root_key(directory), old.root)
        assert key is not None
        content = _key_pem(key) + _cert_pem(certificate)
    else:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        verify_issued_by(certificate, old.root)
        if _pkcs11_configured():
            content = _cert_pem(certificate)
        else:
            if key_pem is None:
                raise ImproperlyConfigured("the new certificate's private key is needed (--key)")
            key = serialization.load_pem_private_key(key_pem, password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or (
                key.public_key().public_numbers() != certificate.public_key().public_numbers()
            ):
                raise ImproperlyConfigured("the key does not match the certificate")
            content = _key_pem(key) + _cert_pem(certificate)
    # Archive first: from the moment the new certificate signs, verifiers must know it.
    _archive(directory, certificate)
    write_new(directory / ISSUER, content, replace=True)
    _cache.forget(directory)
    return old.identity.kid, signing_identity().kid
