"""Issuing and downloading: the candidate's own convocation only, versioned and audited."""

import io

from pypdf import PdfReader

from audit.models import AuditEntry
from convocations import services
from convocations.models import Convocation

DOWNLOAD = "/convocation/download.pdf"


def text_of(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)


def test_the_candidate_downloads_their_convocation_as_a_pdf(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    response = client_for(candidate_a.user).get(DOWNLOAD)
    assert response["Content-Disposition"].startswith("attachment;")
    assert "2026-N-R130000001-01" in response["Content-Disposition"]
    assert response["Cache-Control"] == "no-store"
    text = text_of(response)
    assert "R130000001" in text and candidate_a.cnie_number in text
    convocation = Convocation.objects.get()
    assert convocation.candidate == candidate_a and convocation.version == 1
    assert convocation.is_current and len(convocation.file_hash) == 64


def test_candidate_b_cannot_download_the_convocation_of_candidate_a(
    client_for, candidate_a, candidate_b, ready, convocation_window
):
    """There is no identifier in the URL: B only ever gets B's own file."""
    ready(candidate_a)
    ready(candidate_b)
    client_for(candidate_a.user).get(DOWNLOAD)
    text = text_of(client_for(candidate_b.user).get(DOWNLOAD + "?candidate=" + str(candidate_a.pk)))
    assert "R130000002" in text and "Fatima Zahra" in text
    assert "R130000001" not in text and candidate_a.cnie_number not in text
    assert Convocation.objects.get(candidate=candidate_b).number.endswith("R130000002-01")


def test_a_candidate_not_yet_eligible_is_refused_even_if_another_one_is(
    client_for, candidate_a, candidate_b, ready, convocation_window
):
    ready(candidate_a)
    response = client_for(candidate_b.user).get(DOWNLOAD)
    assert response.status_code == 302
    assert not Convocation.objects.filter(candidate=candidate_b).exists()


def test_downloading_again_without_change_gives_the_same_convocation(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    first = client_for(candidate_a.user).get(DOWNLOAD).content
    second = client_for(candidate_a.user).get(DOWNLOAD).content
    assert Convocation.objects.count() == 1
    convocation = Convocation.objects.get()
    assert services.qr_text(convocation) == services.qr_text(convocation)
    # Same version, same code; the PDFs differ only by their random file identifier, if at all.
    assert len(first) == len(second)


def test_issuing_is_audited_on_the_candidate_file(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    client_for(candidate_a.user).get(DOWNLOAD)
    entry = AuditEntry.objects.get(action="convocation.issue")
    assert entry.candidate_id == candidate_a.pk
    assert entry.after["number"] == "2026-N-R130000001-01"
    assert entry.actor_id == candidate_a.user_id


def test_a_changed_file_supersedes_the_old_convocation_on_next_download(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a, room="03")
    client_for(candidate_a.user).get(DOWNLOAD)
    candidate_a.exam_room = "07"
    candidate_a.save()
    text = text_of(client_for(candidate_a.user).get(DOWNLOAD))
    old, new = Convocation.objects.order_by("version")
    assert old.superseded_at is not None and not old.is_current
    assert new.is_current and new.version == 2 and new.number.endswith("-02")
    assert new.fields["room"] == "07" and new.file_hash != old.file_hash
    assert "07" in text
    supersede = AuditEntry.objects.get(action="convocation.supersede")
    assert "exam_room" not in supersede.reason and "room" in supersede.reason


def test_a_field_that_is_not_printed_does_not_make_a_new_version(
    client_for, candidate_a, ready, convocation_window
):
    ready(candidate_a)
    client_for(candidate_a.user).get(DOWNLOAD)
    candidate_a.phone = "+212600000000"
    candidate_a.save()
    client_for(candidate_a.user).get(DOWNLOAD)
    assert Convocation.objects.count() == 1


def test_the_download_page_query_count_stays_small(
    client_for, candidate_a, ready, convocation_window, django_assert_max_num_queries
):
    ready(candidate_a)
    client = client_for(candidate_a.user)
    client.get(DOWNLOAD)
    with django_assert_max_num_queries(12):
        client.get(DOWNLOAD)
    with django_assert_max_num_queries(10):
        client.get("/convocation/")
