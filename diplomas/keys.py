"""The diploma credential signing keys (Ed25519) and the documents that publish them.

Kept under settings.KEYS_DIR like the convocation key (convocations/keys.py), generated on first
use in the embedded default; in production the private key comes from the file put there or
from settings.DIPLOMA_SIGNING_KEY (PEM):

    diploma_ed25519.pem          the current private key (owner-only)
    diploma_public_keys/<kid>    the raw public key (base64url) of every key ever used

Rotation (`manage.py rotate_diploma_key`) archives the current public key and writes a new
private key: credentials signed before stay verifiable, their verification method is still in
the DID document (/.well-known/did.json) and the JWKS (/diplomas/jwks.json). Every process
notices a rotation on its next signature (the files are stat'ed on each use).

The DID is `did:web:<host of the site URL>`; a verification method is `<did>#<kid>`, a Multikey
whose publicKeyMultibase is `z6Mk...`. The kid is the base64url of the first 8 bytes of the
SHA-256 of the raw public key.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from bac.keyfiles import (
    StampedCache,
    ed25519_pem,
    load_ed25519_keys,
    mtime_ns,
    publish_ed25519,
    write_new,
)

from .codec import b64url, multikey_ed25519
from .dataintegrity import DID_V1, MULTIKEY_V1

PRIVATE_KEY_FILE = "diploma_ed25519.pem"
PUBLIC_KEYS_DIR = "diploma_public_keys"


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return b64url(hashlib.sha256(raw_public_key(key)).digest()[:8])


def site_url() -> str:
    from notifications.services import site_url as notifications_site_url

    return notifications_site_url()


def did_for(url: str) -> str:
    """did:web of a site URL: the host (a port is percent-encoded), then the path if any."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise ValueError("the site URL has no host")
    host = parts.hostname + (f"%3A{parts.port}" if parts.port else "")
    path = [p for p in parts.path.split("/") if p]
    return ":".join(["did:web", host, *path])


def issuer_did() -> str:
    return did_for(site_url())


@dataclass(frozen=True)
class KeyRing:
    signing_key: Ed25519PrivateKey
    kid: str
    public_keys: dict[str, Ed25519PublicKey]  # kid -> key, the current one included

    def verification_method(self, did: str, kid: str | None = None) -> str:
        return f"{did}#{kid or self.kid}"

    def did_document(self, did: str) -> dict[str, Any]:
        methods = [
            {
                "id": f"{did}#{kid}",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": multikey_ed25519(raw_public_key(key)),
            }
            for kid, key in self._ordered()
        ]
        ids = [m["id"] for m in methods]
        return {
            "@context": [DID_V1, MULTIKEY_V1],
            "id": did,
            "verificationMethod": methods,
            "assertionMethod": ids,
        }

    def jwks_keys(self) -> list[dict[str, Any]]:
        return [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(raw_public_key(key)),
                "kid": kid,
                "use": "sig",
                "alg": "EdDSA",
                **({"status": "current"} if kid == self.kid else {}),
            }
            for kid, key in self._ordered()
        ]

    def _ordered(self) -> list[tuple[str, Ed25519PublicKey]]:
        # The current key first, then the retired ones in a stable order.
        return sorted(self.public_keys.items(), key=lambda item: (item[0] != self.kid, item[0]))


def _load(keys_dir: Path) -> KeyRing:
    signing_key, public_keys = load_ed25519_keys(
        keys_dir,
        PRIVATE_KEY_FILE,
        PUBLIC_KEYS_DIR,
        kid=key_id,
        configured_pem=getattr(settings, "DIPLOMA_SIGNING_KEY", ""),
        extra_public=tuple(getattr(settings, "DIPLOMA_EXTRA_PUBLIC_KEYS", ())),
    )
    return KeyRing(signing_key, key_id(signing_key.public_key()), public_keys)


def _stamp(keys_dir: Path) -> tuple:
    return (
        mtime_ns(keys_dir / PRIVATE_KEY_FILE),
        mtime_ns(keys_dir / PUBLIC_KEYS_DIR),
        getattr(settings, "DIPLOMA_SIGNING_KEY", ""),
        tuple(getattr(settings, "DIPLOMA_EXTRA_PUBLIC_KEYS", ())),
    )


_rings: StampedCache[KeyRing] = StampedCache(_load, _stamp)


def key_ring() -> KeyRing:
    """The current key ring, created on first use and reloaded when the files change."""
    return _rings.get(Path(settings.KEYS_DIR))


def rotate() -> tuple[str, str]:
    """Replace the signing key; the old public key stays published. Returns (old, new) kids."""
    if getattr(settings, "DIPLOMA_SIGNING_KEY", ""):
        raise RuntimeError("the signing key comes from DIPLOMA_SIGNING_KEY: rotate it there")
    keys_dir = Path(settings.KEYS_DIR)
    old = key_ring()
    new_key = Ed25519PrivateKey.generate()
    publish_ed25519(keys_dir / PUBLIC_KEYS_DIR, new_key.public_key(), key_id)
    write_new(keys_dir / PRIVATE_KEY_FILE, ed25519_pem(new_key), replace=True)
    _rings.forget(keys_dir)
    return old.kid, key_ring().kid


def did_document() -> dict[str, Any]:
    return key_ring().did_document(issuer_did())


def jwks() -> dict[str, Any]:
    """Every key a diploma face may be signed with: Ed25519 (credentials) and P-256 (SD-JWT,
    QR code, PDF), current and retired."""
    from . import pki

    keys = key_ring().jwks_keys()
    current = pki.signing_identity().kid
    for kid, certificate in sorted(pki.issuing_certificates().items()):
        jwk = dict(pki.public_jwk(certificate))
        if kid == current:
            jwk["status"] = "current"
        keys.append(jwk)
    return {"keys": keys}
