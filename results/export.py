"""Static export of a publication: one small signed document per candidate, for a CDN or a plain
web server, for the day the application tier is down.

    manage.py export_results PUBLICATION_ID DIR

writes

    DIR/r/<h[:3]>/<h>.jws   one per candidate; h = hex(HMAC-SHA256(export key, "MASSAR|YYYY-MM-DD"))[:32]
    DIR/index.html          the page that finds a file (French), ar.html and en.html
    DIR/lookup.js           the page's script: HMAC in the browser (WebCrypto), fetch, show
    DIR/style.css           a few lines of style for phones
    DIR/export.json         the export key, the layout and the publication
    DIR/export-key.json     the public key (JWKS), also served at /results/export-key.json

A document is a compact JWS (RFC 7515, alg EdDSA, Ed25519; RFC 8037): header.payload.signature,
base64url, checkable by any JOSE library with the published key. The payload is self-contained
JSON (names in both scripts, codes, marks); it never holds the CNIE number or the birth date.

The export key is random for each export and published with the index page. File names cannot
be guessed without it, so `r/` can be put on the CDN before the moment and the index pages (which
carry the key) at the moment. After it, finding a file takes the Massar code and the birth date,
as the online lookup does; the CDN should rate-limit 404s.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .api import labels
from .lookup import COMPONENTS, decode_entry
from .models import Publication, PublishedResult
from .publication import build_names

NAME_HEX = 32


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.cache
def _signing_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("RESULTS_EXPORT_SIGNING_KEY must be an Ed25519 private key")
    return key


def signing_key() -> Ed25519PrivateKey:
    return _signing_key(settings.RESULTS_EXPORT_SIGNING_KEY)


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | None = None) -> str:
    """The RFC 7638 thumbprint of the public key."""
    x = b64url(_raw_public(key or public_key()))
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwks() -> dict[str, Any]:
    key = public_key()
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(_raw_public(key)),
                "kid": key_id(key),
                "use": "sig",
                "alg": "EdDSA",
            }
        ]
    }


def sign_document(payload: dict[str, Any], key: Ed25519PrivateKey | None = None) -> str:
    key = key or signing_key()
    header = {"alg": "EdDSA", "kid": key_id(key.public_key()), "typ": "bac-result+jws"}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
    )
    return signing_input + "." + b64url(key.sign(signing_input.encode("ascii")))


def verify_document(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The payload of a document, if its signature verifies with one of the keys; raises
    cryptography.exceptions.InvalidSignature or ValueError otherwise."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header = json.loads(b64url_decode(parts[0]))
    if header.get("alg") != "EdDSA":
        raise ValueError("unexpected algorithm")
    for jwk in jwks.get("keys", ()):
        if jwk.get("kid") == header.get("kid") and jwk.get("crv") == "Ed25519":
            key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
            key.verify(b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"))
            return json.loads(b64url_decode(parts[1]))
    raise ValueError("no key with this kid")


def file_name(export_key: bytes, massar_code: str, birth_date) -> str:
    message = f"{massar_code}|{birth_date.isoformat()}".encode()
    return hmac.new(export_key, message, hashlib.sha256).hexdigest()[:NAME_HEX]


def relative_path(name: str) -> str:
    return f"r/{name[:3]}/{name}.jws"


def document_payload(
    entry: dict[str, Any], names: dict[str, Any], publication: Publication, issued_at: str
) -> dict[str, Any]:
    """A candidate's document: self-contained (names of track and subjects in both scripts)."""
    track = entry["t"]
    coefficients = names.get("coefficients", {}).get(track, {})
    general, continuous, regional, national = entry["avg"]
    subjects = []
    for item in entry.get("k", ()):
        component, code, mark = item[0], item[1], item[2]
        subject = names.get("subjects", {}).get(code, {})
        subjects.append(
            {
                "code": code,
                "fr": subject.get("fr", code),
                "ar": subject.get("ar", code),
                "component": component,
                "coefficient": coefficients.get(component, {}).get(code),
                "mark": mark,
                "sitting": item[3] if len(item) > 3 else "normal",
            }
        )
    track_names = names.get("tracks", {}).get(track, {})
    return {
        "iss": "Bac e-Services",
        "iat": issued_at,
        "session": {"code": names.get("session_code"), "name": names.get("session_name")},
        "sitting": publication.sitting,
        "version": entry.get("v", publication.version),
        "published_at": timezone.localtime(publication.publish_at).isoformat(),
        "candidate": {
            "massar_code": entry["m"],
            "last_name": entry["n"][0],
            "first_name": entry["n"][1],
            "last_name_ar": entry["na"][0],
            "first_name_ar": entry["na"][1],
            "track": {
                "code": track,
                "fr": track_names.get("fr", track),
                "ar": track_names.get("ar", track),
            },
        },
        "result": {
            "general_average": general,
            "averages": dict(zip(COMPONENTS, (continuous, regional, national), strict=True)),
            "decision": entry["d"],
            "mention": entry.get("me") or None,
        },
        "subjects": subjects,
    }


