"""Who may reach the results' URLs: the public lookup and its API, the candidate's result,
the staff's grades and computations, the ministry's publications
(format: tests/privacy/matrix.py)."""

from tests.privacy.matrix import (
    ACADEMY_AND_MINISTRY,
    ACADEMY_OBJECT,
    CANDIDATE,
    LOGIN,
    MINISTRY,
    PUBLIC,
    Entry,
    profile,
)

ENTRIES = {
    "results:lookup": Entry(PUBLIC),
    "results:mine": Entry(CANDIDATE),
    # Without a code and birth date: malformed, for anyone.
    "results:api_lookup": Entry(
        profile(400), csrf_exempt="a read-only JSON API: changes nothing but rate-limit counters"
    ),
    "results:openapi": Entry(PUBLIC),
    "results:export_key": Entry(PUBLIC),
    "results_staff:index": Entry(ACADEMY_AND_MINISTRY),
    "results_staff:grades_import": Entry(ACADEMY_AND_MINISTRY, post=True),
    "results_staff:grades_template": Entry(ACADEMY_AND_MINISTRY),
    "results_staff:grade_entry": Entry(ACADEMY_AND_MINISTRY),
    "results_staff:candidate_grades": Entry(
        ACADEMY_OBJECT, kwargs={"massar_code": "candidate_a.massar_code"}, post=True
    ),
    "results_staff:computations": Entry(ACADEMY_AND_MINISTRY, post=True),
    "results_staff:computation": Entry(ACADEMY_AND_MINISTRY, kwargs={"pk": "computation.pk"}),
    "publications:list": Entry(MINISTRY),
    "publications:create": Entry(MINISTRY, post=True),
    "publications:detail": Entry(MINISTRY, kwargs={"pk": "publication.pk"}),
    "publications:withdraw": Entry(
        profile(403, anonymous=LOGIN, ministry=405), kwargs={"pk": "publication.pk"}, post=True
    ),
}
