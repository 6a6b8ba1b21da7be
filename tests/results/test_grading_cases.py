"""Worked cases of the grading engine (DESIGN §2), each computed by hand.

The track used throughout (coefficients in brackets):
    continuous: MATH (2), FR (1)
    regional:   FR (4), HG (2)
    national:   MATH (7), PC (7), PHILO (2)
General average = 25 % continuous + 25 % regional + 50 % national; free candidates 1/3 regional
+ 2/3 national. When every mark of a component is x, that component's average is x.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from results.grading import (
    DEFAULT_CONFIG,
    GradingConfig,
    GradingError,
    Scheme,
    SubjectRule,
    grade,
    grade_catch_up,
    mention_for,
    round_half_up,
)

RULES = [
    SubjectRule("MATH", "continuous", 2),
    SubjectRule("FR", "continuous", 1),
    SubjectRule("FR", "regional", 4),
    SubjectRule("HG", "regional", 2),
    SubjectRule("MATH", "national", 7),
    SubjectRule("PC", "national", 7),
    SubjectRule("PHILO", "national", 2),
]
SCHEME = Scheme(RULES)
D = Decimal


def marks(continuous=None, regional=None, national=None, **each):
    """Every subject of a component at one mark, then single subjects overridden:
    marks(continuous="10", MATH_national="0")."""
    out = {}
    for rule in RULES:
        value = {"continuous": continuous, "regional": regional, "national": national}[
            rule.component
        ]
        if value is not None:
            out[(rule.subject, rule.component)] = value
    for key, value in each.items():
        subject, component = key.rsplit("_", 1)
        out[(subject, component)] = value
    return out


def uniform(value):
    return marks(continuous=value, regional=value, national=value)


# (case, marks, free, general, decision, mention, reason)
CASES = [
    (
        "all 10: exactly the admission threshold",
        uniform("10"),
        False,
        "10.00",
        "admitted",
        "passable",
        "",
    ),
    ("9.99 is just below admission: catch-up", uniform("9.99"), False, "9.99", "catch_up", "", ""),
    ("7.00 is exactly the catch-up threshold", uniform("7"), False, "7.00", "catch_up", "", ""),
    (
        "6.99 is just below the catch-up threshold: fail",
        uniform("6.99"),
        False,
        "6.99",
        "failed",
        "",
        "",
    ),
    ("11.99 is still Passable", uniform("11.99"), False, "11.99", "admitted", "passable", ""),
    ("12.00 is Assez bien", uniform("12"), False, "12.00", "admitted", "assez_bien", ""),
    ("13.99 is still Assez bien", uniform("13.99"), False, "13.99", "admitted", "assez_bien", ""),
    ("14.00 is Bien", uniform("14"), False, "14.00", "admitted", "bien", ""),
    ("15.99 is still Bien", uniform("15.99"), False, "15.99", "admitted", "bien", ""),
    ("16.00 is Très bien", uniform("16"), False, "16.00", "admitted", "tres_bien", ""),
    ("all 20", uniform("20"), False, "20.00", "admitted", "tres_bien", ""),
    # 0.25 * 10.02 + 0.25 * 10 + 0.5 * 10 = 10.005: half-up gives 10.01 (banker's would give 10.00)
    (
        "10.005 rounds half-up to 10.01",
        marks(continuous="10.02", regional="10", national="10"),
        False,
        "10.01",
        "admitted",
        "passable",
        "",
    ),
    # 0.25 * 9.98 + 0.25 * 10 + 0.5 * 10 = 9.995 -> 10.00: the rounded average decides
    (
        "9.995 rounds to 10.00 and is admitted",
        marks(continuous="9.98", regional="10", national="10"),
        False,
        "10.00",
        "admitted",
        "passable",
        "",
    ),
    # 0.25 * 6.98 + 0.25 * 7 + 0.5 * 7 = 6.995 -> 7.00
    (
        "6.995 rounds to 7.00 and may sit the catch-up",
        marks(continuous="6.98", regional="7", national="7"),
        False,
        "7.00",
        "catch_up",
        "",
        "",
    ),
    # 0.25 * 10.01 + 0.25 * 10 + 0.5 * 10 = 10.0025 -> 10.00 (down)
    (
        "10.0025 rounds down to 10.00",
        marks(continuous="10.01", regional="10", national="10"),
        False,
        "10.00",
        "admitted",
        "passable",
        "",
    ),
    # national = (0*7 + 20*7 + 20*2) / 16 = 11.25; general = 4.5 + 4.5 + 5.625 = 14.625 -> 14.63
    (
        "a 0 in national MATH fails a candidate with 14.63",
        marks(continuous="18", regional="18", national="20", MATH_national="0"),
        False,
        "14.63",
        "failed",
        "",
        "eliminated: 0 in MATH",
    ),
    (
        "two zeros in national subjects are both named",
        marks(continuous="18", regional="18", national="20", MATH_national="0", PHILO_national="0"),
        False,
        # national = 140 / 16 = 8.75; general = 4.5 + 4.5 + 4.375 = 13.375 -> 13.38
        "13.38",
        "failed",
        "",
        "eliminated: 0 in MATH, PHILO",
    ),
    # continuous = (0*2 + 20*1) / 3 = 6.667; general = 1.6667 + 3 + 6 = 10.6667 -> 10.67
    (
        "a 0 in continuous assessment does not eliminate",
        marks(continuous="20", regional="12", national="12", MATH_continuous="0"),
        False,
        "10.67",
        "admitted",
        "passable",
        "",
    ),
    # free: (9 + 2 * 12) / 3 = 11.00
    (
        "a free candidate: regional 1/3, national 2/3",
        marks(regional="9", national="12"),
        True,
        "11.00",
        "admitted",
        "passable",
        "",
    ),
    # free: (10 + 2 * 9.5) / 3 = 9.6667 -> 9.67
    (
        "a free candidate below 10 may sit the catch-up",
        marks(regional="10", national="9.5"),
        True,
        "9.67",
        "catch_up",
        "",
        "",
    ),
    # the same marks for a school candidate with continuous 5: 1.25 + 2.25 + 6 = 9.50
    (
        "a school candidate with the free candidate's marks and continuous 5",
        marks(continuous="5", regional="9", national="12"),
        False,
        "9.50",
        "catch_up",
        "",
        "",
    ),
]


@pytest.mark.parametrize(
    ("case", "given", "free", "general", "decision", "mention", "reason"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_worked_case(case, given, free, general, decision, mention, reason):
    result = grade(SCHEME, given, free=free)
    assert (result.general_average, result.decision, result.mention, result.reason) == (
        D(general),
        decision,
        mention,
        reason,
    )


def test_each_component_is_the_coefficient_weighted_mean_of_its_subjects():
    # national = (15*7 + 8*7 + 11*2) / 16 = 183 / 16 = 11.4375 -> 11.44
    # continuous = (16*2 + 10*1) / 3 = 14.0; regional = (12*4 + 9*2) / 6 = 11.0
    # general = 0.25*14 + 0.25*11 + 0.5*11.4375 = 3.5 + 2.75 + 5.71875 = 11.96875 -> 11.97
    given = {
        ("MATH", "continuous"): "16",
        ("FR", "continuous"): "10",
        ("FR", "regional"): "12",
        ("HG", "regional"): "9",
        ("MATH", "national"): "15",
        ("PC", "national"): "8",
        ("PHILO", "national"): "11",
    }
    result = grade(SCHEME, given)
    assert (
        result.continuous_average,
        result.regional_average,
        result.national_average,
        result.general_average,
    ) == (D("14.00"), D("11.00"), D("11.44"), D("11.97"))
    assert (result.decision, result.mention) == ("admitted", "passable")


def test_rounded_component_averages_can_be_chosen_in_the_configuration():
    # continuous = (10.01*2 + 10.02)/3 = 10.01333 -> 10.01; regional 10; national 10.
    # exact: 0.25*10.013333 + 7.5 = 10.0033 -> 10.00; from rounded: 0.25*10.01 + 7.5 = 10.0025
    given = uniform("10") | {("MATH", "continuous"): "10.01", ("FR", "continuous"): "10.02"}
    config = GradingConfig(round_component_averages=True)
    assert grade(RULES, given, config=config).general_average == D("10.00")
    # and a case where the two differ: continuous (10.02*2 + 10.03)/3 = 10.02333 -> 10.02
    # exact: 0.25 * 10.023333 = 2.5058333 + 7.5 = 10.0058 -> 10.01
    # rounded components: 0.25 * 10.02 + 7.5 = 10.005 -> 10.01 (half-up); use 10.01/10.02:
    # continuous (10.02*2 + 10.01)/3 = 10.016667 -> 10.02; exact 10.004167 -> 10.00;
    # rounded 0.25*10.02 + 7.5 = 10.005 -> 10.01
    given = uniform("10") | {("MATH", "continuous"): "10.02", ("FR", "continuous"): "10.01"}
    assert grade(RULES, given).general_average == D("10.00")
    assert grade(RULES, given, config=config).general_average == D("10.01")


def test_a_missing_mark_makes_the_result_incomplete_and_names_it():
    given = uniform("15")
    del given[("PC", "national")]
    result = grade(SCHEME, given)
    assert result.decision == "incomplete"
    assert result.general_average is None and result.national_average is None
    assert result.continuous_average == D("15.00") and result.regional_average == D("15.00")
    assert result.reason == "missing: PC national"
    assert result.missing == ("PC national",)
    assert result.mention == ""


def test_a_mark_set_to_none_counts_as_missing_never_as_zero():
    result = grade(SCHEME, uniform("12") | {("HG", "regional"): None})
    assert (result.decision, result.reason) == ("incomplete", "missing: HG regional")


def test_a_candidate_without_any_mark_is_incomplete_with_every_subject_named():
    result = grade(SCHEME, {})
    assert result.decision == "incomplete"
    assert result.reason == (
        "missing: MATH continuous, FR continuous, FR regional, HG regional, "
        "MATH national, PC national, PHILO national"
    )


def test_a_free_candidate_needs_no_continuous_marks_and_ignores_any_given():
    with_continuous = grade(SCHEME, marks(continuous="0", regional="9", national="12"), free=True)
    without = grade(SCHEME, marks(regional="9", national="12"), free=True)
    assert with_continuous == without
    assert without.continuous_average is None and without.general_average == D("11.00")


def test_a_mark_outside_the_track_is_refused_rather_than_ignored():
    with pytest.raises(GradingError):
        grade(SCHEME, uniform("12") | {("SVT", "national"): "12"})


@pytest.mark.parametrize("bad", ["20.01", "-1", "12.345", "abc"])
def test_a_mark_that_is_not_a_mark_is_refused(bad):
    with pytest.raises(GradingError):
        grade(SCHEME, uniform("12") | {("PC", "national"): bad})


# -- The catch-up session ---------------------------------------------------------------------

NORMAL_8 = uniform("8")  # general 8.00: catch-up


def test_the_candidate_at_8_is_convened_to_the_catch_up():
    assert grade(SCHEME, NORMAL_8).decision == "catch_up"


def test_after_the_catch_up_the_better_national_mark_counts_and_a_low_result_fails():
    # national: MATH max(8, 14) = 14, PC max(8, 6) = 8, PHILO max(8, 10) = 10
    # = (98 + 56 + 20) / 16 = 10.875; general = 2 + 2 + 5.4375 = 9.4375 -> 9.44: no second catch-up
    result = grade_catch_up(SCHEME, NORMAL_8, {"MATH": "14", "PC": "6", "PHILO": "10"})
    assert (result.national_average, result.general_average, result.decision) == (
        D("10.88"),
        D("9.44"),
        "failed",
    )


def test_after_the_catch_up_a_candidate_reaching_10_is_admitted_with_a_mention():
    # national = (16*7 + 12*7 + 12*2) / 16 = 13.75; general = 2 + 2 + 6.875 = 10.875 -> 10.88
    result = grade_catch_up(SCHEME, NORMAL_8, {"MATH": "16", "PC": "12", "PHILO": "12"})
    assert (result.general_average, result.decision, result.mention) == (
        D("10.88"),
        "admitted",
        "passable",
    )


def test_a_0_at_the_catch_up_does_not_eliminate_when_the_normal_mark_was_better():
    # national: MATH 8 (kept), PC 20, PHILO 20 = (56 + 140 + 40) / 16 = 14.75
    # general = 2 + 2 + 7.375 = 11.375 -> 11.38
    result = grade_catch_up(SCHEME, NORMAL_8, {"MATH": "0", "PC": "20", "PHILO": "20"})
    assert (result.general_average, result.decision) == (D("11.38"), "admitted")


def test_continuous_and_regional_marks_are_kept_at_the_catch_up():
    normal = marks(continuous="12", regional="4", national="8")  # 3 + 1 + 4 = 8.00
    result = grade_catch_up(SCHEME, normal, {"MATH": "8", "PC": "8", "PHILO": "8"})
    assert (result.continuous_average, result.regional_average, result.general_average) == (
        D("12.00"),
        D("4.00"),
        D("8.00"),
    )
    assert result.decision == "failed"


def test_a_missing_catch_up_mark_makes_the_catch_up_result_incomplete():
    result = grade_catch_up(SCHEME, NORMAL_8, {"MATH": "14", "PC": "12"})
    assert result.decision == "incomplete"
    assert result.reason == "missing: PHILO national (catch_up)"


def test_a_free_candidate_at_the_catch_up():
    # normal: (8 + 2*8)/3 = 8.00; catch-up national (14*7 + 12*7 + 8*2)/16 = 12.375
    # general = (8 + 2 * 12.375) / 3 = 10.9167 -> 10.92
    normal = marks(regional="8", national="8")
    result = grade_catch_up(SCHEME, normal, {"MATH": "14", "PC": "12", "PHILO": "6"}, free=True)
    assert (result.general_average, result.decision) == (D("10.92"), "admitted")


# -- Configuration ----------------------------------------------------------------------------


def test_every_threshold_comes_from_the_configuration():
    strict = GradingConfig(
        admission_threshold=D("12"),
        catch_up_threshold=D("9"),
        eliminatory_mark=None,
        mention_bands=((D("12"), "passable"), (D("15"), "bien")),
    )
    assert grade(RULES, uniform("11.5"), config=strict).decision == "catch_up"
    assert grade(RULES, uniform("8.99"), config=strict).decision == "failed"
    assert grade(RULES, uniform("15"), config=strict).mention == "bien"
    zero = marks(continuous="18", regional="18", national="20", MATH_national="0")
    assert grade(RULES, zero, config=strict).decision == "admitted"


def test_weights_come_from_the_configuration():
    # 40/20/40: 0.4*20 + 0.2*10 + 0.4*10 = 14.00
    config = GradingConfig(continuous_weight=40, regional_weight=20, national_weight=40)
    given = marks(continuous="20", regional="10", national="10")
    assert grade(RULES, given, config=config).general_average == D("14.00")
    assert grade(RULES, given).general_average == D("12.50")


def test_a_track_without_continuous_subjects_weighs_the_other_components_in_their_ratio():
    rules = [SubjectRule("FR", "regional", 4), SubjectRule("MATH", "national", 7)]
    result = grade(rules, {("FR", "regional"): "9", ("MATH", "national"): "12"})
    assert result.general_average == D("11.00")  # (9 + 2 * 12) / 3


def test_a_track_without_subjects_gives_an_incomplete_result_that_says_so():
    result = grade([], {})
    assert (result.decision, result.reason) == ("incomplete", "no subjects")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"admission_threshold": D("10.001")},
        {"catch_up_threshold": D("11")},
        {"national_weight": -1},
        {"mention_bands": ((D("14"), "bien"), (D("12"), "assez_bien"))},
        {"eliminatory_components": frozenset({"oral"})},
        {"decimals": 3},
    ],
)
def test_an_inconsistent_configuration_is_refused(kwargs):
    with pytest.raises(GradingError):
        GradingConfig(**kwargs)


def test_the_configuration_is_recorded_as_plain_data():
    assert DEFAULT_CONFIG.as_dict()["weights"] == ["1/4", "1/4", "1/2"]
    assert DEFAULT_CONFIG.as_dict()["free_weights"] == ["0", "1/3", "2/3"]


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("2.675", "2.68"),
        ("2.665", "2.67"),
        ("10.005", "10.01"),
        ("10.0049", "10.00"),
        ("0", "0.00"),
    ],
)
def test_rounding_is_half_up(value, rounded):
    assert round_half_up(D(value)) == D(rounded)


@pytest.mark.parametrize(
    ("average", "mention"),
    [("10", "passable"), ("11.99", "passable"), ("12", "assez_bien"), ("16", "tres_bien")],
)
def test_mention_bands(average, mention):
    assert mention_for(D(average)) == mention


def test_a_long_list_of_missing_subjects_is_cut_to_fit_and_says_how_many_more():
    rules = [SubjectRule(f"SUBJECT{n:02d}", "national", 1) for n in range(40)]
    result = grade(rules, {})
    assert len(result.reason) <= 200
    assert result.reason.startswith("missing: SUBJECT00 national, SUBJECT01 national")
    shown = result.reason.count(" national")
    assert result.reason.endswith(f"… (+{40 - shown})")
    assert len(result.missing) == 40
