"""Who may reach the complaint pages (format: tests/privacy/matrix.py).

The world (world_objects below) gives candidate A marks, computes the session with the real
engine and publishes it through the results services, then files a complaint of A about the
national MATH mark (within the window the publication opens) and attaches the scan of the
answer sheet as the academy staff of A's academy would. Candidate B has no complaint: A's
complaint answers B 404, never a hint of whose it is.

Staff pages: the academy staff of A's academy review and decide (the actions pass the checks;
the empty form is answered 400); the ministry oversees everything but reads only: its POSTs
are answered 400, nothing changed (here the empty form's errors, or the service's refusal for
approve; a filled form gets the refusal message, tests/complaints/test_views.py); the other
academy's staff do not see A's complaint (404); school clerks and candidates are refused (403).
The scan of the answer sheet opens for the deciders only: the ministry too is refused (403).
"""

from __future__ import annotations

import io

from tests.privacy.matrix import (
    ACADEMY_AND_MINISTRY,
    ACADEMY_OBJECT,
    CANDIDATE,
    LOGIN,
    MINISTRY,
    OK,
    OWNER,
    Entry,
    profile,
)

COMPLAINT = {"pk": "complaint_a.pk"}
# POST-only candidate action: GET is 405 once the candidate check passed.
CANDIDATE_POST_ONLY = profile(403, anonymous=LOGIN, candidate_a=405, candidate_b=405)
# Its POST (an empty form): the form again with its errors, for both candidates.
CANDIDATE_POST = profile(403, anonymous=LOGIN, candidate_a=OK, candidate_b=OK)
# POST-only staff actions: the role check first (any reviewer passes), then the method.
STAFF_POST_ONLY = profile(403, anonymous=LOGIN, academy=405, academy_other=405, ministry=405)
# Their POST on A's complaint: A's academy acts; the ministry is refused by the service (it
# reads only), the other academy never sees the complaint.
STAFF_POST = profile(403, anonymous=LOGIN, academy=OK, academy_other=404, ministry=400)

ENTRIES = {
    # The candidate's page: every candidate (B has no complaint, nothing to hide).
    "complaints:mine": Entry(CANDIDATE),
    "complaints:file": Entry(CANDIDATE_POST_ONLY, post=CANDIDATE_POST),
    # A's complaint, by its reference: A's only.
    "complaints:detail": Entry(OWNER, kwargs={"reference": "complaint_a.reference"}),
    # The academy's queue and oversight: academy staff (their academy's) and the ministry.
    "complaints:queue": Entry(ACADEMY_AND_MINISTRY),
    "complaints:overdue": Entry(ACADEMY_AND_MINISTRY),
    "complaints:statistics": Entry(ACADEMY_AND_MINISTRY),
    "complaints:export": Entry(MINISTRY),
    # A's complaint on the staff side: the ministry reads it, the other academy gets 404.
    "complaints:review": Entry(ACADEMY_OBJECT, kwargs=COMPLAINT),
    "complaints:assign": Entry(STAFF_POST_ONLY, kwargs=COMPLAINT, post=STAFF_POST),
    "complaints:upload_scan": Entry(STAFF_POST_ONLY, kwargs=COMPLAINT, post=STAFF_POST),
    "complaints:decide": Entry(STAFF_POST_ONLY, kwargs=COMPLAINT, post=STAFF_POST),
    "complaints:approve": Entry(STAFF_POST_ONLY, kwargs=COMPLAINT, post=STAFF_POST),
    "complaints:send_back": Entry(STAFF_POST_ONLY, kwargs=COMPLAINT, post=STAFF_POST),
    # The decrypted scan: the staff of the complaint's academy only.
    "complaints:scan": Entry(
        profile(403, anonymous=LOGIN, academy=200, academy_other=404), kwargs=COMPLAINT
    ),
}


def scan_png() -> bytes:
    """A small real PNG, as a scanner would give (the upload checks decode it)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (240, 240, 235)).save(buffer, "PNG")
    return buffer.getvalue()


def publish_results(candidate, actor):
    """Give the candidate marks (regional FR 11, national MATH 14.25), compute the session
    with the grading engine and publish it now, through the results services. The preparation
    runs here rather than as the task queued on commit (a test's transaction never commits),
    so no notification or "made public" signal fires into the other apps' world."""
    from django.utils import timezone

    from results.publication import prepare_publication, schedule_publication
    from results.services import compute_session
    from tests.results.grading_fixtures import give_marks

    give_marks(candidate, None, "11", "14.25")
    computation = compute_session(candidate.session)
    publication = schedule_publication(computation, timezone.now(), actor)
    return prepare_publication(publication.pk)


def seed_complaint(candidate, reviewer, *, kind: str = "wrong_sum", comment: str = ""):
    """The candidate's published result, a complaint about their national MATH mark and the
    scan of its answer sheet attached by `reviewer` (academy staff of the candidate's academy).
    Returns the complaint."""
    from complaints import services
    from exams.models import Subject
    from identity.models import Role, User

    ministry = User.objects.filter(role=Role.MINISTRY).first()
    publish_results(candidate, ministry)
    complaint = services.file_complaint(
        candidate, Subject.objects.get(code="MATH"), kind, comment, candidate.user
    )
    return services.attach_scan(complaint, io.BytesIO(scan_png()), reviewer, "192.0.2.10")


def world_objects(objects: dict, users: dict) -> dict:
    """Candidate A's published result and complaint, with the answer sheet's scan."""
    complaint = seed_complaint(
        objects["candidate_a"], users["academy"], comment="Exercise 3 seems unmarked."
    )
    return {"complaint_a": complaint}
