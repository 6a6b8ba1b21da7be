"""The SD-JWT VC face as issued: each part is what the plain construction gives, and it verifies."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from diplomas import sdjwt
from diplomas.codec import b64url, b64url_decode

KEY = ec.generate_private_key(ec.SECP256R1())
STATUS = {
    "type": "BitstringStatusListEntry",
    "statusPurpose": "revocation",
    "statusListIndex": "7",
    "statusListCredential": "https://bac.example.ma/diplomas/status/0.json",
}
CLAIMS = {
    "cnie_number": "BE654321",
    "last_name_latin": "EL AMRANI",
    "first_name_latin": "Mohamed",
    "last_name_ar": "العمراني",
    "birth_date": "2008-03-14",
    "session_year": 2026,
    "general_average": "15.37",
    "mention": "bien",
    "grades": [{"subject": "MATH", "mark": "17.00", "name_ar": "رياضيات"}],
}
text_values = st.text(max_size=40).filter(lambda t: t != "")
values = (
    text_values | st.integers() | st.lists(st.dictionaries(text_values, text_values, max_size=3))
)


def _issue(claims, x5c=("MIIB",)):
    return sdjwt.issue(
        claims,
        number="MA-2026-7BS8-47X2",
        issuer="https://bac.example.ma",
        vct="https://bac.example.ma/diplomas/vct/baccalaureate.json",
        issued_at=1_783_674_000,
        status=STATUS,
        private_key=KEY,
        kid="kid-1",
        x5c=list(x5c),
    )


def _check(token: str, claims: dict) -> None:
    jwt, *disclosures, last = token.split("~")
    assert last == ""
    header_b64, payload_b64, _signature = jwt.split(".")
    expected_header = {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "kid-1", "x5c": ["MIIB"]}
    assert header_b64 == b64url(sdjwt._json(expected_header))
    payload = json.loads(b64url_decode(payload_b64))
    assert payload_b64 == b64url(sdjwt._json(payload))
    assert payload["_sd"] == sorted(sdjwt.disclosure_digest(d) for d in disclosures)
    names = [name for key, name in sdjwt.DISCLOSABLE if claims.get(key) not in (None, "")]
    for disclosure, name in zip(disclosures, names, strict=True):
        salt, disclosed_name, _value = json.loads(b64url_decode(disclosure))
        assert disclosed_name == name and len(b64url_decode(salt)) == 16
        key = next(key for key, n in sdjwt.DISCLOSABLE if n == name)
        # The same bytes as the plain JSON of [salt, name, value].
        assert disclosure == sdjwt.make_disclosure(name, claims[key], salt)
    decoded = sdjwt.verify(token, lambda kid: KEY.public_key() if kid == "kid-1" else None)
    assert decoded.claims == {
        name: json.loads(json.dumps(claims[key]))
        for key, name in sdjwt.DISCLOSABLE
        if claims.get(key) not in (None, "")
    }


def test_every_part_is_the_plain_construction_and_verifies():
    _check(_issue(CLAIMS), CLAIMS)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from([key for key, _name in sdjwt.DISCLOSABLE]), values))
def test_any_claims_give_the_plain_construction(claims):
    _check(_issue(claims), claims)


def test_salts_differ_between_disclosures_and_between_diplomas():
    salts = [
        json.loads(b64url_decode(d))[0] for _ in range(2) for d in _issue(CLAIMS).split("~")[1:-1]
    ]
    assert len(set(salts)) == len(salts)
