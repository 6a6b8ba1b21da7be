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

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from .codec import b64url, b64url_decode, key_id, raw_public_key

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


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_new(path: Path, content: bytes, replace: bool = False) -> bool:
    """Write `content` to `path` owner-only and atomically; without `replace`, only if `path`
    does not exist yet (False if another process won the race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if replace:
            os.replace(temporary, path)
            return True
        os.link(temporary, path)  # fails if the file exists: first writer wins
        return True
    except FileExistsError:
        return False
    finally:
        if temporary.exists():
            temporary.unlink()


def _publish(keys_dir: Path, public_key: Ed25519PublicKey) -> None:
    kid = b64url(key_id(public_key))
    target = keys_dir / PUBLIC_KEYS_DIR / kid
    if not target.exists():
        _write_new(target, b64url(raw_public_key(public_key)).encode())


def _load(keys_dir: Path) -> KeyRing:
    private_path = keys_dir / PRIVATE_KEY_FILE
    configured = getattr(settings, "CONVOCATION_SIGNING_KEY", "")
    if configured:
        pem = configured.encode()
    else:
        if not private_path.exists():
            _write_new(private_path, _pem(Ed25519PrivateKey.generate()))
        pem = private_path.read_bytes()
    signing_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise ValueError("the convocation signing key must be an Ed25519 key")
    _publish(keys_dir, signing_key.public_key())
    public_keys: dict[str, Ed25519PublicKey] = {}
    directory = keys_dir / PUBLIC_KEYS_DIR
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        key = Ed25519PublicKey.from_public_bytes(b64url_decode(entry.read_text().strip()))
        public_keys[b64url(key_id(key))] = key
    # Keys retired elsewhere (another deployment, a restored backup), as base64url "x" values.
    for x in getattr(settings, "CONVOCATION_EXTRA_PUBLIC_KEYS", ()):
        key = Ed25519PublicKey.from_public_bytes(b64url_decode(x))
        public_keys[b64url(key_id(key))] = key
    kid = b64url(key_id(signing_key.public_key()))
    return KeyRing(signing_key, kid, public_keys)


_cache: dict[str, tuple[tuple, KeyRing]] = {}
_lock = threading.Lock()


def _stamp(keys_dir: Path) -> tuple:
    def mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    return (
        mtime(keys_dir / PRIVATE_KEY_FILE),
        mtime(keys_dir / PUBLIC_KEYS_DIR),
        getattr(settings, "CONVOCATION_SIGNING_KEY", ""),
        tuple(getattr(settings, "CONVOCATION_EXTRA_PUBLIC_KEYS", ())),
    )


def key_ring() -> KeyRing:
    """The current key ring, created on first use and reloaded when the files change."""
    keys_dir = Path(settings.KEYS_DIR)
    stamp = _stamp(keys_dir)
    cached = _cache.get(str(keys_dir))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _lock:
        ring = _load(keys_dir)
        _cache[str(keys_dir)] = (_stamp(keys_dir), ring)
        return ring


def rotate() -> tuple[str, str]:
    """Replace the signing key; the old public key stays published. Returns (old, new) kids."""
    if getattr(settings, "CONVOCATION_SIGNING_KEY", ""):
        raise RuntimeError("the signing key comes from CONVOCATION_SIGNING_KEY: rotate it there")
    keys_dir = Path(settings.KEYS_DIR)
    old = key_ring()
    new_key = Ed25519PrivateKey.generate()
    _publish(keys_dir, new_key.public_key())
    _write_new(keys_dir / PRIVATE_KEY_FILE, _pem(new_key), replace=True)
    _cache.pop(str(keys_dir), None)
    return old.kid, key_ring().kid
