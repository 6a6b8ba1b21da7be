"""Who may reach the diploma service's URLs (format: tests/privacy/matrix.py).

Public: the issuer's keys, DID document, SD-JWT VC metadata and status lists (what any verifier
needs, no personal data). Staff pages: the diploma list, issuance and revocation for academy and
ministry staff (an object of another academy is a 404); the list of admitted candidates without
a diploma for every staff member, scoped to their school or academy.
"""

from tests.privacy.matrix import ACADEMY_AND_MINISTRY, ACADEMY_OBJECT, PUBLIC, STAFF, Entry

ENTRIES = {
    "diplomas_did": Entry(PUBLIC),
    "diplomas_jwt_vc_issuer": Entry(PUBLIC),
    "diplomas:jwks": Entry(PUBLIC),
    "diplomas:vct": Entry(PUBLIC),
    "diplomas:status_list": Entry(PUBLIC, kwargs={"list_id": "=0"}),
    "diplomas:staff_list": Entry(ACADEMY_AND_MINISTRY),
    # An empty POST is the form again (reason required): OK for those who may revoke.
    "diplomas:revoke": Entry(ACADEMY_OBJECT, kwargs={"pk": "diploma_a.pk"}, post=True),
    "diplomas:issue": Entry(ACADEMY_AND_MINISTRY, post=True),
    "diplomas:run": Entry(ACADEMY_OBJECT, kwargs={"pk": "issuance_run_a.pk"}),
    "diplomas:refusals": Entry(STAFF),
}


def world_objects(objects: dict, users: dict) -> dict:
    """Candidate A's valid diploma, and an issuance run of A's academy."""
    from diplomas.models import IssuanceRun
    from diplomas.services import current_diploma

    from .factories import make_diploma

    candidate = objects["candidate_a"]
    diploma = current_diploma(candidate) or make_diploma(candidate)
    run = IssuanceRun.objects.create(
        session=candidate.session,
        academy=candidate.school.directorate.academy,
        status=IssuanceRun.Status.DONE,
    )
    return {"diploma_a": diploma, "issuance_run_a": run}
