"""bac.pg.analyze: a table filled by COPY gets its statistics as soon as it has committed."""

import pytest
from django.db import connection, transaction

from bac.pg import analyze
from exams.models import Subject

pytestmark = pytest.mark.django_db


def _estimated_rows(model) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [model._meta.db_table])
        return cursor.fetchone()[0]


def test_the_planner_knows_the_new_rows_once_they_commit(django_capture_on_commit_callbacks):
    if connection.vendor != "postgresql":
        pytest.skip("statistics are PostgreSQL's (SQLite plans without them)")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            Subject.objects.bulk_create(
                [
                    Subject(code=f"T{i:04d}", name_fr=f"Matière {i}", name_ar=f"مادة {i}")
                    for i in range(300)
                ]
            )
            analyze(Subject)
            # Not inside the transaction: it would lock the table against another ANALYZE.
            assert _estimated_rows(Subject) < 300
    assert len(callbacks) == 1
    assert _estimated_rows(Subject) >= Subject.objects.count() >= 300


def test_elsewhere_it_sends_nothing(django_assert_num_queries):
    if connection.vendor == "postgresql":
        pytest.skip("the no-op is for the embedded default")
    with django_assert_num_queries(0):
        analyze(Subject)
