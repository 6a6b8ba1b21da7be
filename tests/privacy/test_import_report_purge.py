"""The error reports of candidate imports (privacy register: candidates.import_report): kept 90
days after the import so that the school can correct its list, then the rejected values
(Massar codes, CNIE numbers, birth dates, phones of minors) are erased. Run with a frozen
clock, on reports written by the real import."""

import datetime
import json
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from candidates.importing import COLUMNS, Code
from candidates.models import ImportJob
from candidates.services import ERASED, erase_rejected_values
from candidates.tasks import run_import_job
from privacy import register
from privacy.builtin import purge_import_reports
from privacy.services import purge_expired
from tests.candidates.importdata import csv_bytes, row

DAY = datetime.timedelta(days=1)
KIND = "candidates.import_report"

# The personal values of the rejected rows, each of which the stored report quotes.
BAD_MASSAR = "Q9876543"  # seven digits: not a Massar code
BAD_CNIE = "ZQ9"
UNREAL_DATE = "31/02/2008"
BAD_PHONE = "0512345678"
BAD_EMAIL = "amina.bennani@@example.org"
TWICE_MASSAR = "R130046853"  # on two lines
SHARED_CNIE = "BE123499"  # on two lines, for two Massar codes
FIRST_OWNER = "R130046860"  # the first of those two
SECRETS = (
    BAD_MASSAR,
    BAD_CNIE,
    UNREAL_DATE,
    BAD_PHONE,
    BAD_EMAIL,
    TWICE_MASSAR,
    SHARED_CNIE,
    FIRST_OWNER,
)


def rejected_rows() -> list[dict]:
    return [
        row(0, massar_code=BAD_MASSAR),  # line 2
        row(1, massar_code=TWICE_MASSAR),  # line 3
        row(2, massar_code=TWICE_MASSAR),  # line 4: duplicate of line 3
        row(3, cnie_number=BAD_CNIE),  # line 5
        row(4, birth_date=UNREAL_DATE),  # line 6
        row(5, birth_date="1950-01-01"),  # line 7: too old
        row(6, phone=BAD_PHONE),  # line 8
        row(7, email=BAD_EMAIL),  # line 9
        row(8, massar_code=FIRST_OWNER, cnie_number=SHARED_CNIE),  # line 10
        row(9, cnie_number=SHARED_CNIE),  # line 11: the same CNIE, another candidate
    ]


@pytest.fixture
def structure(session, school, other_school, track):
    return session


def run_job(session, user, data: bytes) -> ImportJob:
    """An uploaded list imported by the real task, as from the upload page."""
    name = default_storage.save("imports/upload.csv", ContentFile(data))
    job = ImportJob.objects.create(
        session=session, uploaded_by=user, original_name="liste.csv", stored_file=name
    )
    run_import_job(job.pk)
    job.refresh_from_db()
    return job


def stored_row(job: ImportJob) -> str:
    """Everything the database holds for the job, as text."""
    values = ImportJob.objects.filter(pk=job.pk).values().get()
    return json.dumps(values, default=str, ensure_ascii=False)


@pytest.fixture
def jobs(frozen, structure, clerk):
    """An import rejected 91 days ago, and one rejected 30 days ago (same rows)."""
    start = frozen.moment
    frozen.at(start - 91 * DAY)
    old = run_job(structure, clerk, csv_bytes(rejected_rows()))
    frozen.at(start - 30 * DAY)
    recent = run_job(structure, clerk, csv_bytes(rejected_rows()))
    frozen.at(start)
    return old, recent


def test_the_report_as_the_import_writes_it_quotes_the_rejected_values(jobs):
    old, _recent = jobs
    assert old.status == ImportJob.Status.REJECTED
    codes = {e["code"] for e in old.errors}
    assert {
        Code.MASSAR_INVALID,
        Code.DUPLICATE_MASSAR,
        Code.CNIE_INVALID,
        Code.DATE_NOT_REAL,
        Code.AGE_OUT_OF_RANGE,
        Code.PHONE_INVALID,
        Code.EMAIL_INVALID,
        Code.DUPLICATE_CNIE,
    } <= codes
    text = stored_row(old)
    for secret in SECRETS:
        assert secret in text, secret


