from hypothesis import given
from hypothesis import strategies as st

from candidates.identifiers import (
    is_valid_cnie,
    is_valid_massar,
    normalize_cnie,
    normalize_massar,
    normalize_phone,
)

upper = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
digits = st.text("0123456789", min_size=1, max_size=1)


@st.composite
def massar_codes(draw):
    return draw(upper) + "".join(draw(digits) for _ in range(9))


@st.composite
def cnie_numbers(draw):
    letters = "".join(draw(upper) for _ in range(draw(st.integers(1, 2))))
    return letters + "".join(draw(digits) for _ in range(draw(st.integers(5, 6))))


@given(massar_codes())
def test_every_well_formed_massar_code_is_valid(code):
    assert is_valid_massar(code)


@given(massar_codes(), st.sampled_from(["", " ", "  "]))
def test_massar_codes_typed_in_lower_case_with_spaces_normalise_to_the_same_code(code, space):
    typed = space + code[:4].lower() + space + code[4:] + space
    assert normalize_massar(typed) == code


@given(cnie_numbers())
def test_every_well_formed_cnie_number_is_valid_and_normalisation_is_idempotent(number):
    assert is_valid_cnie(number)
    assert normalize_cnie(normalize_cnie(number.lower())) == number


@given(cnie_numbers())
def test_cnie_numbers_with_a_space_or_hyphen_normalise(number):
    split = len(number) - 5
    assert normalize_cnie(f"{number[:split].lower()} -{number[split:]}") == number


@given(st.text(max_size=12))
def test_validity_means_the_exact_shape(text):
    massar_shape = (
        len(text) == 10
        and text[0].isascii()
        and text[0].isupper()
        and text[1:].isascii()
        and text[1:].isdigit()
    )
    assert is_valid_massar(text) == massar_shape


def test_it_refuses_cnie_numbers_of_the_wrong_shape():
    for bad in ("B1234", "ABC12345", "1234567", "BE1234567", "BÉ12345", ""):
        assert not is_valid_cnie(normalize_cnie(bad)), bad


def test_full_width_digits_from_office_software_normalise_to_ascii():
    assert normalize_massar("Ｒ１３００４６８５２") == "R130046852"


@given(
    st.text("0123456789", min_size=8, max_size=8), st.sampled_from(["06", "07", "+2126", "002127"])
)
def test_moroccan_mobile_numbers_normalise_to_international_form(rest, prefix):
    result = normalize_phone(prefix + rest)
    assert result is not None and result.startswith("+212") and len(result) == 13


def test_it_refuses_numbers_that_are_not_moroccan_mobiles():
    for bad in ("0512345678", "+33612345678", "06123", "hello"):
        assert normalize_phone(bad) is None
