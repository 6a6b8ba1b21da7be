"""Pure encodings: multibase and Multikey, the status bitstring, diploma numbers."""

from __future__ import annotations

import base64
import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convocations import codec as convocations_codec
from diplomas import codec


@given(st.binary(max_size=80))
def test_base58_round_trips(data):
    assert codec.b58decode(codec.b58encode(data)) == data


def test_an_ed25519_multikey_starts_with_z6mk_and_decodes_back():
    raw = bytes(range(32))
    multikey = codec.multikey_ed25519(raw)
    assert multikey.startswith("z6Mk")
    assert codec.raw_from_multikey(multikey) == raw


def test_a_multikey_of_another_kind_is_refused():
    with pytest.raises(ValueError):
        codec.raw_from_multikey(codec.multibase_b58(b"\x80\x24" + bytes(33)))


def test_the_bitstring_sets_the_left_most_bit_first_and_is_gzip_base64url():
    encoded = codec.encode_bitstring({0, 9}, codec.MIN_STATUS_LIST_BITS)
    assert encoded.startswith("u")
    raw = gzip.decompress(codec.b64url_decode(encoded[1:]))
    assert len(raw) == codec.MIN_STATUS_LIST_BITS // 8
    assert raw[0] == 0x80 and raw[1] == 0x40
    decoded = codec.decode_bitstring(encoded)
    assert codec.bit_at(decoded, 0) and codec.bit_at(decoded, 9) and not codec.bit_at(decoded, 1)


def test_a_status_list_is_at_least_131072_bits():
    with pytest.raises(ValueError):
        codec.encode_bitstring(set(), 1024)


def test_a_decompression_bomb_is_refused():
    bomb = "u" + codec.b64url(gzip.compress(bytes(64 * 1024 * 1024)))
    with pytest.raises(ValueError):
        codec.decode_bitstring(bomb, max_bytes=1024 * 1024)


def test_a_new_number_is_well_formed_and_checks():
    number = codec.new_diploma_number(2026)
    assert number.startswith("MA-2026-") and len(number) == 17
    assert codec.normalise_diploma_number(number.lower()) == number


@given(st.integers(min_value=0, max_value=7), st.sampled_from(codec.CROCKFORD))
def test_any_single_character_typo_is_caught(position, replacement):
    number = "MA-2026-7BS8-47X2"
    body = number[8:12] + number[13:]
    assert codec.normalise_diploma_number(number) == number
    if body[position] == replacement:
        return
    typo = body[:position] + replacement + body[position + 1 :]
    assert codec.normalise_diploma_number(f"MA-2026-{typo[:4]}-{typo[4:]}") is None


def test_letters_typed_for_digits_are_read_as_digits():
    assert codec.normalise_diploma_number("ma-2026-7bs8-47x2") == "MA-2026-7BS8-47X2"
    assert codec.normalise_diploma_number("not a number") is None


# --- the fast encoders agree with the plain ones ------------------------------------------------


def _b58_one_digit_at_a_time(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = codec.B58[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


@given(st.binary(max_size=80), st.integers(min_value=0, max_value=3))
def test_base58_agrees_with_one_digit_at_a_time(data, zeros):
    data = bytes(zeros) + data  # leading zero bytes are "1"s
    assert codec.b58encode(data) == _b58_one_digit_at_a_time(data)


@given(st.binary(max_size=100))
def test_base64url_is_unpadded_urlsafe_base64(data):
    assert codec.b64url(data) == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert codec.b64url_decode(codec.b64url(data)) == data


@given(st.integers(min_value=0, max_value=40).flatmap(
    lambda size: st.tuples(st.just(size), st.lists(st.binary(min_size=size, max_size=size)))
))  # fmt: skip
def test_many_base64url_at_once_are_each_ones_own(sized):
    size, chunks = sized
    assert codec.b64url_many(chunks, size) == [codec.b64url(chunk) for chunk in chunks]


def test_many_base64url_at_once_refuse_chunks_of_another_size():
    with pytest.raises(ValueError):
        codec.b64url_many([bytes(16), bytes(15)], 16)


@given(st.binary(max_size=600))
def test_base45_agrees_with_the_convocations_codec_and_decodes_back(data):
    text = codec.b45encode(data)
    assert text == convocations_codec.b45encode(data)
    assert convocations_codec.b45decode(text) == data


@given(st.integers(min_value=0, max_value=7), st.integers(min_value=0, max_value=2**64 - 1))
def test_cbor_heads_are_the_shortest_ones(major, value):
    assert codec.cbor_head(major, value) == convocations_codec._head(major, value)


@given(st.text(max_size=300), st.binary(max_size=300), st.integers(0, 2**64 - 1))
def test_cbor_items_agree_with_the_convocations_codec_and_decode_back(text, data, number):
    for item, encoded in (
        (text, codec.cbor_text(text)),
        (data, codec.cbor_bytes(data)),
        (number, codec.cbor_head(0, number)),
    ):
        assert encoded == convocations_codec.cbor_encode(item)
        assert convocations_codec.cbor_decode(encoded) == item
