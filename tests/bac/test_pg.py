"""bac.pg.analyze: a table filled by COPY gets its statistics in the same transaction."""

import pytest
from django.db import connection, transaction

from bac.pg import analyze
from exams.models import Subject

pytestmark = pytest.mark.django_db


def _estimated_rows(model) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [model._meta.db_table])
        return cursor.fetchone()[0]


def test_the_planner_knows_the_new_rows_before_autovacuum_does():
    if connection.vendor != "postgresql":
        pytest.skip("statistics are PostgreSQL's (SQLite plans without them)")
    with transaction.atomic():
        Subject.objects.bulk_create(
            [
                Subject(code=f"T{i:04d}", name_fr=f"Matière {i}", name_ar=f"مادة {i}")
                for i in range(300)
            ]
        )
        before = _estimated_rows(Subject)
        analyze(Subject)
        after = _estimated_rows(Subject)
    assert after >= Subject.objects.count() >= 300
    assert before < 300


def test_elsewhere_it_sends_nothing(django_assert_num_queries):
    if connection.vendor == "postgresql":
        pytest.skip("the no-op is for the embedded default")
    with django_assert_num_queries(0):
        analyze(Subject)
