"""Who may reach the back office's candidate and import URLs (format: tests/privacy/matrix.py)."""

from tests.privacy.matrix import LOGIN, SCHOOL_OBJECT, STAFF, Entry, profile

A = {"pk": "candidate_a.pk"}
# An import job is seen by the one who uploaded it and by the ministry.
UPLOADER = profile(404, anonymous=LOGIN, candidate_a=403, candidate_b=403, clerk=200, ministry=200)

ENTRIES = {
    "candidates:list": Entry(STAFF),
    "candidates:detail": Entry(SCHOOL_OBJECT, kwargs=A),
    "candidates:edit": Entry(SCHOOL_OBJECT, kwargs=A, post=True),
    "candidates:cnie_view": Entry(SCHOOL_OBJECT, kwargs=A),
    "candidates:cnie_upload": Entry(SCHOOL_OBJECT, kwargs=A, post=True),
    "candidates:mrz": Entry(SCHOOL_OBJECT, kwargs=A, post=True),
    "candidates:import": Entry(STAFF, post=True),
    # The clerk of A's school uploaded it.
    "candidates:import_job": Entry(UPLOADER, kwargs={"pk": "import_job.pk"}),
    "candidates:import_template": Entry(STAFF),
}
