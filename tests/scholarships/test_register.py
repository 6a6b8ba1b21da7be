"""The social-register extract parser (pure): valid files round-trip, every bad row is reported."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from scholarships.register import Code, Household, parse_register

households = st.lists(
    st.builds(
        Household,
        rsu_number=st.from_regex(r"[A-Z0-9]{6,20}", fullmatch=True),
        household_size=st.integers(1, 30),
        rsu_index=st.decimals(0, 99, places=7, allow_nan=False, allow_infinity=False),
        yearly_income=st.none() | st.decimals(0, 10**7, places=2, allow_nan=False),
    ),
    max_size=40,
    unique_by=lambda h: h.rsu_number,
)


def _csv(rows: list[Household], delimiter: str) -> bytes:
    lines = [delimiter.join(("rsu_number", "household_size", "rsu_index", "yearly_income"))]
    for h in rows:
        income = "" if h.yearly_income is None else f"{h.yearly_income:f}"
        lines.append(
            delimiter.join((h.rsu_number, str(h.household_size), f"{h.rsu_index:f}", income))
        )
    return ("\n".join(lines) + "\n").encode()


@settings(max_examples=50, deadline=None)
@given(households, st.sampled_from([",", ";"]))
def test_a_valid_extract_reads_back_exactly(rows, delimiter):
    parsed = parse_register(_csv(rows, delimiter))
    assert parsed.errors == []
    assert parsed.rows == rows


def test_a_comma_decimal_mark_is_accepted_with_semicolons():
    parsed = parse_register(b"rsu_number;household_size;rsu_index\nRSU0001;4;7,25\n")
    assert parsed.rows[0].rsu_index == Decimal("7.25")


def test_a_missing_column_and_an_unknown_one_are_reported_on_the_header_line():
    parsed = parse_register(b"rsu_number,size,rsu_index\n")
    assert {(e.line, e.code) for e in parsed.errors} == {
        (1, Code.HEADER_UNKNOWN),
        (1, Code.HEADER_MISSING),
    }


def test_bad_rows_leave_no_row_to_store():
    parsed = parse_register(b"rsu_number,household_size,rsu_index\nRSU0001,4,7\nRSU0002,x,7\n")
    assert parsed.rows == [] and [e.line for e in parsed.errors] == [3]
