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
from collections.abc import Callable, Iterable, Mapping
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
    return max(1, requested or DEFAULT_CHUNK)


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _files_after(session_id: int, after: int, size: int) -> list[tuple]:
    """(pk, *COMPARED_FIELDS, previous fingerprint or None) of the next `size` files of the
    session by key, with their stored result, in one query (keyset pagination)."""
    fields = ", ".join(f"c.{_column(Candidate, name)}" for name in COMPARED_FIELDS)
    sql = (
        f"SELECT c.{_column(Candidate, 'id')}, {fields}, f.{_column(FileCheck, 'fingerprint')} "  # noqa: S608
        f"FROM {_table(Candidate)} AS c LEFT JOIN {_table(FileCheck)} AS f "
        f"ON f.{_column(FileCheck, 'candidate')} = c.{_column(Candidate, 'id')} "
        f"WHERE c.{_column(Candidate, 'session')} = %s AND c.{_column(Candidate, 'id')} > %s "
        f"ORDER BY c.{_column(Candidate, 'id')} LIMIT %s"
    )
    # The birth date comes as a date or, from SQLite, as its ISO text: compared as the same text.
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_id, after, size])
        return cursor.fetchall()


def _sources_between(first: int, last: int) -> dict[int, list[tuple[str, Any]]]:
    """The identity sources of the files whose keys are in [first, last], decoded."""
    sql = (
        f"SELECT {_column(IdentitySource, 'candidate')}, {_column(IdentitySource, 'kind')}, "  # noqa: S608
        f"{_column(IdentitySource, 'data')} FROM {_table(IdentitySource)} "
        f"WHERE {_column(IdentitySource, 'candidate')} BETWEEN %s AND %s"
    )
    found: dict[int, list[tuple[str, Any]]] = defaultdict(list)
    loads = json.loads
    with connection.cursor() as cursor:
        cursor.execute(sql, [first, last])
        for candidate_id, kind, data in cursor.fetchall():
            found[candidate_id].append((kind, loads(data) if isinstance(data, str) else data))
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
    last = 0
    while True:
        rows = _files_after(session.pk, last, size)
        if not rows:
            break
        last = rows[-1][0]
        sources = _sources_between(rows[0][0], last)
        now = timezone.now()
        new: list[FileCheck] = []
        updated: list[FileCheck] = []
        for row in rows:
            pk, before = row[0], row[-1]
            result = evaluate(
                dict(zip(COMPARED_FIELDS, row[1:-1], strict=True)), sources.get(pk, ()), variants
            )
            grades[result.worst_grade] += 1
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


# == The candidate verifies, the school resolves (DESIGN journey 2) ===========================
#
# Rules: the candidate acts only while the session's verification window is open. "Confirm all"
# is refused while a report awaits the school, and while a blocking finding stands on a field
# that the candidate has not reported (a blocking finding must be reported, or resolved by a
# corrected file; once the school has rejected a report on that field, the school has reviewed
# it and it no longer blocks). A report names one field of the file, the correct value and
# evidence (a photo or a PDF, checked by content, size-limited, encrypted at rest). When the
# last pending report of a file is decided, the file returns to "not verified yet".

import datetime as _dt  # noqa: E402
import secrets  # noqa: E402
from typing import IO  # noqa: E402

from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.db.models import Count, Q, QuerySet  # noqa: E402
from django.utils.translation import gettext as _  # noqa: E402
from django.utils.translation import gettext_lazy  # noqa: E402

from audit.services import Change, record_changes  # noqa: E402
from candidates import documents  # noqa: E402
from candidates.file_services import read_upload, update_candidate_file  # noqa: E402
from candidates.identifiers import is_valid_cnie, normalize_cnie  # noqa: E402
from candidates.models import Sex, VerificationStatus  # noqa: E402
from exams.models import SessionWindow, WindowKind, WindowState  # noqa: E402
from identity.access import scope_candidates  # noqa: E402
from identity.mrz import MrzError, parse_mrz  # noqa: E402

from .compare import compare_field, source_values  # noqa: E402
from .messages import explain, field_label, mrz_problem_message, source_label  # noqa: E402
from .models import CorrectionRequest, GradeChoices  # noqa: E402