def test_an_old_report_loses_its_rejected_values_and_a_recent_one_is_untouched(jobs):
    old, recent = jobs
    recent_before = ImportJob.objects.filter(pk=recent.pk).values().get()

    assert purge_import_reports(timezone.now() - 90 * DAY, dry_run=False) == 1

    text = stored_row(old)
    for secret in SECRETS:
        assert secret not in text, secret
    old_after = ImportJob.objects.get(pk=old.pk)
    # Still a useful report: which line, which column, which rule, how many.
    assert [(e["line"], e["column"], e["code"]) for e in old_after.errors] == [
        (e["line"], e["column"], e["code"]) for e in old.errors
    ]
    assert old_after.error_count == old.error_count
    assert old_after.status == ImportJob.Status.REJECTED
    assert old_after.report_erased_at == timezone.now()
    by_code = {e["code"]: e for e in old_after.errors}
    assert by_code[Code.DUPLICATE_MASSAR]["params"] == {"value": ERASED, "first_line": 3}
    assert by_code[Code.DUPLICATE_CNIE]["params"] == {
        "value": ERASED,
        "first_line": 10,
        "massar": ERASED,
    }
    # The age tells the birth year; the rule's bounds stay.
    assert by_code[Code.AGE_OUT_OF_RANGE]["params"]["age"] == ERASED
    assert by_code[Code.AGE_OUT_OF_RANGE]["params"]["min"] == 14
    assert all(e["reason"] and "%(" not in e["reason"] for e in old_after.errors)

    assert ImportJob.objects.filter(pk=recent.pk).values().get() == recent_before


def test_the_retention_runs_from_the_end_of_the_import(frozen, structure, clerk):
    start = frozen.moment
    frozen.at(start - 100 * DAY)
    job = ImportJob.objects.create(
        session=structure, uploaded_by=clerk, original_name="a.csv", stored_file="imports/a.csv"
    )
    # Created 100 days ago, finished 80 days ago: 10 days to go.
    job.errors = [{"line": 2, "column": "phone", "code": Code.PHONE_INVALID, "params": {}}]
    job.finished_at = start - 80 * DAY
    job.save()
    frozen.at(start)
    assert purge_import_reports(start - 90 * DAY, dry_run=False) == 0
    assert purge_import_reports(start - 79 * DAY, dry_run=False) == 1


def test_a_dry_run_counts_and_changes_nothing(jobs):
    old, _recent = jobs
    before = list(ImportJob.objects.order_by("pk").values())
    audit_before = AuditEntry.objects.count()
    out = StringIO()
    call_command("purge_expired", "--dry-run", "--now", timezone.now().isoformat(), stdout=out)
    assert f"{KIND}: would purge 1" in out.getvalue()
    assert purge_import_reports(timezone.now() - 90 * DAY, dry_run=True) == 1
    assert list(ImportJob.objects.order_by("pk").values()) == before
    assert AuditEntry.objects.count() == audit_before
    assert BAD_PHONE in stored_row(old)


def test_purging_twice_purges_nothing_the_second_time(jobs):
    old, _recent = jobs
    assert {line.kind: line.count for line in purge_expired()}[KIND] == 1
    after_first = ImportJob.objects.filter(pk=old.pk).values().get()
    audit_after_first = AuditEntry.objects.count()
    assert {line.kind: line.count for line in purge_expired()}[KIND] == 0
    assert ImportJob.objects.filter(pk=old.pk).values().get() == after_first
    assert AuditEntry.objects.count() == audit_after_first


def test_the_purge_is_audited_in_no_candidate_history(jobs):
    old, _recent = jobs
    purge_expired()
    entry = AuditEntry.objects.get(action="import_report.purge")
    assert (entry.object_type, entry.object_id) == ("import_job", str(old.pk))
    assert entry.candidate_id is None and entry.actor_label == "system"
    assert entry.before["error_count"] == old.error_count
    summary = AuditEntry.objects.get(action="privacy.purge", object_id=KIND)
    assert summary.after["count"] == 1
    # The audit log does not keep what the purge erased.
    logged = json.dumps(
        list(AuditEntry.objects.values("before", "after", "reason")), ensure_ascii=False
    )
    for secret in SECRETS:
        assert secret not in logged, secret
    call_command("verify_audit", stdout=StringIO())


