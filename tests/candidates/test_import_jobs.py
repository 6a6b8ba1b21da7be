"""The Celery task that runs an uploaded import, and the command-line import."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import translation

import bac.pg
from candidates import tasks
from candidates.models import Candidate, ImportJob
from candidates.services import start_import_job
from candidates.tasks import run_import_job

from .importdata import OTHER_SCHOOL, csv_bytes, row, rows


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def structure(session, school, other_school, track):
    return session


def make_job(session, user, data: bytes, keep: bool = False) -> ImportJob:
    name = default_storage.save("imports/test.csv", ContentFile(data))
    return ImportJob.objects.create(
        session=session,
        uploaded_by=user,
        original_name="liste.csv",
        stored_file=name,
        keep_valid_rows=keep,
    )


# -- The task ---------------------------------------------------------------------------------


def test_a_job_is_queued_only_once_its_transaction_commits(
    structure, clerk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = start_import_job(structure, ContentFile(csv_bytes(rows(2)), name="liste.csv"), clerk)
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.PENDING
    assert len(callbacks) == 1
    assert not Candidate.objects.exists()
    callbacks[0]()
    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportJob.Status.DONE, 2)


def test_a_finished_job_records_its_counts_and_removes_the_upload(structure, clerk):
    job = make_job(structure, clerk, csv_bytes(rows(3)))
    assert run_import_job(job.pk) == ImportJob.Status.DONE
    job.refresh_from_db()
    assert (job.total_rows, job.processed_rows, job.created_count, job.error_count) == (3, 3, 3, 0)
    assert job.finished_at is not None
    assert not default_storage.exists(job.stored_file)
    # Running it again (a redelivered task) does nothing.
    assert run_import_job(job.pk) == ImportJob.Status.DONE
    job.refresh_from_db()
    assert job.created_count == 3


def test_a_rejected_job_keeps_the_first_errors_and_counts_them_all(structure, clerk, monkeypatch):
    monkeypatch.setattr(tasks, "MAX_STORED_ERRORS", 3)
    job = make_job(structure, clerk, csv_bytes([row(n, sex="X") for n in range(5)]))
    assert run_import_job(job.pk) == ImportJob.Status.REJECTED
    job.refresh_from_db()
    assert job.error_count == 5
    assert [(e["line"], e["column"], e["code"]) for e in job.errors] == [
        (2, "sex", "sex_invalid"),
        (3, "sex", "sex_invalid"),
        (4, "sex", "sex_invalid"),
    ]
    assert job.errors[0]["params"] == {"value": "X"}
    assert job.errors[0]["reason"]
    assert not Candidate.objects.exists()


def test_a_job_with_the_keep_valid_rows_choice_stores_the_good_rows(structure, clerk):
    job = make_job(
        structure, clerk, csv_bytes([row(0), row(1, school_code=OTHER_SCHOOL)]), keep=True
    )
    assert run_import_job(job.pk) == ImportJob.Status.DONE
    job.refresh_from_db()
    assert (job.created_count, job.error_count) == (1, 1)


def test_a_job_whose_file_is_gone_fails_with_a_reason(structure, clerk):
    job = ImportJob.objects.create(
        session=structure, uploaded_by=clerk, original_name="a.csv", stored_file="imports/gone.csv"
    )
    assert run_import_job(job.pk) == ImportJob.Status.FAILED
    job.refresh_from_db()
    assert job.errors[0]["code"] == "job_file_gone"


def test_a_job_that_crashes_fails_and_stores_nothing(structure, clerk, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(tasks, "import_candidates", explode)
    job = make_job(structure, clerk, csv_bytes(rows(2)))
    assert run_import_job(job.pk) == ImportJob.Status.FAILED
    job.refresh_from_db()
    assert (job.error_count, job.errors[0]["code"]) == (1, "job_failed")
    assert not default_storage.exists(job.stored_file)


def test_progress_is_reported_to_the_job_as_it_goes(structure, clerk, monkeypatch):
    monkeypatch.setattr("candidates.importing.PROGRESS_EVERY", 2)
    monkeypatch.setattr(tasks, "PROGRESS_WRITE_INTERVAL", 0.0)
    seen = []
    original = tasks._JobProgress.__call__

    def spy(self, done, total):
        original(self, done, total)
        seen.append((done, total))

    monkeypatch.setattr(tasks._JobProgress, "__call__", spy)
    job = make_job(structure, clerk, csv_bytes(rows(6)))
    run_import_job(job.pk)
    assert seen[-1] == (6, 6)
    assert len(seen) >= 3
    assert all(done <= total for done, total in seen)


def test_progress_writes_are_visible_outside_the_import_transaction(
    transactional_db, structure, clerk
):
    """On PostgreSQL through a second connection, so that the job page sees them while the
    import's own transaction is still open."""
    job = ImportJob.objects.create(
        session=structure, uploaded_by=clerk, original_name="a.csv", stored_file="imports/a.csv"
    )
    progress = tasks._JobProgress(job.pk, interval=0.0)
    try:
        progress(5, 10)
        job.refresh_from_db()
        assert (job.processed_rows, job.total_rows) == (5, 10)
        progress(7, 10)
        job.refresh_from_db()
        assert job.processed_rows == 7
    finally:
        progress.close()


