"""Publishing results: immutable, versioned snapshots of a computation, switched on at a moment.

    schedule_publication(computation, publish_at, actor)  a new version, prepared in the background
    prepare_publication(publication_id)                    the task: rows, cache, then ready
    withdraw_publication(publication, actor, reason)       stop showing it (audited)
    republish_candidate(candidate, computed_result, reason) one candidate's new result, at once
    notify_due_publications()                              tell candidates once a moment has come

Preparation writes every PublishedResult row and every cache entry into the new publication's
own namespace, which nothing points to yet, inside one database transaction; only then is the
publication marked ready (audited) and, once that commits, the pointers rewritten. A failure at
any point rolls the rows back and leaves the pointers, hence what candidates see, as they were.
At the moment itself nothing runs: the lookup compares the time with the pointer's publish_at.

A snapshot shows each candidate's averages and decision with the marks they were computed from,
as the computation kept them (ComputedResult.mark_keys and .marks): a grade corrected after the
computation is in neither until the session is computed again (or the candidate's result is
recomputed and republished, as an accepted complaint does).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import operator
import struct
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
import psycopg
from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.services import Change, record_changes
from bac.pg import SideReader, analyze, copy_from_stdin, copy_text
from candidates.models import Candidate
from exams.models import ExamSession, Subject, Track, TrackSubject

from . import lookup as lookup_rules
from . import signals, snapshot
from .lookup import SnapshotRow
from .models import Computation, ComputedResult, Grade, Publication, PublishedResult, Sitting
from .services import kept_marks_of, lock_grades, mark_key, unpack_kept_marks

logger = logging.getLogger(__name__)

Status = Publication.Status
Kind = Publication.Kind


class PublicationError(Exception):
    """The request cannot be carried out; the message is for the person who asked."""


def _grades_corrected_message(count: int) -> str:
    return ngettext(
        "The grades of %(count)d candidate were corrected after this computation: "
        "compute the session again, then publish that computation.",
        "The grades of %(count)d candidates were corrected after this computation: "
        "compute the session again, then publish that computation.",
        count,
    ) % {"count": count}


class GradesCorrected(PublicationError):
    """Grades of `count` candidates were corrected after the computation. A publication that
    fails so keeps the count, not the text: its page says it in the reader's language."""

    CODE = "grades_corrected"

    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(_grades_corrected_message(count))

    @property
    def stored(self) -> str:
        return f"{self.CODE}:{self.count}"


def failure_of(publication: Publication) -> str:
    """Why the publication failed, in the active language where the cause is known."""
    code, _sep, count = publication.error.partition(":")
    if code == GradesCorrected.CODE and count.isdigit():
        return _grades_corrected_message(int(count))
    return publication.error


# --- reading ----------------------------------------------------------------------------------


def is_public(publication: Publication, now: datetime.datetime | None = None) -> bool:
    now = now or timezone.now()
    return publication.status == Status.READY and publication.publish_at <= now


def state_of(publication: Publication, now: datetime.datetime | None = None) -> str:
    """preparing, scheduled, public, replaced, withdrawn or failed."""
    if publication.status == Status.READY:
        return "public" if is_public(publication, now) else "scheduled"
    return publication.status


def current_publication(
    session: ExamSession, sitting: str, now: datetime.datetime | None = None
) -> Publication | None:
    """The full publication candidates of this session and sitting see now, if any."""
    now = now or timezone.now()
    return (
        Publication.objects.filter(
            session=session,
            sitting=sitting,
            kind=Kind.FULL,
            status=Status.READY,
            publish_at__lte=now,
        )
        .order_by("-version")
        .first()
    )


def progress_key(publication_id: int) -> str:
    return f"results:progress:{publication_id}"


def progress_of(publication: Publication) -> int:
    if publication.status != Status.PREPARING:
        return publication.count
    return cache.get(progress_key(publication.pk), 0)


def publishable_computations(session: ExamSession | None = None):
    """Computations that may be published: finished, over the whole session."""
    qs = Computation.objects.filter(status=Computation.Status.DONE).select_related("session")
    if hasattr(Computation, "academy"):
        qs = qs.filter(academy__isnull=True)
    if session is not None:
        qs = qs.filter(session=session)
    return qs.order_by("-created_at")


# --- the snapshot -----------------------------------------------------------------------------


def build_names(publication: Publication) -> dict[str, Any]:
    """What an entry's codes mean: session, tracks, subjects, coefficients (small, immutable)."""
    coefficients: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for track, component, subject, coefficient in TrackSubject.objects.values_list(
        "track__code", "component", "subject__code", "coefficient"
    ):
        coefficients[track][component][subject] = f"{coefficient.normalize():f}"
    return {
        "session_code": publication.session.code,
        "session_name": publication.session.name,
        "sitting": publication.sitting,
        "version": publication.version,
        "tracks": {
            code: {"fr": fr, "ar": ar}
            for code, fr, ar in Track.objects.values_list("code", "name_fr", "name_ar")
        },
        "subjects": {
            code: {"fr": fr, "ar": ar}
            for code, fr, ar in Subject.objects.values_list("code", "name_fr", "name_ar")
        },
        "coefficients": {track: dict(by) for track, by in coefficients.items()},
    }


