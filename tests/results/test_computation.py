"""Computing a session: one result per candidate, a background task with progress, the
catch-up sitting, and the staff pages that start and watch it."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from candidates.models import Candidate
from exams.models import Subject
from results import grading, services
from results.models import Computation, ComputedResult, Grade
from results.services import compute_session, start_computation

from .grading_fixtures import *  # noqa: F403
from .grading_fixtures import give_marks

COMPUTATIONS = "/staff/results/computations/"


def result_of(computation, candidate) -> tuple:
    r = ComputedResult.objects.get(computation=computation, candidate=candidate)
    return (r.continuous_average, r.regional_average, r.national_average, r.general_average,
            r.decision, r.mention, r.reason)  # fmt: skip


def kept_marks(computation, candidate) -> list[tuple]:
    """The marks a result keeps (what its publication shows), read back."""
    from results.publication import _mark_codes, unpack_marks

    r = ComputedResult.objects.get(computation=computation, candidate=candidate)
    keys = bytes(r.mark_keys) if r.mark_keys is not None else None
    marks = bytes(r.marks) if r.marks is not None else None
    return sorted(unpack_marks(_mark_codes(computation.sitting), keys, marks))


def grades_of(candidate, sittings=("normal",)) -> list[tuple]:
    return sorted(
        Grade.objects.filter(candidate=candidate, sitting__in=sittings).values_list(
            "component", "subject__code", "sitting", "mark"
        )
    )


def test_computing_a_session_writes_one_result_per_candidate(
    session, graded_track, candidate_a, candidate_b, free_candidate, candidate_elsewhere
):
    give_marks(candidate_a, "12", "11", "14.25")  # 3 + 2.75 + 7.125 = 12.875 -> 12.88
    give_marks(candidate_b, "8", "8", "0")  # a 0 in national MATH
    give_marks(free_candidate, None, "9", "12")  # (9 + 24) / 3 = 11.00
    give_marks(candidate_elsewhere, "12", None, "14")  # regional FR missing
    computation = compute_session(session)
    assert (computation.status, computation.total, computation.processed) == ("done", 4, 4)
    D = Decimal
    assert result_of(computation, candidate_a) == (
        D("12.00"), D("11.00"), D("14.25"), D("12.88"), "admitted", "assez_bien", ""
    )  # fmt: skip
    assert result_of(computation, candidate_b) == (
        D("8.00"), D("8.00"), D("0.00"), D("4.00"), "failed", "", "eliminated: 0 in MATH"
    )  # fmt: skip
    assert result_of(computation, free_candidate) == (
        None, D("9.00"), D("12.00"), D("11.00"), "admitted", "passable", ""
    )  # fmt: skip
    assert result_of(computation, candidate_elsewhere) == (
        D("12.00"), None, D("14.00"), None, "incomplete", "", "missing: FR regional"
    )  # fmt: skip
    assert computation.statistics["rules"]["admission_threshold"] == "10"


def test_each_result_keeps_the_marks_it_was_computed_from(
    session, graded_track, candidate_a, candidate_b, free_candidate
):
    give_marks(candidate_a, "12", "11", "14.25")
    give_marks(free_candidate, None, "9", "12")
    give_marks(candidate_a, national="20", sitting="catch_up")  # not the normal sitting's
    computation = compute_session(session)
    assert computation.marks_kept
    assert kept_marks(computation, candidate_a) == grades_of(candidate_a)
    assert [m[3] for m in kept_marks(computation, candidate_a)] == [
        Decimal("12.00"), Decimal("14.25"), Decimal("11.00")
    ]  # fmt: skip
    assert kept_marks(computation, free_candidate) == grades_of(free_candidate)
    assert kept_marks(computation, candidate_b) == []  # no grade at all
    # A later correction is not the computation's mark.
    give_marks(candidate_a, continuous="3")
    assert kept_marks(computation, candidate_a)[0][3] == Decimal("12.00")


def test_the_results_agree_with_the_grading_engine_on_the_same_marks(
    session, graded_track, candidate_a
):
    give_marks(candidate_a, "13.37", "9.99", "10.01")
    computation = compute_session(session)
    scheme = grading.Scheme(
        [
            grading.SubjectRule("MATH", "continuous", 2),
            grading.SubjectRule("FR", "regional", 4),
            grading.SubjectRule("MATH", "national", 7),
        ]
    )
    expected = grading.grade(
        scheme,
        {
            ("MATH", "continuous"): "13.37",
            ("FR", "regional"): "9.99",
            ("MATH", "national"): "10.01",
        },
    )
    assert result_of(computation, candidate_a)[3:5] == (expected.general_average, expected.decision)


def test_a_candidate_without_any_grade_gets_an_incomplete_result_not_a_zero(
    session, graded_track, candidate_a
):
    computation = compute_session(session)
    assert result_of(computation, candidate_a)[3:5] == (None, "incomplete")
    assert computation.statistics["overall"]["anomalies"]["no_grades"] == 1


def test_the_computation_is_a_task_queued_after_the_commit(
    session, graded_track, candidate_a, ministry_staff, django_capture_on_commit_callbacks
):
    give_marks(candidate_a, "12", "12", "12")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        computation = start_computation(session, ministry_staff)
    assert computation.status == "pending" and len(callbacks) == 1
    callbacks[0]()  # the task runs eagerly
    computation.refresh_from_db()
    assert (computation.status, computation.total, computation.processed) == ("done", 1, 1)
    assert computation.created_by == ministry_staff and computation.academy is None
    assert ComputedResult.objects.filter(computation=computation).count() == 1


def test_a_second_computation_of_the_same_candidates_waits_for_the_first(
    session, graded_track, ministry_staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        start_computation(session, ministry_staff)
        with pytest.raises(services.ComputationBusy):
            start_computation(session, ministry_staff)


def test_progress_is_reported_while_computing(session, graded_track, candidate_a, candidate_b):
    seen = []
    compute_session(session, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)


def test_a_failure_half_way_keeps_no_result_and_marks_the_computation_failed(
    session, graded_track, candidate_a, candidate_b, monkeypatch
):
    give_marks(candidate_a, "12", "12", "12")
    calls = {"n": 0}
    original = grading.Scheme.evaluate

    def failing(self, marks, free=False):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the engine broke")
        return original(self, marks, free)

    monkeypatch.setattr(grading.Scheme, "evaluate", failing)
    with pytest.raises(RuntimeError):
        compute_session(session)
    computation = Computation.objects.get()
    assert computation.status == "failed" and "the engine broke" in computation.error
    assert not ComputedResult.objects.exists()


def test_the_queries_do_not_grow_with_the_number_of_candidates(
    session, graded_track, school, django_assert_max_num_queries
):
    from ..factories import CandidateFactory

    for n in range(12):
        candidate = CandidateFactory(session=session, school=school, track=graded_track)
        give_marks(candidate, "10", f"{n}", "12")
    with django_assert_max_num_queries(25):
        computation = compute_session(session)
    assert computation.processed == 12


# -- The catch-up sitting ---------------------------------------------------------------------


def test_the_catch_up_sitting_grades_only_the_candidates_convened_with_the_best_of_rule(
    session, graded_track, candidate_a, candidate_b, free_candidate, ministry_staff
):
    give_marks(candidate_a, "8", "8", "8")  # 8.00: catch-up
    give_marks(candidate_b, "14", "14", "14")  # admitted in June
    give_marks(free_candidate, None, "6", "7.5")  # (6 + 15) / 3 = 7.00: catch-up
    normal = compute_session(session)
    assert result_of(normal, candidate_a)[4] == result_of(normal, free_candidate)[4] == "catch_up"
    give_marks(candidate_a, national="13", sitting="catch_up")  # 2 + 2 + 6.5 = 10.50
    give_marks(free_candidate, national="6", sitting="catch_up")  # keeps 7.5: 7.00, fails
    second = compute_session(session, sitting="catch_up")
    assert second.total == 2 and second.statistics["reference_computation"] == normal.pk
    assert result_of(second, candidate_a)[2:6] == (
        Decimal("13.00"),
        Decimal("10.50"),
        "admitted",
        "passable",
    )
    assert result_of(second, free_candidate)[3:5] == (Decimal("7.00"), "failed")
    # The catch-up result keeps the marks of both sittings it was computed from.
    both = ("normal", "catch_up")
    assert kept_marks(second, candidate_a) == grades_of(candidate_a, both)
    assert ("national", "MATH", "catch_up", Decimal("13.00")) in kept_marks(second, candidate_a)
    assert kept_marks(second, free_candidate) == grades_of(free_candidate, both)
    assert not ComputedResult.objects.filter(computation=second, candidate=candidate_b).exists()
    totals = second.statistics["overall"]["totals"]
    assert (totals["admitted"], totals["failed"], totals["catch_up"]) == (1, 1, 0)


def test_a_convened_candidate_without_a_catch_up_mark_is_incomplete_at_the_catch_up(
    session, graded_track, candidate_a
):
    give_marks(candidate_a, "8", "8", "8")
    compute_session(session)
    second = compute_session(session, sitting="catch_up")
    assert result_of(second, candidate_a)[4:] == (
        "incomplete",
        "",
        "missing: MATH national (catch_up)",
    )


def test_the_catch_up_needs_a_computed_normal_session(session, graded_track, ministry_staff):
    with pytest.raises(services.NoReference):
        compute_session(session, sitting="catch_up")
    with pytest.raises(services.NoReference):
        start_computation(session, ministry_staff, sitting="catch_up")


def test_an_academy_preview_is_not_the_reference_of_the_catch_up(
    session, graded_track, candidate_a, academy
):
    give_marks(candidate_a, "8", "8", "8")
    compute_session(session, academy=academy)
    with pytest.raises(services.NoReference):
        compute_session(session, sitting="catch_up")


# -- Academy previews and the pages -----------------------------------------------------------


def test_academy_staff_compute_their_academy_only(
    session,
    graded_track,
    candidate_a,
    candidate_elsewhere,
    academy_staff,
    client_for,
    django_capture_on_commit_callbacks,
):
    give_marks(candidate_a, "12", "12", "12")
    give_marks(candidate_elsewhere, "12", "12", "12")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(academy_staff).post(COMPUTATIONS, {"sitting": "normal"})
    computation = Computation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("results_staff:computation", args=[computation.pk])
    assert computation.academy == academy_staff.academy and computation.status == "done"
    assert list(ComputedResult.objects.values_list("candidate_id", flat=True)) == [candidate_a.pk]


def test_the_ministry_starts_a_national_computation_from_the_page(
    session, graded_track, candidate_a, candidate_elsewhere, ministry_client,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = ministry_client.post(COMPUTATIONS, {"sitting": "normal", "academy": ""})
    computation = Computation.objects.get()
    assert response.status_code == 302 and computation.academy is None
    assert ComputedResult.objects.filter(computation=computation).count() == 2


def test_the_page_asks_for_the_normal_computation_before_the_catch_up(
    session, graded_track, ministry_client
):
    response = ministry_client.post(
        COMPUTATIONS, {"sitting": "catch_up"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 409
    assert "needs a finished computation of the normal sitting" in response.content.decode()
    assert not Computation.objects.exists()


def test_a_running_computation_page_refreshes_itself_without_script(
    session, ministry_staff, client_for
):
    computation = Computation.objects.create(
        session=session, status="running", total=200, processed=50
    )
    html = (
        client_for(ministry_staff)
        .get(reverse("results_staff:computation", args=[computation.pk]), HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )
    head = html.split("</head>")[0]
    assert '<meta http-equiv="refresh" content="2">' in head
    assert 'value="25"' in html and "50 of 200 candidates graded." in html
    assert "<script" not in html and "style=" not in html
    paused = client_for(ministry_staff).get(
        reverse("results_staff:computation", args=[computation.pk]), {"pause": "1"}
    )
    assert 'http-equiv="refresh"' not in paused.content.decode()


def test_a_finished_computation_shows_statistics_with_charts_and_tables(
    session, graded_track, candidate_a, candidate_b, free_candidate, ministry_client
):
    give_marks(candidate_a, "12", "11", "14.25")
    give_marks(candidate_b, "8", "8", "8")
    give_marks(free_candidate, None, "15", "16")
    computation = compute_session(session)
    response = ministry_client.get(
        reverse("results_staff:computation", args=[computation.pk]), HTTP_ACCEPT_LANGUAGE="fr"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'http-equiv="refresh"' not in html
    assert html.count("<svg") >= 3 and 'role="img"' in html
    assert "<script" not in html and "style=" not in html
    assert 'id="total-candidates">3<' in html
    assert "Rabat-Salé-Kénitra" in html  # by academy, in the French name
    assert '<th scope="row">Sciences Physiques</th>' in html
    # coordinates stay in the SVG's decimal notation whatever the language (French: 12,5)
    coordinates = re.findall(r' (?:x|y|x1|y1|x2|y2|width|height)="([^"]*)"', html)
    assert coordinates and all(re.fullmatch(r"-?[0-9.]+", value) for value in coordinates)


def test_academy_staff_see_their_academys_figures_only(
    session, graded_track, candidate_a, candidate_elsewhere, academy_staff, client_for
):
    give_marks(candidate_a, "12", "11", "14.25")
    give_marks(candidate_elsewhere, "5", "5", "5")
    computation = compute_session(session)
    html = (
        client_for(academy_staff)
        .get(reverse("results_staff:computation", args=[computation.pk]), HTTP_ACCEPT_LANGUAGE="fr")
        .content.decode()
    )
    assert 'id="total-candidates">1<' in html
    assert "L&#x27;Oriental" not in html and "L'Oriental" not in html
    assert "By academy" not in html and "Par académie" not in html


def test_academy_staff_cannot_see_another_academys_preview(
    session, graded_track, candidate_elsewhere, other_academy, academy_staff, client_for
):
    preview = compute_session(session, academy=other_academy)
    url = reverse("results_staff:computation", args=[preview.pk])
    assert client_for(academy_staff).get(url).status_code == 404
    assert preview.pk not in [c.pk for c in services.visible_computations(academy_staff, session)]


def test_a_school_clerk_cannot_see_or_start_computations(session, clerk, client_for):
    computation = Computation.objects.create(session=session, status="done")
    client = client_for(clerk)
    assert (
        client.get(reverse("results_staff:computation", args=[computation.pk])).status_code == 403
    )
    assert client.post(COMPUTATIONS, {"sitting": "normal"}).status_code == 403
    assert Computation.objects.count() == 1


def test_the_computation_list_shows_the_computations_of_the_session(
    session, graded_track, ministry_client
):
    computation = compute_session(session)
    html = ministry_client.get(COMPUTATIONS, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert reverse("results_staff:computation", args=[computation.pk]) in html


# -- The bulk path ----------------------------------------------------------------------------


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_a_large_session_is_read_on_a_second_connection_and_written_by_copy(
    session, school, graded_track
):
    """More than COPY_MIN_ROWS candidates, with nothing in an open transaction: the reader
    thread and the streaming COPY are used, and give what the engine gives."""
    candidates = Candidate.objects.bulk_create(
        [
            Candidate(
                session=session,
                massar_code=f"R15{n:07d}",
                last_name_latin="Alami",
                first_name_latin="Sara",
                last_name_ar="العلمي",
                first_name_ar="سارة",
                birth_date=datetime.date(2008, 1, 1),
                birth_place_latin="Rabat",
                birth_place_ar="الرباط",
                sex="F" if n % 2 else "M",
                school=school,
                track=graded_track,
                candidate_type="free" if n % 5 == 0 else "school",
            )
            for n in range(2100)
        ]
    )
    math = Subject.objects.get(code="MATH")
    french = Subject.objects.get(code="FR")
    grades = []
    for n, candidate in enumerate(candidates):
        if n % 97 == 0:
            continue  # no grade at all
        marks = [(math, "national", (n * 37) % 2001), (french, "regional", (n * 53) % 2001)]
        if n % 5:
            marks.append((math, "continuous", (n * 71) % 2001))
        if n % 89 == 0:
            marks.pop(0)  # the national mark is missing
        grades += [
            Grade(candidate=candidate, subject=s, component=c, mark=Decimal(m) / 100)
            for s, c, m in marks
        ]
    Grade.objects.bulk_create(grades)
    assert connection.vendor == "postgresql" and not connection.in_atomic_block

    computation = compute_session(session)
    assert (computation.status, computation.processed) == ("done", 2100)
    stored = {
        r.candidate_id: (r.general_average, r.decision, r.mention, r.reason)
        for r in ComputedResult.objects.filter(computation=computation)
    }
    scheme = grading.Scheme(
        [
            grading.SubjectRule("MATH", "continuous", 2),
            grading.SubjectRule("FR", "regional", 4),
            grading.SubjectRule("MATH", "national", 7),
        ]
    )
    marks_by: dict[int, dict] = {}
    for g in Grade.objects.select_related("subject"):
        marks_by.setdefault(g.candidate_id, {})[(g.subject.code, g.component)] = g.mark
    for candidate in candidates:
        expected = grading.grade(
            scheme, marks_by.get(candidate.pk, {}), free=candidate.candidate_type == "free"
        )
        assert stored[candidate.pk] == (
            expected.general_average,
            expected.decision,
            expected.mention,
            expected.reason,
        )
    anomalies = computation.statistics["overall"]["anomalies"]
    assert anomalies["no_grades"] == 22 and anomalies["missing_grades"] >= 1
    # Written by COPY, each result keeps the marks it was computed from.
    for candidate in candidates[:300]:
        assert kept_marks(computation, candidate) == grades_of(candidate)


def test_a_convened_candidates_catch_up_mark_is_entered_on_the_grade_page(
    session, graded_track, candidate_a, academy_staff, client_for
):
    give_marks(candidate_a, "8", "8", "8")
    compute_session(session)
    client = client_for(academy_staff)
    url = reverse("results_staff:candidate_grades", args=[candidate_a.massar_code])
    assert "Catch-up mark" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    math = Subject.objects.get(code="MATH")
    response = client.post(
        url,
        {"line": f"{math.pk}:national:catch_up", "mark": "13", "reason": "Catch-up exam sheet"},
    )
    assert response.status_code == 302
    grade = Grade.objects.get(candidate=candidate_a, sitting="catch_up")
    assert (grade.component, grade.mark) == ("national", Decimal("13.00"))


def test_a_reason_is_explained_in_the_readers_language():
    from django.utils import translation

    with translation.override("en"):
        assert services.explain_reason("missing: PC national, MATH national (catch_up)") == (
            "Grades missing: PC (National exam), MATH (National exam, Catch-up session)"
        )
        assert services.explain_reason("eliminated: 0 in MATH") == "Eliminated by a 0 in MATH"
        assert services.explain_reason("") == ""


def test_a_sessions_rules_come_from_its_configuration(
    session, graded_track, candidate_a, candidate_b, settings
):
    settings.GRADING_RULES = {
        session.code: {
            "admission_threshold": "12",
            "national_weight": "0.5",
            "eliminatory_mark": None,
        }
    }
    give_marks(candidate_a, "11", "11", "11")  # 11.00: admitted by default, catch-up here
    give_marks(candidate_b, "20", "20", "0")  # 10.00 and no elimination: catch-up
    computation = compute_session(session)
    assert result_of(computation, candidate_a)[3:5] == (Decimal("11.00"), "catch_up")
    assert result_of(computation, candidate_b)[3:5] == (Decimal("10.00"), "catch_up")
    assert computation.statistics["rules"]["admission_threshold"] == "12"
    assert computation.statistics["rules"]["eliminatory_mark"] is None
