"""Who may reach the exam structure's URLs (format: tests/privacy/matrix.py). Academy staff
manage their academy's schools and centres; the ministry alone edits sessions, windows and
tracks."""

from tests.privacy.matrix import ACADEMY_AND_MINISTRY, ACADEMY_OBJECT, MINISTRY, Entry

ENTRIES = {
    "exams:overview": Entry(ACADEMY_AND_MINISTRY),
    "exams:academy": Entry(ACADEMY_OBJECT, kwargs={"pk": "academy.pk"}),
    "exams:sessions": Entry(ACADEMY_AND_MINISTRY),
    "exams:session_create": Entry(MINISTRY, post=True),
    "exams:session": Entry(ACADEMY_AND_MINISTRY, kwargs={"pk": "session.pk"}),
    "exams:session_edit": Entry(MINISTRY, kwargs={"pk": "session.pk"}, post=True),
    "exams:window_create": Entry(MINISTRY, kwargs={"session_pk": "session.pk"}, post=True),
    "exams:window_edit": Entry(MINISTRY, kwargs={"pk": "window.pk"}, post=True),
    "exams:tracks": Entry(ACADEMY_AND_MINISTRY),
    "exams:track_create": Entry(MINISTRY, post=True),
    "exams:track_edit": Entry(MINISTRY, kwargs={"pk": "track.pk"}, post=True),
    "exams:school_create": Entry(ACADEMY_AND_MINISTRY, post=True),
    "exams:school_edit": Entry(ACADEMY_OBJECT, kwargs={"pk": "school.pk"}, post=True),
    "exams:centre_create": Entry(ACADEMY_AND_MINISTRY, post=True),
    "exams:centre_edit": Entry(ACADEMY_OBJECT, kwargs={"pk": "centre.pk"}, post=True),
}
