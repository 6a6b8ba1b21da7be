"""Who may reach the privacy pages (format: tests/privacy/matrix.py)."""

from tests.privacy.matrix import CANDIDATE, LOGIN, PUBLIC, Entry, profile

CANDIDATE_POST = profile(403, anonymous=LOGIN, candidate_a=405, candidate_b=405)

ENTRIES = {
    "privacy:notice": Entry(PUBLIC),
    "privacy:mine": Entry(CANDIDATE),
    "privacy:export": Entry(CANDIDATE_POST, post=True),
    "privacy:consent": Entry(CANDIDATE_POST, post=True),
}