# -- The command ------------------------------------------------------------------------------


def run_command(path, *args):
    out, err = io.StringIO(), io.StringIO()
    with translation.override("en"):
        try:
            call_command("import_candidates", str(path), *args, stdout=out, stderr=err)
            code = 0
        except CommandError as error:
            err.write(str(error))
            code = error.returncode
    return code, out.getvalue(), err.getvalue()


def test_the_command_imports_a_file_and_summarises(structure, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_bytes(csv_bytes(rows(3)))
    code, out, err = run_command(path, "--session", structure.code)
    assert code == 0
    assert "3 rows: 3 files created, 0 updated, 0 unchanged, 0 errors." in out
    assert Candidate.objects.count() == 3
    assert err == ""  # no progress bar: stderr is not a terminal


def test_the_command_prints_every_bad_row_and_fails_when_the_file_is_rejected(structure, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_bytes(
        csv_bytes([row(0), row(1, sex="X"), row(2, birth_date="2008-02-30", email="nope")])
    )
    code, out, err = run_command(path, "--session", structure.code)
    assert code == 1
    assert out.splitlines() == [
        "line 3, column sex: “X” is not accepted: write M (or H) for male, F for female.",
        "line 4, column birth_date: “2008-02-30” is not a real date.",
        "line 4, column email: “nope” is not a valid e-mail address.",
    ]
    assert "rejected: 3 errors, nothing was stored" in err
    assert not Candidate.objects.exists()


def test_the_command_applies_the_scope_of_the_user_it_runs_as(structure, clerk, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_bytes(csv_bytes([row(0), row(1, school_code=OTHER_SCHOOL)]))
    code, out, _err = run_command(path, "--session", structure.code, "--as", clerk.username)
    assert code == 1
    assert out.startswith("line 3, column school_code: You may not import candidates of the school")


def test_the_command_can_keep_the_valid_rows(structure, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_bytes(csv_bytes([row(0), row(1, sex="X")]))
    code, out, _err = run_command(path, "--session", structure.code, "--keep-valid-rows")
    assert code == 0
    assert out.splitlines()[0].startswith("line 3, column sex:")
    assert "1 files created" in out
    assert Candidate.objects.count() == 1


def test_the_command_draws_a_progress_bar_on_request(structure, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_bytes(csv_bytes(rows(2)))
    _code, _out, err = run_command(path, "--session", structure.code, "--progress")
    assert "2/2" in err and "100.0%" in err


def test_the_command_reports_file_level_errors(structure, tmp_path):
    path = tmp_path / "liste.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    code, out, _err = run_command(path, "--session", structure.code)
    assert code == 1
    assert out.startswith("file: Old Excel workbooks (.xls) are not accepted.")


def test_the_command_refuses_an_unknown_session_user_or_file(structure, candidate_a, tmp_path):
    path = tmp_path / "liste.csv"
    path.write_bytes(csv_bytes(rows(1)))
    assert run_command(path, "--session", "1999-X")[0] == 1
    assert run_command(path, "--session", structure.code, "--as", "nobody")[0] == 1
    assert run_command(path, "--session", structure.code, "--as", candidate_a.user.username)[0] == 1
    assert run_command(tmp_path / "missing.csv", "--session", structure.code)[0] == 1
    assert not Candidate.objects.exclude(pk=candidate_a.pk).exists()


@pytest.mark.parametrize("copy_min_rows", [1, 10_000])
def test_a_job_that_loses_a_race_with_another_import_fails_and_stores_nothing(
    structure, school, track, clerk, monkeypatch, copy_min_rows
):
    from candidates import services
    from tests.factories import CandidateFactory

    monkeypatch.setattr(bac.pg, "COPY_MIN_ROWS", copy_min_rows)
    # Another import creates the second candidate after this one looked for existing files.
    looked = services._check_against_database

    def look_then_lose(session, parsed, rules):
        result = looked(session, parsed, rules)
        CandidateFactory(session=session, school=school, track=track, massar_code="R130046853")
        return result

    monkeypatch.setattr(services, "_check_against_database", look_then_lose)
    job = make_job(structure, clerk, csv_bytes(rows(3)))
    assert run_import_job(job.pk) == ImportJob.Status.FAILED
    job.refresh_from_db()
    assert job.errors[0]["code"] == "job_conflict"
    assert list(Candidate.objects.values_list("massar_code", flat=True)) == []
