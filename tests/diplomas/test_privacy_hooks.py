"""The diplomas app's register entry: kept for good, and the exporter gives the holder every
diploma with its stored faces (the PDF once rendered), its revocation or replacement, and the
refusals; nothing of anyone else."""

import json

import pytest

from diplomas import privacy_hooks, services
from diplomas.models import Refusal
from privacy import register

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_pki_and_storage")]


def export(candidate):
    return privacy_hooks.export_diplomas(candidate, candidate.user, None)


def test_the_kind_is_registered_kept_for_good_and_names_its_models():
    # Declared by DiplomasConfig.ready(); declaring it again changes nothing.
    privacy_hooks.register_data_kinds()
    kind = register.kind("diplomas.diploma")
    assert kind.concerns_candidate and kind.exporter is privacy_hooks.export_diplomas
    assert kind.retention_days is None and kind.purger is None
    assert set(kind.models) == {"diplomas.Diploma", "diplomas.Refusal"}
    assert "permanently" in str(kind.retention)


def test_the_export_holds_the_diploma_and_its_stored_faces(diploma, candidate_a):
    part = export(candidate_a)
    [row] = part.records
    assert row["record"] == "diploma" and row["number"] == diploma.number
    assert row["status"] == "valid" and row["claims"] == diploma.claims
    assert row["claims"]["cnie_number"] == candidate_a.cnie_number
    assert row["issued_at"] == diploma.issued_at.isoformat() and row["qr"] == diploma.qr
    credential = f"documents/diploma-{diploma.number}-credential.json"
    sd_jwt = f"documents/diploma-{diploma.number}-credential.sd-jwt"
    assert set(part.files) == set(row["files"]) == {credential, sd_jwt}
    assert json.loads(part.files[credential]) == diploma.credential
    assert part.files[sd_jwt].decode("ascii") == diploma.sd_jwt
    # Never rendered: no PDF is made up for the export, and the record says where to get it.
    assert "has not been made yet" in row["note"]
    json.dumps(part.records)  # JSON-ready as it is


def test_a_rendered_pdf_is_in_the_export_as_stored(diploma, candidate_a):
    rendered = services.pdf_bytes(diploma)
    part = export(candidate_a)
    name = f"documents/diploma-{diploma.number}-diploma.pdf"
    assert part.files[name] == rendered
    assert name in part.records[0]["files"] and "note" not in part.records[0]


def test_a_replaced_diploma_and_its_replacement_point_to_each_other(
    diploma, candidate_a, ministry_staff
):
    new = services.replace_diploma(diploma, reason="corrected mark", actor=ministry_staff)
    old_row, new_row = export(candidate_a).records
    assert (old_row["number"], old_row["status"]) == (diploma.number, "replaced")
    assert old_row["replaced_by"] == new.number and old_row["replaces"] is None
    assert old_row["revocation_reason"] == "corrected mark" and old_row["revoked_at"]
    assert new_row["replaces"] == diploma.number and new_row["replaced_by"] is None
    # Who acted is the issuing authority's business, not in the export.
    assert ministry_staff.username not in json.dumps([old_row, new_row])


def test_refusals_are_exported_and_another_candidate_gets_nothing_of_a(
    diploma, candidate_a, candidate_b
):
    Refusal.objects.create(
        candidate=candidate_b, session=candidate_b.session, reason=Refusal.Reason.NO_CNIE
    )
    part = export(candidate_b)
    assert not part.files
    assert [(r["record"], r["reason"], r["resolved_at"]) for r in part.records] == [
        ("refusal", "no_cnie", None)
    ]
    assert diploma.number not in json.dumps(part.records)
    assert all(r["record"] == "diploma" for r in export(candidate_a).records)