_RESULT_FIELDS = (
    "candidate_id",
    "candidate__massar_code",
    "candidate__cnie_number",
    "candidate__birth_date",
    "candidate__last_name_latin",
    "candidate__first_name_latin",
    "candidate__last_name_ar",
    "candidate__first_name_ar",
    "candidate__track__code",
    "candidate__candidate_type",
    "continuous_average",
    "regional_average",
    "national_average",
    "general_average",
    "decision",
    "mention",
)


def _sittings_shown(sitting: str) -> list[str]:
    return [Sitting.NORMAL, Sitting.CATCH_UP] if sitting == Sitting.CATCH_UP else [Sitting.NORMAL]


def _row(values: tuple, marks: list, version: int, corrected_at: float | None) -> SnapshotRow:
    (
        candidate_id,
        massar,
        cnie,
        birth,
        last,
        first,
        last_ar,
        first_ar,
        track,
        candidate_type,
        continuous,
        regional,
        national,
        general,
        decision,
        mention,
    ) = values
    return SnapshotRow(
        candidate_id=candidate_id,
        massar_code=massar,
        cnie_number=cnie or "",
        birth_date=birth,
        last_name=last,
        first_name=first,
        last_name_ar=last_ar,
        first_name_ar=first_ar,
        track=track,
        candidate_type=candidate_type,
        continuous_average=continuous,
        regional_average=regional,
        national_average=national,
        general_average=general,
        decision=decision,
        mention=mention or "",
        marks=marks,
        version=version,
        corrected_at=corrected_at,
    )


def snapshot_batches(
    computation: Computation, sitting: str, version: int, batch_size: int
) -> Iterator[list[SnapshotRow]]:
    """The computation's results with the marks each was computed from, in candidate order, in
    batches (keyset pagination: no server-side cursor held across the writes)."""
    codes = _mark_codes(sitting)
    last = 0
    base = ComputedResult.objects.filter(computation=computation).order_by("candidate_id")
    while True:
        values = list(
            base.filter(candidate_id__gt=last).values_list(*_RESULT_FIELDS, "mark_keys", "marks")[
                :batch_size
            ]
        )
        if not values:
            return
        last = values[-1][0]
        yield [_row(v[:-2], unpack_marks(codes, v[-2], v[-1]), version, None) for v in values]


def unpack_marks(codes: _MarkCodes, keys: bytes | None, marks: bytes | None) -> list:
    """(component, subject code, sitting, mark) of a result's kept marks (ComputedResult)."""
    unpacked = []
    for key, units in unpack_kept_marks(keys, marks):
        try:
            component, code, grade_sitting = codes.marks[key]
        except KeyError:
            raise PublicationError(_unknown_mark()) from None
        unpacked.append((component, code, grade_sitting, Decimal(units).scaleb(-2)))
    return unpacked


_ROW_COLUMNS = (
    "publication_id",
    "candidate_id",
    "massar_code",
    "cnie_number",
    "birth_date",
    "continuous_average",
    "regional_average",
    "national_average",
    "general_average",
    "decision",
    "mention",
    "payload",
)


def _insert_rows(publication_id: int, rows: Sequence[tuple[SnapshotRow, str]]) -> None:
    PublishedResult.objects.bulk_create(
        [
            PublishedResult(
                publication_id=publication_id,
                candidate_id=row.candidate_id,
                massar_code=row.massar_code,
                cnie_number=row.cnie_number,
                birth_date=row.birth_date,
                continuous_average=row.continuous_average,
                regional_average=row.regional_average,
                national_average=row.national_average,
                general_average=row.general_average,
                decision=row.decision,
                mention=row.mention,
                payload=payload,
            )
            for row, payload in rows
        ],
        batch_size=2000,
    )


# --- the snapshot on PostgreSQL ---------------------------------------------------------------
#
# On PostgreSQL the server reads each batch in one statement: the computed results joined with
# their candidates, each entry's text up to its marks, and the marks the computation kept,
# packed as big-endian integers (a key per mark for its subject, component and sitting; the
# mark in hundredths). Python writes the marks from templates made once per publication and
# COPYs the rows in. The bytes are exactly results.lookup.encode_entry's (tests hold them
# equal: names with quotes, backslashes, control characters and Arabic, marks of both sittings
# in any order, missing averages). Reading the marks from the grades instead (a grouped join
# of every grade) took the server about half of the publication's time.


def _json_decimal(column: str) -> str:
    return f"""coalesce('"' || {column}::text || '"', 'null')"""


