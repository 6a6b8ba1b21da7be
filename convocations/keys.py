"""The convocation signing key and the published public keys.

Kept under settings.KEYS_DIR, generated on first use like the project's other keys:

    convocation_ed25519.pem          the current private key (owner-only)
    convocation_public_keys/<kid>    the raw public key (base64url) of every key ever used

Rotation (`manage.py rotate_convocation_key`) archives the current public key, writes a new
private key and forgets the old one: convocations signed before stay verifiable because their
kid is still published at /convocation/keys.json. Every process notices a rotation on its next
signature (the files are stat'ed, not re-read, on each use).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

from .codec import b64url, key_id, raw_public_key

PRIVATE_KEY_FILE = "convocation_ed25519.pem"
PUBLIC_KEYS_DIR = "convocation_public_keys"


@dataclass(frozen=True)
class KeyRing:
    signing_key: Ed25519PrivateKey
    kid: str
    public_keys: dict[str, Ed25519PublicKey]  # kid (base64url) -> key, the current one included

    def jwks(self) -> dict:
        """The JWKS-like document published at /convocation/keys.json (RFC 8037 OKP keys)."""
        keys = [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(raw_public_key(key)),
                "kid": kid,
                "use": "sig",
                "alg": "EdDSA",
                **({"status": "current"} if kid == self.kid else {}),
            }
            for kid, key in sorted(self.public_keys.items(), key=lambda item: item[0] != self.kid)
        ]
        return {"keys": keys}


def _kid(public_key: Ed25519PublicKey) -> str:
    return b64url(key_id(public_key))


def _load(keys_dir: Path) -> KeyRing:
    signing_key, public_keys = load_ed25519_keys(
        keys_dir,
        PRIVATE_KEY_FILE,
        PUBLIC_KEYS_DIR,
        kid=_kid,
        configured_pem=getattr(settings, "CONVOCATION_SIGNING_KEY", ""),
        extra_public=tuple(getattr(settings, "CONVOCATION_EXTRA_PUBLIC_KEYS", ())),
    )
    return KeyRing(signing_key, _kid(signing_key.public_key()), public_keys)


def _stamp(keys_dir: Path) -> tuple:
    return (
        mtime_ns(keys_dir / PRIVATE_KEY_FILE),
        mtime_ns(keys_dir / PUBLIC_KEYS_DIR),
        getattr(settings, "CONVOCATION_SIGNING_KEY", ""),
        tuple(getattr(settings, "CONVOCATION_EXTRA_PUBLIC_KEYS", ())),
    )


_rings: StampedCache[KeyRing] = StampedCache(_load, _stamp)


def key_ring() -> KeyRing:
    """The current key ring, created on first use and reloaded when the files change."""
    return _rings.get(Path(settings.KEYS_DIR))


def rotate() -> tuple[str, str]:
    """Replace the signing key; the old public key stays published. Returns (old, new) kids."""
    if getattr(settings, "CONVOCATION_SIGNING_KEY", ""):
        raise RuntimeError("the signing key comes from CONVOCATION_SIGNING_KEY: rotate it there")
    keys_dir = Path(settings.KEYS_DIR)
    old = key_ring()
    new_key = Ed25519PrivateKey.generate()
    publish_ed25519(keys_dir / PUBLIC_KEYS_DIR, new_key.public_key(), _kid)
    write_new(keys_dir / PRIVATE_KEY_FILE, ed25519_pem(new_key), replace=True)
    _rings.forget(keys_dir)
    return old.kid, key_ring().kid
