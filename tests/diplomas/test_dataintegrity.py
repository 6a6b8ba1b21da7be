"""The eddsa-rdfc-2022 proof, and the fast canonicalization checked against pyld's own."""

from __future__ import annotations

import copy
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diplomas import credential as cred
from diplomas import dataintegrity as di

KEY = Ed25519PrivateKey.generate()
ISSUER = cred.Issuer(
    site="https://bac.example.ma",
    did="did:web:bac.example.ma",
    name="Ministère",
    verification_method="did:web:bac.example.ma#k1",
    created="2026-07-10T09:00:00Z",
)
CLAIMS = {
    "cnie_number": "BE654321",
    "last_name_latin": "EL AMRANI",
    "first_name_latin": "Mohamed",
    "last_name_ar": "العمراني",
    "first_name_ar": "محمد",
    "birth_date": "2008-03-14",
    "birth_place_latin": "Rabat",
    "birth_place_ar": "الرباط",
    "track": "SM-A",
    "track_fr": "Sciences mathématiques A",
    "session": "2026-N",
    "session_year": 2026,
    "academy": "RSK",
    "academy_fr": "Rabat-Salé-Kénitra",
    "general_average": "15.37",
    "national_average": "16.00",
    "regional_average": "14.50",
    "continuous_average": "15.00",
    "mention_fr": "Bien",
}
FACTORY = cred.CredentialFactory(ISSUER, KEY)


def _issue(claims, index=7):
    return FACTORY.issue(
        claims, number="MA-2026-7BS8-47X2", status_index=index, valid_from=ISSUER.created
    )


def _resolve(vm):
    return KEY.public_key() if vm == ISSUER.verification_method else None


def _unsigned(vc):
    return {k: v for k, v in vc.items() if k != "proof"}


def test_an_issued_credential_verifies_and_names_its_key():
    proof = di.verify(_issue(CLAIMS), _resolve, cred.CONTEXT)
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofValue"].startswith("z")


def test_the_template_gives_exactly_the_canonical_form_of_pyld():
    vc = _issue(CLAIMS)
    template, _document = FACTORY._template(cred._shape(CLAIMS))
    salt = vc["credentialSubject"]["identifier"][0]["salt"]
    values = cred.slot_values(
        CLAIMS,
        number="MA-2026-7BS8-47X2",
        status_index=7,
        issuer=ISSUER,
        valid_from=ISSUER.created,
        salt=salt,
    )
    assert template.canonical(values) == di.canonize(_unsigned(vc))


# Any printable text, Arabic and Latin, quotes, backslashes, JSON-LD-looking strings.
names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=0, max_size=30
) | st.sampled_from(['"quoted"', "back\\slash", "@id", "_:b0", "<x>", "http://x", " ", "é"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    last=names,
    first=names,
    place=names,
    mention=st.sampled_from(["", "Bien", "Très bien"]),
    average=st.sampled_from([None, "10.00", "20.00"]),
    same=st.booleans(),
)
def test_the_fast_path_equals_pyld_on_any_values(last, first, place, mention, average, same):
    claims = dict(CLAIMS, last_name_latin=last, first_name_latin=first, birth_place_latin=place)
    claims["mention_fr"] = mention
    claims["regional_average"] = average
    if same:  # identical values in different places: blank nodes must still be told apart
        claims.update(last_name_ar=last, first_name_ar=last, birth_place_ar=last)
    vc = _issue(claims)
    expected = di.canonize(_unsigned(vc))
    assert di.canonical_nquads(di.to_quads(_unsigned(vc))) == expected
    template, _document = FACTORY._template(cred._shape(claims))
    values = cred.slot_values(
        claims,
        number="MA-2026-7BS8-47X2",
        status_index=7,
        issuer=ISSUER,
        valid_from=ISSUER.created,
        salt=vc["credentialSubject"]["identifier"][0]["salt"],
    )
    assert template.canonical(values) == expected
    di.verify(vc, _resolve, cred.CONTEXT)


def test_identical_blank_nodes_fall_back_to_the_full_algorithm():
    doc = {
        "@context": [di.VC_V2],
        "id": "urn:x:1",
        "type": ["VerifiableCredential"],
        "issuer": "did:web:x",
        "credentialSubject": [{"name": "A"}, {"name": "A"}],
    }
    assert di.canonical_nquads(di.to_quads(doc)) == di.canonize(doc)


@pytest.mark.parametrize(
    "change",
    [
        lambda vc: vc["credentialSubject"]["result"][0].__setitem__("value", "19.37"),
        lambda vc: vc["credentialSubject"]["identifier"][1].__setitem__("identityHash", "X"),
        lambda vc: vc.__setitem__("validFrom", "2026-07-11T09:00:00Z"),
        lambda vc: vc["proof"].__setitem__("created", "2026-07-11T09:00:00Z"),
        lambda vc: vc["credentialStatus"].__setitem__("statusListIndex", "8"),
    ],
)
def test_a_changed_grade_or_field_breaks_the_signature(change):
    vc = copy.deepcopy(_issue(CLAIMS))
    change(vc)
    with pytest.raises(di.ProofError, match="bad-signature"):
        di.verify(vc, _resolve, cred.CONTEXT)


def test_an_unknown_key_or_foreign_context_is_refused():
    vc = _issue(CLAIMS)
    with pytest.raises(di.ProofError, match="unknown-key"):
        di.verify(vc, lambda vm: None, cred.CONTEXT)
    other = dict(vc, **{"@context": [di.VC_V2]})
    with pytest.raises(di.ProofError, match="malformed"):
        di.verify(other, _resolve, cred.CONTEXT)


def test_a_context_from_the_network_is_never_fetched():
    doc = {"@context": ["https://example.org/evil.jsonld"], "name": "x"}
    with pytest.raises(Exception, match="offline|context|Could not"):
        di.canonize(doc)


@pytest.mark.parametrize("present", [True, False])
def test_the_compiled_document_is_the_filled_skeleton(present):
    claims = CLAIMS if present else dict(CLAIMS, mention_fr="", regional_average=None)
    shape = cred._shape(claims)
    values = cred.slot_values(
        claims, number="MA-2026-7BS8-47X2", status_index=7, issuer=ISSUER, valid_from="x"
    )
    _template, build = FACTORY._template(shape)
    expected = cred.fill(cred.skeleton(shape), values)
    built = build(values)
    assert json.dumps(built, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)
    built["credentialSubject"]["identifier"].clear()  # each call builds new objects
    assert build(values) == expected