@dataclass
class ExportSummary:
    count: int
    directory: Path
    key_hex: str


def current_rows(publication: Publication):
    """The rows of a full publication with its ready corrections on top, one per candidate."""
    latest: dict[int, PublishedResult] = {}
    rows = (
        PublishedResult.objects.filter(
            Q(publication=publication)
            | Q(publication__base=publication, publication__status=Publication.Status.READY)
        )
        .select_related("publication")
        .order_by("publication__version")
    )
    for row in rows.iterator(chunk_size=5000):
        latest[row.candidate_id] = row
    return latest.values()


def export_publication(
    publication: Publication, directory: Path, export_key: bytes | None = None
) -> ExportSummary:
    """Write the static export of a full publication into an empty directory."""
    if publication.kind != Publication.Kind.FULL:
        publication = publication.base
    if publication.status not in (Publication.Status.READY, Publication.Status.REPLACED):
        raise ValueError("only a prepared publication can be exported")
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise ValueError(f"{directory} is not empty")
    export_key = export_key or secrets.token_bytes(32)
    key = signing_key()
    names = build_names(publication)
    issued_at = timezone.now().isoformat()
    made: set[Path] = set()
    count = 0
    for row in current_rows(publication):
        name = file_name(export_key, row.massar_code, row.birth_date)
        path = directory / relative_path(name)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        token = sign_document(
            document_payload(decode_entry(row.payload), names, publication, issued_at), key
        )
        path.write_text(token, encoding="ascii")
        count += 1
    _write_pages(directory, publication, names, export_key, count)
    return ExportSummary(count, directory, export_key.hex())


def _write_pages(
    directory: Path, publication: Publication, names: dict[str, Any], export_key: bytes, count: int
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "publication": {
            "session": names.get("session_code"),
            "sitting": publication.sitting,
            "version": publication.version,
            "published_at": timezone.localtime(publication.publish_at).isoformat(),
        },
        "count": count,
        "key": export_key.hex(),
        "name": "hex(HMAC-SHA256(key, MASSAR_CODE + '|' + YYYY-MM-DD))[:32]",
        "layout": "r/{name[:3]}/{name}.jws",
        "format": "compact JWS, EdDSA (Ed25519), public key in export-key.json",
    }
    (directory / "export.json").write_text(json.dumps(manifest, indent=1))
    (directory / "export-key.json").write_text(json.dumps(public_jwks(), indent=1))
    (directory / "lookup.js").write_text(render_to_string("results/export/lookup.js"))
    (directory / "style.css").write_text(render_to_string("results/export/style.css"))
    pages = {"fr": "index.html", "ar": "ar.html", "en": "en.html"}
    for language, page in pages.items():
        with translation.override(language):
            shown = labels(language)
            text = render_to_string(
                "results/export/index.html",
                {
                    "language": language,
                    "rtl": language == "ar",
                    "session_name": names.get("session_name"),
                    "key_hex": export_key.hex(),
                    "labels": json.dumps(
                        {
                            "decisions": dict(shown.decisions),
                            "mentions": dict(shown.mentions),
                            "components": dict(shown.components),
                        },
                        ensure_ascii=False,
                    ),
                    "pages": pages,
                },
            )
        (directory / page).write_text(text, encoding="utf-8")
    os.utime(directory)
