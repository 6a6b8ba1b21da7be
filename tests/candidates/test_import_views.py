"""The upload page, the job page and the template, through the Django test client."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from candidates.importing import COLUMNS
from candidates.models import Candidate, ImportJob

from .importdata import OTHER_SCHOOL, csv_bytes, row, rows

UPLOAD = "/staff/imports/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def structure(session, school, other_school, track):
    return session


def upload(client, data: bytes, name: str = "liste.csv", keep: bool = False):
    payload = {"file": SimpleUploadedFile(name, data, content_type="text/csv")}
    if keep:
        payload["keep_valid_rows"] = "on"
    return client.post(UPLOAD, payload, HTTP_ACCEPT_LANGUAGE="en")


def test_the_import_url_is_the_upload_page():
    assert reverse("candidates:import") == UPLOAD
    assert reverse("candidates:import_job", args=[7]) == "/staff/imports/7/"


def test_a_clerk_imports_a_file_through_the_upload_page_end_to_end(
    structure, clerk, client_for, django_capture_on_commit_callbacks, settings
):
    client = client_for(clerk)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, csv_bytes(rows(3)))
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("candidates:import_job", args=[job.pk])
    assert (job.status, job.created_count, job.total_rows, job.processed_rows) == ("done", 3, 3, 3)
    assert job.uploaded_by == clerk and not job.keep_valid_rows
    assert Candidate.objects.filter(session=structure).count() == 3
    # The uploaded list is personal data: it is deleted once imported.
    assert not (settings.MEDIA_ROOT / job.stored_file).exists()
    assert job.stored_file.startswith("imports/")

    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert "The file was imported." in html
    assert re.search(r'id="count-created">3<', html)
    assert 'http-equiv="refresh"' not in html


def test_a_rejected_upload_lists_every_error_with_its_line_column_and_reason(
    structure, clerk, client_for, django_capture_on_commit_callbacks
):
    client = client_for(clerk)
    data = csv_bytes([row(0), row(1, sex="X"), row(2, school_code=OTHER_SCHOOL)])
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, data)
    job = ImportJob.objects.get()
    assert (job.status, job.error_count) == ("rejected", 2)
    assert not Candidate.objects.exists()
    html = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Nothing was imported." in html
    cells = [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr>(.*?)</tr>", html.split('class="import-errors"')[1], re.S)
    ]
    assert [c for c in cells if c] == [
        ["3", "sex", "“X” is not accepted: write M (or H) for male, F for female."],
        ["4", "school_code", "You may not import candidates of the school “S-SALE-2”."],
    ]


def test_keeping_the_valid_rows_is_a_choice_made_on_the_form(
    structure, clerk, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        upload(client_for(clerk), csv_bytes([row(0), row(1, sex="X")]), keep=True)
    job = ImportJob.objects.get()
    assert (job.keep_valid_rows, job.status, job.created_count, job.error_count) == (
        True,
        "done",
        1,
        1,
    )


def test_the_upload_page_explains_the_format_and_the_keep_box_is_unchecked(
    structure, clerk, client_for
):
    response = client_for(clerk).get(UPLOAD, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    box = re.search(r'<input[^>]*name="keep_valid_rows"[^>]*>', html).group(0)
    assert 'type="checkbox"' in box and "checked" not in box
    assert re.search(r'<label[^>]*for="id_keep_valid_rows"', html)
    assert re.search(r'<label[^>]*for="id_file"', html)
    assert 'enctype="multipart/form-data"' in html
    assert reverse("candidates:import_template") in html
    for column in COLUMNS:
        assert f"<code>{column}</code>" in html
    assert "<script" not in html and "style=" not in html


def test_a_candidate_is_refused_the_import_pages(structure, candidate_a, clerk, client_for):
    job = ImportJob.objects.create(
        session=structure, uploaded_by=clerk, original_name="a.csv", stored_file="imports/a.csv"
    )
    client = client_for(candidate_a.user)
    assert client.get(UPLOAD).status_code == 403
    assert upload(client, csv_bytes(rows(1))).status_code == 403
    assert client.get(reverse("candidates:import_job", args=[job.pk])).status_code == 403
    assert client.get(reverse("candidates:import_template")).status_code == 403
    assert not ImportJob.objects.exclude(pk=job.pk).exists()


def test_an_anonymous_visitor_is_sent_to_sign_in(structure):
    response = Client().get(UPLOAD)
    assert response.status_code == 302
    assert "sign-in" in response["Location"]


def test_a_user_sees_only_their_own_jobs_and_ministry_staff_see_all(
    structure, clerk, clerk_of_other_school, academy_staff, ministry_staff, client_for
):
    job = ImportJob.objects.create(
        session=structure, uploaded_by=clerk, original_name="a.csv", stored_file="imports/a.csv"
    )
    url = reverse("candidates:import_job", args=[job.pk])
    assert client_for(clerk).get(url).status_code == 200
    assert client_for(clerk_of_other_school).get(url).status_code == 404
    assert client_for(academy_staff).get(url).status_code == 404
    assert client_for(ministry_staff).get(url).status_code == 200
    assert (
        client_for(clerk).get(reverse("candidates:import_job", args=[job.pk + 1000])).status_code
        == 404
    )
    # The upload page lists only one's own jobs too.
    assert "a.csv" not in client_for(clerk_of_other_school).get(UPLOAD).content.decode()
    assert "a.csv" in client_for(clerk).get(UPLOAD).content.decode()


def test_a_running_job_page_refreshes_itself_without_javascript(structure, clerk, client_for):
    job = ImportJob.objects.create(
        session=structure,
        uploaded_by=clerk,
        original_name="grande-liste.csv",
        stored_file="imports/x.csv",
        status=ImportJob.Status.RUNNING,
        total_rows=400,
        processed_rows=100,
    )
    url = reverse("candidates:import_job", args=[job.pk])
    html = client_for(clerk).get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<meta http-equiv="refresh" content="2">' in html
    assert re.search(r'<progress id="import-progress" max="100" value="25">', html)
    assert '<label for="import-progress">' in html
    assert "100 of about 400 rows processed." in html
    assert "<script" not in html and "style=" not in html
    paused = client_for(clerk).get(url + "?pause=1", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'http-equiv="refresh"' not in paused


def test_an_upload_larger_than_the_limit_is_refused_from_its_declared_length(
    structure, clerk, client_for, settings
):
    settings.IMPORT_UPLOAD_MAX_BYTES = 1024
    response = upload(client_for(clerk), b"x" * (1024 + 70 * 1024))
    assert response.status_code == 413
    assert "larger than the limit of 1 KB" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_an_upload_file_larger_than_the_limit_is_refused(structure, clerk, client_for, settings):
    data = csv_bytes(rows(20))
    settings.IMPORT_UPLOAD_MAX_BYTES = len(data) - 1
    response = upload(client_for(clerk), data)
    assert response.status_code == 400
    assert "larger than the limit" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_upload_still_requires_the_csrf_token(structure, clerk):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clerk)
    assert upload(client, csv_bytes(rows(1))).status_code == 403
    assert not ImportJob.objects.exists()


def test_the_template_is_a_utf8_csv_excel_opens_with_arabic_intact(structure, clerk, client_for):
    response = client_for(clerk).get(reverse("candidates:import_template"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff" + ",".join(COLUMNS))
    assert "العمراني" in text


def test_the_template_downloaded_imports_cleanly(
    structure, clerk, client_for, django_capture_on_commit_callbacks
):
    client = client_for(clerk)
    template = client.get(reverse("candidates:import_template")).content
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, template, name="candidates-template.csv")
    assert ImportJob.objects.get().created_count == 2