# The fields a candidate may report as wrong (their personal data; school and track are the
# school's business and are corrected by the clerk directly).
REPORTABLE_FIELDS = COMPARED_FIELDS
EVIDENCE_MAX_BYTES_DEFAULT = 5 * 1024 * 1024

try:  # the notification sent when the school decides a report
    from notifications.messages import register_kind

    register_kind(
        "correction_decided",
        label=gettext_lazy("Data correction decided"),
        sms=gettext_lazy(
            "Bac e-Services: your school has decided on the error you reported. See it at %(url)s"
        ),
        subject=gettext_lazy("Your school has decided on the error you reported"),
        paragraphs=(
            gettext_lazy(
                "Your school has taken a decision on the error you reported in your file."
            ),
            gettext_lazy("Sign in to see it at %(url)s"),
        ),
        url_name="verification:mine",
    )
except ImportError:  # pragma: no cover
    pass


class VerificationRefused(Exception):
    """The action is refused; `message` says why, in the user's language."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def evidence_max_bytes() -> int:
    return int(getattr(settings, "EVIDENCE_UPLOAD_MAX_BYTES", EVIDENCE_MAX_BYTES_DEFAULT))


# -- The window -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowInfo:
    window: SessionWindow | None
    state: str

    @property
    def is_open(self) -> bool:
        return self.state == WindowState.OPEN

    def message(self) -> str:
        from django.utils.formats import date_format

        def when(value: _dt.datetime) -> str:
            return date_format(timezone.localtime(value), "DATETIME_FORMAT")

        if self.window is None or self.state == WindowState.NOT_SET:
            return _("The dates of data verification have not been announced yet.")
        if self.state == WindowState.UPCOMING:
            return _("Data verification opens on %(date)s.") % {"date": when(self.window.opens_at)}
        if self.state == WindowState.CLOSED:
            return _("Data verification closed on %(date)s.") % {
                "date": when(self.window.closes_at)
            }
        if self.window.closes_at:
            return _("Data verification is open until %(date)s.") % {
                "date": when(self.window.closes_at)
            }
        return _("Data verification is open.")


def verification_window(session_id: int, now: _dt.datetime | None = None) -> WindowInfo:
    window = SessionWindow.objects.filter(
        session_id=session_id, kind=WindowKind.VERIFICATION
    ).first()
    return WindowInfo(window, window.state(now) if window else WindowState.NOT_SET)


def _require_open(candidate: Candidate, now: _dt.datetime | None = None) -> None:
    info = verification_window(candidate.session_id, now)
    if not info.is_open:
        raise VerificationRefused(info.message() + " " + _("Nothing was changed."))


# -- What the candidate sees ------------------------------------------------------------------


@dataclass(frozen=True)
class ExplainedFinding:
    source: str
    grade: int
    grade_label: str
    text: str


@dataclass(frozen=True)
class FieldRow:
    name: str
    label: str
    value: str
    is_arabic: bool
    sources: list[tuple[str, str]]
    findings: list[ExplainedFinding]
    worst: int
    report: CorrectionRequest | None


def _display(candidate: Candidate, name: str) -> str:
    value = getattr(candidate, name)
    if name == "sex":
        return str(candidate.get_sex_display())
    if isinstance(value, _dt.date):
        from django.utils.formats import date_format

        return date_format(value, "DATE_FORMAT")
    return str(value or "")


def explained(finding: Mapping[str, Any]) -> ExplainedFinding:
    return ExplainedFinding(
        source=source_label(finding["source"]),
        grade=int(finding["grade"]),
        grade_label=str(GradeChoices(int(finding["grade"])).label),
        text=explain(finding),
    )


def file_rows(candidate: Candidate, check: FileCheck | None = None) -> list[FieldRow]:
    """Every personal field of the file beside what each identity source says, with the
    findings of the last check explained, and the latest report on the field."""
    if check is None:
        check = FileCheck.objects.filter(candidate=candidate).first()
    findings = check.findings if check else []
    sources = [
        (source_label(s.kind), source_values(s.data))
        for s in sorted(candidate.identity_sources.all(), key=lambda s: s.kind)
    ]
    latest: dict[str, CorrectionRequest] = {}
    for report in candidate.correction_requests.order_by("submitted_at", "pk"):
        latest[report.field] = report
    rows = []
    for name in REPORTABLE_FIELDS:
        mine = [explained(f) for f in findings if f["field"] == name]
        rows.append(
            FieldRow(
                name=name,
                label=field_label(name),
                value=_display(candidate, name),
                is_arabic=name.endswith("_ar"),
                sources=[(label, values[name]) for label, values in sources if values.get(name)],
                findings=mine,
                worst=max((f.grade for f in mine), default=0),
                report=latest.get(name),
            )
        )
    return rows


def unresolved_blocking_fields(candidate: Candidate, check: FileCheck | None = None) -> list[str]:
    """The fields with a blocking finding that the candidate has neither reported nor had
    reviewed by the school (a rejected report counts as reviewed)."""
    if check is None:
        check = FileCheck.objects.filter(candidate=candidate).first()
    if check is None or check.worst_grade < GradeChoices.BLOCKING:
        return []
    blocking = {f["field"] for f in check.findings if int(f["grade"]) >= GradeChoices.BLOCKING}
    reviewed = set(
        candidate.correction_requests.filter(field__in=blocking).values_list("field", flat=True)
    )
    return [name for name in COMPARED_FIELDS if name in blocking and name not in reviewed]


def can_confirm(candidate: Candidate) -> tuple[bool, str]:
    if candidate.verification_status == VerificationStatus.CONFIRMED:
        return False, _("You have already confirmed your data.")
    if candidate.correction_requests.filter(status=CorrectionRequest.Status.PENDING).exists():
        return False, _(
            "You reported errors that your school has not decided yet: you can confirm once it has."
        )
    blocking = unresolved_blocking_fields(candidate)
    if blocking:
        return False, _(
            "A serious discrepancy was found on: %(fields)s. Report the correct value with "
            "evidence before confirming."
        ) % {"fields": ", ".join(field_label(name) for name in blocking)}
    return True, ""


# -- Candidate actions ------------------------------------------------------------------------


@transaction.atomic
def confirm_file(candidate: Candidate, actor, now: _dt.datetime | None = None) -> Candidate:
    """The candidate confirms every field of their file. Raises VerificationRefused."""
    _require_open(candidate, now)
    current = Candidate.objects.select_for_update().get(pk=candidate.pk)
    allowed, why = can_confirm(current)
    if not allowed:
        raise VerificationRefused(why)
    now = now or timezone.now()
    before = {"verification_status": current.verification_status}
    current.verification_status = VerificationStatus.CONFIRMED
    current.verified_at = now
    current.save(update_fields=["verification_status", "verified_at", "updated_at"])
    record_changes(
        actor,
        [
            Change(
                action="verification.confirm",
                object_type="candidate",
                object_id=str(current.pk),
                before=before,
                after={"verification_status": "confirmed", "verified_at": now.isoformat()},
                reason="The candidate confirmed their data",
                candidate_id=current.pk,
            )
        ],
    )
    return current


def clean_proposed_value(name: str, value: str) -> Any:
    """The proposed value as the file would hold it; raises VerificationRefused."""
    value = " ".join((value or "").split())
    if not value:
        raise VerificationRefused(_("Type the correct value."), "proposed_value")
    if name == "birth_date":
        from .compare import parse_date

        parsed = parse_date(value)
        if parsed is None or parsed.year is None:
            raise VerificationRefused(
                _("Type the birth date as day/month/year, e.g. 14/03/2008."), "proposed_value"
            )
        try:
            return _dt.date(parsed.year, parsed.month, parsed.day)
        except ValueError:
            raise VerificationRefused(_("This date does not exist."), "proposed_value") from None
    if name == "sex":
        upper = value.upper()[:1]
        if upper not in {choice.value for choice in Sex}:
            raise VerificationRefused(_("Choose F or M."), "proposed_value")
        return upper
    if name == "cnie_number":
        normalised = normalize_cnie(value)
        if not is_valid_cnie(normalised):
            raise VerificationRefused(
                _("A CNIE number is one or two letters and five or six digits, e.g. BE123456."),
                "proposed_value",
            )
        return normalised
    if name == "nationality":
        if len(value) != 3 or not value.isalpha():
            raise VerificationRefused(
                _("Type the three-letter code of the nationality, e.g. MAR."), "proposed_value"
            )
        return value.upper()
    if len(value) > 80:
        raise VerificationRefused(_("The value is too long (80 characters at most)."))
    return value


def _as_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, _dt.date) else str(value)


def _store_evidence(upload: IO[bytes]) -> tuple[str, str, int, str]:
    from candidates.file_services import rejection_message

    max_bytes = evidence_max_bytes()
    try:
        data = read_upload(upload, max_bytes)
        content_type = documents.validate_document(data, max_bytes)
    except documents.DocumentRejected as error:
        raise VerificationRefused(rejection_message(error), "evidence") from error
    token = documents.encrypt(data, settings.DOCUMENT_KEYS)
    name = default_storage.save(f"evidence/{secrets.token_hex(24)}.bin", ContentFile(token))
    return name, content_type, len(data), documents.sha256_hex(data)


def report_error(
    candidate: Candidate,
    actor,
    field: str,
    proposed_value: str,
    evidence: IO[bytes] | None,
    comment: str = "",
    now: _dt.datetime | None = None,
) -> CorrectionRequest:
    """The candidate reports one field as wrong. Raises VerificationRefused (nothing stored)."""
    _require_open(candidate, now)
    if field not in REPORTABLE_FIELDS:
        raise VerificationRefused(
            _("“%(field)s” is not a field of your file that can be reported.") % {"field": field},
            "field",
        )
    value = clean_proposed_value(field, proposed_value)
    if _as_text(value) == _as_text(getattr(candidate, field)):
        raise VerificationRefused(
            _("This is already the value in your file: nothing to correct."), "proposed_value"
        )
    if candidate.correction_requests.filter(
        field=field, status=CorrectionRequest.Status.PENDING
    ).exists():
        raise VerificationRefused(
            _("You have already reported this field; wait for your school's decision."), "field"
        )
    if evidence is None:
        raise VerificationRefused(
            _("Attach a photo or a PDF that proves the correct value."), "evidence"
        )
    stored = _store_evidence(evidence)
    try:
        with transaction.atomic():
            current = Candidate.objects.select_for_update().get(pk=candidate.pk)
            report = CorrectionRequest.objects.create(
                candidate=current,
                field=field,
                current_value=_as_text(getattr(current, field))[:120],
                proposed_value=_as_text(value)[:120],
                comment=(comment or "").strip()[:500],
                evidence_file=stored[0],
                evidence_content_type=stored[1],
                evidence_size=stored[2],
                evidence_sha256=stored[3],
            )
            before = {"verification_status": current.verification_status}
            current.verification_status = VerificationStatus.REPORTED
            current.verified_at = None
            current.save(update_fields=["verification_status", "verified_at", "updated_at"])
            record_changes(
                actor,
                [
                    Change(
                        action="verification.report",
                        object_type="correction_request",
                        object_id=str(report.pk),
                        before={**before, field: report.current_value},
                        after={
                            "verification_status": "reported",
                            field: report.proposed_value,
                            "evidence_sha256": report.evidence_sha256,
                        },
                        reason=report.comment or "Reported by the candidate",
                        candidate_id=current.pk,
                    )
                ],
            )
    except BaseException:
        default_storage.delete(stored[0])
        raise
    return report


class EvidenceUnavailable(Exception):
    pass


def read_evidence(report: CorrectionRequest, viewer, address: str | None = None) -> bytes:
    """The decrypted evidence of a report; the view is logged in the audit trail. The caller
    has checked that the viewer may see the report."""
    try:
        with default_storage.open(report.evidence_file, "rb") as handle:
            data = documents.decrypt(handle.read(), settings.DOCUMENT_KEYS)
    except (OSError, documents.InvalidToken) as exc:
        raise EvidenceUnavailable(str(exc)) from exc
    if documents.sha256_hex(data) != report.evidence_sha256:
        raise EvidenceUnavailable("hash mismatch")
    record_changes(
        viewer,
        [
            Change(
                action="verification.evidence_view",
                object_type="correction_request",
                object_id=str(report.pk),
                after={"address": address or ""},
                reason="Evidence viewed",
                candidate_id=report.candidate_id,
            )
        ],
    )
    return data


# -- The school resolves ----------------------------------------------------------------------


def reports_in_scope(user) -> QuerySet[CorrectionRequest]:
    return CorrectionRequest.objects.filter(
        candidate__in=scope_candidates(user, Candidate.objects.all())
    ).select_related("candidate", "candidate__school")


def pending_queue(user) -> QuerySet[CorrectionRequest]:
    return (
        reports_in_scope(user)
        .filter(status=CorrectionRequest.Status.PENDING)
        .select_related("candidate__file_check")
        .prefetch_related("candidate__identity_sources")
    )


def report_findings(report: CorrectionRequest) -> list[ExplainedFinding]:
    try:
        check: FileCheck | None = report.candidate.file_check
    except FileCheck.DoesNotExist:
        check = None
    return [explained(f) for f in (check.findings if check else []) if f["field"] == report.field]


def is_safe_to_accept(report: CorrectionRequest) -> bool:
    """Safe for a bulk acceptance: an identity source (CNIE card, MRZ, identity provider)
    says what the candidate proposes, up to presentation (a cosmetic difference at most)."""
    variants = name_variants()
    for source in report.candidate.identity_sources.all():
        if source.kind == IdentitySource.Kind.SCHOOL_RECORDS:
            continue
        said = source_values(source.data).get(report.field)
        if said and compare_field(report.field, report.proposed_value, said, variants).grade <= 1:
            return True
    return False


def _file_value(field: str, text: str) -> Any:
    if field == "birth_date":
        return _dt.date.fromisoformat(text)
    return text


@transaction.atomic
def resolve_correction(
    report: CorrectionRequest, actor, accept: bool, reason: str, now: _dt.datetime | None = None
) -> CorrectionRequest:
    """Accept (the file changes, audited, re-checked) or reject (with a reason the candidate
    reads) one pending report; the candidate is notified. The caller has checked the scope."""
    reason = (reason or "").strip()
    report = CorrectionRequest.objects.select_for_update().get(pk=report.pk)
    if report.status != CorrectionRequest.Status.PENDING:
        raise VerificationRefused(_("This report has already been decided."))
    if not reason:
        if not accept:
            raise VerificationRefused(
                _("Give the reason of the rejection: the candidate will read it."), "reason"
            )
        reason = _("Correction accepted on the evidence provided.")
    candidate = report.candidate
    if accept:
        candidate = update_candidate_file(
            candidate,
            {report.field: _file_value(report.field, report.proposed_value)},
            actor,
            f"Correction request {report.pk}: {reason}",
        )
    report.status = (
        CorrectionRequest.Status.ACCEPTED if accept else CorrectionRequest.Status.REJECTED
    )
    report.reason = reason
    report.decided_by = actor
    report.decided_at = now or timezone.now()
    report.save(update_fields=["status", "reason", "decided_by", "decided_at"])
    record_changes(
        actor,
        [
            Change(
                action="verification.resolve",
                object_type="correction_request",
                object_id=str(report.pk),
                before={"status": "pending"},
                after={"status": report.status},
                reason=reason,
                candidate_id=candidate.pk,
            )
        ],
    )
    still_pending = CorrectionRequest.objects.filter(
        candidate_id=candidate.pk, status=CorrectionRequest.Status.PENDING
    ).exists()
    if not still_pending:
        Candidate.objects.filter(pk=candidate.pk).update(
            verification_status=VerificationStatus.PENDING, verified_at=None
        )
    candidate.refresh_from_db()
    check_file(candidate)
    from notifications.services import notify_candidate

    transaction.on_commit(
        lambda: notify_candidate(candidate, "correction_decided", f"correction-{report.pk}")
    )
    return report


def resolve_in_bulk(
    reports: Iterable[CorrectionRequest], actor, accept: bool, reason: str
) -> tuple[int, list[CorrectionRequest]]:
    """Decide several reports at once. Acceptance is done only where it is safe (an identity
    source agrees with the proposed value); the others are returned untouched."""
    done = 0
    skipped: list[CorrectionRequest] = []
    for report in reports:
        if report.status != CorrectionRequest.Status.PENDING:
            continue
        if accept and not is_safe_to_accept(report):
            skipped.append(report)
            continue
        resolve_correction(report, actor, accept, reason)
        done += 1
    return done, skipped


# -- Dashboards -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressRow:
    key: Any
    label: str
    total: int
    verified: int
    pending: int
    reported: int
    blocking: int


LEVELS = {
    "school": ("school_id", "school__code", "school__name_fr"),
    "directorate": (
        "school__directorate_id",
        "school__directorate__code",
        "school__directorate__name_fr",
    ),
    "academy": (
        "school__directorate__academy_id",
        "school__directorate__academy__code",
        "school__directorate__academy__name_fr",
    ),
}


def progress(user, session: ExamSession | None, level: str) -> list[ProgressRow]:
    """Counts per school, directorate or academy (or one row for the nation), in the user's
    scope: verified, not verified yet, reported, and files with a blocking finding."""
    queryset = scope_candidates(user, Candidate.objects.all())
    if session is not None:
        queryset = queryset.filter(session=session)
    counts = {
        "total": Count("pk"),
        "verified": Count("pk", filter=Q(verification_status=VerificationStatus.CONFIRMED)),
        "pending": Count("pk", filter=Q(verification_status=VerificationStatus.PENDING)),
        "reported": Count("pk", filter=Q(verification_status=VerificationStatus.REPORTED)),
        "blocking": Count("pk", filter=Q(file_check__worst_grade__gte=GradeChoices.BLOCKING)),
    }
    if level not in LEVELS:
        row = queryset.aggregate(**counts)
        return [ProgressRow(None, _("Nation"), **{k: row[k] or 0 for k in counts})]
    key, code, name = LEVELS[level]
    rows = queryset.values(key, code, name).annotate(**counts).order_by(code)
    return [
        ProgressRow(r[key], f"{r[code]} · {r[name]}", **{k: r[k] for k in counts}) for r in rows
    ]


# -- The MRZ of an uploaded card (the clerk confirms or types it) -----------------------------


def confirm_mrz(candidate: Candidate, text: str, actor) -> IdentitySource:
    """Keep a zone confirmed or typed by the clerk as the candidate's MRZ source, if every
    check digit passes, and re-check the file. Raises VerificationRefused with a precise
    message per problem (nothing stored)."""
    try:
        result = parse_mrz(text)
    except MrzError as error:
        raise VerificationRefused(
            " ".join(mrz_problem_message(p) for p in error.problems), "mrz"
        ) from error
    with transaction.atomic():
        source, _created = IdentitySource.objects.update_or_create(
            candidate=candidate,
            kind=IdentitySource.Kind.MRZ,
            defaults={"data": result.source_data()},
        )
        record_changes(
            actor,
            [
                Change(
                    action="identity_source.mrz",
                    object_type="candidate",
                    object_id=str(candidate.pk),
                    after={"mrz": "\n".join(result.lines)},
                    reason="MRZ confirmed by the school",
                    candidate_id=candidate.pk,
                )
            ],
        )
        check_file(candidate)
    return source


def read_card_mrz(data: bytes) -> tuple[list[str], str]:
    """OCR of an uploaded card image: the three lines to prefill (empty when unreadable) and
    a message for the clerk."""
    from identity.ocr import OcrUnavailable, read_mrz_image

    from .messages import ocr_reason_message

    try:
        reading = read_mrz_image(data)
    except OcrUnavailable:
        return [], _("Automatic reading is not available on this server: type the zone.")
    if reading.readable and reading.result is not None:
        return list(reading.result.lines), _(
            "The zone was read automatically: check it against the card and confirm."
        )
    return [], ocr_reason_message(reading.reason)


LEVEL_LABELS = {
    "nation": gettext_lazy("Nation"),
    "academy": gettext_lazy("Per academy"),
    "directorate": gettext_lazy("Per directorate"),
    "school": gettext_lazy("Per school"),
}
