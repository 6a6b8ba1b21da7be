"""Re-checking files and whole sessions, storing the findings, explaining them."""

from __future__ import annotations

import datetime
import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from candidates.models import Candidate, IdentitySource
from candidates.synthetic import generate_rows, load_names
from exams.models import ExamSession
from identity.mrz import build_td1, parse_mrz
from verification.messages import explain
from verification.models import CheckRun, FileCheck, GradeChoices
from verification.services import check_file, recheck_session

from ..factories import CandidateFactory, ExamSessionFactory

pytestmark = pytest.mark.django_db

CARD = {
    "cnie_number": "BE100001",
    "last_name_latin": "El Amrani",
    "first_name_latin": "Mohammed",
    "last_name_ar": "العمراني",
    "first_name_ar": "محمد",
    "birth_date": "2008-03-14",
    "birth_place_latin": "Rabat",
    "sex": "M",
    "expiry_date": "2034-03-14",
}


def _card(candidate, **changes):
    data = dict(CARD, cnie_number=candidate.cnie_number) | changes
    return IdentitySource.objects.create(
        candidate=candidate, kind=IdentitySource.Kind.CNIE_CARD, data=data
    )


def test_a_file_that_agrees_with_its_card_has_no_discrepancy(candidate_a):
    _card(candidate_a)
    check = check_file(candidate_a)
    assert (check.worst_grade, check.findings, check.sources) == (0, [], ["cnie_card"])
    assert check.session_id == candidate_a.session_id


def test_a_different_birth_date_on_the_card_is_stored_as_blocking(candidate_a):
    _card(candidate_a, birth_date="2008-03-15")
    check = check_file(candidate_a)
    assert check.worst_grade == GradeChoices.BLOCKING
    assert check.findings == [
        {
            "field": "birth_date",
            "source": "cnie_card",
            "grade": 3,
            "code": "different_date",
            "file_value": "2008-03-14",
            "source_value": "2008-03-15",
            "params": {},
        }
    ]


def test_the_machine_readable_zone_is_compared_as_a_source(candidate_a):
    zone = build_td1(
        "LA7766554",
        datetime.date(2008, 3, 14),
        "M",
        datetime.date(2034, 3, 14),
        "El Amrani",
        "Mohamed",
        optional_data_1=candidate_a.cnie_number,
    )
    IdentitySource.objects.create(
        candidate=candidate_a,
        kind=IdentitySource.Kind.MRZ,
        data=parse_mrz(zone, today=datetime.date(2026, 6, 1)).source_data(),
    )
    check = check_file(candidate_a)
    assert check.worst_grade == GradeChoices.NEEDS_REVIEW
    assert [(f["field"], f["code"]) for f in check.findings] == [
        ("first_name_latin", "transliteration")
    ]


def test_a_session_recheck_stores_one_result_per_file_and_counts_grades(
    candidate_a, candidate_b, session
):
    _card(candidate_a, first_name_latin="Mohamed")
    _card(candidate_b, cnie_number="BE999999")
    third = CandidateFactory(session=session, school=candidate_a.school, track=candidate_a.track)
    run = recheck_session(session)
    assert (run.files, run.created, run.changed) == (3, 3, 0)
    assert run.by_grade == {"0": 1, "1": 0, "2": 1, "3": 1}
    grades = dict(FileCheck.objects.values_list("candidate_id", "worst_grade"))
    assert grades == {candidate_a.pk: 2, candidate_b.pk: 3, third.pk: 0}
    assert FileCheck.objects.get(pk=third.pk).sources == []


def test_a_second_recheck_changes_nothing_and_a_corrected_source_changes_one_result(
    candidate_a, candidate_b, session
):
    source = _card(candidate_a, birth_date="2008-04-03")
    _card(candidate_b)
    recheck_session(session)
    before = {c.pk: (c.fingerprint, c.checked_at) for c in FileCheck.objects.all()}
    again = recheck_session(session)
    assert (again.files, again.created, again.changed) == (2, 0, 0)
    assert {c.pk: (c.fingerprint, c.checked_at) for c in FileCheck.objects.all()} == before
    source.data["birth_date"] = "2008-03-14"
    source.save()
    third = recheck_session(session)
    assert (third.created, third.changed) == (0, 1)
    assert FileCheck.objects.get(pk=candidate_a.pk).worst_grade == 0
    assert CheckRun.objects.count() == 3


def test_a_recheck_makes_as_many_queries_for_many_files_as_for_few(school, track):
    def queries_for(count: int) -> int:
        session = ExamSessionFactory(code=f"Q{count}", year=2020 + count, is_current=False)
        for _ in range(count):
            candidate = CandidateFactory(session=session, school=school, track=track)
            _card(candidate, first_name_latin="Mohamed")
        with CaptureQueriesContext(connection) as captured:
            recheck_session(session, chunk_size=1000)
        return len(captured.captured_queries)

    assert queries_for(5) == queries_for(40)


