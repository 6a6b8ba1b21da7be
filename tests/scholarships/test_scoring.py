"""Scoring and ranking under a budget (scholarships.scoring, pure), with the ties rule."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from scholarships.scoring import (
    DEFAULT_WEIGHTS,
    FULL,
    HALF,
    REFUSED,
    Applicant,
    Rules,
    check_weights,
    rank,
    score,
)

RULES = Rules(
    weights=dict(DEFAULT_WEIGHTS),
    rsu_threshold=9.3264284,
    income_ceiling=30000.0,
    full_grant_max_index=8.5,
    full_amount=Decimal("6334"),
    half_amount=Decimal("3167"),
    budget_grants=2,
)


def person(id, index=7.0, size=4, income=20000.0, at=100.0, average=None):
    return Applicant(id, index, size, income, at, average)


def test_a_poorer_household_scores_higher():
    assert score(person(1, index=5.0), RULES) > score(person(2, index=8.0), RULES)


def test_only_the_budgeted_number_of_grants_is_proposed_in_rank_order():
    ranked = rank([person(1, index=8.0), person(2, index=5.0), person(3, index=6.0)], RULES)
    assert [(r.id, r.rank, r.proposal) for r in ranked] == [
        (2, 1, FULL),
        (3, 2, FULL),
        (1, 3, REFUSED),
    ]


def test_an_index_above_the_full_grant_limit_gets_a_half_grant():
    ranked = rank([person(1, index=9.0)], RULES)
    assert ranked[0].proposal == HALF


def test_an_amount_budget_gives_a_half_grant_when_a_full_one_no_longer_fits_then_closes():
    rules = Rules(
        weights=RULES.weights,
        rsu_threshold=RULES.rsu_threshold,
        income_ceiling=RULES.income_ceiling,
        full_grant_max_index=RULES.full_grant_max_index,
        full_amount=RULES.full_amount,
        half_amount=RULES.half_amount,
        budget_amount=Decimal("10000"),
    )
    ranked = rank([person(1, index=4.0), person(2, index=5.0), person(3, index=6.0)], rules)
    assert [r.proposal for r in ranked] == [FULL, HALF, REFUSED]


def test_ties_go_to_the_lower_index_then_the_larger_household_then_the_earlier_submission():
    # Same score by construction: only the merit weight counts, and nobody has an average.
    rules = Rules(
        weights={"merit": 1},
        rsu_threshold=9.3,
        income_ceiling=30000.0,
        full_grant_max_index=9.0,
        full_amount=Decimal("6334"),
        half_amount=Decimal("3167"),
        budget_grants=10,
    )
    people = [
        person(1, index=7.0, size=3, at=50.0),
        person(2, index=6.0, size=3, at=90.0),
        person(3, index=7.0, size=5, at=99.0),
        person(4, index=7.0, size=3, at=10.0),
        person(5, index=7.0, size=3, at=10.0),
    ]
    assert len({score(p, rules) for p in people}) == 1
    assert [r.id for r in rank(people, rules)] == [2, 3, 4, 5, 1]


def test_weights_must_be_known_criteria_and_not_all_zero():
    assert check_weights(DEFAULT_WEIGHTS) == []
    assert check_weights({"luck": 5})
    assert check_weights({"social": 0})
    assert check_weights({"social": -1, "income": 3})


applicants = st.lists(
    st.builds(
        Applicant,
        id=st.integers(1, 10**6),
        rsu_index=st.floats(0, 15, allow_nan=False),
        household_size=st.integers(1, 12),
        yearly_income=st.floats(0, 200000, allow_nan=False),
        submitted_at=st.floats(0, 10**6, allow_nan=False),
        general_average=st.none() | st.floats(0, 20, allow_nan=False),
    ),
    max_size=60,
    unique_by=lambda a: a.id,
)


@settings(max_examples=60, deadline=None)
@given(applicants, st.integers(0, 30), st.none() | st.integers(0, 200000))
def test_the_budget_is_never_exceeded_and_no_lower_rank_is_funded_before_a_refused_one(
    people, grants, amount
):
    rules = Rules(
        weights=dict(DEFAULT_WEIGHTS),
        rsu_threshold=9.3264284,
        income_ceiling=30000.0,
        full_grant_max_index=8.5,
        full_amount=Decimal("6334"),
        half_amount=Decimal("3167"),
        budget_grants=grants,
        budget_amount=None if amount is None else Decimal(amount),
    )
    ranked = rank(people, rules)
    funded = [r for r in ranked if r.proposal != REFUSED]
    assert len(funded) <= grants
    spent = sum(rules.full_amount if r.proposal == FULL else rules.half_amount for r in funded)
    assert amount is None or spent <= amount
    proposals = [r.proposal for r in ranked]
    if REFUSED in proposals:
        assert all(p == REFUSED for p in proposals[proposals.index(REFUSED) :])
    assert [r.rank for r in ranked] == list(range(1, len(people) + 1))
    assert all(0 <= r.score <= 100 for r in ranked)
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    assert rank(list(reversed(people)), rules) == ranked