def _json_text(column: str) -> str:
    return f"coalesce(to_json({column})::text, 'null')"


def _unknown_mark() -> str:
    return _("A mark is of a component or subject that the publication does not know.")


class _MarkCodes(NamedTuple):
    """What the kept marks' keys (results.services.mark_key) mean, for one publication."""

    order: dict[int, int]  # key -> rank in encode_entry's order
    heads: dict[int, str]  # key -> '["component","SUBJECT","'
    tails: dict[int, str]  # key -> '"]' or '","catch_up"]'
    marks: dict[int, tuple[str, str, str]]  # key -> (component, subject code, sitting)


def _mark_codes(sitting: str) -> _MarkCodes:
    return mark_codes_of(list(Subject.objects.values_list("code", "id")), sitting)


def mark_codes_of(subjects: list[tuple[str, int]], sitting: str) -> _MarkCodes:
    """The mark keys of a publication of `sitting` over these (code, id) subjects, as its
    computation kept them: a catch-up computation's keys carry the sitting, a normal one's do
    not. Their order is encode_entry's: component, subject code, normal sitting first."""
    dumps = orjson.dumps
    order: dict[int, int] = {}
    heads: dict[int, str] = {}
    tails: dict[int, str] = {}
    marks: dict[int, tuple[str, str, str]] = {}
    catch_up = sitting == Sitting.CATCH_UP
    for component in lookup_rules.COMPONENTS:
        for code, subject_id in sorted(subjects):
            for grade_sitting in _sittings_shown(sitting):
                key = mark_key(subject_id, component, grade_sitting if catch_up else None)
                order[key] = len(order)
                heads[key] = f'[{dumps(component).decode()},{dumps(code).decode()},"'
                tails[key] = (
                    '"]'
                    if grade_sitting == Sitting.NORMAL
                    else f'",{dumps(grade_sitting).decode()}]'
                )
                marks[key] = (component, code, grade_sitting)
    return _MarkCodes(order, heads, tails, marks)


class _MarkTemplates:
    """The "k" list of an entry from a candidate's packed keys and marks, in the entry's order.

    Candidates of a track mostly have the same marks in the same order: the order and a text
    template are made once per distinct key sequence, and a candidate costs one unpack and one
    formatting."""

    LIMIT = 50_000

    def __init__(self, codes: _MarkCodes) -> None:
        self.codes = codes
        self.made: dict[bytes, tuple[str, Callable, Callable]] = {}

    def _make(self, keys: bytes) -> tuple[str, Callable, Callable]:
        count = len(keys) // 4
        unpacked = struct.unpack(f">{count}i", keys)
        heads, tails, ranks = self.codes.heads, self.codes.tails, self.codes.order
        try:
            order = sorted(range(count), key=lambda i: ranks[unpacked[i]])
            template = ",".join(
                heads[unpacked[i]].replace("%", "%%") + "%s" + tails[unpacked[i]].replace("%", "%%")
                for i in order
            )
        except KeyError:
            raise PublicationError(_unknown_mark()) from None
        pick: Callable = (
            operator.itemgetter(*order) if count > 1 else (lambda values: (values[order[0]],))
        )
        made = (template, struct.Struct(f">{count}h").unpack, pick)
        if len(self.made) < self.LIMIT:
            self.made[keys] = made
        return made

    def items(self, keys: bytes, marks: bytes) -> str:
        made = self.made.get(keys) or self._make(keys)
        template, unpack, pick = made
        return template % tuple(map(_MARK_TEXT.__getitem__, pick(unpack(marks))))