def test_a_recheck_in_small_chunks_gives_the_same_results(session, school, track):
    for index in range(7):
        candidate = CandidateFactory(session=session, school=school, track=track)
        _card(candidate, birth_date="2008-03-15" if index % 2 else "2008-03-14")
    run = recheck_session(session, chunk_size=2)
    assert run.files == 7
    assert run.by_grade == {"0": 4, "1": 0, "2": 0, "3": 3}


def test_seeded_discrepancies_are_found_with_the_grade_of_their_kind(db):
    call_command("seed", candidates=1200, year=2026, stdout=io.StringIO())
    session = ExamSession.objects.get(code="2026-N")
    run = recheck_session(session)
    assert run.files == 1200
    names = load_names(settings.SHARED_DATA_DIR / "names.csv")
    planted = {
        row["massar_code"]: kind
        for row, _card, kind in generate_rows(1200, ["S"], ["SP"], names, session_year=2026)
    }
    grades = dict(
        FileCheck.objects.filter(session=session).values_list(
            "candidate__massar_code", "worst_grade"
        )
    )
    expected = {
        None: {0},
        "given_name_variant": {1, 2},
        "family_particle": {2},
        "arabic_orthography": {0, 1},
        "birth_date_typo": {3},
        "swapped_names": {3},
        "cnie_digit": {3},
    }
    seen = set()
    for massar, kind in planted.items():
        assert grades[massar] in expected[kind], (massar, kind, grades[massar])
        seen.add(kind)
    assert len(seen) >= 5


# -- Explanations -----------------------------------------------------------------------------

FINDING = {
    "field": "last_name_latin",
    "source": "cnie_card",
    "grade": 2,
    "code": "particle",
    "file_value": "Amrani",
    "source_value": "El Amrani",
    "params": {"particle": "El"},
}


def test_a_finding_is_explained_in_plain_words():
    text = explain(FINDING)
    assert text == (
        "Your file writes your family name (Latin) “Amrani” and CNIE card writes "
        "“El Amrani”: one has the particle “El” and the other does not. Check which form is "
        "on your CNIE; if your file is wrong, report it."
    )


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_an_explanation_names_the_field_and_source_in_the_candidates_language(language):
    with translation.override(language):
        text = explain(FINDING)
        field = str(Candidate._meta.get_field("last_name_latin").verbose_name)
        source = str(IdentitySource.Kind.CNIE_CARD.label)
    assert field in text and source in text
    assert "family name (Latin)" not in text


def test_every_code_the_comparison_can_give_has_an_explanation():
    from verification.messages import EXPLANATIONS

    codes = {
        "same",
        "presentation",
        "arabic_spelling",
        "particle",
        "transliteration",
        "name_part_missing",
        "typo",
        "different_script",
        "different",
        "swapped_names",
        "day_month_swapped",
        "different_date",
        "month_first",
        "unreadable_date",
        "cnie_one_character",
        "different_cnie",
        "unreadable_value",
        "different_sex",
        "different_nationality",
        "different_place",
        "missing_in_file",
    }
    assert codes <= set(EXPLANATIONS)
    for code in codes:
        assert explain(FINDING | {"code": code})


def test_the_command_rechecks_the_current_session_and_prints_the_counts(candidate_a, session):
    session.is_current = True
    session.save()
    _card(candidate_a, cnie_number="BE100002")
    out = io.StringIO()
    call_command("recheck_session", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert f"Session {session.code}: 1 files re-checked" in text
    assert "Blocking discrepancy: 1" in text


def test_the_command_says_when_the_session_does_not_exist(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No session with code 'NOPE'"):
        call_command("recheck_session", session="NOPE", stdout=io.StringIO())


def test_every_mrz_problem_and_ocr_reason_has_a_message_for_the_clerk():
    from identity.mrz import MrzError, parse_mrz
    from verification.messages import OCR_REASONS, mrz_problem_message, ocr_reason_message

    lines = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA"]
    with pytest.raises(MrzError) as caught:
        parse_mrz(lines)
    assert mrz_problem_message(caught.value.problems[0]) == (
        "Line 3 has 14 characters instead of 30."
    )
    lines[2] = "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
    lines[1] = "7408123F1204159UTO<<<<<<<<<<<6"
    with pytest.raises(MrzError) as caught:
        parse_mrz(lines)
    assert mrz_problem_message(caught.value.problems[0]) == (
        "Line 2, column 7: the birth date check digit is wrong: 2 was expected, 3 was found."
    )
    for reason in ("not_an_image", "too_many_pixels", "no_zone_found", "check_digits_fail"):
        assert ocr_reason_message(reason) == str(OCR_REASONS[reason])
