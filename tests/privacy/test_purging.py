"""privacy.purging: the order every purge of stored documents follows (rows and audit entries
together, per batch; files only once that has committed)."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from audit.models import AuditEntry
from privacy.purging import RETENTION_OVER, delete_stored_file, purge_stored_documents

pytestmark = pytest.mark.django_db


def _stored(count: int) -> list[tuple[int, str]]:
    return [
        (i, default_storage.save(f"purging-test/doc-{i}.bin", ContentFile(b"secret")))
        for i in range(count)
    ]


def _purge(rows, forget):
    purge_stored_documents(
        rows,
        action="test.purge",
        object_type="doc",
        describe=lambda row: (str(row[0]), None, {"name": row[1]}),
        forget=forget,
        files=lambda batch: [name for _i, name in batch],
        batch_size=2,
    )


def test_each_batch_is_audited_forgotten_then_its_files_deleted():
    rows = _stored(5)
    forgotten: list[list[int]] = []
    files_left_when_forgetting: list[bool] = []

    def forget(batch):
        forgotten.append([i for i, _name in batch])
        files_left_when_forgetting.append(all(default_storage.exists(n) for _i, n in batch))

    _purge(rows, forget)
    assert forgotten == [[0, 1], [2, 3], [4]]
    assert files_left_when_forgetting == [True, True, True]
    assert not any(default_storage.exists(name) for _i, name in rows)
    entries = AuditEntry.objects.filter(action="test.purge").order_by("sequence")
    assert [(e.object_id, e.before, e.after, e.reason) for e in entries] == [
        (str(i), {"name": name}, {}, RETENTION_OVER) for i, name in rows
    ]


def test_a_failing_batch_keeps_its_rows_audit_and_files_and_the_earlier_ones_stay_purged():
    rows = _stored(4)

    def forget(batch):
        if batch[0][0] == 2:
            raise RuntimeError("the database refused")

    with pytest.raises(RuntimeError):
        _purge(rows, forget)
    assert [default_storage.exists(name) for _i, name in rows] == [False, False, True, True]
    audited = AuditEntry.objects.filter(action="test.purge").values_list("object_id", flat=True)
    assert sorted(audited) == ["0", "1"]


def test_deleting_a_file_already_gone_is_not_an_error():
    name = default_storage.save("purging-test/gone.bin", ContentFile(b"x"))
    delete_stored_file(name)
    delete_stored_file(name)
    delete_stored_file("")
    assert not default_storage.exists(name)
