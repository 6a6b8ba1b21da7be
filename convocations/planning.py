"""Planning before convocations: seating candidates in exam centres and rooms, and the timetable.

`assign_centres` and `seed_timetable` are called by the commands of the same names (and by the
demo); neither is part of `manage.py seed`.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import Change, record_changes
from candidates.models import Candidate
from exams.models import (
    Component,
    ExamCentre,
    ExamSession,
    SessionWindow,
    TrackSubject,
    WindowKind,
)

from .models import ExamSlot

ROOM_SIZE = 20


class PlanningError(Exception):
    """The session cannot be planned as asked; the message says why, for the operator."""


@dataclass(frozen=True)
class Seating:
    assigned: int
    rooms: int
    centres: int
    over_capacity: int  # candidates seated beyond a centre's capacity (all were full)
    without_centre: int  # candidates whose directorate has no exam centre


def assign_centres(
    session: ExamSession, actor=None, room_size: int = ROOM_SIZE, batch_size: int = 5000
) -> Seating:
    """Seat every candidate of the session who has no centre yet in an exam centre of their
    school's directorate, in rooms of `room_size`, school by school and track by track (so
    that a room holds classmates), filling each centre up to its capacity before the next.
    Every assignment is audited; a convocation already issued is superseded on next download."""
    centres_by_directorate: dict[int, list[ExamCentre]] = defaultdict(list)
    for centre in ExamCentre.objects.order_by("code"):
        centres_by_directorate[centre.directorate_id].append(centre)
    occupancy: dict[int, int] = defaultdict(int)
    for centre_id in (
        Candidate.objects.filter(session=session, exam_centre__isnull=False)
        .values_list("exam_centre_id", flat=True)
        .iterator(chunk_size=20_000)
    ):
        occupancy[centre_id] += 1
    rows = (
        Candidate.objects.filter(session=session, exam_centre__isnull=True)
        .order_by(
            "school__directorate_id",
            "school__code",
            "track__code",
            "last_name_latin",
            "first_name_latin",
            "massar_code",
        )
        .values_list("pk", "school__directorate_id")
    )
    rooms: dict[tuple[int, str], list[int]] = defaultdict(list)
    over = without = 0
    for pk, directorate_id in rows.iterator(chunk_size=20_000):
        centres = centres_by_directorate.get(directorate_id)
        if not centres:
            without += 1
            continue
        centre = next((c for c in centres if occupancy[c.pk] < c.capacity), None)
        if centre is None:
            centre = min(centres, key=lambda c: occupancy[c.pk] - c.capacity)
            over += 1
        room = f"{occupancy[centre.pk] // room_size + 1:02d}"
        occupancy[centre.pk] += 1
        rooms[(centre.pk, room)].append(pk)

    codes = {c.pk: c.code for cs in centres_by_directorate.values() for c in cs}
    now = timezone.now()
    assigned = 0
    pending: list[Change] = []
    with transaction.atomic():
        for (centre_id, room), pks in rooms.items():
            # Only files still without a centre: a concurrent assignment is left alone.
            Candidate.objects.filter(pk__in=pks, exam_centre__isnull=True).update(
                exam_centre_id=centre_id, exam_room=room, updated_at=now
            )
            assigned += len(pks)
            pending.extend(
                Change(
                    action="candidate.assign_centre",
                    object_type="candidate",
                    object_id=str(pk),
                    before={"exam_centre": None, "exam_room": ""},
                    after={"exam_centre": codes[centre_id], "exam_room": room},
                    reason=f"exam centres assigned for session {session.code}",
                    candidate_id=pk,
                )
                for pk in pks
            )
            if len(pending) >= batch_size:
                record_changes(actor, pending)
                pending = []
        record_changes(actor, pending)
    return Seating(
        assigned=assigned,
        rooms=len(rooms),
        centres=len({centre_id for centre_id, _room in rooms}),
        over_capacity=over,
        without_centre=without,
    )


# -- The timetable ------------------------------------------------------------------------------

# A day's sittings: when they start and the longest exam each can hold (minutes).
SITTINGS = (
    (datetime.time(8, 0), 240),
    (datetime.time(13, 30), 180),
    (datetime.time(17, 0), 120),
)


def _duration(coefficient) -> int:
    """Illustrative durations by weight; the official timetable sets the real ones."""
    if coefficient >= 5:
        return 240
    if coefficient >= 3:
        return 180
    return 120


def _sittings(session: ExamSession):
    """The sittings of the exam window, in time order: (start, longest exam)."""
    window = SessionWindow.objects.filter(session=session, kind=WindowKind.EXAMS).first()
    if window is None:
        raise PlanningError(
            f"Session {session.code} has no exam window: add one to its calendar first."
        )
    tz = timezone.get_default_timezone()
    day = timezone.localtime(window.opens_at, tz).date()
    last = timezone.localtime(window.closes_at, tz).date() if window.closes_at else None
    while last is None or day <= last:
        if day.weekday() != 6:  # no exam on Sunday
            for sitting, longest in SITTINGS:
                starts = timezone.make_aware(datetime.datetime.combine(day, sitting), tz)
                ends = starts + datetime.timedelta(minutes=longest)
                if starts >= window.opens_at and (
                    window.closes_at is None or ends <= window.closes_at
                ):
                    yield starts, longest
        day += datetime.timedelta(days=1)


@transaction.atomic
def seed_timetable(session: ExamSession) -> int:
    """Replace the session's timetable: every national and regional subject of every track,
    one sitting each, within the exam window, as early as it fits. A subject common to several
    tracks sits at the same time for all of them; a track never has two subjects at once; a
    sitting only holds exams as long as it lasts. Returns the number of slots made."""
    subjects: dict[tuple[int, str], dict] = {}
    for ts in TrackSubject.objects.filter(
        component__in=(Component.NATIONAL, Component.REGIONAL)
    ).select_related("subject"):
        entry = subjects.setdefault(
            (ts.subject_id, ts.component),
            {"tracks": {}, "code": ts.subject.code, "component": ts.component},
        )
        entry["tracks"][ts.track_id] = _duration(ts.coefficient)
    # National before regional; subjects shared by most tracks first, then the longest.
    order = sorted(
        subjects.items(),
        key=lambda item: (
            item[1]["component"] != Component.NATIONAL,
            -len(item[1]["tracks"]),
            -max(item[1]["tracks"].values()),
            item[1]["code"],
        ),
    )
    sittings = _sittings(session)
    planned: list[tuple[datetime.datetime, int]] = []
    busy: list[set[int]] = []  # the tracks sitting an exam at planned[i]
    slots = []
    for (subject_id, component), entry in order:
        tracks = set(entry["tracks"])
        longest = max(entry["tracks"].values())
        index = next(
            (
                i
                for i, (_starts, room) in enumerate(planned)
                if room >= longest and not busy[i] & tracks
            ),
            None,
        )
        while index is None:
            sitting = next(sittings, None)
            if sitting is None:
                raise PlanningError(
                    f"The exam window of session {session.code} is too short for the "
                    f"timetable of {len(order)} subjects ({len(planned)} sittings used). "
                    "Lengthen the window."
                )
            planned.append(sitting)
            busy.append(set())
            if sitting[1] >= longest:
                index = len(planned) - 1
        busy[index] |= tracks
        for track_id, duration in entry["tracks"].items():
            slots.append(
                ExamSlot(
                    session=session,
                    track_id=track_id,
                    subject_id=subject_id,
                    component=component,
                    starts_at=planned[index][0],
                    duration_minutes=duration,
                )
            )
    ExamSlot.objects.filter(session=session).delete()
    ExamSlot.objects.bulk_create(slots, batch_size=2000)
    return len(slots)