def _batch_sql() -> str:
    """The statement for one batch: the computation's results between two candidate ids, with
    their candidates and kept marks."""
    quote = connection.ops.quote_name
    table = {model: quote(model._meta.db_table) for model in (Candidate, ComputedResult, Track)}
    # The entry's text up to its marks, written by the server: encode_entry's bytes (to_json
    # escapes text as orjson does; numbers keep the column's two decimals).
    head = " || ".join(
        [
            """'{"v":' || %(version)s::int::text""",
            """',"m":' || """ + _json_text("c.massar_code"),
            """',"n":[' || """ + _json_text("c.last_name_latin"),
            "',' || " + _json_text("c.first_name_latin"),
            """'],"na":[' || """ + _json_text("c.last_name_ar"),
            "',' || " + _json_text("c.first_name_ar"),
            """'],"t":' || """ + _json_text("t.code"),
            """',"ct":' || """ + _json_text("c.candidate_type"),
            """',"avg":[' || """ + _json_decimal("r.general_average"),
            "',' || " + _json_decimal("r.continuous_average"),
            "',' || " + _json_decimal("r.regional_average"),
            "',' || " + _json_decimal("r.national_average"),
            """'],"d":' || """ + _json_text("r.decision"),
            """',"me":' || to_json(coalesce(r.mention, ''))::text""",
        ]
    )
    # The row's columns before the payload, as COPY's text format has them.
    copy_head = (
        "concat_ws(E'\\t', r.candidate_id, c.massar_code, coalesce(c.cnie_number, ''), "
        "to_char(c.birth_date, 'YYYY-MM-DD'), "
        + ", ".join(
            f"coalesce(r.{column}::text, E'\\\\N')"
            for column in (
                "continuous_average",
                "regional_average",
                "national_average",
                "general_average",
            )
        )
        + ", r.decision, coalesce(r.mention, ''))"
    )
    return (
        "SELECT r.candidate_id, c.massar_code, coalesce(c.cnie_number, ''), c.birth_date, "  # noqa: S608 - names from the models
        f"{head}, r.mark_keys, r.marks, {copy_head} "
        f"FROM {table[ComputedResult]} AS r "
        f"JOIN {table[Candidate]} AS c ON c.id = r.candidate_id "
        f"LEFT JOIN {table[Track]} AS t ON t.id = c.track_id "
        "WHERE r.computation_id = %(computation)s "
        "AND r.candidate_id BETWEEN %(first)s AND %(last)s "
        # The same range on the candidates, so that they are read by their key, not scanned.
        "AND c.id BETWEEN %(first)s AND %(last)s "
        "ORDER BY r.candidate_id"
    )


def _candidate_ranges(computation: Computation, batch_size: int) -> Iterator[tuple[int, int]]:
    """(first, last) candidate ids of each batch of the computation's results."""
    ids = list(
        ComputedResult.objects.filter(computation=computation)
        .order_by("candidate_id")
        .values_list("candidate_id", flat=True)
    )
    for start in range(0, len(ids), batch_size):
        yield ids[start], ids[min(start + batch_size, len(ids)) - 1]


# (candidate id, Massar code, CNIE number, birth date, payload): what the cache keys need of a
# row, with its payload. A plain tuple: half a million of them are made.
_Built = tuple[int, str, str, datetime.date, str]


_MARK_TEXT = [f"{units // 100}.{units % 100:02d}" for units in range(2001)]


def _payloads(
    rows: Sequence[tuple], publication_id: int, templates: _MarkTemplates
) -> tuple[list[_Built], str]:
    """The batch's payloads (encode_entry's bytes) with what the cache keys need, and the
    batch's rows in COPY's text format."""
    marks_of = templates.items
    built: list[_Built] = []
    lines: list[str] = []
    append, line = built.append, lines.append
    prefix = f"{publication_id}\t"
    for candidate_id, massar, cnie, birth, head, keys, marks, copy_head in rows:
        payload = f'{head},"k":[{marks_of(keys, marks) if keys else ""}]}}'
        append((candidate_id, massar, cnie, birth, payload))
        line(f"{prefix}{copy_head}\t{copy_text(payload)}\n")
    return built, "".join(lines)


class _BatchReader:
    """The batches' rows, read by a thread on a second connection (the server reads the next
    batch while this process writes the payloads and the database takes the previous rows), or
    on this connection, in line, when the computation's rows may not be committed yet."""

    def __init__(self, statement: str, ranges: list, params: dict, side: bool) -> None:
        self.statement, self.ranges, self.params = statement, ranges, params
        self.reader = (
            SideReader(self._batches, depth=3, name="publication-reader") if side else None
        )

    def _batches(self, raw) -> Iterator[list[tuple]]:
        for first, last in self.ranges:
            # A cursor binding its parameters on the server, in binary: dates, integers and
            # the packed marks arrive without parsing text (Django's cursors bind on the client).
            with psycopg.Cursor(raw) as cursor:
                cursor.execute(
                    self.statement,
                    {**self.params, "first": first, "last": last},
                    binary=True,
                )
                yield cursor.fetchall()

    def __iter__(self) -> Iterator[list[tuple]]:
        if self.reader is not None:
            return iter(self.reader)
        connection.ensure_connection()
        return self._batches(connection.connection)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


def _cache_batch(store, ns: str, key: bytes, built: list[_Built], digest) -> None:
    if not built:
        return
    # By candidate: the digest's order (each payload followed by a newline).
    digest.update(("\n".join([row[4] for row in built]) + "\n").encode())
    items: list[tuple[str, str]] = []
    extend, items_of = items.extend, lookup_rules.entry_items_of
    for _candidate_id, massar, cnie, birth, payload in built:
        extend(items_of(key, massar, cnie, birth, payload))
    store.put_entries(ns, items)


