"""Properties of the grading engine, checked with hypothesis against an independent reference:
bounds, monotonicity, half-up rounding, invariance to the scale of the weights, and the
catch-up's best-of rule never lowering an average."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from results.grading import (
    COMPONENTS,
    DEFAULT_CONFIG,
    GradingConfig,
    Scheme,
    SubjectRule,
    round_half_up,
)

COEFFICIENTS = [Decimal(n) / 2 for n in range(1, 21)]  # 0.5 .. 10
marks_hundredths = st.integers(min_value=0, max_value=2000)


@st.composite
def schemes(draw, min_per_component: int = 1):
    rules = []
    for component in COMPONENTS:
        count = draw(st.integers(min_value=min_per_component, max_value=4))
        for index in range(count):
            rules.append(SubjectRule(f"S{index}", component, draw(st.sampled_from(COEFFICIENTS))))
    return rules


@st.composite
def graded(draw, positive: bool = False):
    """A scheme and a complete set of marks in hundredths (no zero if `positive`)."""
    rules = draw(schemes())
    low = 1 if positive else 0
    marks = [draw(st.integers(min_value=low, max_value=2000)) for _ in rules]
    return rules, marks


def reference_general(rules, marks, free: bool, config=DEFAULT_CONFIG) -> Fraction:
    """The general average straight from DESIGN §2, with fractions."""
    weights = dict(zip(COMPONENTS, config.weights(free), strict=True))
    total_weight = Fraction(0)
    total = Fraction(0)
    for component in COMPONENTS:
        pairs = [
            (Fraction(r.coefficient), Fraction(m, 100))
            for r, m in zip(rules, marks, strict=True)
            if r.component == component
        ]
        if not pairs or weights[component] == 0:
            continue
        average = sum(c * m for c, m in pairs) / sum(c for c, _m in pairs)
        total += weights[component] * average
        total_weight += weights[component]
    return total / total_weight


@settings(max_examples=300, deadline=None)
@given(graded(), st.booleans())
def test_every_average_stays_between_0_and_20(case, free):
    rules, marks = case
    outcome = Scheme(rules).evaluate(marks, free)
    for value in (outcome.continuous, outcome.regional, outcome.national, outcome.general):
        assert value is None or 0 <= value <= 2000
    assert outcome.general is not None


@settings(max_examples=300, deadline=None)
@given(graded(), st.booleans())
def test_the_general_average_is_the_reference_average_rounded_half_up(case, free):
    rules, marks = case
    exact = reference_general(rules, marks, free)
    outcome = Scheme(rules).evaluate(marks, free)
    assert outcome.general == math.floor(exact * 100 + Fraction(1, 2))


ONE_EACH = [
    SubjectRule("C", "continuous", 1),
    SubjectRule("R", "regional", 1),
    SubjectRule("N", "national", 1),
]


@settings(max_examples=300, deadline=None)
@given(marks_hundredths, marks_hundredths, marks_hundredths)
def test_an_average_exactly_halfway_rounds_up(c, r, n):
    # general = (c + r + 2n) / 4 hundredths: exactly halfway when the sum leaves 2 modulo 4.
    # Move c to the nearest such value (staying within 0..20).
    c -= (c + r + 2 * n - 2) % 4
    if c < 0:
        c += 4
    assert (c + r + 2 * n) % 4 == 2 and 0 <= c <= 2000
    outcome = Scheme(ONE_EACH).evaluate([c, r, n])
    assert outcome.general == (c + r + 2 * n) // 4 + 1


@settings(max_examples=300, deadline=None)
@given(graded(), st.data(), st.booleans())
def test_raising_any_mark_never_lowers_the_general_average(case, data, free):
    rules, marks = case
    position = data.draw(st.integers(min_value=0, max_value=len(marks) - 1))
    raised = list(marks)
    raised[position] = data.draw(st.integers(min_value=marks[position], max_value=2000))
    scheme = Scheme(rules)
    assert scheme.evaluate(raised, free).general >= scheme.evaluate(marks, free).general


@settings(max_examples=200, deadline=None)
@given(graded(positive=True), st.booleans())
def test_the_decision_and_mention_follow_the_rounded_average(case, free):
    rules, marks = case
    outcome = Scheme(rules).evaluate(marks, free)
    general = outcome.general
    if general >= 1000:
        assert outcome.decision == "admitted"
        expected = (
            "tres_bien"
            if general >= 1600
            else "bien"
            if general >= 1400
            else "assez_bien"
            if general >= 1200
            else "passable"
        )
        assert outcome.mention == expected
    elif general >= 700:
        assert (outcome.decision, outcome.mention) == ("catch_up", "")
    else:
        assert (outcome.decision, outcome.mention) == ("failed", "")


@settings(max_examples=200, deadline=None)
@given(graded(), st.booleans())
def test_a_zero_in_a_national_subject_always_fails(case, free):
    rules, marks = case
    national = [i for i, r in enumerate(rules) if r.component == "national"]
    marks = list(marks)
    marks[national[0]] = 0
    outcome = Scheme(rules).evaluate(marks, free)
    assert outcome.decision == "failed" and outcome.mention == ""
    assert outcome.reason.startswith("eliminated: 0 in ")


@settings(max_examples=200, deadline=None)
@given(
    graded(),
    st.booleans(),
    st.sampled_from([Fraction(1, 7), Fraction(1, 2), Fraction(3), Fraction(100)]),
)
def test_scaling_every_weight_changes_nothing(case, free, factor):
    rules, marks = case
    base = DEFAULT_CONFIG
    scaled = GradingConfig(
        continuous_weight=Fraction(base.continuous_weight) * factor,
        regional_weight=Fraction(base.regional_weight) * factor,
        national_weight=Fraction(base.national_weight) * factor,
        free_regional_weight=Fraction(base.free_regional_weight) * factor,
        free_national_weight=Fraction(base.free_national_weight) * factor,
    )
    assert Scheme(rules).evaluate(marks, free) == Scheme(rules, scaled).evaluate(marks, free)


@settings(max_examples=200, deadline=None)
@given(schemes(), st.data())
def test_scaling_every_coefficient_of_a_component_changes_nothing(rules, data):
    marks = [data.draw(marks_hundredths) for _ in rules]
    component = data.draw(st.sampled_from(COMPONENTS))
    scaled = [
        SubjectRule(
            r.subject, r.component, r.coefficient * 3 if r.component == component else r.coefficient
        )
        for r in rules
    ]
    assert Scheme(rules).evaluate(marks) == Scheme(scaled).evaluate(marks)


@settings(max_examples=300, deadline=None)
@given(graded(), st.data(), st.booleans())
def test_the_catch_up_never_lowers_the_general_average(case, data, free):
    rules, marks = case
    catch_up = [data.draw(marks_hundredths) if r.component == "national" else None for r in rules]
    scheme = Scheme(rules)
    before = scheme.evaluate(marks, free)
    after = scheme.evaluate_catch_up(marks, catch_up, free)
    assert after.general >= before.general
    assert after.decision in ("admitted", "failed")
    assert after.continuous == before.continuous and after.regional == before.regional


@settings(max_examples=200, deadline=None)
@given(graded(), st.booleans())
def test_a_catch_up_at_or_below_every_normal_mark_changes_nothing(case, free):
    rules, marks = case
    catch_up = [
        m // 2 if r.component == "national" else None for r, m in zip(rules, marks, strict=True)
    ]
    scheme = Scheme(rules)
    before, after = scheme.evaluate(marks, free), scheme.evaluate_catch_up(marks, catch_up, free)
    assert after.general == before.general


@settings(max_examples=200, deadline=None)
@given(graded(), st.data())
def test_any_missing_mark_makes_the_result_incomplete_never_zero(case, data):
    rules, marks = case
    position = data.draw(st.integers(min_value=0, max_value=len(marks) - 1))
    assume(rules[position].component != "continuous")
    marks = list(marks)
    marks[position] = None
    outcome = Scheme(rules).evaluate(marks, data.draw(st.booleans()))
    assert outcome.decision == "incomplete" and outcome.general is None
    assert rules[position].subject in outcome.reason


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**9), max_value=10**9), st.integers(min_value=1, max_value=10**6))
def test_round_half_up_agrees_with_decimal_half_up(numerator, denominator):
    value = Fraction(numerator, denominator)
    # Decimal with enough precision for the quotient to be exact up to its repeating part:
    # compare on fractions that terminate, the only ones Decimal represents exactly.
    terminating = Fraction(numerator, 10**6)
    expected = Decimal(numerator).scaleb(-6).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert round_half_up(terminating) == expected
    rounded = round_half_up(value)
    assert abs(Fraction(rounded) - value) <= Fraction(1, 200)
