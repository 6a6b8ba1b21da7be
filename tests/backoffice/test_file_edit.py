"""Editing a candidate's file: validated, normalised, one audit entry per change with a reason."""

import datetime

import pytest

from audit.models import AuditEntry
from audit.services import verify_chain
from candidates.file_services import update_candidate_file
from candidates.models import Candidate

FIELDS = (
    "massar_code",
    "cnie_number",
    "last_name_latin",
    "first_name_latin",
    "last_name_ar",
    "first_name_ar",
    "birth_date",
    "birth_place_latin",
    "birth_place_ar",
    "sex",
    "nationality",
    "track",
    "candidate_type",
    "phone",
    "email",
)


def form_data(candidate: Candidate, **changes) -> dict:
    data = {}
    for name in FIELDS:
        value = getattr(candidate, name)
        if name == "track":
            value = candidate.track_id
        elif isinstance(value, datetime.date):
            value = value.isoformat()
        data[name] = value
    data["reason"] = "Checked against the CNIE copy"
    data.update(changes)
    return data


def edit(client, candidate, **changes):
    return client.post(
        f"/staff/candidates/{candidate.pk}/edit/",
        form_data(candidate, **changes),
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_the_edit_page_shows_every_field_and_asks_for_a_reason(client_for, clerk, candidate_a):
    html = (
        client_for(clerk)
        .get(f"/staff/candidates/{candidate_a.pk}/edit/", HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )
    for name in (*FIELDS, "reason"):
        assert f'name="{name}"' in html, name
        assert f'for="id_{name}"' in html, name
    assert 'name="school"' not in html


def test_an_edit_writes_one_audit_entry_with_before_after_and_reason(
    client_for, clerk, candidate_a
):
    old_cnie = candidate_a.cnie_number
    response = edit(
        client_for(clerk), candidate_a, cnie_number="be 654321", first_name_latin="Mohamed"
    )
    assert response.status_code == 302
    candidate_a.refresh_from_db()
    assert candidate_a.cnie_number == "BE654321"
    assert candidate_a.first_name_latin == "Mohamed"
    entry = AuditEntry.objects.get(candidate=candidate_a)
    assert entry.action == "candidate.update"
    assert entry.actor == clerk
    assert entry.before == {"cnie_number": old_cnie, "first_name_latin": "Mohammed"}
    assert entry.after == {"cnie_number": "BE654321", "first_name_latin": "Mohamed"}
    assert entry.reason == "Checked against the CNIE copy"
    assert verify_chain() is None


def test_the_phone_and_massar_code_are_normalised(client_for, clerk, candidate_a):
    edit(client_for(clerk), candidate_a, phone="06 98 76 54 32", massar_code="r 130000001")
    candidate_a.refresh_from_db()
    assert candidate_a.phone == "+212698765432"
    assert candidate_a.massar_code == "R130000001"
    entry = AuditEntry.objects.get(candidate=candidate_a)
    assert entry.after == {"phone": "+212698765432"}


def test_an_edit_with_no_change_writes_no_entry(client_for, clerk, candidate_a):
    response = edit(client_for(clerk), candidate_a)
    assert response.status_code == 302
    assert not AuditEntry.objects.exists()
    follow = client_for(clerk).get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert follow.status_code == 200


def test_an_invalid_cnie_shows_an_error_and_changes_nothing(client_for, clerk, candidate_a):
    before = Candidate.objects.get(pk=candidate_a.pk)
    response = edit(
        client_for(clerk), candidate_a, cnie_number="12345678", last_name_latin="Changed"
    )
    assert response.status_code == 200
    assert "A CNIE number is one or two letters and five or six digits" in response.content.decode()
    after = Candidate.objects.get(pk=candidate_a.pk)
    assert (after.cnie_number, after.last_name_latin) == (
        before.cnie_number,
        before.last_name_latin,
    )
    assert not AuditEntry.objects.exists()


def test_a_change_without_a_reason_is_refused(client_for, clerk, candidate_a):
    response = edit(client_for(clerk), candidate_a, last_name_latin="Alaoui", reason="")
    assert response.status_code == 200
    candidate_a.refresh_from_db()
    assert candidate_a.last_name_latin == "El Amrani"
    assert not AuditEntry.objects.exists()


def test_a_massar_code_already_used_in_the_session_is_refused(
    client_for, clerk, candidate_a, candidate_b
):
    response = edit(client_for(clerk), candidate_a, massar_code=candidate_b.massar_code)
    assert response.status_code == 200
    assert "already has this Massar code" in response.content.decode()


def test_an_invalid_phone_is_refused(client_for, clerk, candidate_a):
    response = edit(client_for(clerk), candidate_a, phone="0512")
    assert response.status_code == 200
    assert "Moroccan mobile number" in response.content.decode()


def test_academy_and_ministry_staff_may_edit_the_file(
    client_for, academy_staff, ministry_staff, candidate_a
):
    assert edit(client_for(academy_staff), candidate_a, birth_place_latin="Salé").status_code == 302
    assert (
        edit(client_for(ministry_staff), candidate_a, birth_place_latin="Temara").status_code == 302
    )
    assert AuditEntry.objects.filter(candidate=candidate_a).count() == 2


def test_the_service_records_foreign_keys_and_dates_as_plain_values(candidate_a, clerk, db):
    from tests.factories import TrackFactory

    other_track = TrackFactory(code="SVT")
    saved = update_candidate_file(
        candidate_a,
        {"track": other_track, "birth_date": datetime.date(2008, 4, 1)},
        clerk,
        "Registration error",
    )
    assert saved.track_id == other_track.pk
    entry = AuditEntry.objects.get(candidate=candidate_a)
    assert entry.before == {"track_id": candidate_a.track_id, "birth_date": "2008-03-14"}
    assert entry.after == {"track_id": other_track.pk, "birth_date": "2008-04-01"}


def test_the_service_refuses_a_change_without_a_reason_or_to_an_unknown_field(candidate_a, clerk):
    with pytest.raises(ValueError):
        update_candidate_file(candidate_a, {"last_name_latin": "X"}, clerk, "  ")
    with pytest.raises(ValueError):
        update_candidate_file(candidate_a, {"user_id": 1}, clerk, "why")
    assert not AuditEntry.objects.exists()


def test_the_service_compares_with_the_database_not_with_a_changed_instance(candidate_a, clerk):
    candidate_a.last_name_latin = "Already Changed In Memory"
    update_candidate_file(
        candidate_a, {"last_name_latin": "Already Changed In Memory"}, clerk, "why"
    )
    entry = AuditEntry.objects.get(candidate=candidate_a)
    assert entry.before == {"last_name_latin": "El Amrani"}
