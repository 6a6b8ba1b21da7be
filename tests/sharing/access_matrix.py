"""Who may reach the diploma holder's, sharing and verification pages (format:
tests/privacy/matrix.py).

The world (world_objects below) gives candidate A a valid diploma and a share link of it,
whose token is kept: A's holder pages answer 200, B's (no diploma) 404; A's link is A's only
(B 404, never a hint of whose it is), its public page opens for everyone, and an unknown token
is the same 404 for everyone.
"""

from tests.privacy.matrix import CANDIDATE, LOGIN, OK, OWNER, PUBLIC, Entry, profile

# Holder pages: staff 403, anonymous to sign-in; A (who has a diploma) 200, B (none) 404.
NEEDS_DIPLOMA = OWNER
# POST-only holder actions: GET is 405 once the candidate check passed.
HOLDER_POST_ONLY = profile(403, anonymous=LOGIN, candidate_a=405, candidate_b=405)
# Their POST: A acts on their diploma or link (a redirect, or the form again), B gets 404.
HOLDER_POST = profile(403, anonymous=LOGIN, candidate_a=OK, candidate_b=404)
NO_SUCH_TOKEN = "=" + "A" * 43

ENTRIES = {
    "sharing:mine": Entry(CANDIDATE),
    "sharing:download": Entry(NEEDS_DIPLOMA, kwargs={"face": "=credential.json"}),
    "sharing:offline": Entry(NEEDS_DIPLOMA),
    "sharing:create_link": Entry(HOLDER_POST_ONLY, post=HOLDER_POST),
    "sharing:link": Entry(OWNER, kwargs={"pk": "share_link_a.pk"}),
    "sharing:revoke_link": Entry(
        HOLDER_POST_ONLY, kwargs={"pk": "share_link_a.pk"}, post=HOLDER_POST
    ),
    # Public: the manifest and service worker hold no personal data.
    "sharing:manifest": Entry(PUBLIC),
    "sharing:service_worker": Entry(PUBLIC),
    # Public, by token: A's active link opens for everyone (whoever holds the token); an
    # unknown token would be the same 404 for everyone (tests/sharing/test_links.py).
    "sharing:shared": Entry(PUBLIC, kwargs={"token": "share_token_a"}),
    "sharing:shared_sd_jwt": Entry(profile(404), kwargs={"token": NO_SUCH_TOKEN}),
    # Public verification: the page for all (an empty form is answered 400), the API POST only.
    "sharing:verify": Entry(PUBLIC, post=True),
    "sharing:api_verify": Entry(
        profile(405),
        post=profile(400),
        csrf_exempt="public read-only verification API for third parties: says whether a "
        "diploma is genuine, changes nothing but rate-limit counters",
    ),
    "sharing:openapi": Entry(PUBLIC),
}


def seed_share_link(candidate):
    """A valid diploma of the candidate (the one another app's world_objects issued, if any: a
    candidate has one valid diploma at most) and a share link of it. Returns (link, token)."""
    from diplomas.services import current_diploma
    from sharing import services

    from .factories import make_diploma

    diploma = current_diploma(candidate) or make_diploma(candidate)
    return services.create_link(candidate.user, diploma, label="Employer")


def world_objects(objects: dict, users: dict) -> dict:
    """Candidate A's diploma and a share link of it, with its token."""
    link, token = seed_share_link(objects["candidate_a"])
    return {"share_link_a": link, "share_token_a": token}
