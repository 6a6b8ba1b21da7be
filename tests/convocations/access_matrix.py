"""Who may reach the convocations' URLs (format: tests/privacy/matrix.py)."""

from tests.privacy.matrix import CANDIDATE, LOGIN, OK, PUBLIC, STAFF, Entry, profile

ENTRIES = {
    "convocations:mine": Entry(CANDIDATE),
    # No exam window is open in the world: candidates are sent back to their page, which says
    # why (tests/convocations/test_download.py covers the open gate).
    "convocations:download": Entry(profile(403, anonymous=LOGIN, candidate_a=302, candidate_b=302)),
    "convocations:check": Entry(STAFF, post=True),
    "convocations:keys": Entry(PUBLIC),
    # The invigilators' offline API: POST only, for anyone holding a code.
    "convocations:api_verify": Entry(
        profile(405),
        post=profile(OK),
        csrf_exempt="read-only JSON API for the invigilators' app: answers what a code says",
    ),
}
