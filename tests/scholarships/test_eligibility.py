"""Each eligibility rule, pure (scholarships.eligibility), with the age rule property-tested."""

from __future__ import annotations

import dataclasses
import datetime

from hypothesis import given
from hypothesis import strategies as st

from scholarships.eligibility import Criteria, Facts, Reason, age_on, at_results, at_submission

RULES = Criteria(
    year=2026,
    bac_date=datetime.date(2026, 6, 1),
    rsu_threshold=9.3264284,
    required_documents=("income_certificate", "rsu_certificate"),
)
GOOD = Facts(
    has_cnie=True,
    nationality="MAR",
    birth_date=datetime.date(2008, 3, 14),
    session_year=2026,
    public_institution=True,
    employed=False,
    rnp_number="RNP1",
    rsu_number="RSU1",
    rsu_index=7.0,
    documents=frozenset({"income_certificate", "rsu_certificate"}),
)


def reasons(**changes) -> list[str]:
    return at_submission(dataclasses.replace(GOOD, **changes), RULES)


def test_an_applicant_who_meets_every_rule_is_eligible():
    assert reasons() == []


def test_it_refuses_an_applicant_without_a_cnie():
    assert reasons(has_cnie=False) == [Reason.NO_CNIE]


def test_it_refuses_another_nationality_unless_the_programme_accepts_any():
    assert reasons(nationality="FRA") == [Reason.NATIONALITY]
    assert (
        at_submission(
            dataclasses.replace(GOOD, nationality="FRA"), dataclasses.replace(RULES, nationality="")
        )
        == []
    )


def test_it_refuses_an_applicant_aged_26_on_the_bac_date_but_not_one_a_day_younger():
    assert reasons(birth_date=datetime.date(2000, 6, 1)) == [Reason.AGE]
    assert reasons(birth_date=datetime.date(2000, 6, 2)) == []


def test_it_refuses_a_candidate_of_another_year():
    assert reasons(session_year=2025) == [Reason.NOT_THIS_YEAR]


def test_it_refuses_studies_in_a_private_institution():
    assert reasons(public_institution=False) == [Reason.NOT_PUBLIC]


def test_it_refuses_an_employed_applicant():
    assert reasons(employed=True) == [Reason.EMPLOYED]


def test_it_refuses_an_applicant_not_registered_in_the_rnp():
    assert reasons(rnp_number=" ") == [Reason.NO_RNP]


def test_it_refuses_an_applicant_not_registered_in_the_rsu():
    assert reasons(rsu_number="", rsu_index=None) == [Reason.NO_RSU]


def test_it_refuses_an_rsu_index_above_the_threshold_but_not_at_it():
    assert reasons(rsu_index=9.33) == [Reason.RSU_INDEX]
    assert reasons(rsu_index=9.3264284) == []


def test_it_refuses_an_application_without_a_required_document():
    assert reasons(documents=frozenset({"income_certificate"})) == [Reason.MISSING_DOCUMENT]


def test_every_reason_is_given_at_once():
    assert len(reasons(has_cnie=False, employed=True, public_institution=False)) == 3


def test_only_an_admitted_candidate_stays_eligible_once_results_are_final():
    assert at_results("admitted") == []
    assert at_results("failed") == [Reason.NOT_ADMITTED]


@given(
    st.dates(min_value=datetime.date(1960, 1, 1), max_value=datetime.date(2015, 12, 31)),
    st.dates(min_value=datetime.date(2016, 1, 1), max_value=datetime.date(2040, 12, 31)),
)
def test_age_is_whole_years_and_grows_by_one_on_each_birthday(birth, day):
    age = age_on(birth, day)
    assert 0 <= age <= day.year - birth.year
    try:
        birthday = birth.replace(year=birth.year + age)
    except ValueError:  # 29 February
        birthday = datetime.date(birth.year + age, 3, 1)
    assert birthday <= day
