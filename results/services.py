"""Grades in, results out: importing and correcting grades, computing a session, statistics.

Views, management commands and Celery tasks call the functions here; the grading rules live in
the pure `results.grading`, the grade-file rules in the pure `results.grades`.

- `import_grades`: a whole file, all rows or none, every changed grade audited in the same
  transaction (one audit entry per candidate and sitting, naming each changed mark with its
  value before and after). Bulk paths throughout, COPY on PostgreSQL for large files.
- `set_grade`: one correction, with a required reason, audited.
- `start_computation` / `compute_session` / `run_computation`: the grading engine over every
  candidate of a session (or of one academy, as a preview), writing one ComputedResult per
  candidate and the statistics staff review before publishing. The grades are read by one
  query ordered by candidate (on PostgreSQL, one row per candidate with the marks as arrays)
  and the results written by COPY.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import struct
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.services import Change, record_changes
from bac.pg import SideReader, analyze, copy_from_stdin, copy_text, use_copy
from candidates.importing import RowError
from candidates.models import Candidate
from candidates.services import error_message as candidate_error_message
from exams.models import (
    Academy,
    CandidateType,
    Component,
    Directorate,
    ExamSession,
    School,
    Subject,
    Track,
    TrackSubject,
)
from identity.models import Role

from . import grading
from .grades import (
    CATCH_UP,
    NORMAL,
    CandidateRef,
    Code,
    GradeParseResult,
    GradeRow,
    GradeRules,
    check_mark,
    format_mark,
    parse_grades,
)
from .models import Computation, ComputedResult, Decision, Grade, Mention, Sitting

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

# PostgreSQL advisory lock namespace for "the grades of session N": imports and corrections of
# one session take turns, so that an audit entry's "before" is what was really replaced.
_GRADES_LOCK = 0x6772  # "gr"
_FETCH_CHUNK = 20_000
_SMALL_FILE_CANDIDATES = 2000
_AUDIT_CHUNK = 20_000
PROGRESS_WRITE_INTERVAL = 1.0  # seconds
ANOMALY_EXAMPLES = 100
STALE_RUNNING = datetime.timedelta(hours=2)


# -- What to tell people ----------------------------------------------------------------------

ERROR_MESSAGES: dict[str, Any] = {
    Code.FILE_NO_ROWS: _("The file has a header row but no grade rows."),
    Code.CANDIDATE_UNKNOWN: _(
        "There is no candidate with the Massar code %(value)s in this session."
    ),
    Code.CANDIDATE_OUT_OF_SCOPE: _(
        "The candidate %(value)s is registered in another academy: only that academy or the "
        "ministry can enter their grades."
    ),
    Code.SUBJECT_UNKNOWN: _("There is no subject with the code “%(value)s”."),
    Code.COMPONENT_INVALID: _(
        "“%(value)s” is not a component: write continuous, regional or national."
    ),
    Code.SUBJECT_NOT_IN_TRACK: _(
        "%(value)s is not a subject of the %(component)s component in the candidate's track %(track)s."
    ),
    Code.FREE_CANDIDATE_CONTINUOUS: _(
        "This candidate is a free candidate: free candidates have no continuous assessment."
    ),
    Code.MARK_NOT_NUMBER: _("“%(value)s” is not a mark: write a number such as 12.5 or 12,5."),
    Code.MARK_OUT_OF_RANGE: _("The mark %(value)s is not between 0 and 20."),
    Code.MARK_TOO_PRECISE: _("The mark %(value)s has more than two decimals."),
    Code.SITTING_INVALID: _("“%(value)s” is not a sitting: write normal or catch_up."),
    Code.CATCH_UP_NOT_NATIONAL: _(
        "The catch-up session re-sits the national exam only: a %(component)s mark cannot be a "
        "catch-up mark."
    ),
    Code.CATCH_UP_NOT_ELIGIBLE: _(
        "This candidate is not convened to the catch-up session (their result of the normal "
        "session does not allow it, or the normal session has not been computed)."
    ),
    Code.DUPLICATE_GRADE: _(
        "The %(component)s mark of %(value)s for this candidate is already on line %(first_line)s of this file."
    ),
}

GRADE_CONFLICT = "grade_conflict"
REASON_REQUIRED = "grade_reason_required"
SETTING_MESSAGES: dict[str, Any] = {
    GRADE_CONFLICT: _(
        "Another import or correction changed the same grades at the same time. Nothing was "
        "stored: try again."
    ),
    REASON_REQUIRED: _("Say why the mark changes."),
}


def error_message(code: str, params: Mapping[str, Any] | None = None) -> str:
    """The sentence for an error code of the grade import, in the active language."""
    template = ERROR_MESSAGES.get(code) or SETTING_MESSAGES.get(code)
    if template is None:
        return candidate_error_message(code, params)
    try:
        return str(template) % dict(params or {})
    except (KeyError, TypeError, ValueError):
        return str(template)


def describe(error: RowError) -> dict[str, Any]:
    """An error as shown in tables and printed by the command: line, column, reason."""
    return {
        "line": error.line,
        "column": error.column,
        "reason": error_message(error.code, error.params),
    }


REASON_TEXTS = {
    "missing": _("Grades missing: %(items)s"),
    "eliminated": _("Eliminated by a 0 in %(items)s"),
    "no subjects": _("The track has no subjects configured."),
}


def _explain_missing(item: str) -> str:
    """`PC national (catch_up)` -> `PC (National exam, catch-up session)`."""
    catch_up = item.endswith(f" ({grading.CATCH_UP})")
    subject, _sep, component = item.removesuffix(f" ({grading.CATCH_UP})").partition(" ")
    labels = dict(Component.choices)
    if component not in labels:
        return item
    detail = str(labels[component])
    if catch_up:
        detail = f"{detail}, {Sitting.CATCH_UP.label}"
    return f"{subject} ({detail})"


def explain_reason(reason: str) -> str:
    """ComputedResult.reason (`missing: PC national`, `eliminated: 0 in MATH`) in words, in
    the active language."""
    if not reason:
        return ""
    if reason.startswith("missing: "):
        items = reason.removeprefix("missing: ").split(", ")
        explained = ", ".join(_explain_missing(item) for item in items)
        return str(REASON_TEXTS["missing"]) % {"items": explained}
    if reason.startswith("eliminated: 0 in "):
        return str(REASON_TEXTS["eliminated"]) % {"items": reason.removeprefix("eliminated: 0 in ")}
    if reason == "no subjects":
        return str(REASON_TEXTS["no subjects"])
    return reason


# -- Rules of a session -----------------------------------------------------------------------


def grading_config(session: ExamSession) -> grading.GradingConfig:
    """The grading rules of `session`: the national defaults, overridden by
    settings.GRADING_RULES[session.code] (or ["*"] for every session), a dict of GradingConfig
    fields whose numbers may be written as strings ("10", "0.25", "1/3")."""
    configured = getattr(settings, "GRADING_RULES", None) or {}
    overrides: dict[str, Any] = {**configured.get("*", {}), **configured.get(session.code, {})}
    if not overrides:
        return grading.DEFAULT_CONFIG
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        if name in ("admission_threshold", "catch_up_threshold", "eliminatory_mark"):
            value = None if value is None else Decimal(str(value))
        elif name.endswith("_weight"):
            value = Fraction(str(value))
        elif name == "mention_bands":
            value = tuple((Decimal(str(low)), str(mention)) for low, mention in value)
        elif name == "eliminatory_components":
            value = frozenset(value)
        values[name] = value
    return grading.GradingConfig(**values)


def actor_academy_id(actor) -> int | None:
    """The academy an actor is limited to; None for the ministry and the system."""
    if actor is None or getattr(actor, "role", None) == Role.MINISTRY:
        return None
    if getattr(actor, "role", None) == Role.ACADEMY:
        return actor.academy_id
    raise PermissionError("only academy and ministry staff handle grades and results")


def _school_geography() -> dict[int, tuple[int, int]]:
    """school id -> (directorate id, academy id)."""
    return {
        school_id: (directorate_id, academy_id)
        for school_id, directorate_id, academy_id in School.objects.values_list(
            "id", "directorate_id", "directorate__academy_id"
        )
    }


def reference_computation(session: ExamSession) -> Computation | None:
    """The computation whose decisions say who is convened to the catch-up session: the latest
    finished computation of the whole session's normal sitting."""
    return (
        Computation.objects.filter(
            session=session,
            sitting=Sitting.NORMAL,
            academy__isnull=True,
            status=Computation.Status.DONE,
        )
        .order_by("-finished_at", "-pk")
        .first()
    )


