"""The snapshot's entry format: its bytes are defined as json.dumps(ensure_ascii=False, compact)
of the entry; the fast encoder must give exactly those bytes (the publication's digest and the
signed static export are computed over them), whatever the names and marks."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from results.lookup import SnapshotRow, decode_entry, encode_entry
from results.publication import _MarkTemplates, mark_codes_of, unpack_marks
from results.services import mark_key

# Any text a name may hold, control characters included, but no lone surrogate (the database
# holds valid UTF-8 only).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
MARK = st.decimals(min_value=0, max_value=20, places=2, allow_nan=False, allow_infinity=False)
COMPONENT = st.sampled_from(["continuous", "regional", "national"])
SITTING = st.sampled_from(["normal", "catch_up"])


def _reference(row: SnapshotRow) -> str:
    """The format's definition, written out with the standard library."""
    order = {"continuous": 0, "regional": 1, "national": 2}
    marks = []
    for component, subject, sitting, mark in sorted(
        row.marks, key=lambda m: (order.get(m[0], 9), m[1], m[2] != "normal")
    ):
        item = [component, subject, f"{mark:.2f}"]
        if sitting != "normal":
            item.append(sitting)
        marks.append(item)

    def dec(value):
        return None if value is None else f"{value:.2f}"

    entry = {
        "v": row.version,
        "m": row.massar_code,
        "n": [row.last_name, row.first_name],
        "na": [row.last_name_ar, row.first_name_ar],
        "t": row.track,
        "ct": row.candidate_type,
        "avg": [
            dec(row.general_average),
            dec(row.continuous_average),
            dec(row.regional_average),
            dec(row.national_average),
        ],
        "d": row.decision,
        "me": row.mention,
        "k": marks,
    }
    if row.corrected_at is not None:
        entry["cor"] = round(row.corrected_at, 3)
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


@st.composite
def rows(draw) -> SnapshotRow:
    marks = draw(
        st.lists(
            st.tuples(
                COMPONENT,
                TEXT,
                SITTING,
                MARK,
            ),
            max_size=16,
        )
    )
    averages = [draw(st.one_of(st.none(), MARK)) for _ in range(4)]
    return SnapshotRow(
        candidate_id=draw(st.integers(1, 10**9)),
        massar_code=draw(TEXT),
        cnie_number=draw(TEXT),
        birth_date=datetime.date(2008, 1, 1),
        last_name=draw(TEXT),
        first_name=draw(TEXT),
        last_name_ar=draw(TEXT),
        first_name_ar=draw(TEXT),
        track=draw(TEXT),
        candidate_type=draw(TEXT),
        continuous_average=averages[0],
        regional_average=averages[1],
        national_average=averages[2],
        general_average=averages[3],
        decision=draw(TEXT),
        mention=draw(TEXT),
        marks=marks,
        version=draw(st.integers(1, 10_000)),
        corrected_at=draw(
            st.one_of(st.none(), st.floats(0, 4_102_444_800, allow_nan=False))  # to 2100
        ),
    )


@given(rows())
def test_the_entry_is_byte_for_byte_the_format_s_definition(row):
    encoded = encode_entry(row)
    assert encoded == _reference(row)
    assert decode_entry(encoded)["m"] == row.massar_code


@settings(deadline=None)  # no clock in unit tests
@given(
    key=st.binary(min_size=1, max_size=80),
    kind=st.sampled_from(["m", "c"]),
    identifier=st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    birth=st.dates(),
)
def test_the_lookup_digest_is_the_hmac_sha256_of_kind_identifier_and_date(
    key, kind, identifier, birth
):
    """The name an entry is stored under, whichever HMAC object computes it: anything holding
    the key (the static export's reader, another implementation) finds the same entry."""
    import hashlib
    import hmac

    from results.lookup import DIGEST_HEX, lookup_digest

    message = f"{kind}|{identifier}|{birth.isoformat()}".encode()
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()[:DIGEST_HEX]
    assert lookup_digest(key, kind, identifier, birth) == expected


@settings(deadline=None)  # no clock in unit tests: the first example imports and warms up
@given(data=st.data())
def test_the_publication_writes_each_entrys_marks_as_encode_entry_does(data):
    """A computation keeps each candidate's marks packed, as keys in the order it read them
    (results.services.mark_key: subject id * 4 + component code, and for a catch-up
    computation * 2 + 1 for a catch-up mark) and marks in hundredths; the publication's
    templates must write exactly encode_entry's "k", and unpack_marks read them back."""
    import random
    import struct

    codes = data.draw(st.lists(TEXT, min_size=1, max_size=6, unique=True))
    ids = data.draw(
        st.lists(st.integers(1, 500), min_size=len(codes), max_size=len(codes), unique=True)
    )
    sitting = data.draw(SITTING)
    shown = ["normal", "catch_up"] if sitting == "catch_up" else ["normal"]
    marks = data.draw(
        st.lists(
            st.tuples(
                COMPONENT, st.sampled_from(codes), st.sampled_from(shown), st.integers(0, 2000)
            ),
            unique_by=lambda mark: mark[:3],
            max_size=20,
        )
    )
    table = mark_codes_of(list(zip(codes, ids, strict=True)), sitting)
    subject_id = dict(zip(codes, ids, strict=True))
    packed = [
        (
            mark_key(subject_id[code], component, grade_sitting if sitting == "catch_up" else None),
            units,
        )
        for component, code, grade_sitting, units in marks
    ]
    random.Random(data.draw(st.integers())).shuffle(packed)  # the server's order is any
    row = SnapshotRow(
        candidate_id=1,
        massar_code="R130046852",
        cnie_number="",
        birth_date=datetime.date(2008, 1, 1),
        last_name="A",
        first_name="B",
        last_name_ar="ا",
        first_name_ar="ب",
        track="SM",
        candidate_type="school",
        continuous_average=None,
        regional_average=None,
        national_average=None,
        general_average=None,
        decision="admitted",
        mention="",
        marks=[
            (component, code, grade_sitting, Decimal(units).scaleb(-2))
            for component, code, grade_sitting, units in marks
        ],
        version=1,
    )
    expected = encode_entry(row)
    keys = struct.pack(f">{len(packed)}i", *(key for key, _units in packed))
    units = struct.pack(f">{len(packed)}h", *(units for _key, units in packed))
    written = _MarkTemplates(table).items(keys, units) if packed else ""
    assert expected.endswith(f'"k":[{written}]}}')
    assert sorted(unpack_marks(table, keys, units)) == sorted(row.marks)
