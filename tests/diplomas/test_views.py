"""Public documents and staff pages: who may see and do what."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from diplomas import verify
from diplomas.codec import bit_at, decode_bitstring
from diplomas.models import IssuanceRun

from .conftest import committed

pytestmark = pytest.mark.django_db


def test_the_status_list_is_a_signed_briefly_cacheable_credential(client, diploma):
    response = client.get("/diplomas/status/0.json")
    assert response.status_code == 200 and "max-age=60" in response["Cache-Control"]
    document = response.json()
    assert "BitstringStatusListCredential" in document["type"]
    assert document["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    bits = decode_bitstring(document["credentialSubject"]["encodedList"])
    assert len(bits) * 8 >= 131_072 and not bit_at(bits, diploma.status_list_index)
    assert client.get("/diplomas/status/99.json").status_code == 404


def test_school_staff_and_candidates_cannot_reach_the_staff_list(
    client_for, clerk, candidate_a, diploma
):
    assert client_for(clerk).get("/diplomas/staff/").status_code == 403
    assert client_for(candidate_a.user).get("/diplomas/staff/").status_code == 403


def test_academy_staff_see_their_academy_only(
    client_for, academy_staff, academy_staff_of_other_academy, diploma
):
    assert diploma.number in client_for(academy_staff).get("/diplomas/staff/").content.decode()
    other = client_for(academy_staff_of_other_academy)
    assert diploma.number not in other.get("/diplomas/staff/").content.decode()
    assert other.get(f"/diplomas/staff/{diploma.pk}/revoke/").status_code == 404


def test_revoking_from_the_page_needs_a_reason(client_for, academy_staff, diploma, client):
    staff = client_for(academy_staff)
    url = f"/diplomas/staff/{diploma.pk}/revoke/"
    assert staff.post(url, {"reason": ""}).status_code == 200
    diploma.refresh_from_db()
    assert diploma.status == "valid"
    response = staff.post(url, {"reason": "identity fraud"})
    assert response.status_code == 302
    diploma.refresh_from_db()
    assert diploma.status == "revoked"
    assert AuditEntry.objects.filter(action="diplomas.revoke", reason="identity fraud").exists()
    assert verify.verify_any(diploma.qr).state == "revoked"


def test_ministry_staff_launch_the_issuance_and_follow_it(client_for, ministry_staff, published):
    staff = client_for(ministry_staff)
    response = staff.post("/diplomas/staff/issue/", {"session": published.session_id})
    run = IssuanceRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/runs/{run.pk}/")
    page = staff.get(f"/diplomas/staff/runs/{run.pk}/")
    assert page.status_code == 200 and run.session.name in page.content.decode()


def test_academy_staff_launch_it_for_their_academy_only(client_for, academy_staff, published):
    client_for(academy_staff).post("/diplomas/staff/issue/", {"session": published.session_id})
    assert IssuanceRun.objects.get().academy_id == academy_staff.academy_id


def test_a_national_issuance_is_one_run_per_academy(
    client_for, ministry_staff, published, other_academy, session, track, candidate_a
):
    from tests.factories import CandidateFactory, DirectorateFactory, SchoolFactory

    far = SchoolFactory(directorate=DirectorateFactory(academy=other_academy))
    CandidateFactory(session=session, school=far, track=track, massar_code="J139999999")
    with committed():
        response = client_for(ministry_staff).post(
            "/diplomas/staff/issue/", {"session": session.pk}
        )
    assert response.status_code == 302 and response["Location"].endswith("/diplomas/staff/")
    runs = IssuanceRun.objects.order_by("academy__code")
    assert [r.academy.code for r in runs] == ["ORI", "RSK"]
    assert [(r.status, r.issued) for r in runs] == [("done", 0), ("done", 1)]


def test_the_staff_list_makes_the_same_queries_for_one_or_many_diplomas(
    client_for, ministry_staff, diploma, session, school, track, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from diplomas.models import Diploma
    from tests.factories import CandidateFactory

    staff = client_for(ministry_staff)
    with CaptureQueriesContext(connection) as one:
        staff.get("/diplomas/staff/")
    for n in range(5):
        other = CandidateFactory(
            session=session, school=school, track=track, massar_code=f"K13000000{n}"
        )
        Diploma.objects.create(
            number=f"MA-2026-0000-000{n}",
            candidate=other,
            session=session,
            issued_at=diploma.issued_at,
            status_list_index=1000 + n,
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = staff.get("/diplomas/staff/")
    assert page.content.decode().count("MA-2026-0000-000") == 5