def is_convened_to_catch_up(candidate: Candidate) -> bool:
    """Whether the reference computation sent this candidate to the catch-up session."""
    reference = reference_computation(candidate.session)
    return (
        reference is not None
        and ComputedResult.objects.filter(
            computation=reference, candidate=candidate, decision=Decision.CATCH_UP
        ).exists()
    )


def catch_up_candidate_ids(session: ExamSession) -> frozenset[int] | None:
    reference = reference_computation(session)
    if reference is None:
        return None
    return frozenset(
        ComputedResult.objects.filter(
            computation=reference, decision=Decision.CATCH_UP
        ).values_list("candidate_id", flat=True)
    )


# -- Importing grades -------------------------------------------------------------------------


@dataclass
class GradeImportOutcome:
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected: bool = False
    source_format: str = ""

    @property
    def error_count(self) -> int:
        return len(self.errors)


class GradeConflict(Exception):
    """Another transaction wrote the same grades while this import ran; nothing was stored."""


def grade_rules(session: ExamSession, actor) -> GradeRules:
    academy_id = actor_academy_id(actor)
    geography = _school_geography()
    track_codes = dict(Track.objects.values_list("id", "code"))
    candidates: dict[str, CandidateRef] = {}
    rows = Candidate.objects.filter(session=session).values_list(
        "massar_code", "id", "track_id", "candidate_type", "school_id"
    )
    free = CandidateType.FREE
    for massar, pk, track_id, candidate_type, school_id in rows.iterator(chunk_size=_FETCH_CHUNK):
        in_scope = academy_id is None or geography[school_id][1] == academy_id
        candidates[massar] = CandidateRef(
            pk, track_id, track_codes[track_id], candidate_type == free, in_scope
        )
    return GradeRules(
        candidates=candidates,
        subjects=dict(Subject.objects.values_list("code", "id")),
        track_subjects=frozenset(
            TrackSubject.objects.values_list("track_id", "subject_id", "component")
        ),
        catch_up_eligible=catch_up_candidate_ids(session),
    )


class _ImportProgress:
    """Half the work is checking rows, half is storing them."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.total = 0

    def checked(self, done: int, total: int) -> None:
        self.total = total
        if self.callback is not None:
            self.callback(done // 2, total)

    def stored(self, fraction: float) -> None:
        if self.callback is not None:
            self.callback(int(self.total * (0.5 + fraction / 2)), self.total)


def import_grades(
    session: ExamSession,
    data: bytes,
    filename: str,
    actor,
    progress: ProgressCallback | None = None,
    max_bytes: int | None = -1,
) -> GradeImportOutcome:
    """Check every row of a grade file; if all are valid store them (create or change marks),
    otherwise store nothing and return every error. Re-importing a file changes nothing.

    `max_bytes`: the upload limit (settings.IMPORT_UPLOAD_MAX_BYTES unless given; None for no
    limit, as the command line has for national files)."""
    tracker = _ImportProgress(progress)
    rules = grade_rules(session, actor)
    limit = settings.IMPORT_UPLOAD_MAX_BYTES if max_bytes == -1 else max_bytes
    parsed = parse_grades(data, rules, max_bytes=limit, progress=tracker.checked)
    outcome = GradeImportOutcome(total_rows=parsed.total_rows, source_format=parsed.source_format)
    tracker.total = parsed.total_rows
    if parsed.file_error or parsed.errors:
        outcome.errors = parsed.errors
        outcome.rejected = True
        return outcome
    reason = f"Import of the grade file {filename[:200]}"
    try:
        _store_grades(session, parsed, actor, reason, outcome, tracker)
    except (IntegrityError, connection.Database.IntegrityError) as exc:
        # COPY errors come straight from the driver, unwrapped by Django.
        raise GradeConflict(str(exc)) from exc
    return outcome


def lock_grades(session: ExamSession) -> None:
    """Hold the session's grades until the transaction ends (imports, corrections and the
    preparation of a publication take turns)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_GRADES_LOCK, session.pk])


class _Keys:
    """Compact keys for (candidate, subject, component, sitting): candidate * 65536 + the index
    of (subject, component, sitting) among those the file holds. A national file holds five
    million marks; tuples would take gigabytes."""

    def __init__(self, rows: Sequence[GradeRow]) -> None:
        self.combos: dict[tuple[int, str, str], int] = {}
        for row in rows:
            combo = (row.subject, row.component, row.sitting)
            if combo not in self.combos:
                self.combos[combo] = len(self.combos)


