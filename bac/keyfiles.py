"""Key files generated on first start and the objects loaded from them.

Several processes start at once (gunicorn workers, Celery): a key is written aside and linked
into place, so that nobody reads half a file and the first writer wins; what is loaded from a
folder of keys is kept per process and loaded again when the files change (a rotation done by
another process), which costs a few stat calls per use.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

T = TypeVar("T")


def write_new(path: Path, content: bytes, replace: bool = False) -> bool:
    """Write `content` to `path` owner-only and atomically; without `replace`, only if `path`
    does not exist yet (False if another process won the race)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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


def mtime_ns(path: Path) -> int:
    """When `path` last changed (0 if it does not exist)."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


class StampedCache(Generic[T]):
    """`load(folder)` kept per folder until `stamp(folder)` changes."""

    def __init__(self, load: Callable[[Path], T], stamp: Callable[[Path], tuple]) -> None:
        self._load = load
        self._stamp = stamp
        self._items: dict[str, tuple[tuple, T]] = {}
        self._lock = threading.Lock()

    def get(self, folder: Path) -> T:
        cached = self._items.get(str(folder))
        if cached is not None and cached[0] == self._stamp(folder):
            return cached[1]
        with self._lock:
            value = self._load(folder)
            self._items[str(folder)] = (self._stamp(folder), value)
            return value

    def forget(self, folder: Path) -> None:
        self._items.pop(str(folder), None)

    def clear(self) -> None:
        self._items.clear()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_ed25519_keys(
    keys_dir: Path,
    private_file: str,
    public_dir: str,
    *,
    kid: Callable[[Ed25519PublicKey], str],
    configured_pem: str = "",
    extra_public: tuple[str, ...] | list[str] = (),
) -> tuple[Ed25519PrivateKey, dict[str, Ed25519PublicKey]]:
    """An Ed25519 signing key and every public key ever used with it, by kid.

    The signing key comes from `configured_pem` (production) or `keys_dir/private_file`
    (generated on first use). Each key's public half is published as `public_dir/<kid>`
    (base64url raw bytes) and kept after a rotation, so that what it signed stays verifiable;
    `extra_public` adds keys retired elsewhere (another deployment, a restored backup).
    """
    private_path = keys_dir / private_file
    if configured_pem:
        pem = configured_pem.encode()
    else:
        if not private_path.exists():
            write_new(private_path, ed25519_pem(Ed25519PrivateKey.generate()))
        pem = private_path.read_bytes()
    signing_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise ValueError(f"{private_path.name}: the signing key must be an Ed25519 key")
    publish_ed25519(keys_dir / public_dir, signing_key.public_key(), kid)
    public_keys: dict[str, Ed25519PublicKey] = {}
    for entry in sorted((keys_dir / public_dir).iterdir()):
        if not entry.name.startswith("."):
            key = Ed25519PublicKey.from_public_bytes(_b64url_decode(entry.read_text().strip()))
            public_keys[kid(key)] = key
    for x in extra_public:
        key = Ed25519PublicKey.from_public_bytes(_b64url_decode(x))
        public_keys[kid(key)] = key
    return signing_key, public_keys


def publish_ed25519(
    folder: Path, public_key: Ed25519PublicKey, kid: Callable[[Ed25519PublicKey], str]
) -> None:
    target = folder / kid(public_key)
    if not target.exists():
        write_new(target, _b64url(_raw(public_key)).encode())


def ed25519_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
