"""Importing candidate lists: check every row, then store all of them or none.

Views, the management command and the Celery task call `import_candidates`; the row rules live
in the pure module candidates.importing, the sentences shown to people live here.

Storage is bulk: existing files are fetched (and locked) by Massar code in chunks, new ones
created and changed ones updated in batches, each with its audit entry, in one transaction. On
PostgreSQL, large files go through COPY (keys into a temporary table joined with the files,
new files, updates and audit entries), because the ORM's bulk paths cost tens of microseconds
per row in Python and a national list has half a million rows.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from audit.services import Change, record_changes
from bac.pg import copy_from_stdin, use_copy
from exams.models import ExamSession, School, Track
from identity.access import scope_schools
from identity.models import Role

from .importing import (
    COLUMNS,
    CandidateRow,
    Code,
    ParseResult,
    RowError,
    Rules,
    error_order,
    parse_candidates,
)
from .models import Candidate, ImportJob

# CandidateRow field i + 1 is stored in the model attribute _ATTRIBUTES[i].
_ATTRIBUTES = tuple(
    {"school_code": "school_id", "track_code": "track_id"}.get(c, c) for c in COLUMNS
)
# Positions in CandidateRow of the optional columns, None when the cell was blank.
_BLANKABLE = tuple(1 + COLUMNS.index(name) for name in ("cnie_number", "phone", "email"))
_AUDIT_CHUNK = 20_000
_FETCH_CHUNK = 5000
_WRITE_BATCH = 2000
PROGRESS_INTERVAL_ROWS = 5000

ProgressCallback = Callable[[int, int], None]


# -- What to tell people ----------------------------------------------------------------------

# Job-level failures, reported by candidates.tasks next to the row errors.
JOB_FAILED = "job_failed"
JOB_CONFLICT = "job_conflict"
FILE_GONE = "job_file_gone"

ERROR_MESSAGES: dict[str, Any] = {
    Code.FILE_EMPTY: _("The file is empty."),
    Code.FILE_TOO_LARGE: _(
        "The file is larger than the limit of %(limit)s. Split it into several files."
    ),
    Code.FILE_NOT_TABULAR: _(
        "This is not a CSV or XLSX file. Save the list from your spreadsheet as CSV (UTF-8) "
        "or as an Excel workbook (.xlsx)."
    ),
    Code.FILE_LEGACY_XLS: _(
        "Old Excel workbooks (.xls) are not accepted. Save the list as an Excel workbook (.xlsx) "
        "or as CSV (UTF-8)."
    ),
    Code.FILE_BAD_XLSX: _(
        "The Excel workbook is damaged or is not an .xlsx workbook: it cannot be read."
    ),
    Code.FILE_BAD_ENCODING: _(
        "The file announces %(encoding)s text but contains bytes that are not valid %(encoding)s."
    ),
    Code.FILE_BAD_CSV: _(
        "The CSV file cannot be read from line %(line)s on: a quote is not closed or a cell is too long."
    ),
    Code.FILE_NO_ROWS: _("The file has a header row but no candidate rows."),
    Code.HEADER_UNKNOWN: _("Unknown columns: %(columns)s. Use only the documented column names."),
    Code.HEADER_DUPLICATE: _("The column %(column)s appears more than once."),
    Code.HEADER_REQUIRED_MISSING: _("Required columns are missing: %(columns)s."),
    Code.TOO_MANY_CELLS: _("This line has %(count)s cells but the header row has %(expected)s."),
    Code.REQUIRED: _("This value is required."),
    Code.TOO_LONG: _("This value is longer than %(max)s characters."),
    Code.MASSAR_INVALID: _(
        "“%(value)s” is not a Massar code (one letter and nine digits, e.g. R130046852)."
    ),
    Code.CNIE_INVALID: _(
        "“%(value)s” is not a CNIE number (one or two letters and five or six digits, e.g. BE123456)."
    ),
    Code.DATE_FORMAT: _(
        "“%(value)s” is not a date in an accepted form: YYYY-MM-DD, DD/MM/YYYY or DD-MM-YYYY."
    ),
    Code.DATE_NOT_REAL: _("“%(value)s” is not a real date."),
    Code.AGE_OUT_OF_RANGE: _(
        "A candidate born on this date is %(age)s in %(year)s; the age must be between %(min)s and %(max)s."
    ),
    Code.SEX_INVALID: _("“%(value)s” is not accepted: write M (or H) for male, F for female."),
    Code.NATIONALITY_INVALID: _(
        "“%(value)s” is not a nationality code: write the three-letter ISO code, e.g. MAR."
    ),
    Code.LATIN_TEXT_INVALID: _(
        "Write this in Latin letters: only letters, spaces, hyphens and apostrophes are accepted."
    ),
    Code.ARABIC_TEXT_INVALID: _(
        "Write this in Arabic script: only Arabic letters, spaces and hyphens are accepted."
    ),
    Code.CANDIDATE_TYPE_INVALID: _("“%(value)s” is not a candidate type: write school or free."),
    Code.PHONE_INVALID: _(
        "“%(value)s” is not a Moroccan mobile number (06 or 07 and eight digits, or +212 6/7 and eight digits)."
    ),
    Code.EMAIL_INVALID: _("“%(value)s” is not a valid e-mail address."),
    Code.SCHOOL_UNKNOWN: _("There is no school with the code “%(value)s”."),
    Code.SCHOOL_OUT_OF_SCOPE: _("You may not import candidates of the school “%(value)s”."),
    Code.TRACK_UNKNOWN: _("There is no track with the code “%(value)s”."),
    Code.DUPLICATE_MASSAR: _(
        "The Massar code %(value)s is already on line %(first_line)s of this file."
    ),
    Code.DUPLICATE_CNIE: _(
        "The CNIE number %(value)s is already on line %(first_line)s of this file, for the Massar code %(massar)s."
    ),
    Code.EXISTING_OUT_OF_SCOPE: _(
        "The candidate %(value)s belongs to a school outside your scope: only that school or its "
        "academy can change the file."
    ),
    Code.CNIE_TAKEN: _(
        "The CNIE number %(value)s is already on the file of another candidate of this session."
    ),
    JOB_FAILED: _(
        "The import stopped because of an internal error. Nothing was stored: try again later, "
        "and contact support if it happens again."
    ),
    JOB_CONFLICT: _(
        "Another import changed the same candidates at the same time. Nothing was stored: "
        "upload the file again."
    ),
    FILE_GONE: _("The uploaded file could not be read any more. Upload it again."),
}


def _format_size(size: int) -> str:
    if size >= 1024 * 1024:
        return _("%(n)s MB") % {"n": f"{size / (1024 * 1024):.0f}"}
    return _("%(n)s KB") % {"n": f"{size / 1024:.0f}"}


def error_message(code: str, params: Mapping[str, Any] | None = None) -> str:
    """The sentence for an error code, in the active language."""
    template = ERROR_MESSAGES.get(code)
    if template is None:
        return code
    values = dict(params or {})
    if code == Code.FILE_TOO_LARGE:
        values["limit"] = _format_size(int(values.get("max_bytes", 0)))
    try:
        return str(template) % values
    except (KeyError, TypeError, ValueError):
        # A translation with a broken placeholder must not hide the error itself.
        return str(template)


def describe(error: RowError | Mapping[str, Any]) -> dict[str, Any]:
    """An error as shown in tables and printed by the command: line, column, reason."""
    if isinstance(error, RowError):
        return {
            "line": error.line,
            "column": error.column,
            "reason": error_message(error.code, error.params),
        }
    if "code" in error:
        reason = error_message(error["code"], error.get("params"))
    else:
        reason = error.get("reason", "")
    return {"line": error.get("line", 0), "column": error.get("column", ""), "reason": reason}


# What replaces an erased value, so that the sentence still reads ("“…” is not a Massar code").
ERASED = "…"
# Parameters that describe the rule or the file, never a candidate: kept when an import's error
# report is purged (privacy register: candidates.import_report). Any other parameter ("value",
# "massar", "age", and whatever a new check adds) is erased: a new one is safe by default.
RULE_PARAMS = frozenset(
    {"line", "first_line", "count", "expected", "min", "max", "year", "max_bytes", "size"}
)
_ENCODINGS = frozenset({"UTF-8", "UTF-16"})


def _documented_columns(value: Any) -> bool:
    """True when `value` names only documented columns ("column" of a duplicated header,
    "columns" of missing ones); unknown header cells may be a candidate's row read as a header."""
    names = [name.strip() for name in str(value).split(",")]
    return all(name in COLUMNS for name in names)


