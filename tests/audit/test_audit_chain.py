import contextlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.models import AppendOnlyError, AuditEntry
from audit.services import Change, record_changes, verify_chain


@contextlib.contextmanager
def tamper():
    """Play an intruder with direct database access, who first disables the PostgreSQL trigger."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = origin")
    else:
        yield


def _write(n, candidate=None):
    record_changes(
        None,
        [
            Change(
                "update",
                "candidate",
                str(i),
                {"phone": f"old{i}"},
                {"phone": f"new{i}"},
                "test",
                candidate.pk if candidate else None,
            )
            for i in range(n)
        ],
    )


def test_an_untouched_log_verifies(db):
    _write(5)
    _write(3)
    assert verify_chain() is None
    assert list(AuditEntry.objects.values_list("sequence", flat=True)) == list(range(1, 9))
    call_command("verify_audit")


def test_entries_cannot_be_changed_or_deleted_through_the_model(db):
    _write(1)
    entry = AuditEntry.objects.get()
    entry.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_it_reports_the_first_entry_whose_content_was_altered(db):
    _write(6)
    with tamper():
        AuditEntry.objects.filter(sequence=4).update(after={"phone": "forged"})
        AuditEntry.objects.filter(sequence=5).update(reason="also forged")
    broken = verify_chain()
    assert broken.sequence == 4
    with pytest.raises(CommandError, match="entry 4"):
        call_command("verify_audit")


def test_it_detects_a_removed_entry_in_the_middle(db):
    _write(5)
    with tamper():
        AuditEntry.objects.filter(sequence=3)._raw_delete(AuditEntry.objects.db)
    assert verify_chain().sequence == 3


def test_it_detects_entries_removed_at_the_end(db):
    _write(5)
    with tamper():
        AuditEntry.objects.filter(sequence__gte=4)._raw_delete(AuditEntry.objects.db)
    assert verify_chain().sequence == 4


def test_a_rehashed_entry_still_breaks_the_link_to_the_next(db):
    from audit.chain import entry_hash
    from audit.services import _content

    _write(4)
    entry = AuditEntry.objects.get(sequence=2)
    entry.after = {"phone": "forged"}
    forged_hash = entry_hash(entry.previous_hash, _content(entry))
    with tamper():
        AuditEntry.objects.filter(sequence=2).update(after=entry.after, entry_hash=forged_hash)
    assert verify_chain().sequence == 3


def test_postgresql_itself_refuses_to_rewrite_an_entry(db):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL")
    from django.db import DatabaseError

    _write(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.update(reason="rewritten")


def test_entries_streamed_through_copy_chain_like_any_other(db, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the COPY path exists on PostgreSQL")
    import bac.pg

    _write(3)
    monkeypatch.setattr(bac.pg, "COPY_MIN_ROWS", 2)
    _write(5)
    monkeypatch.setattr(bac.pg, "COPY_MIN_ROWS", 10_000)
    _write(2)
    assert AuditEntry.objects.count() == 10
    assert verify_chain() is None
    with tamper():
        AuditEntry.objects.filter(sequence=6).update(reason="forged")
    assert verify_chain().sequence == 6
