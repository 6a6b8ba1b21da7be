"""The candidate's export: complete against the register, their documents decrypted, nothing
of anyone else, every document read logged, and limited in rate."""

import io
import json
import zipfile

from django.urls import reverse

from audit.models import AuditEntry
from candidates.models import DocumentAccess
from privacy import register
from privacy.register import Export
from privacy.services import collect_export


def download(client):
    response = client.post(reverse("privacy:export"))
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return archive, json.loads(archive.read("data.json"))


def seed_services(candidate):
    """What candidate A holds only once they have used the services: a scholarship application
    (household, incomes, documents) matched in the social-register extract, a share link of
    their diploma opened once, and a complaint about a published mark with the scan of its
    answer sheet (returned)."""
    from identity.models import Role
    from scholarships.models import SocialRegisterEntry
    from sharing.models import ShareView
    from tests.complaints.access_matrix import seed_complaint
    from tests.factories import UserFactory
    from tests.scholarships.access_matrix import seed_application
    from tests.sharing.access_matrix import seed_share_link

    programme, application, _document = seed_application(candidate)
    SocialRegisterEntry.objects.create(
        programme=programme, rsu_number=application.rsu_number, household_size=2, rsu_index=7
    )
    link, _token = seed_share_link(candidate)
    ShareView.objects.create(link=link, kind=ShareView.Kind.PAGE, network="203.0.113.0/24")
    reviewer = UserFactory(role=Role.ACADEMY, academy=candidate.school.directorate.academy)
    return seed_complaint(candidate, reviewer, comment="Exercise 3 seems unmarked.")


def test_every_register_kind_that_concerns_a_candidate_is_in_the_export(
    seeded, candidate_a, client_for
):
    complaint = seed_services(candidate_a)
    archive, data = download(client_for(candidate_a.user))
    expected = {kind.key for kind in register.candidate_kinds()}
    assert expected <= set(data["kinds"])
    for key in expected:
        section = data["kinds"][key]
        assert isinstance(section["records"], list)
        assert section["label"] and section["retention"]
    # Each kind that holds something about A says so.
    empty = {key for key in expected if not data["kinds"][key]["records"]}
    assert empty <= {"results.grade", "results.result", "privacy.consent"}, empty
    # The complaint, its comment, the decrypted scan and the log of who looked at it.
    kinds = data["kinds"]
    assert [r["reference"] for r in kinds["complaints.complaint"]["records"]] == [
        complaint.reference
    ]
    assert kinds["complaints.comment"]["records"][0]["comment"] == "Exercise 3 seems unmarked."
    scan = kinds["complaints.answer_sheet_scan"]["records"][0]
    assert archive.read(scan["file"]).startswith(b"\x89PNG")
    views = {(r["by"], r["action"]) for r in kinds["complaints.scan_access"]["records"]}
    assert (candidate_a.user.username, "view") in views


def test_published_results_and_their_marks_are_exported_and_nothing_before(
    seeded, candidate_a, candidate_b, monkeypatch
):
    from django.utils import timezone

    from tests.results.publication_fixtures import add_grades, make_computation, publish

    monkeypatch.setattr("results.publication.on_publication_public", lambda p: 0)
    add_grades(candidate_a)
    computation = make_computation(
        candidate_a.session,
        {candidate_a: ("14.25", "admitted", "bien"), candidate_b: ("8.40", "catch_up", "")},
    )
    data, _files = collect_export(candidate_a, candidate_a.user, None)
    assert data["kinds"]["results.grade"]["records"] == []
    assert data["kinds"]["results.result"]["records"] == []

    publish(computation, timezone.now() - timezone.timedelta(minutes=1))
    data, _files = collect_export(candidate_a, candidate_a.user, None)
    marks = {r["subject"]: r["mark"] for r in data["kinds"]["results.grade"]["records"]}
    assert marks == {"MATH": "15.50", "FR": "12.00"}
    assert len(data["kinds"]["results.result"]["records"]) == 1
    assert "14.25" in json.dumps(data["kinds"]["results.result"]["records"], default=str)


def test_the_export_holds_the_decrypted_documents(seeded, candidate_a, client_for):
    archive, data = download(client_for(candidate_a.user))
    copy = data["kinds"]["candidates.cnie_copy"]["records"][0]
    assert archive.read(copy["file"]) == seeded.cnie_bytes
    reports = data["kinds"]["verification.correction_request"]["records"]
    assert {archive.read(r["evidence"]) for r in reports} == {seeded.evidence_bytes}
    assert data["kinds"]["candidates.file"]["records"][0]["massar_code"] == "R130000001"
    assert not any(name.endswith(".bin") for name in archive.namelist())


def test_the_export_shows_who_viewed_the_documents_and_logs_its_own_reads(
    seeded, candidate_a, client_for
):
    _archive, data = download(client_for(candidate_a.user))
    views = data["kinds"]["candidates.document_access"]["records"]
    assert {("clerk", "upload"), ("clerk", "view")} <= {(v["by"], v["action"]) for v in views}
    assert DocumentAccess.objects.filter(
        user=candidate_a.user, action="view", document=seeded.cnie_copy
    ).exists()
    assert AuditEntry.objects.filter(candidate=candidate_a, action="privacy.export").exists()


def test_the_export_holds_nothing_of_another_candidate(seeded, candidate_b, client_for):
    archive, data = download(client_for(candidate_b.user))
    text = json.dumps(data, ensure_ascii=False)
    assert "R130000001" not in text
    assert data["kinds"]["candidates.cnie_copy"]["records"] == []
    assert archive.namelist() == ["data.json"]


def test_the_one_time_code_hashes_are_never_exported(seeded, candidate_a):
    data, _files = collect_export(candidate_a, candidate_a.user, None)
    codes = data["kinds"]["identity.one_time_code"]["records"]
    assert codes and all("code_hash" not in row for row in codes)


def test_a_kind_another_app_declares_is_exported_too(seeded, candidate_a):
    def exporter(candidate, actor, address):
        return Export(records=[{"id": candidate.pk}], files={"documents/scan.pdf": b"%PDF-"})

    register.data_kind(
        "tests.extra",
        label="Extra",
        fields="f",
        purpose="p",
        legal_basis="b",
        recipients="r",
        retention="kept",
        exporter=exporter,
    )
    try:
        data, files = collect_export(candidate_a, candidate_a.user, None)
    finally:
        register._KINDS.pop("tests.extra")
    assert data["kinds"]["tests.extra"]["records"] == [{"id": candidate_a.pk}]
    assert files["documents/scan.pdf"] == b"%PDF-"


def test_a_candidate_kind_without_an_exporter_fails_loudly(candidate_a):
    import pytest

    register.data_kind(
        "tests.forgotten",
        label="x",
        fields="x",
        purpose="x",
        legal_basis="x",
        recipients="x",
        retention="x",
    )
    try:
        with pytest.raises(RuntimeError, match="tests.forgotten"):
            collect_export(candidate_a, candidate_a.user, None)
    finally:
        register._KINDS.pop("tests.forgotten")


def test_exports_are_limited_per_hour(seeded, candidate_a, client_for, settings):
    client = client_for(candidate_a.user)
    for _ in range(5):
        assert client.post(reverse("privacy:export")).status_code == 200
    refused = client.post(reverse("privacy:export"))
    assert refused.status_code == 302 and int(refused["Retry-After"]) > 0


def test_the_export_is_a_post(candidate_a, client_for):
    assert client_for(candidate_a.user).get(reverse("privacy:export")).status_code == 405
