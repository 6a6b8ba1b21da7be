"""Statistics stored with a computation: pass rates and mentions by academy, directorate, track,
sex and candidate type, the distribution of averages, anomalies; and how pages draw them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exams.models import Subject
from results.models import Grade
from results.services import compute_session, iter_breakdown, rate, statistics_for
from results.staff_views import histogram_chart, outcome_chart

from .grading_fixtures import *  # noqa: F403
from .grading_fixtures import give_marks


@pytest.fixture
def computed(session, graded_track, candidate_a, candidate_b, free_candidate, candidate_elsewhere):
    give_marks(candidate_a, "16", "16", "16")  # 16.00 admitted, très bien (M, school, RSK)
    give_marks(candidate_b, "12", "12", "12")  # 12.00 admitted, assez bien (F, school, RSK)
    give_marks(free_candidate, None, "9", "8.25")  # (9 + 16.5) / 3 = 8.50 catch-up (F, free, RSK)
    give_marks(candidate_elsewhere, "10", None, "10")  # incomplete (M, school, ORI)
    return compute_session(session)


def rows_by_key(rows):
    return {row["key"]: row for row in rows}


def test_totals_count_decisions_and_mentions(computed):
    totals = computed.statistics["overall"]["totals"]
    assert (totals["total"], totals["admitted"], totals["catch_up"], totals["failed"]) == (
        4,
        2,
        1,
        0,
    )
    assert totals["incomplete"] == 1
    assert totals["mentions"] == {"passable": 0, "assez_bien": 1, "bien": 0, "tres_bien": 1}


def test_pass_rates_are_broken_down_by_academy_directorate_track_sex_and_type(computed):
    overall = computed.statistics["overall"]
    academies = rows_by_key(overall["by_academy"])
    assert (academies["RSK"]["total"], academies["RSK"]["admitted"]) == (3, 2)
    assert (academies["ORI"]["total"], academies["ORI"]["incomplete"]) == (1, 1)
    assert {row["academy"] for row in overall["by_directorate"]} == {"RSK", "ORI"}
    assert rows_by_key(overall["by_track"])["SP"]["total"] == 4
    sexes = rows_by_key(overall["by_sex"])
    assert (sexes["F"]["total"], sexes["F"]["admitted"], sexes["F"]["catch_up"]) == (2, 1, 1)
    assert (sexes["M"]["total"], sexes["M"]["mentions"]["tres_bien"]) == (2, 1)
    types = rows_by_key(overall["by_candidate_type"])
    assert (types["free"]["total"], types["free"]["catch_up"]) == (1, 1)
    assert types["school"]["total"] == 3


def test_each_academy_has_its_own_section_with_the_same_breakdowns(computed):
    rsk = computed.statistics["academies"]["RSK"]
    assert rsk["totals"]["total"] == 3
    assert {row["academy"] for row in rsk["by_directorate"]} == {"RSK"}
    assert sum(rsk["histogram"]) == 3
    assert computed.statistics["academies"]["ORI"]["anomalies"]["missing_grades"] == 1


def test_the_histogram_counts_averages_in_half_point_bins(computed):
    histogram = computed.statistics["overall"]["histogram"]
    assert len(histogram) == 40 and computed.statistics["bin_width"] == "0.5"
    assert histogram[17] == 1  # 8.50 in [8.5, 9)
    assert histogram[24] == 1  # 12.00 in [12, 12.5)
    assert histogram[32] == 1  # 16.00
    assert sum(histogram) == 3  # the incomplete result has no average


def test_an_average_of_20_falls_in_the_last_bin(session, graded_track, candidate_a):
    give_marks(candidate_a, "20", "20", "20")
    assert compute_session(session).statistics["overall"]["histogram"][-1] == 1


def test_anomalies_name_candidates_with_missing_or_stray_grades(
    session, graded_track, candidate_a, candidate_b, free_candidate
):
    give_marks(candidate_a, "12", None, "12")  # FR regional missing
    give_marks(free_candidate, None, "12", "12")
    # a grade for a subject that is not in the track (the track changed after the import)
    Grade.objects.create(
        candidate=free_candidate,
        subject=Subject.objects.create(code="SVT", name_fr="SVT", name_ar="علوم"),
        component="national",
        mark=Decimal("11"),
    )
    stats = compute_session(session).statistics["overall"]
    anomalies = stats["anomalies"]
    assert (anomalies["missing_grades"], anomalies["no_grades"], anomalies["extra_grades"]) == (
        1,
        1,
        1,
    )
    assert anomalies["without_result"] == 0
    examples = {(e["massar_code"], e["kind"]): e["reason"] for e in stats["examples"]}
    assert examples[(candidate_a.massar_code, "missing_grades")] == "missing: FR regional"
    assert (candidate_b.massar_code, "no_grades") in examples
    assert (free_candidate.massar_code, "extra_grades") in examples


def test_academy_staff_get_their_academys_section_and_the_ministry_the_whole(
    computed, academy_staff, academy_staff_of_other_academy, ministry_staff
):
    assert statistics_for(computed, ministry_staff)["totals"]["total"] == 4
    assert statistics_for(computed, academy_staff)["totals"]["total"] == 3
    assert statistics_for(computed, academy_staff_of_other_academy)["totals"]["total"] == 1


def test_rates_are_percentages_with_one_decimal_rounded_half_up():
    assert rate(1, 3) == Decimal("33.3")
    assert rate(2, 3) == Decimal("66.7")
    assert rate(1, 8) == Decimal("12.5")
    assert rate(1, 16) == Decimal("6.3")  # 6.25 -> 6.3
    assert rate(0, 0) == Decimal("0.0")


def test_breakdown_rows_carry_their_rates(computed):
    row = next(iter_breakdown([computed.statistics["overall"]["totals"]]))
    assert (row["admitted_rate"], row["incomplete_rate"]) == (Decimal("50.0"), Decimal("25.0"))
    assert row["mention_rates"]["tres_bien"] == Decimal("50.0")


def test_the_histogram_chart_stays_inside_its_drawing_and_marks_the_thresholds():
    counts = [0] * 40
    counts[10], counts[20], counts[39] = 5, 50, 1
    chart = histogram_chart(counts, Decimal("0.5"), [Decimal("7"), Decimal("10")])
    for bar in chart["bars"]:
        assert chart["left"] <= bar["x"] and bar["x"] + bar["width"] <= chart["right"] + 0.01
        assert chart["top"] <= bar["y"] and bar["y"] + bar["height"] <= chart["axis_y"] + 0.01
    tallest = max(chart["bars"], key=lambda b: b["height"])
    assert tallest["count"] == 50 and tallest["admitted"]
    assert [line["label"] for line in chart["lines"]] == [Decimal("7"), Decimal("10")]
    assert [row["count"] for row in chart["rows"]] == counts
    assert histogram_chart([0] * 40, Decimal("0.5"), []) is None


def test_the_outcome_chart_splits_each_bar_in_proportion():
    rows = [
        {"label": "A", "total": 4, "admitted": 2, "catch_up": 1, "failed": 1, "incomplete": 0},
        {"label": "B", "total": 1, "admitted": 0, "catch_up": 0, "failed": 0, "incomplete": 1},
    ]
    chart = outcome_chart(rows)
    first = chart["lines"][0]["segments"]
    assert [s["key"] for s in first] == ["admitted", "catch_up", "failed"]
    assert first[0]["width"] == pytest.approx(2 * first[1]["width"])
    assert sum(s["width"] for s in first) == pytest.approx(640 - 150 - 8)
    assert [s["percent"] for s in first] == [Decimal("50.0"), Decimal("25.0"), Decimal("25.0")]
