"""The seeded world the authorisation matrix runs in: the personas of tests/conftest.py (plus
academy staff of A's academy) and one real object of each kind a URL takes, belonging to
candidate A, A's school or A's academy.

An entry's kwargs name these attributes: "candidate_a.pk", "report_a.pk",
"candidate_a.massar_code"... A value starting with "=" is taken literally ("=exams").
An app adds its own objects with a `world_objects(objects, users)` function in its
tests/<app>/access_matrix.py (see tests/privacy/matrix.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .matrix import matrix_modules
from .seed import seed_personal_data


@dataclass
class World:
    users: dict[str, Any]
    objects: dict[str, Any]

    def resolve(self, path: str) -> Any:
        if path.startswith("="):
            return path[1:]
        head, *rest = path.split(".")
        value = self.objects[head]
        for part in rest:
            value = getattr(value, part)
        return value


def build_world(request) -> World:
    """Called from the `world` fixture with pytest's request, to reach the shared personas."""
    from candidates.models import ImportJob
    from results.models import Computation, Publication
    from tests.factories import ExamCentreFactory

    get = request.getfixturevalue
    candidate_a = get("candidate_a")
    candidate_b = get("candidate_b")
    clerk = get("clerk")
    users = {
        "candidate_a": candidate_a.user,
        "candidate_b": candidate_b.user,
        "clerk": clerk,
        "clerk_other_school": get("clerk_of_other_school"),
        "academy": get("academy_staff"),
        "academy_other": get("academy_staff_of_other_academy"),
        "ministry": get("ministry_staff"),
    }
    seeded = seed_personal_data(candidate_a, clerk)
    session = candidate_a.session
    school = candidate_a.school
    notification = candidate_a.notifications.first()
    computation = Computation.objects.create(
        session=session, status=Computation.Status.DONE, finished_at=timezone.now()
    )
    objects = {
        "candidate_a": candidate_a,
        "candidate_b": candidate_b,
        "report_a": seeded.pending_report,
        "decided_report_a": seeded.decided_report,
        "session": session,
        "window": session.windows.first(),
        "academy": get("academy"),
        "other_academy": get("other_academy"),
        "school": school,
        "other_school": get("other_school"),
        "track": candidate_a.track,
        "centre": ExamCentreFactory(directorate=school.directorate),
        "import_job": ImportJob.objects.create(
            session=session,
            uploaded_by=clerk,
            original_name="list.csv",
            stored_file="imports/none.csv",
            status=ImportJob.Status.DONE,
        ),
        "computation": computation,
        "publication": Publication.objects.create(
            session=session,
            version=1,
            computation=computation,
            publish_at=timezone.now() + timezone.timedelta(days=3),
            status=Publication.Status.READY,
            created_by=users["ministry"],
        ),
        "notification": notification,
    }
    for module in matrix_modules():
        extra = getattr(module, "world_objects", None)
        if extra is not None:
            added = extra(dict(objects), dict(users))
            clash = set(added) & set(objects)
            assert not clash, f"{module.__name__} redefines world objects {sorted(clash)}"
            objects.update(added)
    return World(users, objects)