def _existing_grades(session: ExamSession, rows: Sequence[GradeRow], keys: _Keys) -> dict[int, int]:
    """key -> grade id * 4096 + mark in hundredths, for the stored marks the rows may change."""
    grade_table = connection.ops.quote_name(Grade._meta.db_table)
    candidate_table = connection.ops.quote_name(Candidate._meta.db_table)
    columns = "g.id, g.candidate_id, g.subject_id, g.component, g.sitting, CAST(ROUND(g.mark * 100) AS INTEGER)"
    combos = keys.combos
    existing: dict[int, int] = {}

    def keep(batch) -> None:
        for pk, cid, sid, component, sitting, mark in batch:
            combo = combos.get((sid, component, sitting))
            if combo is not None and (wanted is None or cid in wanted):
                existing[cid * 65536 + combo] = pk * 4096 + mark

    candidate_ids = sorted({row.candidate for row in rows})
    wanted: set[int] | None = None
    if len(candidate_ids) <= _SMALL_FILE_CANDIDATES:
        size = min(_FETCH_CHUNK, (connection.features.max_query_params or 100_000) - 10)
        with connection.cursor() as cursor:
            for start in range(0, len(candidate_ids), size):
                chunk = candidate_ids[start : start + size]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(
                    f"SELECT {columns} FROM {grade_table} AS g WHERE g.candidate_id IN ({marks})",  # noqa: S608
                    chunk,
                )
                keep(cursor.fetchall())
        return existing
    # A large file: the candidates' ids go into a temporary table that the grades are joined
    # with (PostgreSQL), or the session's grades are read in one pass (elsewhere), rather than
    # thousands of IN lists.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE grade_import_candidates (id bigint PRIMARY KEY) ON COMMIT DROP"
            )
            with copy_from_stdin(cursor, "COPY grade_import_candidates (id) FROM STDIN") as copy:
                copy.write("".join(f"{pk}\n" for pk in candidate_ids))
            cursor.execute("ANALYZE grade_import_candidates")
        sql = (
            f"SELECT {columns} FROM {grade_table} AS g"  # noqa: S608
            " JOIN grade_import_candidates AS k ON k.id = g.candidate_id"
        )
        params: list[Any] = []
    else:
        sql = (
            f"SELECT {columns} FROM {grade_table} AS g JOIN {candidate_table} AS c "  # noqa: S608
            "ON c.id = g.candidate_id WHERE c.session_id = %s"
        )
        params = [session.pk]
        wanted = set(candidate_ids)
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(_FETCH_CHUNK):
            keep(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE grade_import_candidates")
    return existing


def _store_grades(
    session: ExamSession,
    parsed: GradeParseResult,
    actor,
    reason: str,
    outcome: GradeImportOutcome,
    tracker: _ImportProgress,
) -> None:
    rows = parsed.rows
    subject_codes = dict(Subject.objects.values_list("id", "code"))
    keys = _Keys(rows)
    combos = keys.combos
    with transaction.atomic():
        lock_grades(session)
        existing = _existing_grades(session, rows, keys)
        tracker.stored(0.2)
        creates: list[GradeRow] = []
        updates: list[tuple[int, GradeRow]] = []
        befores: dict[tuple[int, str], dict[str, str]] = {}
        afters: dict[tuple[int, str], dict[str, str]] = {}
        get = existing.get
        for row in rows:
            current = get(row.candidate * 65536 + combos[(row.subject, row.component, row.sitting)])
            if current is not None and current & 4095 == row.mark:
                continue
            group = (row.candidate, row.sitting)
            label = f"{subject_codes[row.subject]} {row.component}"
            if current is None:
                creates.append(row)
            else:
                updates.append((current >> 12, row))
                befores.setdefault(group, {})[label] = format_mark(current & 4095)
            afters.setdefault(group, {})[label] = format_mark(row.mark)
        del existing
        outcome.unchanged = len(rows) - len(creates) - len(updates)
        now = timezone.now()
        if creates:
            _create_grades(creates, now)
        tracker.stored(0.5)
        if updates:
            _update_grades(updates, now)
        tracker.stored(0.6)
        changes = [
            Change(
                "grades.import",
                "grade",
                f"{candidate_id}/{sitting}",
                befores.get((candidate_id, sitting), {}),
                after,
                reason,
                candidate_id,
            )
            for (candidate_id, sitting), after in afters.items()
        ]
        for start in range(0, len(changes), _AUDIT_CHUNK):
            record_changes(actor, changes[start : start + _AUDIT_CHUNK])
            tracker.stored(0.6 + 0.4 * min(1.0, (start + _AUDIT_CHUNK) / len(changes)))
        outcome.created, outcome.updated = len(creates), len(updates)
    tracker.stored(1.0)


def _create_grades(rows: list[GradeRow], now: datetime.datetime) -> None:
    if use_copy(len(rows)):
        quote = connection.ops.quote_name
        table = quote(Grade._meta.db_table)
        sql = (
            f"COPY {table} (candidate_id, subject_id, component, sitting, mark, updated_at) "
            "FROM STDIN"
        )
        stamp = now.isoformat()
        with connection.cursor() as cursor, copy_from_stdin(cursor, sql) as copy:
            write = copy.write
            lines: list[str] = []
            for row in rows:
                lines.append(
                    f"{row.candidate}\t{row.subject}\t{row.component}\t{row.sitting}\t"
                    f"{format_mark(row.mark)}\t{stamp}\n"
                )
                if len(lines) >= 5000:
                    write("".join(lines))
                    lines = []
            if lines:
                write("".join(lines))
        analyze(Grade)
        return
    objects = [
        Grade(
            candidate_id=row.candidate,
            subject_id=row.subject,
            component=row.component,
            sitting=row.sitting,
            mark=Decimal(row.mark).scaleb(-2),
            updated_at=now,
        )
        for row in rows
    ]
    Grade.objects.bulk_create(objects, batch_size=2000)


def _update_grades(updates: list[tuple[int, GradeRow]], now: datetime.datetime) -> None:
    if use_copy(len(updates)):
        table = connection.ops.quote_name(Grade._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE grade_update (id bigint, mark numeric(4, 2)) ON COMMIT DROP"
            )
            with copy_from_stdin(cursor, "COPY grade_update (id, mark) FROM STDIN") as copy:
                copy.write("".join(f"{pk}\t{format_mark(row.mark)}\n" for pk, row in updates))
            cursor.execute(
                f"UPDATE {table} AS g SET mark = u.mark, updated_at = %s FROM grade_update AS u WHERE g.id = u.id",  # noqa: S608
                [now],
            )
            cursor.execute("DROP TABLE grade_update")
        return
    objects = [
        Grade(pk=pk, mark=Decimal(row.mark).scaleb(-2), updated_at=now) for pk, row in updates
    ]
    Grade.objects.bulk_update(objects, ["mark", "updated_at"], batch_size=1000)


# -- One correction ---------------------------------------------------------------------------


class GradeError(Exception):
    """A correction that cannot be made; `message` says why in the active language."""

    def __init__(self, code: str, params: Mapping[str, Any] | None = None, field: str = ""):
        super().__init__(code)
        self.code = code
        self.params = dict(params or {})
        self.field = field

    @property
    def message(self) -> str:
        return error_message(self.code, self.params)


def can_enter_grades(actor, candidate: Candidate) -> bool:
    try:
        academy_id = actor_academy_id(actor)
    except PermissionError:
        return False
    return academy_id is None or candidate.school.directorate.academy_id == academy_id


def set_grade(
    candidate: Candidate,
    subject: Subject,
    component: str,
    mark: Any,
    reason: str,
    actor,
    sitting: str = NORMAL,
) -> bool:
    """Set one mark of a candidate (create or change it), audited with `reason`. Returns False
    when the mark was already that value (nothing written). Raises GradeError."""
    if not can_enter_grades(actor, candidate):
        raise GradeError(Code.CANDIDATE_OUT_OF_SCOPE, {"value": candidate.massar_code})
    reason = (reason or "").strip()
    if not reason:
        raise GradeError(REASON_REQUIRED, field="reason")
    hundredths = check_mark(mark)
    if not isinstance(hundredths, int):
        raise GradeError(hundredths.code, hundredths.params, field="mark")
    if not TrackSubject.objects.filter(
        track_id=candidate.track_id, subject=subject, component=component
    ).exists():
        raise GradeError(
            Code.SUBJECT_NOT_IN_TRACK,
            {"value": subject.code, "component": component, "track": candidate.track.code},
            field="subject",
        )
    if component == "continuous" and candidate.candidate_type == CandidateType.FREE:
        raise GradeError(Code.FREE_CANDIDATE_CONTINUOUS, field="subject")
    if sitting == CATCH_UP:
        if component != "national":
            raise GradeError(Code.CATCH_UP_NOT_NATIONAL, {"component": component}, "sitting")
        if not is_convened_to_catch_up(candidate):
            raise GradeError(Code.CATCH_UP_NOT_ELIGIBLE, field="sitting")
    elif sitting != NORMAL:
        raise GradeError(Code.SITTING_INVALID, {"value": sitting}, "sitting")
    label = f"{subject.code} {component}"
    with transaction.atomic():
        lock_grades(candidate.session)
        grade = (
            Grade.objects.select_for_update()
            .filter(candidate=candidate, subject=subject, component=component, sitting=sitting)
            .first()
        )
        value = Decimal(hundredths).scaleb(-2)
        before: dict[str, str] = {}
        if grade is None:
            Grade.objects.create(
                candidate=candidate,
                subject=subject,
                component=component,
                sitting=sitting,
                mark=value,
            )
        else:
            if int(grade.mark * 100) == hundredths:
                return False
            before[label] = format_mark(int(grade.mark * 100))
            grade.mark = value
            grade.save(update_fields=["mark", "updated_at"])
        record_changes(
            actor,
            [
                Change(
                    "grades.correct",
                    "grade",
                    f"{candidate.pk}/{sitting}",
                    before,
                    {label: format_mark(hundredths)},
                    reason,
                    candidate.pk,
                )
            ],
        )
    return True


@dataclass
class SheetLine:
    subject: Subject
    component: str
    coefficient: Decimal
    mark: Decimal | None
    catch_up_mark: Decimal | None


def grade_sheet(candidate: Candidate) -> list[SheetLine]:
    """The candidate's marks for every subject of their track, by component."""
    marks = {
        (g.subject_id, g.component, g.sitting): g.mark
        for g in Grade.objects.filter(candidate=candidate)
    }
    order = {name: i for i, name in enumerate(grading.COMPONENTS)}
    lines = []
    subjects = TrackSubject.objects.filter(track_id=candidate.track_id).select_related("subject")
    for ts in sorted(subjects, key=lambda t: (order[t.component], t.subject.code)):
        if ts.component == "continuous" and candidate.candidate_type == CandidateType.FREE:
            continue
        lines.append(
            SheetLine(
                ts.subject,
                ts.component,
                ts.coefficient,
                marks.get((ts.subject_id, ts.component, NORMAL)),
                marks.get((ts.subject_id, ts.component, CATCH_UP)),
            )
        )
    return lines


# -- Computing results ------------------------------------------------------------------------


class ComputationBusy(Exception):
    """A computation of the same session, sitting and scope is already waiting or running."""


class NoReference(Exception):
    """The catch-up sitting needs a finished computation of the normal sitting."""


COMPONENT_CODES = {"continuous": 0, "national": 1, "regional": 2}  # sorts as the names do


_ORDERS_PER_TRACK = 64


class _TrackPlan:
    """A track's scheme, and how to line a candidate's marks up with it.

    The grades arrive as two byte strings: the keys (subject id * 4 + component code, 4 bytes
    each) and the marks (hundredths, 2 bytes each), in the order the database read them, which
    is the same for most candidates of a track (the order of the imported file). Each order
    seen is compiled once into a permutation, so that lining up a candidate's marks is a
    dictionary lookup, an unpack and an itemgetter, all in C.
    """

    def __init__(self, scheme: grading.Scheme, expected: list[int], code: str) -> None:
        self.scheme = scheme
        self.expected = expected
        self.size = len(expected)
        self.index = {k: i for i, k in enumerate(expected)}
        self.code = code
        self.orders: dict[bytes, Callable[[bytes], tuple]] = {}

    def align(self, keys: bytes | None, marks: bytes | None) -> tuple[Sequence[int | None], int]:
        """The marks in scheme order (None where missing) and the number of grades that are not
        subjects of the track."""
        if not keys:
            return [None] * self.size, 0
        order = self.orders.get(keys)
        if order is not None:
            return order(marks), 0  # type: ignore[arg-type]
        count = len(keys) // 4
        key_values = _unpacker(">", count, "i")(keys)
        mark_values = _unpacker(">", count, "h")(marks)
        positions = [self.index.get(k) for k in key_values]
        if (
            None not in positions
            and len(set(positions)) == count
            and len(self.orders) < _ORDERS_PER_TRACK
        ):
            # inverse[p]: where the mark of scheme position p is in the unpacked tuple; `count`
            # (one past the end) for a subject without a grade, padded with None.
            inverse = [count] * self.size
            for i, position in enumerate(positions):
                inverse[position] = i  # type: ignore[index]
            self.orders[keys] = _order(_unpacker(">", count, "h"), inverse, count < self.size)
        aligned: list[int | None] = [None] * self.size
        extra = 0
        for position, mark in zip(positions, mark_values, strict=True):
            if position is None:
                extra += 1
            else:
                aligned[position] = mark
        return aligned, extra

    def align_catch_up(
        self, keys: bytes | None, marks: bytes | None
    ) -> tuple[list[int | None], list[int | None], int]:
        """Normal and catch-up marks in scheme order (keys carry the sitting in their low bit)."""
        first: list[int | None] = [None] * self.size
        second: list[int | None] = [None] * self.size
        extra = 0
        if keys:
            count = len(keys) // 4
            key_values = _unpacker(">", count, "i")(keys)
            mark_values = _unpacker(">", count, "h")(marks)
            for k, mark in zip(key_values, mark_values, strict=True):
                position = self.index.get(k >> 1)
                if position is None:
                    extra += 1
                elif k & 1:
                    second[position] = mark
                else:
                    first[position] = mark
        return first, second, extra


_PAD = (None,)


def _order(
    unpack: Callable[[bytes], tuple], inverse: list[int], padded: bool
) -> Callable[[bytes], tuple]:
    if len(inverse) == 1:
        only = inverse[0]
        if padded:
            return lambda data: ((unpack(data) + _PAD)[only],)
        return lambda data: (unpack(data)[only],)
    permute = itemgetter(*inverse)
    if padded:
        return lambda data: permute(unpack(data) + _PAD)
    return lambda data: permute(unpack(data))


_UNPACKERS: dict[tuple[str, int, str], Callable[[bytes], tuple]] = {}


def _unpacker(order: str, count: int, kind: str) -> Callable[[bytes], tuple]:
    found = _UNPACKERS.get((order, count, kind))
    if found is None:
        found = _UNPACKERS[(order, count, kind)] = struct.Struct(f"{order}{count}{kind}").unpack
    return found


def _track_plans(config: grading.GradingConfig) -> dict[int, _TrackPlan]:
    by_track: dict[int, list[tuple[int, str, str, Decimal]]] = defaultdict(list)
    for track_id, subject_id, code, component, coefficient in TrackSubject.objects.values_list(
        "track_id", "subject_id", "subject__code", "component", "coefficient"
    ):
        by_track[track_id].append((subject_id, code, component, coefficient))
    plans = {}
    for track_id, track_code in Track.objects.values_list("id", "code"):
        entries = sorted(by_track.get(track_id, []), key=lambda e: (e[0], COMPONENT_CODES[e[2]]))
        scheme = grading.Scheme(
            [grading.SubjectRule(code, component, coef) for _sid, code, component, coef in entries],
            config,
        )
        expected = [sid * 4 + COMPONENT_CODES[component] for sid, _code, component, _c in entries]
        plans[track_id] = _TrackPlan(scheme, expected, track_code)
    return plans


def start_computation(
    session: ExamSession,
    actor,
    sitting: str = Sitting.NORMAL,
    academy: Academy | None = None,
) -> Computation:
    """Create a computation and queue it once the transaction commits. Academy staff compute
    their academy only; the ministry computes the nation (or one academy)."""
    from .tasks import queue_computation  # the task module imports this one

    limited_to = actor_academy_id(actor)
    if limited_to is not None:
        academy_id = limited_to
    else:
        academy_id = academy.pk if academy is not None else None
    if sitting == Sitting.CATCH_UP and reference_computation(session) is None:
        raise NoReference
    with transaction.atomic():
        busy = Computation.objects.select_for_update().filter(
            session=session,
            sitting=sitting,
            academy_id=academy_id,
            status__in=[Computation.Status.PENDING, Computation.Status.RUNNING],
            created_at__gte=timezone.now() - STALE_RUNNING,
        )
        if busy.exists():
            raise ComputationBusy
        computation = Computation.objects.create(
            session=session, sitting=sitting, academy_id=academy_id, created_by=actor
        )
        queue_computation(computation)
    return computation


def compute_session(
    session: ExamSession,
    *,
    sitting: str = Sitting.NORMAL,
    academy: Academy | None = None,
    actor=None,
    progress: ProgressCallback | None = None,
) -> Computation:
    """Compute a session now, in this process (commands, benchmarks, tests); returns the
    finished (or failed) computation."""
    if sitting == Sitting.CATCH_UP and reference_computation(session) is None:
        raise NoReference
    computation = Computation.objects.create(
        session=session, sitting=sitting, academy=academy, created_by=actor
    )
    return run_computation(computation, progress)


class ComputationProgress:
    """Writes Computation.processed/total at most once per interval. The computation runs in a
    transaction, so on PostgreSQL the writes go through a second connection in autocommit
    (they would stay invisible until the commit otherwise); on SQLite, through the same one."""

    def __init__(self, computation_id: int, interval: float = PROGRESS_WRITE_INTERVAL) -> None:
        self.computation_id = computation_id
        self.interval = interval
        self._last = 0.0
        self._side = None

    def __call__(self, done: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            if self._side is None:
                self._side = connections.create_connection("default")
            table = connection.ops.quote_name(Computation._meta.db_table)
            with self._side.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET processed = %s, total = %s WHERE id = %s",  # noqa: S608
                    [done, total, self.computation_id],
                )
        else:
            Computation.objects.filter(pk=self.computation_id).update(processed=done, total=total)

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
            self._side = None


def run_computation(
    computation: Computation, progress: ProgressCallback | None = None
) -> Computation:
    """Run one computation (the Celery task and compute_session call this). All its results
    are written in one transaction: a failure leaves none of them."""
    if computation.status not in (Computation.Status.PENDING, Computation.Status.RUNNING):
        return computation
    writer = ComputationProgress(computation.pk)
    computation.status = Computation.Status.RUNNING
    computation.error = ""
    computation.save(update_fields=["status", "error"])

    def report(done: int, total: int) -> None:
        writer(done, total)
        if progress is not None:
            progress(done, total)

    # The grades may be read on a second connection (overlapping the reading with the work and
    # the writing) only if everything the computation must see is committed.
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic():
            _compute(computation, report, side_reader=outermost)
    except Exception as exc:
        logger.exception("computation %s failed", computation.pk)
        computation.status = Computation.Status.FAILED
        computation.error = f"{type(exc).__name__}: {exc}"[:2000]
        computation.finished_at = timezone.now()
        computation.save(update_fields=["status", "error", "finished_at"])
        raise
    finally:
        writer.close()
    return computation


# The query that feeds the engine. On PostgreSQL, one row per candidate with its marks as two
# integer arrays (key = subject id * 4 + component code [* 2 + catch-up], mark in hundredths);
# elsewhere, one row per grade, ordered by candidate. Identifiers come from model metadata.
_KEY_SQL = (
    "g.subject_id * 4 + CASE g.component WHEN 'continuous' THEN 0 WHEN 'national' THEN 1 ELSE 2 END"
)
_MARK_SQL = "CAST(ROUND(g.mark * 100) AS INTEGER)"


def _candidate_source(
    computation: Computation, reference_id: int | None, join: str = ""
) -> tuple[str, list]:
    """FROM ... WHERE ... of the candidates a computation covers (alias c), and its parameters.
    `join` (without parameters) is added after the candidate table."""
    quote = connection.ops.quote_name
    candidates = quote(Candidate._meta.db_table)
    schools = quote(School._meta.db_table)
    directorates = quote(Directorate._meta.db_table)
    results = quote(ComputedResult._meta.db_table)
    sql = f"{candidates} AS c"
    params: list[Any] = []
    if reference_id is not None:
        sql += (
            f" JOIN {results} AS r ON r.candidate_id = c.id AND r.computation_id = %s"
            " AND r.decision = %s"
        )
        params += [reference_id, Decision.CATCH_UP]
    if join:
        sql += f" {join}"
    sql += " WHERE c.session_id = %s"
    params.append(computation.session_id)
    if computation.academy_id is not None:
        sql += (
            f" AND c.school_id IN (SELECT s.id FROM {schools} AS s JOIN {directorates} AS d"  # noqa: S608
            " ON d.id = s.directorate_id WHERE d.academy_id = %s)"
        )
        params.append(computation.academy_id)
    return sql, params


_CandidateData = tuple[int, int, str, int, str, bytes | None, bytes | None]


def _stream_sql(computation: Computation, reference_id: int | None) -> tuple[str, list]:
    grades = connection.ops.quote_name(Grade._meta.db_table)
    if reference_id is not None:
        key = f"({_KEY_SQL}) * 2 + CASE g.sitting WHEN 'catch_up' THEN 1 ELSE 0 END"
        join = f"LEFT JOIN {grades} AS g ON g.candidate_id = c.id"
    else:
        key = _KEY_SQL
        join = f"LEFT JOIN {grades} AS g ON g.candidate_id = c.id AND g.sitting = 'normal'"
    source, params = _candidate_source(computation, reference_id, join)
    head = "c.id, c.track_id, c.candidate_type, c.school_id, c.sex"
    if connection.vendor == "postgresql":
        # Packed as big-endian integers in two byte strings: much cheaper to receive and
        # unpack than integer arrays (see _TrackPlan).
        sql = (
            f"SELECT {head}, string_agg(int4send(CAST({key} AS integer)), ''::bytea) FILTER (WHERE g.id IS NOT NULL),"  # noqa: S608
            f" string_agg(int2send(CAST({_MARK_SQL} AS smallint)), ''::bytea)"
            " FILTER (WHERE g.id IS NOT NULL)"
            f" FROM {source} GROUP BY c.id ORDER BY c.id"
        )
    else:
        sql = f"SELECT {head}, {key}, {_MARK_SQL} FROM {source} ORDER BY c.id"  # noqa: S608
    return sql, params


def _stream(
    computation: Computation, reference_id: int | None
) -> Iterator[Sequence[_CandidateData]]:
    """Batches of (candidate id, track id, type, school id, sex, keys, marks), by candidate,
    read on this connection."""
    sql, params = _stream_sql(computation, reference_id)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        # A server-side cursor in binary: the packed keys and marks arrive as plain bytes.
        with connection.connection.cursor(name="results_stream", binary=True) as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(_FETCH_CHUNK):
                yield batch
        return
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        current: list[Any] | None = None
        batch: list[_CandidateData] = []
        while rows := cursor.fetchmany(_FETCH_CHUNK):
            for cid, track_id, ctype, school_id, sex, k, mark in rows:
                if current is None or current[0] != cid:
                    if current is not None:
                        batch.append(_packed(current))  # type: ignore[arg-type]
                    current = [cid, track_id, ctype, school_id, sex, None, None]
                if k is not None:
                    if current[5] is None:
                        current[5], current[6] = [], []
                    current[5].append(k)
                    current[6].append(mark)
            if len(batch) >= _FETCH_CHUNK:
                yield batch
                batch = []
        if current is not None:
            batch.append(_packed(current))  # type: ignore[arg-type]
        if batch:
            yield batch


def mark_key(subject_id: int, component: str, sitting: str | None = None) -> int:
    """A mark's key as _KEY_SQL makes it: subject id * 4 + component code; with the sitting
    (a catch-up computation reads both), times two plus one for a catch-up mark."""
    key = subject_id * 4 + COMPONENT_CODES[component]
    if sitting is None:
        return key
    return key * 2 + (1 if sitting == Sitting.CATCH_UP else 0)


def pack_marks(keys: Sequence[int], marks: Sequence[int]) -> tuple[bytes, bytes]:
    """Keys and marks (in hundredths) packed as PostgreSQL packs them for the computation:
    big-endian int4 and int2 (what ComputedResult.mark_keys and .marks keep)."""
    count = len(keys)
    return struct.pack(f">{count}i", *keys), struct.pack(f">{count}h", *marks)


def unpack_kept_marks(mark_keys: bytes | None, marks: bytes | None) -> list[tuple[int, int]]:
    """pack_marks undone: (key, mark in hundredths) of each kept mark, in the order kept."""
    if not mark_keys or marks is None:
        return []
    count = len(mark_keys) // 4
    return list(
        zip(struct.unpack(f">{count}i", mark_keys), struct.unpack(f">{count}h", marks), strict=True)
    )


def kept_marks_of(candidate_ids: Iterable[int], sitting: str) -> dict[int, dict[str, bytes | None]]:
    """ComputedResult's mark_keys and marks for these candidates' grades as they stand, as a
    computation of `sitting` keeps them (one query; candidates without grades get None)."""
    catch_up = sitting == Sitting.CATCH_UP
    grades = Grade.objects.filter(candidate_id__in=candidate_ids)
    if not catch_up:
        grades = grades.filter(sitting=Sitting.NORMAL)
    keys: dict[int, list[int]] = defaultdict(list)
    marks: dict[int, list[int]] = defaultdict(list)
    for candidate_id, subject_id, component, grade_sitting, mark in grades.values_list(
        "candidate_id", "subject_id", "component", "sitting", "mark"
    ):
        keys[candidate_id].append(
            mark_key(subject_id, component, grade_sitting if catch_up else None)
        )
        marks[candidate_id].append(int(mark * 100))
    kept: dict[int, dict[str, bytes | None]] = defaultdict(
        lambda: {"mark_keys": None, "marks": None}
    )
    for candidate_id, candidate_keys in keys.items():
        packed_keys, packed_marks = pack_marks(candidate_keys, marks[candidate_id])
        kept[candidate_id] = {"mark_keys": packed_keys, "marks": packed_marks}
    return kept


def kept_marks(candidate_id: int, sitting: str) -> dict[str, bytes | None]:
    """kept_marks_of for one candidate (recomputed alone, e.g. after a complaint)."""
    return kept_marks_of([candidate_id], sitting)[candidate_id]


def _packed(current: list[Any]) -> tuple:
    """A candidate read row by row, with its keys and marks packed as PostgreSQL packs them."""
    keys, marks = current[5], current[6]
    if keys is None:
        return tuple(current)
    return (*current[:5], *pack_marks(keys, marks))


def _side_reader(computation: Computation, reference_id: int | None) -> SideReader:
    """The same batches as `_stream`, read by a thread on a second PostgreSQL connection, so
    that the server runs the query while this process grades the previous batch and the main
    connection copies the results in."""
    sql, params = _stream_sql(computation, reference_id)

    def batches(raw) -> Iterator[Sequence[_CandidateData]]:
        with raw.transaction(), raw.cursor(name="results_stream", binary=True) as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(_FETCH_CHUNK):
                yield batch

    return SideReader(batches, name="results-reader")


# (candidate id, outcome, packed keys, packed marks): a result with the marks it came from.
_Computed = tuple[int, grading.Outcome, bytes | None, bytes | None]


class _ResultSink:
    """Writes ComputedResult rows: by COPY as they come (when the grades are read on another
    connection), by COPY at the end (large computations otherwise), or by bulk_create."""

    def __init__(self, computation: Computation, decimals: int, mode: str) -> None:
        self.mode = mode  # "stream", "deferred" or "orm"
        self.head = f"{computation.pk}\t"
        self.computation_id = computation.pk
        scale = 10**decimals
        self.formatted = [
            f"{Decimal(u).scaleb(-decimals):.{decimals}f}" for u in range(20 * scale + 1)
        ]
        self.pending: list[str] = []
        self._stack = contextlib.ExitStack()
        self._copy = None
        if mode == "stream":
            self._open_copy()

    def _open_copy(self) -> None:
        table = connection.ops.quote_name(ComputedResult._meta.db_table)
        sql = (
            f"COPY {table} (computation_id, candidate_id, continuous_average, regional_average,"
            " national_average, general_average, decision, mention, reason, mark_keys, marks)"
            " FROM STDIN"
        )
        cursor = self._stack.enter_context(connection.cursor())
        self._copy = self._stack.enter_context(copy_from_stdin(cursor, sql))

    def add(self, results: list[_Computed]) -> None:
        if self.mode == "orm":
            self._bulk_create(results)
            return
        formatted = self.formatted
        head = self.head
        null = "\\N"
        # bytea in COPY's text format: "\\x" (an escaped backslash) and hex digits.
        lines = [
            f"{head}{cid}\t"
            f"{null if o.continuous is None else formatted[o.continuous]}\t"
            f"{null if o.regional is None else formatted[o.regional]}\t"
            f"{null if o.national is None else formatted[o.national]}\t"
            f"{null if o.general is None else formatted[o.general]}\t"
            f"{o.decision}\t{o.mention}\t{copy_text(o.reason)}\t"
            + (f"\\\\x{keys.hex()}\t\\\\x{marks.hex()}\n" if keys else "\\N\t\\N\n")
            for cid, o, keys, marks in results
        ]
        if self.mode == "stream":
            self._copy.write("".join(lines))  # type: ignore[union-attr]
        else:
            self.pending.extend(lines)

    def _bulk_create(self, results: list[_Computed]) -> None:
        formatted = self.formatted

        def value(units: int | None) -> Decimal | None:
            return None if units is None else Decimal(formatted[units])

        ComputedResult.objects.bulk_create(
            [
                ComputedResult(
                    computation_id=self.computation_id,
                    candidate_id=cid,
                    continuous_average=value(o.continuous),
                    regional_average=value(o.regional),
                    national_average=value(o.national),
                    general_average=value(o.general),
                    decision=o.decision,
                    mention=o.mention,
                    reason=o.reason,
                    mark_keys=keys or None,
                    marks=marks if keys else None,
                )
                for cid, o, keys, marks in results
            ],
            batch_size=2000,
        )

    def close(self) -> None:
        if self.mode == "deferred" and self.pending:
            self._open_copy()
            for start in range(0, len(self.pending), 10_000):
                self._copy.write("".join(self.pending[start : start + 10_000]))  # type: ignore[union-attr]
            self.pending = []
        self._stack.close()
        if self.mode != "orm":
            analyze(ComputedResult)

    def abort(self) -> None:
        self.pending = []
        self._stack.close()


def _count_candidates(computation: Computation, reference_id: int | None) -> int:
    source, params = _candidate_source(computation, reference_id)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {source}", params)  # noqa: S608
        return cursor.fetchone()[0]


class _Tally:
    """Counts for the statistics, kept compact while half a million candidates go by."""

    def __init__(self, bins: int, bin_units: int) -> None:
        self.counts: dict[tuple, int] = {}
        self.histogram: dict[tuple[int, int], int] = {}
        self.anomalies: dict[tuple[str, int], int] = {}
        self.examples: list[
            tuple[int, int, str, str]
        ] = []  # (directorate, candidate, kind, reason)
        self.bins = bins
        self.bin_units = bin_units


def _compute(computation: Computation, progress: ProgressCallback, side_reader: bool) -> None:
    session = computation.session
    config = grading_config(session)
    reference_id = None
    if computation.sitting == Sitting.CATCH_UP:
        reference = reference_computation(session)
        if reference is None:
            raise NoReference("the normal sitting has not been computed")
        reference_id = reference.pk
    plans = _track_plans(config)
    geography = _school_geography()
    directorate_of = {school: place[0] for school, place in geography.items()}
    total = _count_candidates(computation, reference_id)
    computation.total = total
    progress(0, total)
    ComputedResult.objects.filter(computation=computation).delete()

    scale = 10**config.decimals
    bin_units = max(1, scale // 2)
    bins = (20 * scale) // bin_units
    last_bin = bins - 1
    tally = _Tally(bins, bin_units)
    counts, histogram = tally.counts, tally.histogram
    free_type = CandidateType.FREE
    catch_up = reference_id is not None
    incomplete = grading.INCOMPLETE
    no_plan = grading.Outcome(
        None, None, None, None, incomplete, grading.NO_MENTION, extra="no subjects"
    )

    large = use_copy(total)
    if large and side_reader and connection.vendor == "postgresql":
        source: Any = _side_reader(computation, reference_id)
        sink = _ResultSink(computation, config.decimals, "stream")
    else:
        source = None
        sink = _ResultSink(computation, config.decimals, "deferred" if large else "orm")
    processed = 0
    try:
        for batch in source if source is not None else _stream(computation, reference_id):
            results: list[_Computed] = []
            append = results.append
            for cid, track_id, ctype, school_id, sex, keys, marks in batch:
                plan = plans.get(track_id)
                if plan is None or not plan.size:
                    outcome, extra = no_plan, 0
                elif catch_up:
                    first, second, extra = plan.align_catch_up(keys, marks)
                    outcome = plan.scheme.evaluate_catch_up(first, second, ctype == free_type)
                else:
                    order = plan.orders.get(keys) if keys else None
                    if order is not None:
                        outcome, extra = plan.scheme.evaluate(order(marks), ctype == free_type), 0
                    else:
                        aligned, extra = plan.align(keys, marks)
                        outcome = plan.scheme.evaluate(aligned, ctype == free_type)
                append((cid, outcome, keys, marks))
                directorate = directorate_of[school_id]
                decision = outcome[4]
                key = (directorate, track_id, sex, ctype, decision, outcome[5])
                counts[key] = counts.get(key, 0) + 1
                general = outcome[3]
                if general is not None:
                    hkey = (directorate, min(general // bin_units, last_bin))
                    histogram[hkey] = histogram.get(hkey, 0) + 1
                if decision == incomplete or extra:
                    _note_anomaly(tally, directorate, cid, outcome, keys, extra)
            sink.add(results)
            processed += len(batch)
            progress(processed, total)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    finally:
        if source is not None:
            source.close()

    progress(processed, total)
    computation.statistics = _statistics(
        computation, config, tally, max(0, total - processed), reference_id
    )
    computation.status = Computation.Status.DONE
    computation.processed = processed
    computation.total = total
    computation.finished_at = timezone.now()
    computation.save(update_fields=["statistics", "status", "processed", "total", "finished_at"])


def _note_anomaly(
    tally: _Tally,
    directorate: int,
    cid: int,
    outcome: grading.Outcome,
    keys: bytes | None,
    extra: int,
) -> None:
    anomalies, examples = tally.anomalies, tally.examples
    if outcome.decision == grading.INCOMPLETE:
        if outcome.extra:
            kind = "no_subjects"
        elif not keys:
            kind = "no_grades"
        else:
            kind = "missing_grades"
        anomalies[(kind, directorate)] = anomalies.get((kind, directorate), 0) + 1
        if len(examples) < 20 * ANOMALY_EXAMPLES:
            examples.append((directorate, cid, kind, outcome.reason))
    if extra:
        anomalies[("extra_grades", directorate)] = (
            anomalies.get(("extra_grades", directorate), 0) + 1
        )
        if len(examples) < 20 * ANOMALY_EXAMPLES:
            examples.append((directorate, cid, "extra_grades", str(extra)))


# -- Statistics -------------------------------------------------------------------------------

OUTCOMES = (Decision.ADMITTED, Decision.CATCH_UP, Decision.FAILED, Decision.INCOMPLETE)
MENTIONS = (Mention.PASSABLE, Mention.ASSEZ_BIEN, Mention.BIEN, Mention.TRES_BIEN)
ANOMALY_KINDS = ("missing_grades", "no_grades", "extra_grades", "no_subjects", "without_result")


def _empty_row(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "total": 0,
        **{str(d): 0 for d in OUTCOMES},
        "mentions": {str(m): 0 for m in MENTIONS},
    }


def _add(row: dict[str, Any], decision: str, mention: str, count: int) -> None:
    row["total"] += count
    row[decision] = row.get(decision, 0) + count
    if mention:
        row["mentions"][mention] = row["mentions"].get(mention, 0) + count


def _statistics(
    computation: Computation,
    config: grading.GradingConfig,
    tally: _Tally,
    without_result: int,
    reference_id: int | None,
) -> dict[str, Any]:
    directorate_academy = dict(Directorate.objects.values_list("id", "academy_id"))
    directorate_codes = dict(Directorate.objects.values_list("id", "code"))
    academy_codes = dict(Academy.objects.values_list("id", "code"))
    track_codes = dict(Track.objects.values_list("id", "code"))

    def section() -> dict[str, Any]:
        return {
            "totals": _empty_row("all"),
            "by_academy": {},
            "by_directorate": {},
            "by_track": {},
            "by_sex": {},
            "by_candidate_type": {},
            "histogram": [0] * tally.bins,
            "anomalies": {kind: 0 for kind in ANOMALY_KINDS},
            "examples": [],
        }

    overall = section()
    academies: dict[str, dict[str, Any]] = {}

    def sections_for(directorate: int) -> tuple[dict[str, Any], dict[str, Any], str, str]:
        academy = academy_codes[directorate_academy[directorate]]
        if academy not in academies:
            academies[academy] = section()
        return overall, academies[academy], academy, directorate_codes[directorate]

    for (directorate, track_id, sex, ctype, decision, mention), count in tally.counts.items():
        top, local, academy, dcode = sections_for(directorate)
        for target in (top, local):
            _add(target["totals"], decision, mention, count)
            for dimension, key in (
                ("by_academy", academy),
                ("by_directorate", dcode),
                ("by_track", track_codes[track_id]),
                ("by_sex", sex),
                ("by_candidate_type", ctype),
            ):
                rows = target[dimension]
                if key not in rows:
                    rows[key] = _empty_row(key)
                    if dimension == "by_directorate":
                        rows[key]["academy"] = academy
                _add(rows[key], decision, mention, count)
    for (directorate, index), count in tally.histogram.items():
        top, local, _academy, _code = sections_for(directorate)
        top["histogram"][index] += count
        local["histogram"][index] += count
    for (kind, directorate), count in tally.anomalies.items():
        top, local, _academy, _code = sections_for(directorate)
        top["anomalies"][kind] += count
        local["anomalies"][kind] += count
    # Candidates counted at the start but not graded (added while the computation ran).
    overall["anomalies"]["without_result"] = without_result
    massar = dict(
        Candidate.objects.filter(pk__in=[e[1] for e in tally.examples]).values_list(
            "id", "massar_code"
        )
    )
    for directorate, cid, kind, reason in sorted(tally.examples, key=lambda e: e[1]):
        top, local, _academy, _code = sections_for(directorate)
        example = {"massar_code": massar.get(cid, ""), "kind": kind, "reason": reason}
        for target in (top, local):
            if len(target["examples"]) < ANOMALY_EXAMPLES:
                target["examples"].append(example)

    def finish(target: dict[str, Any]) -> dict[str, Any]:
        for dimension in (
            "by_academy",
            "by_directorate",
            "by_track",
            "by_sex",
            "by_candidate_type",
        ):
            target[dimension] = [target[dimension][k] for k in sorted(target[dimension])]
        return target

    scale = 10**config.decimals
    return {
        "version": 1,
        "sitting": computation.sitting,
        "academy": academy_codes.get(computation.academy_id) if computation.academy_id else None,
        "reference_computation": reference_id,
        "rules": config.as_dict(),
        "bin_width": str(Decimal(tally.bin_units) / scale),
        "overall": finish(overall),
        "academies": {code: finish(academies[code]) for code in sorted(academies)},
    }


def statistics_for(computation: Computation, actor) -> dict[str, Any] | None:
    """The part of a computation's statistics `actor` may see: everything for the ministry,
    their academy's section for academy staff (None if the computation has none)."""
    stats = computation.statistics or {}
    if not stats.get("overall"):
        return None
    academy_id = actor_academy_id(actor)
    if academy_id is None:
        return stats["overall"]
    code = Academy.objects.filter(pk=academy_id).values_list("code", flat=True).first()
    return stats.get("academies", {}).get(code)


def visible_computations(actor, session: ExamSession | None = None) -> QuerySet[Computation]:
    """Computations `actor` may look at: all for the ministry; for academy staff, the whole
    session's (seen through their academy's section) and their academy's previews."""
    queryset = Computation.objects.select_related("session", "academy", "created_by")
    if session is not None:
        queryset = queryset.filter(session=session)
    academy_id = actor_academy_id(actor)
    if academy_id is None:
        return queryset
    return queryset.filter(Q(academy__isnull=True) | Q(academy_id=academy_id))


def rate(part: int, whole: int) -> Decimal:
    """A percentage with one decimal, half-up; 0 when there is nothing to divide."""
    if not whole:
        return Decimal("0.0")
    return grading.round_half_up(Fraction(100 * part, whole), 1)


def iter_breakdown(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Breakdown rows with their rates, for pages."""
    for row in rows:
        total = row["total"]
        admitted = row.get(Decision.ADMITTED, 0)
        mentions = row.get("mentions", {})
        yield {
            **row,
            "admitted_rate": rate(admitted, total),
            "catch_up_rate": rate(row.get(Decision.CATCH_UP, 0), total),
            "failed_rate": rate(row.get(Decision.FAILED, 0), total),
            "incomplete_rate": rate(row.get(Decision.INCOMPLETE, 0), total),
            "mention_rates": {m: rate(mentions.get(m, 0), admitted) for m in MENTIONS},
        }