def _kept_param(name: str, value: Any) -> bool:
    if name in RULE_PARAMS:
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "encoding":
        return value in _ENCODINGS
    if name in ("column", "columns"):
        return isinstance(value, str) and _documented_columns(value)
    return False


def erase_rejected_values(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """An import's stored errors (candidates.tasks) without the rejected values: each keeps its
    line, its column, its code and the parameters of the rule (line numbers, limits, counts);
    every other parameter becomes ERASED, and the reason is written again from what is left
    (the old one quoted the values). Idempotent."""
    with translation.override(settings.LANGUAGE_CODE):
        return [_erased(error) for error in errors]


def _erased(error: Mapping[str, Any]) -> dict[str, Any]:
    line = error.get("line", 0)
    column = error.get("column", "")
    item: dict[str, Any] = {
        "line": line if isinstance(line, int) and not isinstance(line, bool) else 0,
        "column": column if column in COLUMNS else "",
    }
    code = error.get("code")
    if not (isinstance(code, str) and code):
        # A record without a code: its reason cannot be written again without the values.
        item["reason"] = ERASED
        return item
    item["code"] = code
    item["params"] = {
        name: value if _kept_param(name, value) else ERASED
        for name, value in (error.get("params") or {}).items()
    }
    item["reason"] = error_message(code, item["params"])
    return item


# -- The outcome ------------------------------------------------------------------------------


@dataclass
class ImportOutcome:
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    # True when nothing was stored because of the errors (or because no row was valid).
    rejected: bool = False
    source_format: str = ""

    @property
    def error_count(self) -> int:
        return len(self.errors)

    @property
    def stored(self) -> int:
        return self.created + self.updated + self.unchanged


class ImportConflict(Exception):
    """Another transaction created or changed the same files while this import ran; nothing
    was stored."""


class _Progress:
    """Reports a row half done once checked and fully done once stored."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.total = 0
        self.checked = 0
        self.stored = 0

    def on_checked(self, done: int, estimated_total: int) -> None:
        self.checked, self.total = done, estimated_total
        self._emit()

    def on_stored(self, count: int) -> None:
        self.stored += count
        self._emit()

    def finish(self) -> None:
        self.checked = self.stored = self.total
        self._emit()

    def _emit(self) -> None:
        if self.callback is not None:
            done = min(self.total, (self.checked + self.stored) // 2)
            self.callback(done, self.total)


# -- Importing --------------------------------------------------------------------------------


def allowed_school_codes(actor) -> frozenset[str] | None:
    """The school codes `actor` may import into; None means every school (ministry, system)."""
    if actor is None or getattr(actor, "role", None) == Role.MINISTRY:
        return None
    return frozenset(scope_schools(actor, School.objects.all()).values_list("code", flat=True))


def import_rules(session: ExamSession, actor) -> Rules:
    return Rules(
        session_year=session.year,
        schools=dict(School.objects.values_list("code", "id")),
        tracks=dict(Track.objects.values_list("code", "id")),
        allowed_schools=allowed_school_codes(actor),
    )


def import_candidates(
    session: ExamSession,
    data: bytes,
    filename: str,
    actor,
    keep_valid_rows: bool = False,
    progress: ProgressCallback | None = None,
) -> ImportOutcome:
    """Check every row of `data`; store them all, or (if any row is bad and keep_valid_rows is
    False) store nothing and return every error.

    Files are matched on (session, Massar code): new ones are created, existing ones updated in
    the fields whose value changed; blank optional cells leave the stored value alone. Every
    created or updated file gets an audit entry in the same transaction as the change.
    """
    tracker = _Progress(progress)
    rules = import_rules(session, actor)
    parsed = parse_candidates(
        data, rules, max_bytes=settings.IMPORT_UPLOAD_MAX_BYTES, progress=tracker.on_checked
    )
    outcome = ImportOutcome(total_rows=parsed.total_rows, source_format=parsed.source_format)
    tracker.total = parsed.total_rows
    if parsed.file_error or (parsed.errors and not keep_valid_rows):
        outcome.errors = parsed.errors
        outcome.rejected = True
        tracker.finish()
        return outcome

    reason = f"Import of the file {filename[:200]}"
    try:
        _store(session, parsed, actor, rules, keep_valid_rows, reason, outcome, tracker)
    except (IntegrityError, connection.Database.IntegrityError) as exc:
        # COPY errors come straight from the driver, unwrapped by Django.
        # Two imports creating the same Massar code at once: the second one loses, whole.
        raise ImportConflict(str(exc)) from exc
    tracker.finish()
    return outcome


def _store(
    session: ExamSession,
    parsed: ParseResult,
    actor,
    rules: Rules,
    keep_valid_rows: bool,
    reason: str,
    outcome: ImportOutcome,
    tracker: _Progress,
) -> None:
    with transaction.atomic():
        existing, db_errors = _check_against_database(session, parsed, rules)
        errors = _merge(parsed.errors, db_errors)
        rows = parsed.rows
        if db_errors:
            if not keep_valid_rows:
                outcome.errors = errors
                outcome.rejected = True
                return
            bad_lines = {e.line for e in db_errors}
            rows = [row for row in rows if row.line not in bad_lines]
        outcome.errors = errors
        if not rows:
            outcome.rejected = True
            return
        to_create, to_update = _plan(rows, existing)
        outcome.unchanged = len(rows) - len(to_create) - len(to_update)
        tracker.on_stored(outcome.unchanged)
        now = timezone.now()
        changes: list[Change] = []
        if to_create:
            ids = _create(session, to_create, now, tracker)
            changes.extend(_creation_changes(to_create, ids, reason))
        if to_update:
            _update(to_update, now, tracker)
            changes.extend(_update_changes(to_update, reason))
        _record(actor, changes, tracker)
        outcome.created, outcome.updated = len(to_create), len(to_update)


def _merge(first: list[RowError], second: list[RowError]) -> list[RowError]:
    if not second:
        return first
    return sorted([*first, *second], key=error_order)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fetch_chunk_size() -> int:
    limit = connection.features.max_query_params
    return _FETCH_CHUNK if limit is None else min(_FETCH_CHUNK, limit - 10)


def _check_against_database(
    session: ExamSession, parsed: ParseResult, rules: Rules
) -> tuple[dict[str, tuple], list[RowError]]:
    """Lock and fetch the files the rows name; find rows a clerk may not apply and CNIE numbers
    that already belong to another candidate of the session."""
    rows = parsed.rows
    lookup = _lookup_with_copy if use_copy(len(rows)) else _lookup_with_orm
    existing, cnie_owners = lookup(session, rows)
    errors: list[RowError] = []
    if rules.allowed_schools is not None and existing:
        allowed_ids = {
            rules.schools[code] for code in rules.allowed_schools if code in rules.schools
        }
        school_position = 1 + _ATTRIBUTES.index("school_id")
        for row in rows:
            current = existing.get(row.massar_code)
            if current is not None and current[school_position] not in allowed_ids:
                errors.append(
                    RowError(
                        row.line,
                        "massar_code",
                        Code.EXISTING_OUT_OF_SCOPE,
                        {"value": row.massar_code},
                    )
                )
    if cnie_owners:
        by_cnie = {row.cnie_number: row for row in rows if row.cnie_number}
        cnie_in_file = {row.massar_code: row.cnie_number for row in rows}
        for cnie, owner in cnie_owners:
            row = by_cnie[cnie]
            # No conflict if the owner is this row, or if this file moves the number away from
            # the owner (a blank cell would leave it in place).
            if owner == row.massar_code or cnie_in_file.get(owner) not in (None, cnie):
                continue
            errors.append(RowError(row.line, "cnie_number", Code.CNIE_TAKEN, {"value": cnie}))
    return existing, errors


def _lookup_with_orm(
    session: ExamSession, rows: list[CandidateRow]
) -> tuple[dict[str, tuple], list[tuple[str, str]]]:
    """(massar code -> (id, *AUDITED_FIELDS)) of the session's files the rows name, locked; and
    (cnie, owner's massar code) for the rows' CNIE numbers already in the session."""
    size = _fetch_chunk_size()
    existing: dict[str, tuple] = {}
    locked = Candidate.objects.select_for_update().filter(session=session)
    for chunk in _chunks([row.massar_code for row in rows], size):
        for values in locked.filter(massar_code__in=chunk).values_list("id", *_ATTRIBUTES):
            existing[values[1]] = values
    owners: list[tuple[str, str]] = []
    cnies = [row.cnie_number for row in rows if row.cnie_number]
    queryset = Candidate.objects.filter(session=session)
    for chunk in _chunks(cnies, size):
        owners.extend(
            queryset.filter(cnie_number__in=chunk).values_list("cnie_number", "massar_code")
        )
    return existing, owners


def _lookup_with_copy(
    session: ExamSession, rows: list[CandidateRow]
) -> tuple[dict[str, tuple], list[tuple[str, str]]]:
    """The same as _lookup_with_orm for large files on PostgreSQL: the keys go into a temporary
    table by COPY and are joined, instead of hundreds of IN lists of thousands of literals."""
    meta = Candidate._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(
        f"c.{quote(meta.get_field(n.removesuffix('_id')).column)}" for n in _ATTRIBUTES
    )
    existing: dict[str, tuple] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE import_keys (massar_code varchar(10) NOT NULL, cnie_number varchar(8)) "
            "ON COMMIT DROP"
        )
        with copy_from_stdin(
            cursor, "COPY import_keys (massar_code, cnie_number) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((row.massar_code, row.cnie_number))
        cursor.execute("ANALYZE import_keys")
        select = f"SELECT c.id, {columns} FROM {table} AS c JOIN import_keys AS k ON k.massar_code = c.massar_code WHERE c.session_id = %s FOR UPDATE OF c"  # noqa: S608
        cursor.execute(select, [session.pk])
        for values in cursor.fetchall():
            existing[values[1]] = values
        owners_sql = f"SELECT c.cnie_number, c.massar_code FROM {table} AS c JOIN import_keys AS k ON k.cnie_number = c.cnie_number WHERE c.session_id = %s"  # noqa: S608
        cursor.execute(owners_sql, [session.pk])
        owners = list(cursor.fetchall())
        cursor.execute("DROP TABLE import_keys")
    return existing, owners


@dataclass
class _Update:
    row: CandidateRow
    current: tuple  # (id, *AUDITED_FIELDS) as stored
    before: dict[str, Any]
    after: dict[str, Any]


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.date) else value


def _plan(
    rows: list[CandidateRow], existing: Mapping[str, tuple]
) -> tuple[list[CandidateRow], list[_Update]]:
    to_create: list[CandidateRow] = []
    to_update: list[_Update] = []
    slots = range(len(_ATTRIBUTES))
    for row in rows:
        current = existing.get(row.massar_code)
        if current is None:
            to_create.append(row)
            continue
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for i in slots:
            new = row[i + 1]
            if new is None:  # a blank optional cell leaves the stored value alone
                continue
            old = current[i + 1]
            if new != old:
                name = _ATTRIBUTES[i]
                before[name] = _json(old)
                after[name] = _json(new)
        if after:
            to_update.append(_Update(row, current, before, after))
    return to_create, to_update


def _stored_value(row: CandidateRow, i: int) -> Any:
    value = row[i + 1]
    return "" if value is None else value


def _creation_changes(rows: list[CandidateRow], ids: list[int], reason: str) -> Iterator[Change]:
    names = _ATTRIBUTES
    born = _ATTRIBUTES.index("birth_date")
    blankable = [position - 1 for position in _BLANKABLE]
    for row, pk in zip(rows, ids, strict=True):
        values = list(row[1:])
        values[born] = values[born].isoformat()
        after = dict(zip(names, values, strict=True))
        for position in blankable:
            if values[position] is None:
                del after[names[position]]
        yield Change("import.create", "candidate", str(pk), {}, after, reason, pk)


def _update_changes(updates: list[_Update], reason: str) -> Iterator[Change]:
    for update in updates:
        pk = update.current[0]
        yield Change("import.update", "candidate", str(pk), update.before, update.after, reason, pk)


def _create(
    session: ExamSession, rows: list[CandidateRow], now: datetime.datetime, tracker: _Progress
) -> list[int]:
    if use_copy(len(rows)):
        return _copy_create(session, rows, now, tracker)
    ids: list[int] = []
    for batch in _chunks(rows, _WRITE_BATCH):
        objects = [
            Candidate(
                session_id=session.pk,
                **{name: _stored_value(row, i) for i, name in enumerate(_ATTRIBUTES)},
                created_at=now,
                updated_at=now,
            )
            for row in batch
        ]
        Candidate.objects.bulk_create(objects)
        if any(obj.pk is None for obj in objects):
            # Backends that cannot return keys from a bulk insert: read them back.
            keys = dict(
                Candidate.objects.filter(
                    session=session, massar_code__in=[o.massar_code for o in objects]
                ).values_list("massar_code", "id")
            )
            ids.extend(keys[o.massar_code] for o in objects)
        else:
            ids.extend(obj.pk for obj in objects)
        tracker.on_stored(len(batch) // 2)
    return ids


def _update(updates: list[_Update], now: datetime.datetime, tracker: _Progress) -> None:
    if use_copy(len(updates)):
        _copy_update(updates, now, tracker)
        return
    # One bulk_update per set of changed fields, so that no other field is rewritten.
    groups: dict[tuple[str, ...], list[Candidate]] = {}
    for update in updates:
        names = tuple(update.after)
        obj = Candidate(pk=update.current[0], updated_at=now)
        for name in names:
            setattr(obj, name, _stored_value(update.row, _ATTRIBUTES.index(name)))
        groups.setdefault(names, []).append(obj)
    for names, objects in groups.items():
        for batch in _chunks(objects, 500):
            Candidate.objects.bulk_update(batch, [*names, "updated_at"])
            tracker.on_stored(len(batch) // 2)


def _record(actor, changes: list[Change], tracker: _Progress) -> None:
    # In chunks, so that progress moves while half a million entries are written.
    for chunk in _chunks(changes, _AUDIT_CHUNK):
        record_changes(actor, chunk)
        tracker.on_stored(len(chunk) - len(chunk) // 2)


# -- PostgreSQL COPY paths --------------------------------------------------------------------


def _copy_create(
    session: ExamSession, rows: list[CandidateRow], now: datetime.datetime, tracker: _Progress
) -> list[int]:
    meta = Candidate._meta
    provided = {
        "id",
        "session",
        "created_at",
        "updated_at",
        *(n.removesuffix("_id") for n in _ATTRIBUTES),
    }
    # Columns the import does not fill take the model's default, computed once.
    others = [f for f in meta.concrete_fields if f.name not in provided]
    other_values = tuple(f.get_db_prep_save(f.get_default(), connection) for f in others)
    attribute_columns = [meta.get_field(n.removesuffix("_id")).column for n in _ATTRIBUTES]
    columns = [
        "id",
        "session_id",
        *attribute_columns,
        "created_at",
        "updated_at",
        *(f.column for f in others),
    ]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        # Take the keys from the table's sequence up front: COPY cannot return them.
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [meta.db_table, len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        sql = f"COPY {table} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        session_id = session.pk
        head = (session_id,)
        tail = (now, now, *other_values)
        written = 0
        with copy_from_stdin(cursor, sql) as copy:
            write = copy.write_row
            for pk, row in zip(ids, rows, strict=True):
                values = list(row)
                # Blank optional cells are stored as empty strings, as the model does.
                for position in _BLANKABLE:
                    if values[position] is None:
                        values[position] = ""
                write((pk, *head, *values[1:], *tail))
                written += 1
                if written % PROGRESS_INTERVAL_ROWS == 0:
                    tracker.on_stored(PROGRESS_INTERVAL_ROWS // 2)
    return ids


def _copy_update(updates: list[_Update], now: datetime.datetime, tracker: _Progress) -> None:
    meta = Candidate._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = [meta.get_field(n.removesuffix("_id")).column for n in _ATTRIBUTES]
    column_list = ", ".join(quote(c) for c in columns)
    # The rows are locked (select_for_update) and `current` is what they hold, so writing the
    # whole row back with only the changed fields replaced rewrites nothing else.
    with connection.cursor() as cursor:
        # Identifiers below come from the model's metadata, quoted, never from the file.
        create = f"CREATE TEMPORARY TABLE import_update ON COMMIT DROP AS SELECT id, {column_list} FROM {table} WITH NO DATA"  # noqa: S608
        cursor.execute(create)
        written = 0
        with copy_from_stdin(cursor, f"COPY import_update (id, {column_list}) FROM STDIN") as copy:
            for update in updates:
                values = list(update.current)
                for i, name in enumerate(_ATTRIBUTES):
                    if name in update.after:
                        values[i + 1] = _stored_value(update.row, i)
                copy.write_row(values)
                written += 1
                if written % PROGRESS_INTERVAL_ROWS == 0:
                    tracker.on_stored(PROGRESS_INTERVAL_ROWS // 2)
        assignments = ", ".join(f"{quote(c)} = u.{quote(c)}" for c in columns)
        update = f"UPDATE {table} AS c SET {assignments}, {quote('updated_at')} = %s FROM import_update AS u WHERE c.id = u.id"  # noqa: S608
        cursor.execute(update, [now])
        cursor.execute("DROP TABLE import_update")


# -- Background jobs --------------------------------------------------------------------------


def start_import_job(
    session: ExamSession, upload, actor, keep_valid_rows: bool = False
) -> ImportJob:
    """Store the uploaded file under MEDIA_ROOT/imports and queue its import after commit."""
    from .tasks import queue_import_job  # the task module imports this one

    suffix = PurePath(upload.name or "").suffix.lower()
    if not suffix.isascii() or not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ""
    # A random name: the original one is a user's choice and may collide or mislead.
    stored = default_storage.save(f"imports/{uuid.uuid4().hex}{suffix}", upload)
    with transaction.atomic():
        job = ImportJob.objects.create(
            session=session,
            uploaded_by=actor,
            original_name=(upload.name or "")[:255],
            stored_file=stored,
            keep_valid_rows=keep_valid_rows,
        )
        queue_import_job(job)
    return job
