"""Who may reach the portal's URLs (format: tests/privacy/matrix.py)."""

from tests.privacy.matrix import CANDIDATE, OWNER, Entry, profile

ENTRIES = {
    # The landing page for everyone; candidates see their home, staff are sent to their list.
    "portal:home": Entry(profile(302, anonymous=200, candidate_a=200, candidate_b=200)),
    "portal:history": Entry(CANDIDATE),
    # Only A has a CNIE copy in the world.
    "portal:my_cnie_copy": Entry(OWNER),
}
