"""Who may reach data verification's URLs (format: tests/privacy/matrix.py)."""

from tests.privacy.matrix import CANDIDATE, LOGIN, OWNER, SCHOOL_OBJECT, STAFF, Entry, profile

REPORT = {"pk": "report_a.pk"}
# POST-only views: GET is refused with 405 once past the role check.
CANDIDATE_POST = profile(403, anonymous=LOGIN, candidate_a=405, candidate_b=405)
STAFF_POST = profile(405, anonymous=LOGIN, candidate_a=403, candidate_b=403)

ENTRIES = {
    "verification:mine": Entry(CANDIDATE),
    "verification:confirm": Entry(CANDIDATE_POST, post=True),
    "verification:report": Entry(CANDIDATE_POST, post=True),
    "verification:my_evidence": Entry(OWNER, kwargs=REPORT),
    "verification:queue": Entry(STAFF),
    "verification:bulk": Entry(STAFF_POST, post=True),
    "verification:dashboard": Entry(STAFF),
    "verification:decide": Entry(SCHOOL_OBJECT, kwargs=REPORT, post=True),
    "verification:staff_evidence": Entry(SCHOOL_OBJECT, kwargs=REPORT),
}
