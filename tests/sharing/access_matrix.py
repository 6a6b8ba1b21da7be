"""Who may reach the diploma holder's, sharing and verification pages (format:
tests/privacy/matrix.py).

The seeded world has no diploma yet: candidate A's pages about their diploma answer 404 where
a diploma is needed, and the link and token URLs name objects that do not exist (404 for every
candidate; never a hint of whose they would be). With a `share_link_a` in the world, `link`
and `revoke_link` become OWNER-shaped: A 200, B 404, staff 403, anonymous the sign-in page.
"""

from tests.privacy.matrix import CANDIDATE, LOGIN, PUBLIC, Entry, profile

# Holder pages: staff 403, anonymous to sign-in; 404 for a candidate without a diploma.
NEEDS_DIPLOMA = profile(403, anonymous=LOGIN, candidate_a=404, candidate_b=404)
# POST-only holder actions: GET is 405 once the candidate check passed.
HOLDER_POST_ONLY = profile(403, anonymous=LOGIN, candidate_a=405, candidate_b=405)
NO_SUCH_LINK = "=999999"
NO_SUCH_TOKEN = "=" + "A" * 43

ENTRIES = {
    "sharing:mine": Entry(CANDIDATE),
    "sharing:download": Entry(NEEDS_DIPLOMA, kwargs={"face": "=credential.json"}),
    "sharing:offline": Entry(NEEDS_DIPLOMA),
    "sharing:create_link": Entry(HOLDER_POST_ONLY, post=NEEDS_DIPLOMA),
    "sharing:link": Entry(NEEDS_DIPLOMA, kwargs={"pk": NO_SUCH_LINK}),
    "sharing:revoke_link": Entry(HOLDER_POST_ONLY, kwargs={"pk": NO_SUCH_LINK}, post=NEEDS_DIPLOMA),
    # Public: the manifest and service worker hold no personal data.
    "sharing:manifest": Entry(PUBLIC),
    "sharing:service_worker": Entry(PUBLIC),
    # Public, by token: an unknown token is the same 404 for everyone.
    "sharing:shared": Entry(profile(404), kwargs={"token": NO_SUCH_TOKEN}),
    "sharing:shared_sd_jwt": Entry(profile(404), kwargs={"token": NO_SUCH_TOKEN}),
    # Public verification: the page for all (an empty form is answered 400), the API POST only.
    "sharing:verify": Entry(PUBLIC, post=True),
    "sharing:api_verify": Entry(profile(405), post=profile(400)),
    "sharing:openapi": Entry(PUBLIC),
}