def test_an_uploaded_file_left_behind_is_deleted(frozen, structure, clerk):
    start = frozen.moment
    frozen.at(start - 91 * DAY)
    # Never run (its task was lost): the uploaded list is still stored.
    name = default_storage.save("imports/never-run.csv", ContentFile(csv_bytes([row(0)])))
    job = ImportJob.objects.create(
        session=structure, uploaded_by=clerk, original_name="liste.csv", stored_file=name
    )
    frozen.at(start)
    assert purge_import_reports(start - 90 * DAY, dry_run=True) == 1
    assert default_storage.exists(name)
    assert purge_import_reports(start - 90 * DAY, dry_run=False) == 1
    assert not default_storage.exists(name)
    job.refresh_from_db()
    assert job.stored_file == "" and job.report_erased_at == start
    # A task delivered after all finds no file, and says so without any value.
    assert run_import_job(job.pk) == ImportJob.Status.FAILED


def test_a_list_without_header_loses_the_cells_read_as_column_names(frozen, structure, clerk):
    start = frozen.moment
    frozen.at(start - 91 * DAY)
    data = csv_bytes([row(1)], columns=COLUMNS).split(b"\r\n", 1)[1]  # no header row
    job = run_job(structure, clerk, data)
    assert job.errors[0]["code"] == Code.HEADER_UNKNOWN
    # The header check lower-cases what it reads.
    personal = [
        str(value).lower()
        for name, value in row(1).items()
        if name not in ("sex", "nationality", "school_code", "track_code", "candidate_type")
    ]
    assert all(value in stored_row(job) for value in personal)
    frozen.at(start)
    purge_expired()
    text = stored_row(job)
    for value in personal:
        assert value not in text, value
    # The columns it misses are documented names: they stay.
    assert job.errors[1]["code"] == Code.HEADER_REQUIRED_MISSING
    assert ImportJob.objects.get(pk=job.pk).errors[1]["params"] == job.errors[1]["params"]


def test_rule_parameters_and_documented_columns_are_kept():
    errors = [
        {
            "line": 1,
            "column": "",
            "code": Code.HEADER_REQUIRED_MISSING,
            "params": {"columns": "sex, nationality"},
            "reason": "Required columns are missing: sex, nationality.",
        },
        {
            "line": 1,
            "column": "phone",
            "code": Code.HEADER_DUPLICATE,
            "params": {"column": "phone"},
        },
        {
            "line": 5,
            "column": "",
            "code": Code.TOO_MANY_CELLS,
            "params": {"count": 18, "expected": 16},
        },
        {"line": 0, "column": "", "code": Code.FILE_BAD_ENCODING, "params": {"encoding": "UTF-8"}},
        # An old record without a code: its reason quoted the value.
        {"line": 3, "column": "cnie_number", "reason": f"“{BAD_CNIE}” is not a CNIE number."},
    ]
    erased = erase_rejected_values(errors)
    assert [e["params"] for e in erased[:4]] == [e["params"] for e in errors[:4]]
    assert erased[4] == {"line": 3, "column": "cnie_number", "reason": ERASED}
    assert erase_rejected_values(erased) == erased


def test_the_job_page_still_shows_the_report_without_the_values(jobs, clerk, client_for):
    old, _recent = jobs
    purge_expired()
    response = client_for(clerk).get(
        reverse("candidates:import_job", args=[old.pk]), HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert ERASED in page
    for secret in SECRETS:
        assert secret not in page, secret


def test_the_kind_is_declared_for_the_privacy_page():
    kind = register.kind(KIND)
    assert kind.retention_days == 90 and kind.purger is purge_import_reports
    assert not kind.concerns_candidate
    assert kind.models == ("candidates.ImportJob",)


@pytest.mark.parametrize(
    ("language", "label", "retention"),
    [
        ("en", "Error reports of candidate imports", "then the rejected values are erased"),
        ("fr", "Rapports d&#x27;erreurs des importations", "les valeurs refusées sont effacées"),
        ("ar", "تقارير أخطاء استيراد لوائح المترشحين", "ثم تُمحى القيم المرفوضة"),
    ],
)
def test_the_privacy_page_shows_the_kind_in_each_language(client, db, language, label, retention):
    page = client.get(reverse("privacy:notice"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert 'id="kind-candidatesimport_report"' in page
    assert label in page and retention in page
