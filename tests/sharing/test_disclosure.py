"""The pure rules of what a link reveals: claim groups, SD-JWT presentations, coarse networks."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharing import disclosure

from .factories import make_sd_jwt

CLAIMS = {
    "number": "BAC-1",
    "last_name_latin": "El Amrani",
    "birth_date": "2008-03-14",
    "birth_place_latin": "Rabat",
    "cnie_number": "BE123456",
    "general_average": "15.37",
    "mention": "bien",
    "national_average": "16.10",
    "grades": [{"subject": "MATH", "mark": "17.75"}, {"subject": "FR", "mark": "12.50"}],
}


def test_birth_data_the_cnie_number_and_grades_each_have_their_group():
    assert disclosure.claim_group("birth_date") == disclosure.BIRTH
    assert disclosure.claim_group("birth_place_ar") == disclosure.BIRTH
    assert disclosure.claim_group("cnie_number") == disclosure.CNIE
    assert disclosure.claim_group("cnie_hash") == disclosure.CNIE
    assert disclosure.claim_group("grades") == disclosure.GRADES
    assert disclosure.claim_group("regional_average") == disclosure.GRADES
    assert disclosure.claim_group("general_average") == disclosure.RESULT
    assert disclosure.claim_group("last_name_ar") is None


def test_a_presentation_keeps_only_the_revealed_disclosures():
    sd_jwt = make_sd_jwt(CLAIMS)
    shown = disclosure.present(sd_jwt, disclosure.keeping([disclosure.RESULT]))
    names = disclosure.disclosed_names(shown)
    assert set(names) == {"last_name_latin", "general_average", "mention"}
    assert shown.split("~")[0] == sd_jwt.split("~")[0]  # the issuer's JWT, untouched
    assert shown.endswith("~")


def test_nested_array_elements_follow_their_parent():
    sd_jwt = make_sd_jwt(CLAIMS)
    without = disclosure.present(sd_jwt, disclosure.keeping([]))
    with_grades = disclosure.present(sd_jwt, disclosure.keeping([disclosure.GRADES]))
    # Two grade elements + grades + national_average + the name.
    assert len(with_grades.split("~")) - 2 == 5
    assert len(without.split("~")) - 2 == 1
    assert "17.75" not in str(disclosure.parse_sd_jwt(without)[2])


def test_a_key_binding_jwt_of_the_holder_is_not_passed_on():
    sd_jwt = make_sd_jwt(CLAIMS) + "a.b.c"
    assert not disclosure.present(sd_jwt, disclosure.keeping(disclosure.GROUPS)).endswith("a.b.c")


@pytest.mark.parametrize("text", ["", "abc", "a.b~", "x.eyJ.z~!!!~"])
def test_something_else_is_not_an_sd_jwt(text):
    with pytest.raises(disclosure.NotAnSdJwt):
        disclosure.present(text, disclosure.keeping([]))


def test_networks_are_coarse():
    assert disclosure.coarse_network("203.0.113.57") == "203.0.113.0/24"
    assert disclosure.coarse_network("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert disclosure.coarse_network("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert disclosure.coarse_network("") == ""


@given(st.ip_addresses())
def test_no_network_is_finer_than_a_24_or_a_48(address):
    network = disclosure.coarse_network(str(address))
    assert int(network.rsplit("/", 1)[1]) <= 48


@pytest.mark.parametrize(
    "header, code", [("ma", "MA"), ("FR", "FR"), ("XX", ""), ("T1", ""), ("", ""), (None, "")]
)
def test_country_headers_are_two_letters_or_unknown(header, code):
    assert disclosure.country_code(header) == code
