"""The diploma as a W3C Verifiable Credential 2.0 / Open Badges 3.0 `OpenBadgeCredential`, and the
issuer's Bitstring Status List credential. Pure module (no Django).

Only terms of the two pinned contexts are used (VC 2.0 and OB 3.0.3), so nothing is dropped by
JSON-LD processing and nothing unsigned can be slipped in:
- the holder is identified by OB3 IdentityObjects in `credentialSubject.identifier`: the CNIE
  number as a salted SHA-256 (`hashed: true`, `salt`), the names, birth date and place in clear
  (`hashed: false`; the non-standard ones typed `ext:...`, as OB3 allows);
- the diploma number is `credentialSubject.licenseNumber`; the issuing academy is
  `credentialSubject.source` (who assessed on behalf of the issuer, the ministry);
- averages and the mention are OB3 `result`s described in `achievement.resultDescription`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import dataintegrity as di
from .codec import encode_bitstring

CONTEXT = [di.VC_V2, di.OB_V3]
STATUS_CONTEXT = [di.VC_V2]
STATUS_LIST_TTL_MS = 60_000
STATUS_LIST_BITS = 1_048_576  # 2^20 per list (131,072 bytes, a few hundred once gzipped)
AVERAGES = (
    ("general_average", "urn:bac:result:general-average", "Moyenne générale"),
    ("national_average", "urn:bac:result:national-average", "Moyenne de l'examen national"),
    ("regional_average", "urn:bac:result:regional-average", "Moyenne de l'examen régional"),
    ("continuous_average", "urn:bac:result:continuous-average", "Moyenne du contrôle continu"),
)
MENTION_RESULT = "urn:bac:result:mention"
# identityType of each clear identity claim: (claims key, OB3 identityType)
IDENTITIES = (
    ("name_latin", "name"),
    ("last_name_latin", "ext:familyName"),
    ("first_name_latin", "ext:givenName"),
    ("last_name_ar", "ext:familyNameArabic"),
    ("first_name_ar", "ext:givenNameArabic"),
    ("birth_date", "ext:birthDate"),
    ("birth_place_latin", "ext:birthPlace"),
    ("birth_place_ar", "ext:birthPlaceArabic"),
)


def identity_hash(value: str, salt: str) -> str:
    """OB3 IdentityHash: `sha256$` + hex SHA-256 of the UTF-8 value with the salt appended."""
    return "sha256$" + hashlib.sha256((value + salt).encode("utf-8")).hexdigest()


def status_location(site: str, index: int) -> tuple[str, int, str]:
    """(status list credential URL, index in that list, list id) of a global status index."""
    list_id = str(index // STATUS_LIST_BITS)
    return f"{site}/diplomas/status/{list_id}.json", index % STATUS_LIST_BITS, list_id


@dataclass(frozen=True)
class Issuer:
    site: str  # e.g. https://bac.example.ma (no trailing slash)
    did: str
    name: str
    verification_method: str
    created: str  # the proof's `created`, an XSD dateTime


def _shape(claims: Mapping[str, Any]) -> tuple:
    return (
        tuple(claims.get(key) not in (None, "") for key, _iri, _label in AVERAGES),
        bool(claims.get("mention_fr")),
    )


def skeleton(shape: tuple) -> dict[str, Any]:
    """The credential with a `{{slot}}` in every per-diploma string."""
    averages, has_mention = shape
    descriptions = []
    results = []
    for (key, iri, label), present in zip(AVERAGES, averages, strict=True):
        if not present:
            continue
        descriptions.append(
            {
                "id": iri,
                "type": ["ResultDescription"],
                "name": label,
                "resultType": "GradePointAverage",
                "valueMin": "0",
                "valueMax": "20",
            }
        )
        results.append({"type": ["Result"], "resultDescription": iri, "value": "{{" + key + "}}"})
    if has_mention:
        descriptions.append(
            {
                "id": MENTION_RESULT,
                "type": ["ResultDescription"],
                "name": "Mention",
                "resultType": "ext:Mention",
            }
        )
        results.append(
            {"type": ["Result"], "resultDescription": MENTION_RESULT, "value": "{{mention_fr}}"}
        )
    identifiers: list[dict[str, Any]] = [
        {
            "type": "IdentityObject",
            "identityHash": "{{cnie_hash}}",
            "identityType": "nationalIdentityNumber",
            "hashed": True,
            "salt": "{{cnie_salt}}",
        }
    ]
    identifiers += [
        {
            "type": "IdentityObject",
            "identityHash": "{{" + key + "}}",
            "identityType": identity_type,
            "hashed": False,
        }
        for key, identity_type in IDENTITIES
    ]
    return {
        "@context": list(CONTEXT),
        "id": "{{id}}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "{{title}}",
        "issuer": {"id": "{{issuer}}", "type": ["Profile"], "name": "{{issuer_name}}"},
        "validFrom": "{{valid_from}}",
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": identifiers,
            "licenseNumber": "{{number}}",
            "achievement": {
                "id": "{{achievement_id}}",
                "type": ["Achievement"],
                "achievementType": "Diploma",
                "name": "{{achievement_name}}",
                "description": "{{achievement_description}}",
                "criteria": {"narrative": "{{criteria}}"},
                "fieldOfStudy": "{{track_fr}}",
                "humanCode": "{{track}}",
                "inLanguage": "fr",
                "resultDescription": descriptions,
            },
            "result": results,
            "source": {"id": "{{academy_id}}", "type": ["Profile"], "name": "{{academy_fr}}"},
        },
        "credentialStatus": {
            "id": "{{status_id}}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "{{status_index}}",
            "statusListCredential": "{{status_list}}",
        },
    }


_SLOT = re.compile(r"\{\{([a-z_]+)\}\}")
IRI_SLOTS = ["id", "issuer", "achievement_id", "academy_id", "status_id", "status_list"]


def _slots_of(document: Any, found: list[str]) -> list[str]:
    if isinstance(document, dict):
        for value in document.values():
            _slots_of(value, found)
    elif isinstance(document, list):
        for value in document:
            _slots_of(value, found)
    elif isinstance(document, str) and document.startswith("{{") and document.endswith("}}"):
        name = document[2:-2]
        if name not in found:
            found.append(name)
    return found


def fill(document: Any, values: Mapping[str, str]) -> Any:
    if isinstance(document, dict):
        return {k: fill(v, values) for k, v in document.items()}
    if isinstance(document, list):
        return [fill(v, values) for v in document]
    if isinstance(document, str) and document.startswith("{{") and document.endswith("}}"):
        return values[document[2:-2]]
    return document


def _builder(document: Any) -> Callable[[Mapping[str, str]], dict]:
    """fill(document, values) as one compiled expression: a dict display with the constants
    written in (repr of our own skeleton's strings and booleans) and `values[name]` in each
    slot. Six times faster than walking the skeleton or parsing its filled JSON text, and
    every call builds new lists and dicts, as fill() does."""

    def source(node: Any) -> str:
        if isinstance(node, dict):
            return "{" + ", ".join(f"{k!r}: {source(v)}" for k, v in node.items()) + "}"
        if isinstance(node, list):
            return "[" + ", ".join(source(v) for v in node) + "]"
        if isinstance(node, str) and (slot := _SLOT.fullmatch(node)):
            return f"values[{slot[1]!r}]"
        if node is None or isinstance(node, str | bool | int):
            return repr(node)
        raise TypeError(f"unexpected {type(node).__name__} in a credential skeleton")

    if not isinstance(document, dict):
        raise TypeError("a credential skeleton is a JSON object")
    code = compile(f"lambda values: {source(document)}", "<credential skeleton>", "eval")
    return eval(code, {"__builtins__": {}})  # noqa: S307  (our own skeleton, see above)


@functools.lru_cache(maxsize=4096)  # sessions, tracks, academies: a handful of values
def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in text) or "-"


def slot_values(
    claims: Mapping[str, Any],
    *,
    number: str,
    status_index: int,
    issuer: Issuer,
    valid_from: str,
    salt: str | None = None,
) -> dict[str, str]:
    site = issuer.site
    status_list, index_in_list, _list_id = status_location(site, status_index)
    salt = salt or secrets.token_hex(16)
    track_fr = str(claims.get("track_fr") or claims.get("track") or "")
    values = {
        "id": f"{site}/diplomas/credentials/{number}",
        "title": f"Baccalauréat — {track_fr} — session {claims.get('session_year', '')}",
        "issuer": issuer.did,
        "issuer_name": issuer.name,
        "valid_from": valid_from,
        "cnie_hash": identity_hash(str(claims["cnie_number"]), salt),
        "cnie_salt": salt,
        "name_latin": f"{claims.get('first_name_latin', '')} {claims.get('last_name_latin', '')}",
        "number": number,
        "achievement_id": (
            f"{site}/diplomas/achievements/{_slug(str(claims.get('session', '')))}/"
            f"{_slug(str(claims.get('track', '')))}"
        ),
        "achievement_name": f"Baccalauréat — {track_fr}",
        "achievement_description": (
            "Diplôme du baccalauréat de l'enseignement secondaire, Royaume du Maroc."
        ),
        "criteria": "Admission à l'examen national du baccalauréat.",
        "track_fr": track_fr,
        "track": str(claims.get("track", "")),
        "academy_id": f"{site}/diplomas/academies/{_slug(str(claims.get('academy', '')))}",
        "academy_fr": str(claims.get("academy_fr", "")),
        "status_id": f"{status_list}#{index_in_list}",
        "status_index": str(index_in_list),
        "status_list": status_list,
        "mention_fr": str(claims.get("mention_fr") or ""),
    }
    for key, _type in IDENTITIES:
        if key != "name_latin":
            values[key] = str(claims.get(key) or "")
    for key, _iri, _label in AVERAGES:
        if claims.get(key) not in (None, ""):
            values[key] = str(claims[key])
    return values


@dataclass
class CredentialFactory:
    """Signs credentials fast: one JSON-LD template per credential shape (see dataintegrity)."""

    issuer: Issuer
    private_key: Ed25519PrivateKey
    _templates: dict[tuple, tuple[di.Template, Callable[[Mapping[str, str]], dict]]] = field(
        default_factory=dict
    )

    def _template(self, shape: tuple) -> tuple[di.Template, Callable[[Mapping[str, str]], dict]]:
        """The RDF template of a shape, and a function that builds its JSON document from the
        slot values (see _builder)."""
        if shape not in self._templates:
            document = skeleton(shape)
            slots = _slots_of(document, [])
            literal = [s for s in slots if s not in IRI_SLOTS]
            template, _shaped = di.Template.build(document, literal, IRI_SLOTS)
            self._templates[shape] = (template, _builder(document))
        return self._templates[shape]

    def issue(
        self,
        claims: Mapping[str, Any],
        *,
        number: str,
        status_index: int,
        valid_from: str,
        salt: str | None = None,
    ) -> dict[str, Any]:
        values = slot_values(
            claims,
            number=number,
            status_index=status_index,
            issuer=self.issuer,
            valid_from=valid_from,
            salt=salt,
        )
        template, build = self._template(_shape(claims))
        canonical = template.canonical(values)
        return di.attach_proof(
            build(values),
            canonical,
            self.private_key,
            self.issuer.verification_method,
            self.issuer.created,
        )


def status_list_credential(
    *,
    url: str,
    issuer: Issuer,
    revoked: set[int] | list[int],
    valid_from: str,
    private_key: Ed25519PrivateKey,
    length: int = STATUS_LIST_BITS,
) -> dict[str, Any]:
    document = {
        "@context": list(STATUS_CONTEXT),
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.did,
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_bitstring(revoked, length),
            # Milliseconds a verifier may cache it: the URL's max-age (views.status_list).
            "ttl": STATUS_LIST_TTL_MS,
        },
    }
    return di.sign(document, private_key, issuer.verification_method, valid_from)
