"""Re-checking files against their identity sources, and storing what was found.

`check_file` re-checks one file (after a source is captured or the file corrected);
`recheck_session` re-checks a whole session in chunks: bulk reads (files by key ranges, their
sources and previous results in one query each per chunk), the pure comparison, then bulk
writes of only the results that changed (COPY on PostgreSQL for large batches). Running it
twice changes nothing the second time.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bac.pg import copy_from_stdin, use_copy
from candidates.models import Candidate, IdentitySource
from exams.models import ExamSession

from .compare import COMPARED_FIELDS, compare_file, worst_grade
from .models import CheckRun, FileCheck
from .names import VariantIndex

# Bump when the rules change, so that a re-check rewrites every stored result.
RULES_VERSION = 1
DEFAULT_CHUNK = 5000

ProgressCallback = Callable[[int, int], None]


@functools.lru_cache(maxsize=1)
def name_variants() -> VariantIndex:
    """The spellings known to be one name, from shared/data/names.csv when it is there."""
    path = settings.SHARED_DATA_DIR / "names.csv"
    return VariantIndex.from_csv(path) if path.exists() else VariantIndex()


@dataclass(frozen=True)
class Evaluation:
    findings: list[dict[str, Any]]  # graded above none, as Finding.as_dict() writes them
    sources: list[str]
    worst_grade: int
    fingerprint: str


@functools.lru_cache(maxsize=64)
def _fingerprint_without_findings(kinds: tuple[str, ...]) -> str:
    return _digest([], list(kinds))


def _digest(findings: list[dict[str, Any]], kinds: list[str]) -> str:
    payload = json.dumps(
        [RULES_VERSION, kinds, findings], sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()


def evaluate(
    file: Mapping[str, Any],
    sources: Iterable[tuple[str, Mapping[str, Any]]],
    variants: VariantIndex | None = None,
) -> Evaluation:
    """The findings of one file against its (kind, data) sources, in a stable order."""
    ordered = sorted(sources, key=lambda pair: pair[0])
    findings = compare_file(file, ordered, variants=variants, include_same=False)
    kinds = [kind for kind, _data in ordered]
    if not findings:
        return Evaluation([], kinds, 0, _fingerprint_without_findings(tuple(kinds)))
    stored = [f.as_dict() for f in findings]
    return Evaluation(stored, kinds, int(worst_grade(findings)), _digest(stored, kinds))


def check_file(candidate: Candidate) -> FileCheck:
    """Re-check one file against all its sources and store the result."""
    sources = [(s.kind, s.data) for s in candidate.identity_sources.all()]
    values = {name: getattr(candidate, name) for name in COMPARED_FIELDS}
    result = evaluate(values, sources, name_variants())
    check, _created = FileCheck.objects.update_or_create(
        candidate=candidate,
        defaults={
            "session_id": candidate.session_id,
            "worst_grade": result.worst_grade,
            "findings": result.findings,
            "sources": result.sources,
            "fingerprint": result.fingerprint,
            "checked_at": timezone.now(),
        },
    )
    return check


# -- A whole session --------------------------------------------------------------------------


def _chunk_size(requested: int | None) -> int:
    size = requested or DEFAULT_CHUNK
    limit = connection.features.max_query_params
    return size if limit is None else max(1, min(size, limit - 10))


def _sources_of(ids: Sequence[int]) -> dict[int, list[tuple[str, Any]]]:
    found: dict[int, list[tuple[str, Any]]] = defaultdict(list)
    rows = (
        IdentitySource.objects.filter(candidate_id__in=ids)
        .order_by()
        .values_list("candidate_id", "kind", "data")
    )
    for candidate_id, kind, data in rows:
        found[candidate_id].append((kind, data))
    return found


_WRITTEN = ("worst_grade", "findings", "sources", "fingerprint", "checked_at")


def _copy_rows(table: str, checks: list[FileCheck], session_id: int) -> None:
    quote = connection.ops.quote_name
    columns = ("candidate_id", "session_id", *_WRITTEN)
    with connection.cursor() as cursor:
        statement = f"COPY {table} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        with copy_from_stdin(cursor, statement) as copy:
            for check in checks:
                copy.write_row(
                    (
                        check.candidate_id,
                        session_id,
                        check.worst_grade,
                        json.dumps(check.findings, ensure_ascii=False),
                        json.dumps(check.sources),
                        check.fingerprint,
                        check.checked_at,
                    )
                )


def _create(checks: list[FileCheck], session_id: int) -> None:
    if use_copy(len(checks)):
        _copy_rows(connection.ops.quote_name(FileCheck._meta.db_table), checks, session_id)
    else:
        FileCheck.objects.bulk_create(checks, batch_size=1000)


def _update(checks: list[FileCheck], session_id: int) -> None:
    if not use_copy(len(checks)):
        FileCheck.objects.bulk_update(checks, list(_WRITTEN), batch_size=1000)
        return
    quote = connection.ops.quote_name
    table = quote(FileCheck._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE verification_changed ON COMMIT DROP AS "  # noqa: S608
            f"SELECT candidate_id, session_id, {', '.join(quote(c) for c in _WRITTEN)} "
            f"FROM {table} WITH NO DATA"
        )
    _copy_rows("verification_changed", checks, session_id)
    assignments = ", ".join(f"{quote(c)} = u.{quote(c)}" for c in _WRITTEN)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM verification_changed AS u "  # noqa: S608
            "WHERE t.candidate_id = u.candidate_id"
        )
        cursor.execute("DROP TABLE verification_changed")


def recheck_session(
    session: ExamSession,
    *,
    actor=None,
    chunk_size: int | None = None,
    progress: ProgressCallback | None = None,
) -> CheckRun:
    """Re-check every file of `session` against its identity sources and store the results
    that changed. Returns the run's record, with its counts."""
    variants = name_variants()
    size = _chunk_size(chunk_size)
    started = timezone.now()
    total = Candidate.objects.filter(session=session).count()
    grades: Counter[int] = Counter()
    created = changed = files = 0
    files_query = (
        Candidate.objects.filter(session=session).order_by("pk").values_list("pk", *COMPARED_FIELDS)
    )
    last = 0
    while True:
        rows = list(files_query.filter(pk__gt=last)[:size])
        if not rows:
            break
        ids = [row[0] for row in rows]
        last = ids[-1]
        sources = _sources_of(ids)
        previous = dict(
            FileCheck.objects.filter(candidate_id__in=ids).values_list(
                "candidate_id", "fingerprint"
            )
        )
        now = timezone.now()
        new: list[FileCheck] = []
        updated: list[FileCheck] = []
        for row in rows:
            pk = row[0]
            result = evaluate(
                dict(zip(COMPARED_FIELDS, row[1:], strict=True)), sources.get(pk, ()), variants
            )
            grades[result.worst_grade] += 1
            before = previous.get(pk)
            if before == result.fingerprint:
                continue
            check = FileCheck(
                candidate_id=pk,
                session_id=session.pk,
                worst_grade=result.worst_grade,
                findings=result.findings,
                sources=result.sources,
                fingerprint=result.fingerprint,
                checked_at=now,
            )
            (new if before is None else updated).append(check)
        if new or updated:
            with transaction.atomic():
                if new:
                    _create(new, session.pk)
                if updated:
                    _update(updated, session.pk)
        files += len(rows)
        created += len(new)
        changed += len(updated)
        if progress is not None:
            progress(files, total)
    return CheckRun.objects.create(
        session=session,
        started_by=actor,
        started_at=started,
        finished_at=timezone.now(),
        files=files,
        created=created,
        changed=changed,
        by_grade={str(grade): grades.get(grade, 0) for grade in range(4)},
    )
