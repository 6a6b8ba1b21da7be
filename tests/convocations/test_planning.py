"""Seating candidates in centres and rooms, and the timetable: the demo's planning commands."""

import datetime
import io
from collections import Counter, defaultdict

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEntry
from candidates.models import Candidate
from convocations.models import ExamSlot
from convocations.planning import assign_centres, seed_timetable
from exams.models import Component, Subject, TrackSubject
from tests.factories import (
    CandidateFactory,
    DirectorateFactory,
    ExamCentreFactory,
    SchoolFactory,
    SessionWindowFactory,
    TrackFactory,
)


def test_candidates_are_seated_in_their_directorate_in_rooms_of_twenty(
    session, school, track, centre
):
    CandidateFactory.create_batch(45, session=session, school=school, track=track)
    other = SchoolFactory(directorate=DirectorateFactory(academy=school.directorate.academy))
    far = CandidateFactory(session=session, school=other, track=track)
    seating = assign_centres(session)
    assert seating.assigned == 45 and seating.rooms == 3 and seating.without_centre == 1
    rooms = Counter(
        Candidate.objects.filter(exam_centre=centre).values_list("exam_room", flat=True)
    )
    assert rooms == {"01": 20, "02": 20, "03": 5}
    far.refresh_from_db()
    assert far.exam_centre is None  # no centre in that directorate: left for the academy


def test_a_full_centre_sends_the_next_candidates_to_the_next_centre(session, school, track, centre):
    centre.capacity = 20
    centre.save()
    second = ExamCentreFactory(directorate=school.directorate, code="C-RABAT-02")
    CandidateFactory.create_batch(25, session=session, school=school, track=track)
    seating = assign_centres(session)
    assert seating.centres == 2 and seating.over_capacity == 0
    assert Candidate.objects.filter(exam_centre=centre).count() == 20
    assert set(
        Candidate.objects.filter(exam_centre=second).values_list("exam_room", flat=True)
    ) == {"01"}


def test_seating_is_audited_and_leaves_seated_candidates_alone(
    session, school, track, centre, candidate_a
):
    candidate_a.exam_centre, candidate_a.exam_room = centre, "09"
    candidate_a.save()
    CandidateFactory.create_batch(3, session=session, school=school, track=track)
    call_command("assign_centres", "--session", session.code, stdout=io.StringIO())
    candidate_a.refresh_from_db()
    assert candidate_a.exam_room == "09"
    entries = AuditEntry.objects.filter(action="candidate.assign_centre")
    assert entries.count() == 3
    assert entries.first().after == {"exam_centre": "C-RABAT-01", "exam_room": "01"}
    # A second run has nothing left to do.
    assert assign_centres(session).assigned == 0


def test_the_command_refuses_an_unknown_session(db):
    with pytest.raises(CommandError, match="No session"):
        call_command("assign_centres", "--session", "1999-X")
    with pytest.raises(CommandError, match="No session"):
        call_command("seed_timetable", "--session", "1999-X")


@pytest.fixture
def two_tracks(db):
    def subject(code):
        return Subject.objects.get_or_create(
            code=code, defaults={"name_fr": code, "name_ar": code}
        )[0]

    sp = TrackFactory(code="SP", with_subjects=False)
    lettres = TrackFactory(code="LET", with_subjects=False)
    plan = {
        sp: {"MATH": ("national", 7), "PC": ("national", 7), "PHILO": ("national", 2),
             "ANG": ("national", 2), "FR": ("regional", 4), "HG": ("regional", 2)},
        lettres: {"AR": ("national", 4), "PHILO": ("national", 3), "ANG": ("national", 4),
                  "HG": ("national", 3), "FR": ("regional", 4), "MATH": ("regional", 1)},
    }  # fmt: skip
    for track, subjects in plan.items():
        for code, (component, coefficient) in subjects.items():
            TrackSubject.objects.create(
                track=track, subject=subject(code), component=component, coefficient=coefficient
            )
    return sp, lettres


@pytest.fixture
def exam_window(session):
    opens = timezone.make_aware(datetime.datetime(2026, 6, 8, 0, 0))  # a Monday
    return SessionWindowFactory(
        session=session, kind="exams", opens_at=opens, closes_at=opens + datetime.timedelta(days=5)
    )


def test_the_timetable_holds_every_national_and_regional_subject_of_every_track(
    session, two_tracks, exam_window
):
    call_command("seed_timetable", "--session", session.code, stdout=io.StringIO())
    sp, lettres = two_tracks
    for track in two_tracks:
        wanted = set(
            TrackSubject.objects.filter(
                track=track, component__in=(Component.NATIONAL, Component.REGIONAL)
            ).values_list("subject__code", "component")
        )
        got = set(
            ExamSlot.objects.filter(session=session, track=track).values_list(
                "subject__code", "component"
            )
        )
        assert got == wanted


def test_the_timetable_never_has_a_track_sit_two_exams_at_once(session, two_tracks, exam_window):
    seed_timetable(session)
    per_track = defaultdict(list)
    for slot in ExamSlot.objects.filter(session=session):
        per_track[slot.track_id].append(
            (slot.starts_at, slot.starts_at + datetime.timedelta(minutes=slot.duration_minutes))
        )
    for spans in per_track.values():
        spans.sort()
        for (_s1, end), (start, _e2) in zip(spans, spans[1:], strict=False):
            assert end <= start


def test_a_common_subject_sits_at_the_same_time_for_every_track(session, two_tracks, exam_window):
    seed_timetable(session)
    philo = ExamSlot.objects.filter(session=session, subject__code="PHILO")
    assert philo.count() == 2 and len({s.starts_at for s in philo}) == 1


def test_every_exam_is_inside_the_window_on_a_working_day_and_in_local_time(
    session, two_tracks, exam_window
):
    seed_timetable(session)
    for slot in ExamSlot.objects.filter(session=session):
        end = slot.starts_at + datetime.timedelta(minutes=slot.duration_minutes)
        assert exam_window.opens_at <= slot.starts_at and end <= exam_window.closes_at
        local = timezone.localtime(slot.starts_at)
        assert local.weekday() != 6 and local.hour >= 8


def test_seeding_again_replaces_the_timetable(session, two_tracks, exam_window):
    first = seed_timetable(session)
    assert seed_timetable(session) == first == ExamSlot.objects.filter(session=session).count()


def test_a_session_without_exam_window_or_with_too_short_a_window_is_refused(session, two_tracks):
    with pytest.raises(CommandError, match="no exam window"):
        call_command("seed_timetable", "--session", session.code)
    opens = timezone.make_aware(datetime.datetime(2026, 6, 8, 7, 0))
    SessionWindowFactory(
        session=session, kind="exams", opens_at=opens, closes_at=opens + datetime.timedelta(hours=6)
    )
    with pytest.raises(CommandError, match="too short"):
        call_command("seed_timetable", "--session", session.code)
    assert not ExamSlot.objects.exists()


def test_manage_py_seed_plans_neither_centres_nor_timetable(db, settings):
    call_command("seed", candidates=2, stdout=io.StringIO())
    assert not ExamSlot.objects.exists()
    assert not Candidate.objects.filter(exam_centre__isnull=False).exists()