def write_snapshot_in_database(
    publication: Publication, ns: str, batch_size: int, digest, side_reader: bool = False
) -> Iterator[int]:
    """Write the publication's rows and cache entries, batch by batch, feeding `digest` the
    payloads in candidate order; yields the running count.

    The rows go in by one COPY whose data a thread sends while this one builds the next batch;
    another thread puts each batch in the cache (one, so that the batches reach the digest in
    order; a failure in it fails the publication at the next batch at the latest); with
    `side_reader`, a third reads the batches on a second connection."""
    codes = _mark_codes(publication.sitting)
    templates = _MarkTemplates(codes)
    reader = _BatchReader(
        _batch_sql(),
        list(_candidate_ranges(publication.computation, batch_size)),
        {"computation": publication.computation_id, "version": publication.version},
        side_reader,
    )
    key = snapshot.lookup_key()
    store = snapshot.get_store()
    table = connection.ops.quote_name(PublishedResult._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _ROW_COLUMNS)
    count = 0
    try:
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="publication-cache") as cacher,
            connection.cursor() as cursor,
        ):
            pending: Future | None = None
            copy = None
            with contextlib.ExitStack() as stack:
                for rows in reader:
                    returned, text = _payloads(rows, publication.pk, templates)
                    if copy is None:
                        copy = stack.enter_context(
                            copy_from_stdin(cursor, f"COPY {table} ({columns}) FROM STDIN")
                        )
                    copy.write(text)
                    if not side_reader:
                        stack.close()  # the in-line reader reads the next batch on it
                        copy = None
                    if pending is not None:
                        pending.result()  # raises what the previous batch raised
                    pending = cacher.submit(_cache_batch, store, ns, key, returned, digest)
                    count += len(rows)
                    yield count
            if pending is not None:
                pending.result()
    finally:
        reader.close()


def write_batch(publication: Publication, ns: str, rows: Sequence[SnapshotRow]) -> list[str]:
    """Store one batch: database rows, then cache entries (in the unpublished namespace).
    Returns the payloads in order (for the publication's digest)."""
    pairs = [(row, row.payload()) for row in rows]
    _insert_rows(publication.pk, pairs)
    snapshot.get_store().put_entries(ns, snapshot.items_for(pairs))
    return [payload for _row, payload in pairs]


# --- scheduling and preparing -----------------------------------------------------------------


# Beyond this many candidates with grades written since a computation, they are counted, not
# compared one by one: that many changes (a re-import) need the session computed again anyway.
_COMPARED_AT_MOST = 5_000


def candidates_regraded_since(computation: Computation) -> int:
    """How many of the computation's candidates now have marks other than those its results
    kept: grades corrected after it and not recomputed since (an accepted complaint recomputes
    its candidate's result with its marks). Publishing it would show neither correction."""
    written = Grade.objects.filter(
        updated_at__gte=computation.created_at, sitting__in=_sittings_shown(computation.sitting)
    ).values("candidate_id")
    # Left to the database: grades of other sessions may have been written since too.
    kept = ComputedResult.objects.filter(computation=computation, candidate_id__in=written)
    touched = kept.count()
    if not touched or touched > _COMPARED_AT_MOST:
        return touched

    rows = list(kept.values_list("candidate_id", "mark_keys", "marks"))
    now = kept_marks_of([candidate_id for candidate_id, _keys, _marks in rows], computation.sitting)
    # Sorted: a computation keeps the marks in the order it read them.
    return sum(
        sorted(unpack_kept_marks(keys, marks)) != sorted(unpack_kept_marks(**now[candidate_id]))
        for candidate_id, keys, marks in rows
    )


def _refuse_if_regraded(computation: Computation) -> None:
    regraded = candidates_regraded_since(computation)
    if regraded:
        raise GradesCorrected(regraded)


def _next_version(session: ExamSession, sitting: str) -> int:
    last = (
        Publication.objects.filter(session=session, sitting=sitting)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    return (last or 0) + 1


def _lock_session(session: ExamSession) -> None:
    # Serialises version numbers and state changes of one session's publications.
    ExamSession.objects.select_for_update().filter(pk=session.pk).first()


def schedule_publication(
    computation: Computation,
    publish_at: datetime.datetime,
    actor,
    reason: str = "",
) -> Publication:
    """Create the next version from a finished whole-session computation; it is prepared in the
    background (after this transaction commits) and becomes visible at `publish_at`."""
    if timezone.is_naive(publish_at):
        raise PublicationError(_("The publication moment needs a time zone."))
    if computation.status != Computation.Status.DONE:
        raise PublicationError(_("Only a finished computation can be published."))
    if not computation.marks_kept:
        raise PublicationError(
            _("This computation was made before results kept their marks: compute again.")
        )
    if getattr(computation, "academy_id", None) is not None:
        raise PublicationError(_("Only a computation of the whole session can be published."))
    _refuse_if_regraded(computation)
    with transaction.atomic():
        _lock_session(computation.session)
        if Publication.objects.filter(
            session=computation.session, sitting=computation.sitting, status=Status.PREPARING
        ).exists():
            raise PublicationError(
                _("A publication of this session is being prepared: wait until it is ready.")
            )
        replaces = (
            Publication.objects.filter(
                session=computation.session,
                sitting=computation.sitting,
                kind=Kind.FULL,
                status=Status.READY,
            )
            .order_by("-version")
            .first()
        )
        publication = Publication.objects.create(
            session=computation.session,
            sitting=computation.sitting,
            version=_next_version(computation.session, computation.sitting),
            kind=Kind.FULL,
            computation=computation,
            replaces=replaces,
            publish_at=publish_at,
            status=Status.PREPARING,
            reason=reason,
            created_by=actor,
        )
        publication_id = publication.pk
        transaction.on_commit(lambda: prepare_publication_task.delay(publication_id))
    return publication


def _summary(publication: Publication) -> dict[str, Any]:
    return {
        "session": publication.session.code,
        "sitting": publication.sitting,
        "version": publication.version,
        "kind": publication.kind,
        "computation": publication.computation_id,
        "publish_at": publication.publish_at.isoformat(),
        "count": publication.count,
        "digest": publication.digest,
        "replaces": publication.replaces.version if publication.replaces_id else None,
    }


def prepare_publication(publication_id: int, batch_size: int | None = None) -> Publication:
    """Prepare a scheduled publication: all or nothing. Idempotent (a prepared or failed
    publication is left as it is)."""
    publication = Publication.objects.select_related(
        "session", "computation", "replaces", "created_by"
    ).get(pk=publication_id)
    if publication.status != Status.PREPARING:
        return publication
    batch_size = batch_size or settings.RESULTS_PUBLICATION_BATCH
    ns = snapshot.namespace_of(publication)
    store = snapshot.get_store()
    # The batches may be read on a second connection only if what they read is committed.
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic():
            # The grades first, then the session: the order in which an accepted complaint
            # takes them (it corrects a grade, then publishes a correction).
            lock_grades(publication.session)
            _lock_session(publication.session)
            # A second delivery of the task (acks_late after a lost worker) may have waited for
            # the lock while the first finished: do nothing twice.
            if (
                Publication.objects.filter(pk=publication.pk).values_list("status", flat=True).get()
                != Status.PREPARING
            ):
                return Publication.objects.get(pk=publication.pk)
            # Checked at scheduling, and again here with the session's grades held until the
            # commit: a correction made in between would otherwise be published as neither
            # its mark nor the average it gives.
            _refuse_if_regraded(publication.computation)
            digest = hashlib.sha256()
            count = 0
            if connection.vendor == "postgresql":
                for count in write_snapshot_in_database(
                    publication, ns, batch_size, digest, side_reader=outermost
                ):
                    cache.set(progress_key(publication.pk), count, 3600)
            else:
                for rows in snapshot_batches(
                    publication.computation, publication.sitting, publication.version, batch_size
                ):
                    for payload in write_batch(publication, ns, rows):
                        digest.update(payload.encode())
                        digest.update(b"\n")
                    count += len(rows)
                    cache.set(progress_key(publication.pk), count, 3600)
            store.put_names(ns, build_names(publication))
            store.mark_ready(ns)
            # What reads the published rows next (diplomas, the lookup's fallback) is planned
            # on statistics that know them.
            analyze(PublishedResult)
            publication.status = Status.READY
            publication.count = count
            publication.digest = digest.hexdigest()
            publication.prepared_at = timezone.now()
            publication.save(update_fields=["status", "count", "digest", "prepared_at"])
            record_changes(
                publication.created_by,
                [
                    Change(
                        action="results.publish",
                        object_type="results.publication",
                        object_id=str(publication.pk),
                        after=_summary(publication),
                        reason=publication.reason,
                    )
                ],
            )
            _after_commit_refresh(publication.session_id)
            _after_commit_notify(publication)
    except Exception as exc:
        logger.exception("publication %s failed", publication_id)
        Publication.objects.filter(pk=publication_id, status=Status.PREPARING).update(
            status=Status.FAILED,
            error=getattr(exc, "stored", None) or f"{type(exc).__name__}: {exc}"[:2000],
        )
        try:
            store.drop(ns, ())
        except Exception:  # the namespace is unreachable anyway
            logger.exception("could not purge the cache namespace of publication %s", ns)
        raise
    return publication


def _after_commit_refresh(session_id: int) -> None:
    def refresh() -> None:
        try:
            snapshot.refresh_pointers(session_id)
        except Exception:
            # The pointer expires and is rebuilt from the database: nothing is lost.
            logger.exception("could not refresh the results pointers of session %s", session_id)

    transaction.on_commit(refresh, robust=True)


def _after_commit_notify(publication: Publication) -> None:
    publication_id, eta = publication.pk, publication.publish_at

    def queue() -> None:
        notify_publication_task.apply_async(args=[publication_id], eta=eta)

    transaction.on_commit(queue, robust=True)


# --- withdrawing and correcting ---------------------------------------------------------------


def withdraw_publication(publication: Publication, actor, reason: str) -> Publication:
    """Stop showing a publication (full or correction); candidates then see what they saw
    before it (a correction) or nothing (a full publication). Audited; the rows are kept."""
    reason = (reason or "").strip()
    if not reason:
        raise PublicationError(_("Say why the publication is withdrawn."))
    with transaction.atomic():
        _lock_session(publication.session)
        snapshot.settle(publication.session_id, snapshot.clock())
        publication = Publication.objects.select_related("session", "replaces").get(
            pk=publication.pk
        )
        if publication.status != Status.READY:
            raise PublicationError(_("Only a scheduled or public publication can be withdrawn."))
        before = {"status": publication.status}
        publication.status = Status.WITHDRAWN
        publication.withdrawn_at = timezone.now()
        publication.withdrawn_by = actor
        publication.withdrawal_reason = reason
        publication.save(
            update_fields=["status", "withdrawn_at", "withdrawn_by", "withdrawal_reason"]
        )
        candidate_id = None
        if publication.kind == Kind.CORRECTION:
            candidate_id = (
                PublishedResult.objects.filter(publication=publication)
                .values_list("candidate_id", flat=True)
                .first()
            )
        record_changes(
            actor,
            [
                Change(
                    action="results.withdraw",
                    object_type="results.publication",
                    object_id=str(publication.pk),
                    before=before | _summary(publication),
                    after={"status": publication.status},
                    reason=reason,
                    candidate_id=candidate_id,
                )
            ],
        )
        # The pointer says which corrections are live, for the hosts' replicas.
        _after_commit_refresh(publication.session_id)
        if publication.kind == Kind.CORRECTION:
            base_id, candidate = publication.base_id, candidate_id
            transaction.on_commit(lambda: _restore_candidate(base_id, candidate), robust=True)
        else:
            pub_id = publication.pk
            transaction.on_commit(lambda: purge_publication_task.delay(pub_id), robust=True)
    return publication


def _restore_candidate(base_id: int, candidate_id: int | None) -> None:
    """Rewrite one candidate's cache entry from the newest ready row of a base publication."""
    if candidate_id is None:
        return
    base = Publication.objects.get(pk=base_id)
    newest = (
        PublishedResult.objects.filter(candidate_id=candidate_id)
        .filter(
            Q(publication_id=base_id)
            | Q(publication__base_id=base_id, publication__status=Status.READY)
        )
        .order_by("-publication__version")
        .first()
    )
    store, ns = snapshot.get_store(), snapshot.namespace_of(base)
    if newest is not None:
        store.put_entries(ns, snapshot.items_for([(newest, newest.payload)]))
    else:
        withdrawn = PublishedResult.objects.filter(
            candidate_id=candidate_id, publication__base_id=base_id
        ).first()
        if withdrawn is not None:
            store.delete_entries(ns, [d for d, _v in snapshot.items_for([(withdrawn, "")])])


def republish_candidate(
    candidate, computed_result: ComputedResult, reason: str, actor=None
) -> Publication:
    """Publish a new version of ONE candidate's result (e.g. after an accepted complaint), on
    top of the current publication of its session and sitting, visible at once. Audited in
    the candidate's history; the candidate is told."""
    reason = (reason or "").strip()
    if not reason:
        raise PublicationError(_("Say why the result is published again."))
    if computed_result.candidate_id != candidate.pk:
        raise PublicationError(_("This result belongs to another candidate."))
    computation = computed_result.computation
    now = timezone.now()
    with transaction.atomic():
        _lock_session(candidate.session)
        snapshot.settle(candidate.session_id, now.timestamp())
        base = current_publication(candidate.session, computation.sitting, now)
        if base is None:
            raise PublicationError(_("There is no published result to correct."))
        if Publication.objects.filter(
            session=candidate.session,
            sitting=computation.sitting,
            kind=Kind.FULL,
            status__in=[Status.READY, Status.PREPARING],
            version__gt=base.version,
        ).exists():
            raise PublicationError(
                _(
                    "A new version of these results is scheduled: correct it in its computation, "
                    "or withdraw it first."
                )
            )
        previous = (
            PublishedResult.objects.filter(candidate=candidate)
            .filter(publication__in=[base.pk])
            .first()
        )
        latest_correction = (
            PublishedResult.objects.filter(
                candidate=candidate, publication__base=base, publication__status=Status.READY
            )
            .order_by("-publication__version")
            .first()
        )
        previous = latest_correction or previous
        version = _next_version(candidate.session, computation.sitting)
        publication = Publication.objects.create(
            session=candidate.session,
            sitting=computation.sitting,
            version=version,
            kind=Kind.CORRECTION,
            computation=computation,
            base=base,
            publish_at=now,
            status=Status.READY,
            count=1,
            reason=reason,
            created_by=actor,
            prepared_at=now,
        )
        *values, keys, marks = (
            ComputedResult.objects.filter(pk=computed_result.pk)
            .values_list(*_RESULT_FIELDS, "mark_keys", "marks")
            .get()
        )
        row = _row(
            tuple(values),
            unpack_marks(_mark_codes(computation.sitting), keys, marks),
            version,
            now.timestamp(),
        )
        payload = row.payload()
        _insert_rows(publication.pk, [(row, payload)])
        publication.digest = hashlib.sha256(payload.encode() + b"\n").hexdigest()
        publication.save(update_fields=["digest"])

        def brief(r) -> dict[str, Any]:
            return {
                "general_average": None
                if r.general_average is None
                else f"{Decimal(r.general_average):.2f}",
                "decision": r.decision,
                "mention": r.mention,
            }

        record_changes(
            actor,
            [
                Change(
                    action="results.republish",
                    object_type="results.publication",
                    object_id=str(publication.pk),
                    before=(brief(previous) | {"version": previous.publication.version})
                    if previous
                    else {},
                    after=brief(row) | {"version": version, "base": base.version},
                    reason=reason,
                    candidate_id=candidate.pk,
                )
            ],
        )
        ns = snapshot.namespace_of(base)
        items = snapshot.items_for([(row, payload)])
        transaction.on_commit(lambda: snapshot.get_store().put_entries(ns, items), robust=True)
        _after_commit_refresh(candidate.session_id)  # the hosts' replicas read the correction
        _after_commit_notify(publication)
        transaction.on_commit(
            lambda: signals.result_republished.send(
                sender=Publication,
                candidate=candidate,
                publication=publication,
                computed_result=computed_result,
                reason=reason,
                actor=actor,
            )
        )
    return publication


# --- notifications ----------------------------------------------------------------------------


def on_publication_public(publication: Publication) -> int:
    """Tell the candidates concerned that their result is out (or changed). Called once per
    publication, after its moment. Returns the number of notifications queued."""
    try:
        from notifications.services import queue_bulk_notifications
    except ImportError:  # pragma: no cover - the notifications app is optional here
        logger.warning("notifications unavailable: publication %s not pushed", publication.pk)
        return 0
    rows = PublishedResult.objects.filter(publication=publication)
    if publication.kind == Kind.CORRECTION:
        ids = list(rows.values_list("candidate_id", flat=True))
        return queue_bulk_notifications("results_updated", f"results.pub.{publication.pk}", ids)
    previous = publication.replaces
    if previous is not None and previous.notified_at is not None:
        # A replacement: only the candidates whose result changed hear about it.
        old = {
            candidate: (general, decision, mention)
            for candidate, general, decision, mention in PublishedResult.objects.filter(
                publication=previous
            ).values_list("candidate_id", "general_average", "decision", "mention")
        }
        changed = [
            candidate
            for candidate, general, decision, mention in rows.values_list(
                "candidate_id", "general_average", "decision", "mention"
            )
            if old.get(candidate) != (general, decision, mention)
        ]
        return queue_bulk_notifications("results_updated", f"results.pub.{publication.pk}", changed)
    reference = f"results.{publication.session.code}.{publication.sitting}"
    return queue_bulk_notifications(
        "results_published", reference, list(rows.values_list("candidate_id", flat=True))
    )


def notify_due_publications(now: datetime.datetime | None = None) -> list[int]:
    """Push the notifications of every ready publication whose moment has come, once each."""
    now = now or timezone.now()
    done: list[int] = []
    due = Publication.objects.filter(
        status=Status.READY, publish_at__lte=now, notified_at__isnull=True
    ).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            publication = (
                Publication.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("session", "replaces")
                .filter(pk=pk, status=Status.READY, notified_at__isnull=True)
                .first()
            )
            if publication is None:
                continue
            publication.notified_at = now
            publication.save(update_fields=["notified_at"])
            on_publication_public(publication)
            done.append(pk)
        signals.publication_made_public.send(sender=Publication, publication=publication)
    return done


# --- tasks ------------------------------------------------------------------------------------


@shared_task(name="results.prepare_publication")
def prepare_publication_task(publication_id: int) -> str:
    try:
        return prepare_publication(publication_id).status
    except Exception:
        return Status.FAILED


@shared_task(name="results.notify_publication")
def notify_publication_task(publication_id: int) -> list[int]:
    # Queued with eta=publish_at; an eager run (no broker) before the moment does nothing.
    return notify_due_publications()


@shared_task(name="results.purge_publication")
def purge_publication_task(publication_id: int) -> None:
    publication = Publication.objects.filter(pk=publication_id).first()
    if publication is not None and publication.status in (Status.WITHDRAWN, Status.REPLACED):
        snapshot.drop_publication(publication)
